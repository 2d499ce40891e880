/*
    Cryptocurrency addresses, seed phrases and wallet files.

    Addresses are evidence leads (payments, ransom demands, asset tracing),
    not proof of wrongdoing, so they are "low". Wallet files and written-down
    seed phrases give control over funds and are "medium".

    Base58 addresses (Bitcoin legacy, Monero) have no fixed prefix that YARA
    can use as an atom, and random base58-looking runs occur in base64 data,
    so those two regexes are anchored on a nearby keyword on the same line.
    Bech32 (bc1...) and Ethereum (0x + 40 hex) addresses are distinctive
    enough on their own.
*/

rule Crypto_Bitcoin_Address : cryptocurrency bitcoin
{
    meta:
        description = "Bitcoin address: bech32/bech32m (bc1q.../bc1p...) anywhere, or a legacy base58 address (1.../3...) on a line that mentions bitcoin/BTC"
        severity = "low"
        reference = "https://github.com/bitcoin/bips/blob/master/bip-0173.mediawiki"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        // bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4 (BIP-173 test vector)
        $bech32 = /\bbc1[qp][ac-hj-np-z02-9]{38,58}\b/ ascii wide
        // "BTC wallet: 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "bitcoin:3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"
        $legacy = /([Bb]itcoin|BITCOIN|BTC)[^\r\n]{0,64}\b[13][1-9A-HJ-NP-Za-km-z]{25,33}\b/ ascii wide

    condition:
        any of them
}

rule Crypto_Ethereum_Address : cryptocurrency ethereum
{
    meta:
        description = "Ethereum (or other EVM chain) address: 0x followed by exactly 40 hex digits; null/burn addresses (0x00000000...) are ignored"
        severity = "low"
        reference = "https://ethereum.org/en/developers/docs/accounts/"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        $eth = /\b0x[0-9a-fA-F]{40}\b/ ascii wide
        // null address 0x0000000000000000000000000000000000000000 and burn
        // addresses such as 0x000000000000000000000000000000000000dEaD fill
        // source code and ABIs; they say nothing about the examined system.
        $null = "0x00000000" ascii wide

    condition:
        for any i in (1..#eth) : ( not $null at @eth[i] )
}

rule Crypto_Monero_Address : cryptocurrency monero
{
    meta:
        description = "Monero address (95-char standard/subaddress or 106-char integrated) on a line that mentions Monero/XMR/xmrig, a stratum pool URL, or a miner config user/wallet field"
        severity = "low"
        reference = "https://www.getmonero.org/resources/moneropedia/address.html"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        $xmr = /([Mm]onero|MONERO|XMR|xmr|"user"|"wallet"|--user|stratum\+(tcp|ssl|tls))[^\r\n]{0,100}\b[48][0-9AB][1-9A-HJ-NP-Za-km-z]{93}([1-9A-HJ-NP-Za-km-z]{11})?\b/ ascii wide

    condition:
        $xmr
}

rule Crypto_Seed_Phrase : cryptocurrency wallet secret
{
    meta:
        description = "Written-down wallet seed phrase: a seed/recovery/mnemonic keyword followed by 12 or more lowercase words (BIP-39 style), or a JSON \"mnemonic\" field"
        severity = "medium"
        reference = "https://github.com/bitcoin/bips/blob/master/bip-0039.mediawiki"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        // "Seed phrase:\nlegal winner thank year wave sausage worth useful legal winner thank yellow"
        // BIP-39 words are 3-8 lowercase letters; numbered lists ("1. abandon") are allowed.
        $phrase = /([Ss]eed|[Rr]ecovery|[Mm]nemonic|[Bb]ackup)[ _-]?([Pp]hrase|[Ww]ords)[^\r\n]{0,32}[\r\n:=\- "'0-9.)]{1,8}([a-z]{3,8}[ \t\r\n,.0-9)]{1,6}){11}[a-z]{3,8}\b/ ascii wide
        // {"mnemonic": "abandon abandon ... about"}
        $json = /"(mnemonic|seed|seed_phrase|seedPhrase|recoveryPhrase)"\s{0,4}:\s{0,4}"([a-z]{3,8} ){11}[a-z]{3,8}/ ascii wide

    condition:
        any of them
}

rule Crypto_Bitcoin_Core_Wallet : cryptocurrency wallet bitcoin
{
    meta:
        description = "Bitcoin Core wallet file (wallet.dat): Berkeley DB btree with wallet record keys, or SQLite descriptor wallet"
        severity = "medium"
        reference = "https://en.bitcoin.it/wiki/Wallet"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        // Record keys are serialized with a one-byte length prefix.
        $k_defaultkey = "\x0adefaultkey"
        $k_minversion = "\x0aminversion"
        $k_bestblock = "\x09bestblock"
        $k_mkey = "\x04mkey"
        $k_ckey = "\x04ckey"
        $k_keymeta = "\x07keymeta"
        $k_orderposnext = "\x0corderposnext"
        $k_hdchain = "\x07hdchain"
        // descriptor wallets (Bitcoin Core >= 0.21, SQLite)
        $d_walletdescriptor = "\x10walletdescriptor"
        $d_activeexternalspk = "\x11activeexternalspk"
        $d_activeinternalspk = "\x11activeinternalspk"
        $d_bestblock_nomerkle = "\x12bestblock_nomerkle"

    condition:
        // Berkeley DB btree magic 0x00053162 at offset 12, either byte order
        ((uint32(12) == 0x00053162 or uint32be(12) == 0x00053162) and 2 of ($k_*))
        or
        // "SQLite format 3\0"
        (uint32be(0) == 0x53514C69 and uint32be(4) == 0x74652066 and
         2 of ($d_*, $k_minversion))
}

rule Crypto_Electrum_Wallet : cryptocurrency wallet
{
    meta:
        description = "Electrum wallet file: unencrypted JSON (seed_version, wallet_type, keystore)"
        severity = "medium"
        reference = "https://electrum.readthedocs.io/en/latest/faq.html"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        $seed_version = "\"seed_version\":" ascii
        $wallet_type = "\"wallet_type\":" ascii
        $keystore = "\"keystore\":" ascii
        $addresses = "\"addresses\":" ascii
        $xpub = /"xpub":\s{0,4}"[xyzYZtuv]pub[1-9A-HJ-NP-Za-km-z]{100,108}"/ ascii

    condition:
        filesize < 20MB and $seed_version and $wallet_type and
        ($keystore or $addresses or $xpub)
}
