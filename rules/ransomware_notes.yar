/*
    Ransom notes. A single phrase such as "files have been encrypted" also
    occurs in news articles and security documentation, so each rule requires
    a combination: an encryption (or data theft) claim, a recovery/decryption
    offer, and a payment or contact channel, in a file of note-like size.
*/

rule Ransom_Note_Generic : ransomware ransom_note
{
    meta:
        description = "Ransom note: claims the victim's files are encrypted, offers decryption, and gives payment/contact instructions (bitcoin, Tor, email)"
        severity = "critical"
        reference = "https://attack.mitre.org/techniques/T1486/"
        mitre_attack = "T1486"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        // claim
        $claim1 = /\b(all\s{1,4})?(of\s{1,4})?your\s{1,4}((important|personal|company|network)\s{1,4})?(files|documents|data|photos|databases)(,[^\r\n]{0,60})?\s{1,4}(have\s{1,4}been|are|were|has\s{1,4}been)\s{1,4}(encrypted|locked)/ nocase ascii wide
        $claim2 = /\byour\s{1,4}(network|computer|system|server)s?\s{1,4}(has|have)\s{1,4}been\s{1,4}(encrypted|locked|hacked|penetrated|compromised)/ nocase ascii wide
        $claim3 = "have been encrypted" nocase ascii wide
        // decryption / recovery offer
        $offer1 = /\b(decrypt|restore|recover|unlock)\s{1,4}(all\s{1,4})?(of\s{1,4})?your\s{1,4}(files|data|documents|network|systems)/ nocase ascii wide
        $offer2 = /\bdecrypt(ion|or)\s{1,4}(key|tool|software|program|service)\b/ nocase ascii wide
        $offer3 = "private key" nocase ascii wide
        $offer4 = "unique key" nocase ascii wide
        $offer5 = "test decryption" nocase ascii wide
        $offer6 = "decrypt one file" nocase ascii wide
        // payment / contact channel
        $pay1 = "bitcoin" nocase ascii wide
        $pay2 = /\bBTC\b/ ascii wide
        $pay3 = "monero" nocase ascii wide
        $pay4 = "Tor Browser" nocase ascii wide
        $pay5 = "torproject.org" nocase ascii wide
        $pay6 = ".onion" nocase ascii wide
        $pay7 = "@protonmail" nocase ascii wide
        $pay8 = "@onionmail" nocase ascii wide
        $pay9 = "@tutanota" nocase ascii wide
        $pay10 = "personal ID" nocase ascii wide
        // typical warnings
        $warn1 = /\bdo\s{1,4}not\s{1,4}(try\s{1,4}to\s{1,4})?(rename|modify|delete|move|decrypt|edit)\b/ nocase ascii wide
        $warn2 = "third-party software" nocase ascii wide
        $warn3 = "third party software" nocase ascii wide
        $warn4 = /\b(price|amount|payment)\s{1,4}will\s{1,4}(be\s{1,4})?(double|increase)/ nocase ascii wide
        $warn5 = /\b(permanent(ly)?|irreversibl[ey])\s{1,4}(lost|damage|data\s{1,4}loss|destroyed)/ nocase ascii wide

    condition:
        filesize < 512KB and
        1 of ($claim*) and 1 of ($offer*) and
        (1 of ($pay*) or 2 of ($warn*))
}

rule Ransom_Note_Data_Leak_Threat : ransomware ransom_note extortion
{
    meta:
        description = "Double-extortion ransom note: claims data was stolen, threatens publication on a leak site, and gives a negotiation/contact channel"
        severity = "critical"
        reference = "https://www.cisa.gov/stopransomware/ransomware-guide"
        mitre_attack = "T1486, T1657"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        $steal1 = /\b(we\s{1,4}have\s{1,4}|we've\s{1,4})(downloaded|stolen|exfiltrated|copied|taken)\b/ nocase ascii wide
        $steal2 = /\b(your|sensitive|confidential)\s{1,4}data\s{1,4}(has|have|was|were)\s{1,4}been\s{1,4}(downloaded|stolen|exfiltrated|copied)\b/ nocase ascii wide
        $leak1 = /\b(will\s{1,4}be|be)\s{1,4}(published|leaked|made\s{1,4}public|sold)\b/ nocase ascii wide
        $leak2 = /\b(leak|news|blog)\s{1,4}(site|page|blog)\b/ nocase ascii wide
        $contact1 = ".onion" nocase ascii wide
        $contact2 = "Tor Browser" nocase ascii wide
        $contact3 = /\b(live\s{1,4})?chat\s{1,4}(with\s{1,4}us|room|panel)\b/ nocase ascii wide
        $contact4 = /\bnegotiat(e|ion|ions)\b/ nocase ascii wide
        $contact5 = "@protonmail" nocase ascii wide
        $contact6 = "qTox" nocase ascii wide

    condition:
        filesize < 512KB and
        1 of ($steal*) and 1 of ($leak*) and 2 of ($contact*)
}
