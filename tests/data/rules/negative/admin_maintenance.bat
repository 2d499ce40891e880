@echo off
REM nightly maintenance - IT ops
reg save HKLM\SYSTEM D:\backup\system.hiv /y
reg export HKLM\Software\Contoso D:\backup\contoso.reg /y
certutil -hashfile D:\backup\system.hiv SHA256
certutil -encode D:\backup\report.bin D:\backup\report.b64
bitsadmin /list /allusers
powershell.exe -NoProfile -ExecutionPolicy Bypass -File "\\fs01\it$\scripts\cleanup.ps1"
powershell.exe -WindowStyle Minimized -File "\\fs01\it$\scripts\inventory.ps1"
procdump.exe -accepteula -ma w3wp.exe D:\dumps\w3wp.dmp
rundll32.exe printui.dll,PrintUIEntry /in /n "\\print01\Floor2"
regsvr32 /s C:\Program Files\Contoso\contoso.dll
mshta.exe "C:\Program Files\Contoso\setup.hta"
