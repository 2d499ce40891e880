/*
    Suspicious PowerShell command lines and scripts.

    Command-line strings are searched as ASCII and UTF-16LE ("wide") so that
    they are also found in event logs (EVTX), registry hives, prefetch-adjacent
    artefacts and memory, where Windows stores them as UTF-16LE.
*/

rule PowerShell_Encoded_Command : powershell execution
{
    meta:
        description = "PowerShell started with -EncodedCommand (or an abbreviation such as -enc/-e/-ec) and a long base64 payload"
        severity = "high"
        reference = "https://learn.microsoft.com/en-us/powershell/module/microsoft.powershell.core/about/about_powershell_exe"
        mitre_attack = "T1059.001, T1027.010"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        // powershell.exe -nop -w hidden -enc JABjAD0ATgBlAHcALQBPAGIAagBlAGMAdAAg...
        $enc = /\b(powershell|pwsh)(\.exe)?["']?(\s[^\r\n]{0,120})?\s[-\/](e|ec|en|enc|enco|encod|encode|encoded|encodedc|encodedco|encodedcom|encodedcomm|encodedcomma|encodedcomman|encodedcommand)\s{1,8}["']?[A-Za-z0-9+\/]{64}/ nocase ascii wide

    condition:
        $enc
}

rule PowerShell_Download_Cradle : powershell execution download
{
    meta:
        description = "PowerShell download cradle: code fetched from the network and executed (IEX + WebClient, Invoke-WebRequest | iex, DownloadFile + Start-Process)"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1059/001/"
        mitre_attack = "T1059.001, T1105"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        // IEX (New-Object Net.WebClient).DownloadString('http://...')
        $iex_webclient = /\b(iex|Invoke-Expression)\s{0,8}\(?\s{0,8}\(?\s{0,8}New-Object\s{1,8}(System\.)?Net\.WebClient\s{0,8}\)?\s{0,8}\.Download(String|Data)\s{0,8}\(/ nocase ascii wide
        // (New-Object Net.WebClient).DownloadString('http://...') | IEX
        $webclient_iex = /New-Object\s{1,8}(System\.)?Net\.WebClient\s{0,8}\)?\s{0,8}\.Download(String|Data)\s{0,8}\([^\r\n|]{1,200}\)\s{0,8}\|\s{0,8}(iex|Invoke-Expression)\b/ nocase ascii wide
        // Invoke-WebRequest http://... | iex   irm http://... | iex   (iwr http://...).Content | iex
        $iwr_iex = /\b(Invoke-WebRequest|Invoke-RestMethod|iwr|irm)\s[^\r\n|]{1,200}\|\s{0,8}(iex|Invoke-Expression)\b/ nocase ascii wide
        // iex (iwr http://...)   Invoke-Expression (Invoke-RestMethod ...)
        $iex_iwr = /\b(iex|Invoke-Expression)\s{0,8}\(\s{0,8}\(?\s{0,8}(Invoke-WebRequest|Invoke-RestMethod|iwr|irm)\s/ nocase ascii wide
        // (New-Object Net.WebClient).DownloadFile('http://...','C:\...\x.exe'); Start-Process ...
        $downloadfile = /\.DownloadFile\s{0,8}\(\s{0,8}["'](https?|ftp):\/\/[^\r\n]{1,200}(Start-Process|saps|Invoke-Item|&\s{0,4}\$)/ nocase ascii wide
        $bits = /Start-BitsTransfer\s[^\r\n]{0,100}-Source\s{1,8}["']?https?:\/\/[^\r\n]{1,200}(Start-Process|saps|Invoke-Item)/ nocase ascii wide

    condition:
        any of them
}

rule PowerShell_Hidden_Window : powershell execution defense_evasion
{
    meta:
        description = "PowerShell started with a hidden window together with -NoProfile / -NonInteractive / -ExecutionPolicy Bypass on the same command line"
        severity = "medium"
        reference = "https://attack.mitre.org/techniques/T1564/003/"
        mitre_attack = "T1059.001, T1564.003"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        // Both regexes start at the same "powershell" token, so "$flag at
        // @hidden[i]" means both options are on one command line, in either
        // order. (A single regex with two gaps for both orders is much slower.)
        $hidden = /\b(powershell|pwsh)(\.exe)?["']?(\s[^\r\n]{0,120})?\s[-\/]w(i|in|ind|indo|indow|indows|indowst|indowsty|indowstyl|indowstyle)?\s{1,4}["']?h(i|id|idd|idde|idden)?\b/ nocase ascii wide
        $flag = /\b(powershell|pwsh)(\.exe)?["']?(\s[^\r\n]{0,120})?\s[-\/](nop|noprofile|noni|noninteractive|(ep|ex|exec|executionpolicy)\s{1,4}["']?bypass)\b/ nocase ascii wide

    condition:
        for any i in (1..#hidden) : ( $flag at @hidden[i] )
}
