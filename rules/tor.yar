/*
    Tor: onion service addresses, onion service configuration, Tor Browser.
*/

rule Tor_Onion_Address_V3 : tor network
{
    meta:
        description = "Tor v3 onion service address (56 base32 characters + .onion; the last character is always 'd', the version nibble)"
        severity = "low"
        reference = "https://spec.torproject.org/rend-spec/encoding-onion-addresses.html"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        $v3 = /\b[a-z2-7]{55}d\.onion\b/ ascii wide

    condition:
        $v3
}

rule Tor_Onion_Address_V2 : tor network
{
    meta:
        description = "Tor v2 onion service address (16 base32 characters + .onion; obsolete since 2021, seen in older artefacts)"
        severity = "low"
        reference = "https://blog.torproject.org/v2-deprecation-timeline/"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        // \b keeps the last 16 characters of a v3 address from matching
        $v2 = /\b[a-z2-7]{16}\.onion\b/ ascii wide

    condition:
        $v2
}

rule Tor_Hidden_Service_Config : tor network config
{
    meta:
        description = "torrc that publishes an onion service (active HiddenServiceDir and HiddenServicePort lines): this host serves something over Tor"
        severity = "medium"
        reference = "https://manpages.debian.org/stable/tor/torrc.5.en.html"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        // only uncommented directives at the start of a line
        $dir = /(^|\n)[ \t]{0,8}HiddenServiceDir[ \t]{1,8}[^\r\n#]/
        $port = /(^|\n)[ \t]{0,8}HiddenServicePort[ \t]{1,8}[0-9]{1,5}\b/

    condition:
        filesize < 1MB and $dir and $port
}

rule Tor_Browser_Artifacts : tor browser
{
    meta:
        description = "Tor Browser installation or profile artefacts (install paths, torbutton/torlauncher prefs, pluggable transports)"
        severity = "low"
        reference = "https://tb-manual.torproject.org/"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        $path1 = "Tor Browser\\Browser\\firefox.exe" nocase ascii wide
        $path2 = "TorBrowser\\Data\\Tor" nocase ascii wide
        $path3 = "TorBrowser/Data/Tor" nocase ascii wide
        $path4 = "TorBrowser\\Data\\Browser" nocase ascii wide
        $path5 = "TorBrowser/Data/Browser" nocase ascii wide
        $path6 = "tor-browser_" nocase ascii wide
        $pref1 = "torbrowser.version" ascii wide
        $pref2 = "extensions.torlauncher." ascii wide
        $pref3 = "extensions.torbutton." ascii wide
        $pref4 = "torbrowser.settings." ascii wide
        $pt1 = "obfs4proxy" ascii wide
        $pt2 = "meek_lite" ascii wide
        $pt3 = "ClientTransportPlugin" ascii wide
        $pt4 = "lyrebird" ascii wide

    condition:
        2 of them
}
