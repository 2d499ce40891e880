/*
    Windows executables embedded in documents (dropper documents, phishing
    attachments). The document format is identified by its magic at offset 0,
    and the PE is found by its DOS stub further into the file. For raw
    (not encoded) PEs, the e_lfanew field is followed to check that a
    "PE\0\0" header really follows, which rules out text that merely quotes
    the DOS stub message (except in OLE files, whose sectors may be
    fragmented).
*/

rule Embedded_PE_In_OLE : embedded_pe dropper office
{
    meta:
        description = "Windows PE embedded in an Office/Outlook OLE compound file (legacy .doc/.xls/.ppt/.vsd, .msg, OLE Package objects)"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1027/009/"
        mitre_attack = "T1027.009, T1566.001"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        // "MZ" ... "This program cannot be run" / "This program must be run"
        $mz_stub = { 4D 5A [60-200] 54 68 69 73 20 70 72 6F 67 72 61 6D 20
                     ( 63 61 6E 6E 6F 74 20 62 65 20 72 75 6E |
                       6D 75 73 74 20 62 65 20 72 75 6E ) }
        // Directory entry names (UTF-16LE) of Office documents, Outlook
        // messages and embedded OLE Package objects. Other OLE containers
        // legitimately carry uncompressed PEs (MSI installers, Visual Studio
        // .vsmacros projects) and are left out by requiring one of these.
        $doc1 = "WordDocument" wide
        $doc2 = "Workbook" wide
        $doc3 = "PowerPoint Document" wide
        $doc4 = "VisioDocument" wide
        $doc5 = "__substg1.0_" wide
        $doc6 = "Ole10Native" wide

    condition:
        uint32(0) == 0xE011CFD0 and uint32(4) == 0xE11AB1A1 and
        any of ($doc*) and
        // No e_lfanew check here: OLE streams are stored in 512-byte sectors
        // that need not be contiguous, so the PE header may sit elsewhere.
        $mz_stub
}

rule Embedded_PE_In_PDF : embedded_pe dropper pdf
{
    meta:
        description = "Windows PE stored uncompressed inside a PDF"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1027/009/"
        mitre_attack = "T1027.009, T1566.001"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        $mz_stub = { 4D 5A [60-200] 54 68 69 73 20 70 72 6F 67 72 61 6D 20
                     ( 63 61 6E 6E 6F 74 20 62 65 20 72 75 6E |
                       6D 75 73 74 20 62 65 20 72 75 6E ) }

    condition:
        uint32(0) == 0x46445025 and   // "%PDF"
        for any i in (1..#mz_stub) : (
            uint32(@mz_stub[i] + uint32(@mz_stub[i] + 0x3C)) == 0x00004550
        )
}

rule Embedded_PE_In_OOXML : embedded_pe dropper office
{
    meta:
        description = "Windows PE stored uncompressed inside an Office Open XML package (.docx/.xlsx/.pptx zip)"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1027/009/"
        mitre_attack = "T1027.009, T1566.001"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        $content_types = "[Content_Types].xml" ascii
        $mz_stub = { 4D 5A [60-200] 54 68 69 73 20 70 72 6F 67 72 61 6D 20
                     ( 63 61 6E 6E 6F 74 20 62 65 20 72 75 6E |
                       6D 75 73 74 20 62 65 20 72 75 6E ) }

    condition:
        uint32(0) == 0x04034B50 and   // "PK\x03\x04"
        $content_types and
        for any i in (1..#mz_stub) : (
            uint32(@mz_stub[i] + uint32(@mz_stub[i] + 0x3C)) == 0x00004550
        )
}

rule Embedded_PE_In_RTF : embedded_pe dropper rtf
{
    meta:
        description = "Windows PE hex-encoded in an RTF document (\\objdata of an embedded object or package)"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1027/009/"
        mitre_attack = "T1027.009, T1566.001"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        // "This program cannot be run in DOS mode" as hex text, in three pieces
        // so that a single line break inside \objdata cannot hide it.
        $hex1 = "546869732070726f6772616d20" nocase ascii     // "This program "
        $hex2 = "63616e6e6f742062652072756e" nocase ascii     // "cannot be run"
        $hex3 = "20696e20444f53206d6f6465" nocase ascii       // " in DOS mode"
        // DOS header as hex text: "MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff"
        $hex_mz = "4d5a90000300000004000000ffff" nocase ascii

    condition:
        uint32(0) == 0x74725C7B and   // "{\rt"
        (2 of ($hex1, $hex2, $hex3) or $hex_mz)
}
