"""What makes an autostart entry (a Run key, a service, a Winlogon value, a scheduled task) worth a look: the
program sits where any user, or any download, can write (a temporary folder, AppData, the user's profile, the
Recycle Bin, ProgramData), or the command line hides what it runs (encoded PowerShell, a download cradle, a
Windows binary lent to run something else — a LOLBin).

The checks read the command as written (environment variables unexpanded), case-insensitive, and return the
examiner's reasons; none is proof on its own, each says why the entry deserves reading."""

from __future__ import annotations

import re

# Folders a standard user (or anything the user ran) can write; a program started from here at logon or boot is
# how commodity malware persists.
_USER_WRITABLE = [
    (re.compile(r"(^|[\\/\"' ])(%temp%|%tmp%)|\\(windows\\)?temp\\|\\local settings\\temp\\", re.I),
     "a temporary folder"),
    (re.compile(r"%appdata%|%localappdata%|\\appdata\\(roaming|local|locallow)\\|\\application data\\", re.I),
     "the user's AppData"),
    (re.compile(r"%userprofile%|\\users\\[^\\]+\\(desktop|downloads|documents|music|pictures|videos)\\"
                r"|\\documents and settings\\[^\\]+\\(desktop|my documents)\\", re.I), "the user's own folders"),
    (re.compile(r"(%programdata%|\\programdata|\\all users\\application data)\\"
                r"(?!microsoft\\windows defender( advanced threat protection)?\\)", re.I), "ProgramData"),
    (re.compile(r"\\users\\public\\|%public%", re.I), "the Public profile"),
    (re.compile(r"\\\$recycle\.bin\\|\\recycler\\", re.I), "the Recycle Bin"),
]

_ENCODED_POWERSHELL = re.compile(r"powershell(\.exe)?[\"']?\s.*\s-(e|en|enc|enco|encod|encode|encoded|encodedc\w*)\s",
                                 re.I | re.S)
_CRADLE = re.compile(r"downloadstring|downloadfile|invoke-webrequest|\biwr\b|invoke-expression|\biex\b|"
                     r"net\.webclient|start-bitstransfer|frombase64string", re.I)
_HIDDEN = re.compile(r"-(w|win|window|windowstyle)\s+hidden|-nop\b|-noprofile\b.*-(w|windowstyle)\s+h", re.I)

# Windows binaries that run other code (LOLBAS project, lolbas-project.github.io), with the use that matters here.
# Those in _ORDINARY_LOLBINS start ordinary autostart entries too (rundll32 shell32.dll,…, msiexec /V for the
# Windows Installer service): they count only beside another sign (a URL, a writable folder, script).
_ORDINARY_LOLBINS = frozenset({"rundll32.exe", "msiexec.exe", "wscript.exe", "cscript.exe", "wmic.exe"})
_SCRIPT = re.compile(r"javascript:|vbscript:|\.(sct|hta|js|jse|vbs|vbe)\b", re.I)
_LOLBINS = {
    "mshta.exe": "runs HTML applications and script",
    "rundll32.exe": "runs an exported function of any DLL",
    "regsvr32.exe": "runs a scriptlet or DLL (squiblydoo)",
    "wscript.exe": "runs scripts",
    "cscript.exe": "runs scripts",
    "certutil.exe": "downloads and decodes files",
    "bitsadmin.exe": "downloads files",
    "msbuild.exe": "compiles and runs inline code",
    "installutil.exe": "runs code in any .NET assembly",
    "regasm.exe": "runs code in any .NET assembly",
    "regsvcs.exe": "runs code in any .NET assembly",
    "cmstp.exe": "runs an INF's commands",
    "msiexec.exe": "installs a package from anywhere, a URL too",
    "wmic.exe": "runs commands and XSL script",
    "forfiles.exe": "runs commands",
    "pcalua.exe": "runs programs",
    "odbcconf.exe": "loads DLLs",
    "hh.exe": "runs compiled HTML help with script",
}
_PROGRAM = re.compile(r"(?:^|[\\/\"' ])([\w.-]+?)(?:\.exe)?(?=[\"' ]|$)", re.I)
_URL = re.compile(r"\b(https?|ftp)://", re.I)


def suspicious_command(command: str | None) -> list[str]:
    """Why an autostart command deserves a look, strongest first; empty when nothing here stands out."""
    if not command:
        return []
    reasons = [f"starts a program from {where}" for pattern, where in _USER_WRITABLE if pattern.search(command)]
    if _ENCODED_POWERSHELL.search(command + " "):
        reasons.append("runs encoded PowerShell")
    if _CRADLE.search(command):
        reasons.append("downloads or evaluates code (a PowerShell download cradle)")
    if _HIDDEN.search(command):
        reasons.append("runs PowerShell hidden or without its profile")
    if _URL.search(command):
        reasons.append("names a URL")
    other_signs = bool(reasons) or bool(_SCRIPT.search(command))
    for program in sorted({match.lower() + ".exe" for match in _PROGRAM.findall(command)}):
        if program in _LOLBINS and (program not in _ORDINARY_LOLBINS or other_signs):
            reasons.append(f"uses {program}, a Windows binary that {_LOLBINS[program]}")
    return reasons


def severity(reasons: list[str]) -> str:
    """How much an autostart entry with these reasons deserves: a program in a writable folder, hidden PowerShell
    or a LOLBin given a URL is how malware persists (high); a LOLBin or a URL alone is often an installer's doing
    (medium)."""
    strong = ("starts a program from", "runs encoded", "downloads or evaluates", "runs PowerShell hidden")
    lolbin_fetching = any(r.startswith("uses ") for r in reasons) and "names a URL" in reasons
    return "high" if lolbin_fetching or any(reason.startswith(strong) for reason in reasons) else "medium"
