"""Findings about a capture as a whole, told from the records the analysis emits:

- **nonstandard-port**: an application protocol told from content (HTTP, TLS, SSH, SMTP, FTP,
  POP3, IMAP) on a server port that is not its own. Common alternates (HTTP on 8080, TLS on
  8443) are info; any other port is medium (a web server on 4444 is what a reverse shell or a
  hand-run C2 server looks like). One finding per server address, port and protocol.
- **dns-generated-name**: a registered domain (the label left of the public suffix, from the
  ICANN part of the Public Suffix List) that looks machine-generated, by four signs that can be
  checked by hand: a run of 6+ consonants, under 17 % vowels, digits (25 %+) interleaved with
  letters, and character entropy near the maximum for its length. Two signs are low; three or
  more, or two with NXDOMAIN answers, medium. Labels under 8 characters carry too little to
  judge; sub-domains are not judged (CDN hashes live there).
- **dns-many-subdomains** and **dns-long-txt**: DNS tunnelling hints (medium). Many distinct long
  names under one domain (data carried in the query name), or long TXT answers to several
  distinct names of one domain (data carried in the answers); DKIM keys are left out, and one long
  answer alone is not enough (an apex domain's TXT set of SPF and site-verification strings is long).

Memory is bounded: domains tracked and names kept per domain are capped.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache

from publicsuffixlist import PublicSuffixList

from .records import DnsRecord, Flow, NetFinding

# Server ports of each protocol told from content (explicit: the finding names the list it used).
STANDARD_PORTS = {
    "http": frozenset((80,)),
    "tls": frozenset((443, 465, 563, 636, 853, 989, 990, 992, 993, 994, 995, 3269, 5061, 5223, 5986, 8883)),
    "ssh": frozenset((22,)),
    "smtp": frozenset((25, 587)),
    "ftp": frozenset((21,)),
    "pop3": frozenset((110,)),
    "imap": frozenset((143,)),
}
ALTERNATE_PORTS = {
    "http": frozenset((591, 3128, 8000, 8008, 8080, 8081, 8088, 8888)),
    "tls": frozenset((4443, 6443, 8443, 9443, 10443)),
    "ssh": frozenset((2222,)),
    "smtp": frozenset((2525,)),
    "ftp": frozenset((2121,)),
    "pop3": frozenset(),
    "imap": frozenset(),
}
PROTOCOL_NAMES = {"http": "HTTP", "tls": "TLS", "ssh": "SSH", "smtp": "SMTP", "ftp": "FTP", "pop3": "POP3",
                  "imap": "IMAP"}

MIN_LABEL = 8
CONSONANT_RUN = 6
FEW_VOWELS = 0.17  # of the letters; words of European languages rarely go under 20 % (schwarzkopf: 18 %)
DIGIT_SHARE = 0.25
DIGIT_SWITCHES = 3
ENTROPY_SHARE = 0.9  # of log2(length), the most a label of that length can have
ENTROPY_CAP = 3.6  # bits; labels longer than 16 characters need this much
KNOWN_BENIGN = frozenset(("msftncsi.com", "msftconnecttest.com"))  # Windows connectivity checks
NOT_JUDGED_SUFFIXES = frozenset(("arpa", "local", "localdomain", "lan", "home", "internal", "corp", "localhost", "invalid",
                       "test", "example", "onion"))

MANY_NAMES = 50  # distinct names under one domain ...
LONG_SUBDOMAIN = 24  # ... whose part left of the domain averages this many characters
LONG_TXT = 256  # characters of TXT answer text in one response: more than one character-string holds
LONG_TXT_NAMES = 3  # distinct names of one domain that got such answers (one long answer is common: SPF, site keys)
MAX_DOMAINS = 100_000
MAX_NAMES_KEPT = 1_000  # per domain
MAX_NAMES_TOTAL = 200_000  # over all domains: past it, names are counted as more, not kept
MAX_SERVERS = 100_000
EXAMPLES = 5

_CONSONANTS = re.compile(r"[bcdfghjklmnpqrstvwxz]+")


# Built on import (~0.05 s): the analysis process imports this while it waits for its first capture, so the
# first DNS name of a scan does not wait for it.
_PSL = PublicSuffixList(only_icann=True, accept_unknown=False)


@lru_cache(maxsize=65536)
def registered_domain(name: str) -> str | None:
    """'a.b.example.co.uk' -> 'example.co.uk'; None for a bare suffix or a local/reverse name."""
    name = name.lower().rstrip(".")
    if "." not in name or name.rsplit(".", 1)[-1] in NOT_JUDGED_SUFFIXES:
        return None
    return _PSL.privatesuffix(name)


def generated_signs(label: str) -> list[str]:
    """The signs of a machine-generated label that it shows (empty when too short to judge)."""
    label = label.lower()
    n = len(label)
    if n < MIN_LABEL or label.startswith("xn--"):
        return []
    signs = []
    run = max((len(m) for m in _CONSONANTS.findall(label)), default=0)
    if run >= CONSONANT_RUN:
        signs.append(f"{run} consonants in a row")
    letters = [c for c in label if c.isalpha()]
    if letters:
        vowels = sum(c in "aeiouy" for c in letters) / len(letters)
        if vowels < FEW_VOWELS:
            signs.append(f"{vowels:.0%} vowels")
    digits = sum(c.isdigit() for c in label)
    switches = sum(1 for a, b in zip(label, label[1:]) if a.isdigit() != b.isdigit() and (a.isalpha() or b.isalpha()))
    if letters and digits / n >= DIGIT_SHARE and switches >= DIGIT_SWITCHES:
        signs.append(f"{digits / n:.0%} digits mixed with letters")
    counts = Counter(label)
    entropy = -sum(c / n * math.log2(c / n) for c in counts.values())
    if entropy >= (ENTROPY_SHARE * math.log2(n) if n <= 16 else ENTROPY_CAP):
        signs.append(f"entropy {entropy:.2f} bits per character")
    return signs


class _Domain:
    __slots__ = ("names", "more_names", "sub_chars", "queries", "nxdomain", "first", "flow_id", "txt_names",
                 "txt_longest", "signs")

    def __init__(self, ts: str, flow_id: int) -> None:
        self.names: set[str] = set()
        self.more_names = False  # past MAX_NAMES_KEPT
        self.sub_chars = 0  # characters left of the domain, summed over the distinct names
        self.queries = 0
        self.nxdomain = 0
        self.first = ts
        self.flow_id = flow_id
        self.txt_names: set[str] = set()
        self.txt_longest = 0
        self.signs: list[str] | None = None


class CaptureFindings:
    """Accumulates one capture's flows and DNS records; `records()` at the end gives the findings."""

    def __init__(self) -> None:
        self.servers: dict[tuple[str, int, str, str], list] = {}  # (server, port, proto, app) -> [flows, first, flow id, clients]
        self.domains: dict[str, _Domain] = {}
        self.names_kept = 0

    def observe(self, record: object) -> None:
        if isinstance(record, Flow):
            self._flow(record)
        elif isinstance(record, DnsRecord):
            self._dns(record)

    def _flow(self, flow: Flow) -> None:
        app = flow.app
        if app not in STANDARD_PORTS or flow.dport in STANDARD_PORTS[app]:
            return
        key = (flow.dst, flow.dport, flow.proto, app)
        entry = self.servers.get(key)
        if entry is None:
            if len(self.servers) >= MAX_SERVERS:
                return
            entry = self.servers[key] = [0, flow.first_seen, flow.id, set()]
        entry[0] += 1
        if flow.first_seen < entry[1]:
            entry[1], entry[2] = flow.first_seen, flow.id
        if len(entry[3]) < EXAMPLES:
            entry[3].add(flow.src)

    def _dns(self, record: DnsRecord) -> None:
        query = record.query
        if not query or 137 in (record.sport, record.dport) or 5353 in (record.sport, record.dport) \
                or 5355 in (record.sport, record.dport):
            return  # NetBIOS, mDNS and LLMNR names are local, not registered domains
        name = query.lower().rstrip(".")
        domain = registered_domain(name)
        if domain is None:
            return
        entry = self.domains.get(domain)
        if entry is None:
            if len(self.domains) >= MAX_DOMAINS:
                return
            entry = self.domains[domain] = _Domain(record.ts, record.flow_id)
        entry.queries += 1
        if record.rcode == "NXDOMAIN":
            entry.nxdomain += 1
        if name not in entry.names:
            if len(entry.names) < MAX_NAMES_KEPT and self.names_kept < MAX_NAMES_TOTAL:
                entry.names.add(name)
                entry.sub_chars += max(0, len(name) - len(domain) - 1)
                self.names_kept += 1
            else:
                entry.more_names = True
        if record.qtype == "TXT" and record.answers and "_domainkey" not in name:
            size = sum(len(a) for a in record.answers)
            if size >= LONG_TXT:
                if len(entry.txt_names) < MAX_NAMES_KEPT and self.names_kept < MAX_NAMES_TOTAL:
                    if name not in entry.txt_names:
                        self.names_kept += 1
                    entry.txt_names.add(name)
                entry.txt_longest = max(entry.txt_longest, size)

    def records(self) -> list[NetFinding]:
        out = [self._port_finding(key, entry) for key, entry in self.servers.items()]
        for domain, entry in self.domains.items():
            out += self._domain_findings(domain, entry)
        return out

    @staticmethod
    def _port_finding(key: tuple[str, int, str, str], entry: list) -> NetFinding:
        server, port, proto, app = key
        flows, first, flow_id, clients = entry
        alternate = port in ALTERNATE_PORTS[app]
        name = PROTOCOL_NAMES[app]
        where = f"[{server}]:{port}" if ":" in server else f"{server}:{port}"
        title = (f"{name} on {'a common alternate' if alternate else 'a non-standard'} port: {where}/{proto}"
                 f" ({flows} connection{'' if flows == 1 else 's'})")
        detail = {"protocol": name, "server": server, "port": port, "transport": proto, "connections": flows,
                  "first_seen": first, "clients": sorted(clients),
                  "standard_ports": sorted(STANDARD_PORTS[app]), "common_alternates": sorted(ALTERNATE_PORTS[app]),
                  "why": "the protocol was told from the connection's content, not from its port"}
        return NetFinding("nonstandard-port", "info" if alternate else "medium", title, f"{where}/{proto}", detail,
                          flow_id)

    @staticmethod
    def _domain_findings(domain: str, entry: _Domain) -> list[NetFinding]:
        out = []
        names = sorted(entry.names)
        counted = f"{len(names)}{'+' if entry.more_names else ''}"
        base = {"domain": domain, "queries": entry.queries, "distinct_names": counted, "nxdomain": entry.nxdomain,
                "first_seen": entry.first, "examples": names[:EXAMPLES]}
        if domain not in KNOWN_BENIGN:
            signs = generated_signs(domain.split(".", 1)[0])
            if len(signs) >= 2:
                medium = len(signs) >= 3 or entry.nxdomain > 0
                out.append(NetFinding(
                    "dns-generated-name", "medium" if medium else "low",
                    f"DNS name that looks machine-generated: {domain} ({', '.join(signs)})", f"DNS {domain}",
                    {**base, "signs": signs, "label": domain.split(".", 1)[0]}, entry.flow_id))
        if len(names) >= MANY_NAMES and entry.sub_chars / len(names) >= LONG_SUBDOMAIN:
            average = entry.sub_chars / len(names)
            out.append(NetFinding(
                "dns-many-subdomains", "medium",
                f"DNS tunnelling hint: {counted} distinct names under {domain}, {average:.0f} characters on average"
                " left of the domain", f"DNS {domain}",
                {**base, "average_subdomain_length": round(average, 1),
                 "thresholds": {"names": MANY_NAMES, "average_length": LONG_SUBDOMAIN}}, entry.flow_id))
        if len(entry.txt_names) >= LONG_TXT_NAMES:
            out.append(NetFinding(
                "dns-long-txt", "medium",
                f"DNS tunnelling hint: long TXT answers ({entry.txt_longest} characters at most) to "
                f"{len(entry.txt_names)} name{'' if len(entry.txt_names) == 1 else 's'} under {domain}", f"DNS {domain}",
                {**base, "txt_names": len(entry.txt_names), "longest_txt": entry.txt_longest,
                 "txt_examples": sorted(entry.txt_names)[:EXAMPLES],
                 "thresholds": {"length": LONG_TXT, "names": LONG_TXT_NAMES}},
                entry.flow_id))
        return out
