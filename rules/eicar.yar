/*
    EICAR anti-malware test file.

    The 68-byte EICAR string is written as hex on purpose: a rule file that
    carries the string in clear text can itself be flagged or quarantined by
    antivirus products on an examiner's workstation.
*/

rule EICAR_Test_File : test eicar
{
    meta:
        description = "EICAR anti-malware test file (harmless; shows that someone tested AV or planted a test string)"
        severity = "medium"
        reference = "https://www.eicar.org/download-anti-malware-testfile/"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        // X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*
        $eicar = { 58 35 4F 21 50 25 40 41 50 5B 34 5C 50 5A 58 35 34 28 50 5E
                   29 37 43 43 29 37 7D 24 45 49 43 41 52 2D 53 54 41 4E 44 41
                   52 44 2D 41 4E 54 49 56 49 52 55 53 2D 54 45 53 54 2D 46 49
                   4C 45 21 24 48 2B 48 2A }

    condition:
        // eicar.org: the file starts with the string and may be followed by
        // whitespace only, up to 128 bytes in total.
        $eicar at 0 and filesize <= 128
}
