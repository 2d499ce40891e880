/*
    Credential dumping: tools, command lines and their output.
*/

rule HackTool_Mimikatz : hacktool credential_access mimikatz
{
    meta:
        description = "Mimikatz binary, script, or console output (module::command strings, gentilkiwi/Benjamin DELPY banner)"
        severity = "critical"
        reference = "https://attack.mitre.org/software/S0002/"
        mitre_attack = "T1003.001, T1003.002, T1003.006"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        $cmd1 = "sekurlsa::logonpasswords" nocase ascii wide
        $cmd2 = "sekurlsa::pth" nocase ascii wide
        $cmd3 = "sekurlsa::tickets" nocase ascii wide
        $cmd4 = "sekurlsa::wdigest" nocase ascii wide
        $cmd5 = "sekurlsa::minidump" nocase ascii wide
        $cmd6 = "lsadump::sam" nocase ascii wide
        $cmd7 = "lsadump::secrets" nocase ascii wide
        $cmd8 = "lsadump::dcsync" nocase ascii wide
        $cmd9 = "lsadump::lsa" nocase ascii wide
        $cmd10 = "kerberos::golden" nocase ascii wide
        $cmd11 = "kerberos::ptt" nocase ascii wide
        $cmd12 = "privilege::debug" nocase ascii wide
        $cmd13 = "token::elevate" nocase ascii wide
        $cmd14 = "crypto::capi" nocase ascii wide
        $cmd15 = "dpapi::masterkey" nocase ascii wide
        $id1 = "gentilkiwi" nocase ascii wide
        $id2 = "Benjamin DELPY" nocase ascii wide
        $id3 = "mimikatz" nocase ascii wide
        $id4 = "mimilib" nocase ascii wide
        $id5 = "mimidrv" nocase ascii wide

    condition:
        2 of them
}

rule CredDump_LSASS_Procdump : credential_access lsass
{
    meta:
        description = "Sysinternals ProcDump writing a full memory dump (-ma) of lsass.exe"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1003/001/"
        mitre_attack = "T1003.001"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        // procdump64.exe -accepteula -ma lsass.exe C:\temp\lsass.dmp
        $procdump = /\bprocdump(64|64a)?(\.exe)?["']?\s[^\r\n]{0,80}[-\/]ma\s[^\r\n]{0,40}\blsass(\.exe)?\b/ nocase ascii wide

    condition:
        $procdump
}

rule CredDump_LSASS_Comsvcs_MiniDump : credential_access lsass lolbin
{
    meta:
        description = "rundll32 comsvcs.dll MiniDump (export or ordinal #24), the usual built-in way to dump lsass memory"
        severity = "high"
        reference = "https://lolbas-project.github.io/lolbas/Libraries/Comsvcs/"
        mitre_attack = "T1003.001, T1218.011"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        // rundll32.exe C:\Windows\System32\comsvcs.dll, MiniDump 624 C:\temp\out.dmp full
        $minidump = /\bcomsvcs(\.dll)?["']?\s{0,4}[, ]\s{0,4}(MiniDumpW?|#\s{0,2}0*24)\b/ nocase ascii wide

    condition:
        $minidump
}

rule CredDump_Registry_Hive_Save : credential_access registry
{
    meta:
        description = "reg save / reg export of the SAM or SECURITY hive (offline extraction of local password hashes and LSA secrets)"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1003/002/"
        mitre_attack = "T1003.002, T1003.004"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        // reg save HKLM\SAM C:\temp\sam.hiv
        $save = /\breg(\.exe)?["']?\s{1,8}(save|export)\s{1,8}["']?(HKLM|HKEY_LOCAL_MACHINE)\\(SAM|SECURITY)\b/ nocase ascii wide

    condition:
        $save
}

rule CredDump_NTDS_Extraction : credential_access active_directory
{
    meta:
        description = "Copying ntds.dit from a domain controller: ntdsutil IFM, esentutl, or a copy out of a volume shadow copy"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1003/003/"
        mitre_attack = "T1003.003"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        // ntdsutil "ac i ntds" "ifm" "create full c:\temp" q q
        $ntdsutil = /\bntdsutil(\.exe)?["']?\s[^\r\n]{0,80}\bifm\b[^\r\n]{0,40}\bcreate\s{1,8}(full|sysvol)\b/ nocase ascii wide
        // esentutl.exe /y /vss C:\Windows\NTDS\ntds.dit /d C:\temp\ntds.dit
        $esentutl = /\besentutl(\.exe)?["']?\s[^\r\n]{0,120}\bntds\.dit\b/ nocase ascii wide
        // copy \\?\GLOBALROOT\Device\HarddiskVolumeShadowCopy1\Windows\NTDS\ntds.dit C:\temp
        $shadow = /HarddiskVolumeShadowCopy[0-9]{1,4}\\[^\r\n]{0,80}\\(NTDS\\ntds\.dit|config\\SAM|config\\SECURITY)\b/ nocase ascii wide

    condition:
        any of them
}

rule CredDump_Secretsdump_Output : credential_access hacktool impacket
{
    meta:
        description = "Output of Impacket secretsdump (or another pwdump-format dump): account:RID:LM:NT::: lines or the secretsdump section banners"
        severity = "high"
        reference = "https://github.com/fortra/impacket/blob/master/examples/secretsdump.py"
        mitre_attack = "T1003.002, T1003.003, T1003.004"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        $banner1 = "Dumping local SAM hashes (uid:rid:lmhash:nthash)" ascii wide
        $banner2 = "Dumping Domain Credentials (domain\\uid:rid:lmhash:nthash)" ascii wide
        $banner3 = "Dumping cached domain logon information" ascii wide
        $banner4 = "Dumping LSA Secrets" ascii wide
        $banner5 = "Target system bootKey: 0x" ascii wide
        $banner6 = "Searching for pekList, be patient" ascii wide
        // Administrator:500:aad3b435b51404eeaad3b435b51404ee:<32 hex>:::
        // aad3b435... is the LM hash of an empty password, present on almost every line.
        $pwdump = /:[0-9]{1,10}:aad3b435b51404eeaad3b435b51404ee:[0-9a-fA-F]{32}:::/ ascii wide

    condition:
        2 of ($banner*) or #pwdump >= 2 or (1 of ($banner*) and $pwdump)
}
