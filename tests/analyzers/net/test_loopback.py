"""Captures made on loopback around real tools (tests/captures.py), checked against tshark on the
same files and against what the builders put on the wire: HTTP requests and objects, a POST login
form, TLS SNI/JA3/JA3S, DNS names, FTP/POP3/IMAP logins, the hosts summary and the capture findings.
The hosts summary is also checked on a corpus trace against tshark's endpoint statistics and Zeek."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
from collections import Counter, defaultdict
from functools import lru_cache
from pathlib import Path

import pytest

from cybertriage.analyzers.net import analyse_capture
from cybertriage.cli import MASK
from tests import captures
from tests.analyzers.net.conftest import tshark, zeek_log
from tests.conftest import export, run_cli


@lru_cache(maxsize=None)
def _analysed(path: Path) -> list:
    return list(analyse_capture(path))


def _of(path: Path, kind: str) -> list:
    return [r for r in _analysed(path) if r.KIND == kind]


# ------------------------------------------------------------------ HTTP


def test_http_requests_equal_tshark(loopback) -> None:
    http = loopback.http
    rows = tshark("-r", str(http.path), "-d", f"tcp.port=={http.port},http", "-Y", "http.request", "-T", "fields",
                  "-e", "http.request.method", "-e", "http.host", "-e", "http.request.uri")
    ours = [(r.method, r.host, r.uri) for r in _of(http.path, "http")]
    assert ours == [tuple(row) for row in rows]
    assert [uri for _, _, uri in ours] == [f"/{name}" for name in http.files] + ["/login"]


def test_http_objects_equal_tshark_export(loopback, tmp_path: Path) -> None:
    http = loopback.http
    tshark("-r", str(http.path), "-d", f"tcp.port=={http.port},http", "-q", "--export-objects", f"http,{tmp_path}")
    exported = sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir())
    objects = _of(http.path, "extracted_object")
    assert sorted(o.sha256 for o in objects) == exported
    assert all(hashlib.sha256(o.data).hexdigest() == o.sha256 for o in objects)
    served = {hashlib.sha256(data).hexdigest() for data in http.files.values()}
    assert served <= set(exported)


def test_http_post_login_equals_tshark_form(loopback) -> None:
    http = loopback.http
    rows = tshark("-r", str(http.path), "-d", f"tcp.port=={http.port},http", "-Y", "urlencoded-form", "-T", "fields",
                  "-e", "urlencoded-form.key", "-e", "urlencoded-form.value", "-E", "aggregator=|")
    assert len(rows) == 1
    form = dict(zip(rows[0][0].split("|"), rows[0][1].split("|"), strict=True))
    assert form == http.form
    creds = _of(http.path, "credential")
    assert [(c.protocol, c.username, c.password) for c in creds] == [("http", form["username"], form["password"])]
    assert creds[0].where.startswith(f"HTTP POST form to {http.host}:{http.port}/login")


# ------------------------------------------------------------------ TLS


def test_tls_sni_and_fingerprints_equal_tshark(loopback) -> None:
    tls = loopback.tls
    decode = ("-d", f"tcp.port=={tls.port},tls")
    rows = tshark("-r", str(tls.path), *decode, "-Y", "tls.handshake.type == 1 or tls.handshake.type == 2", "-T",
                  "fields", "-e", "tls.handshake.type", "-e", "tls.handshake.extensions_server_name",
                  "-e", "tls.handshake.ja3", "-e", "tls.handshake.ja3s")
    hello = [(sni, ja3) for kinds, sni, ja3, _ in rows if "1" in kinds.split(",")]
    server = [ja3s for kinds, _, _, ja3s in rows if "2" in kinds.split(",")]
    records = _of(tls.path, "tls")
    assert [(r.sni, r.ja3) for r in records] == hello
    assert [r.ja3s for r in records] == server
    assert records[0].sni == tls.sni and records[0].version == "TLSv1.2"
    assert records[0].cert_subject.endswith(f"CN={tls.subject_cn}")


# ------------------------------------------------------------------ DNS


@lru_cache(maxsize=None)
def _dns_packets(path: Path) -> list[tuple[bool, str, int, list[str], str]]:
    """tshark's view of each DNS message: (response, query name, rcode, A answers, TXT text joined by a space)."""
    rows = tshark("-r", str(path), "-Y", "dns", "-T", "fields", "-E", "aggregator=|", "-e", "dns.flags.response",
                  "-e", "dns.qry.name", "-e", "dns.flags.rcode", "-e", "dns.a", "-e", "dns.txt")
    return [(response in ("1", "True"), name, int(rcode or 0), a.split("|") if a else [], txt.replace("|", " "))
            for response, name, rcode, a, txt in rows]


def test_dns_names_and_answers_equal_tshark(loopback) -> None:
    dns = loopback.dns
    packets = _dns_packets(dns.path)
    records = _of(dns.path, "dns")
    assert Counter(r.query for r in records) == Counter(name for response, name, _, _, _ in packets if not response)
    assert {(r.query, a) for r in records for a in r.answers if r.qtype == "A"} == {
        (name, a) for response, name, _, answers, _ in packets if response for a in answers}
    assert {name for response, name, _, answers, _ in packets if response and answers} == set(dns.answers)


def _dns_findings(path: Path) -> dict[tuple[str, str], object]:
    return {(f.rule, f.detail["domain"]): f for f in _of(path, "net_finding") if f.rule.startswith("dns-")}


def test_generated_names_flagged_and_ordinary_ones_not(loopback) -> None:
    dns = loopback.dns
    found = _dns_findings(dns.path)
    flagged = {domain for rule, domain in found if rule == "dns-generated-name"}
    assert flagged == set(captures.GENERATED)
    nxdomain = Counter(name for response, name, rcode, _, _ in _dns_packets(dns.path) if response and rcode == 3)
    for name in captures.GENERATED:
        finding = found[("dns-generated-name", name)]
        assert finding.detail["nxdomain"] == nxdomain[name] == 1
        assert finding.severity == "medium"  # two signs or more, and the name does not resolve
        assert len(finding.detail["signs"]) >= 2


def test_real_world_names_raise_no_dns_findings(corpus_dir: Path) -> None:
    """The corpus traces' DNS names (wikimedia, google, NetBIOS/mDNS names, reverse lookups, a TKEY
    exchange, a 3 KB TXT answer) are ordinary: none is flagged."""
    traces = sorted((corpus_dir / "pcap").glob("*.pcap*"))
    names = {r.query for t in traces for r in _of(t, "dns") if r.query}
    assert len(names) >= 14
    assert [f.title for t in traces for f in _of(t, "net_finding") if f.rule.startswith("dns-")] == []


def test_tunnelling_hints_equal_tshark_counts(loopback) -> None:
    dns = loopback.dns
    found = _dns_findings(dns.path)
    domain = captures.TUNNEL_DOMAIN
    packets = _dns_packets(dns.path)
    names = {name for response, name, _, _, _ in packets if not response and name.endswith("." + domain)}
    many = found[("dns-many-subdomains", domain)]
    assert many.severity == "medium" and many.detail["distinct_names"] == str(len(names)) == "60"
    assert many.detail["average_subdomain_length"] == pytest.approx(
        sum(len(n) - len(domain) - 1 for n in names) / len(names), abs=0.05)
    long_txt = defaultdict(int)
    for response, name, _, _, text in packets:
        if response and text:
            long_txt[name] = max(long_txt[name], len(text))
    txt = found[("dns-long-txt", domain)]
    assert txt.detail["txt_names"] == sum(1 for length in long_txt.values() if length >= 256) == 60
    assert txt.detail["longest_txt"] == max(long_txt.values()) == captures.TXT_LENGTH + 1  # two strings, a space
    assert not any(d in found for d in (("dns-many-subdomains", "wikipedia.org"), ("dns-long-txt", "google.com")))


# ------------------------------------------------------------------ FTP, POP3, IMAP logins


def test_ftp_login_and_file_equal_tshark(loopback) -> None:
    ftp = loopback.ftp
    rows = tshark("-r", str(ftp.path), "-d", f"tcp.port=={ftp.port},ftp", "-Y", "ftp.request.command", "-T", "fields",
                  "-e", "ftp.request.command", "-e", "ftp.request.arg")
    args = {command: arg for command, arg in rows}
    creds = _of(ftp.path, "credential")
    assert [(c.username, c.password, c.accepted) for c in creds] == [(args["USER"], args["PASS"], True)]
    assert (args["USER"], args["PASS"]) == (ftp.user, ftp.password)
    objects = _of(ftp.path, "extracted_object")
    assert [o.sha256 for o in objects] == [ftp.file_sha256]


def _b64(text: str) -> str:
    return base64.b64decode(text).decode()


def _tshark_logins(mail: captures.MailCapture) -> list[tuple[str, str, str | None]]:
    """(protocol, user, password) as tshark decodes the client's lines; SASL lines base64-decoded here."""
    rows = tshark("-r", str(mail.path), "-d", f"tcp.port=={mail.pop3_port},pop", "-d", f"tcp.port=={mail.imap_port},imap",
                  "-Y", "pop.request or imap.request", "-T", "fields", "-e", "tcp.stream", "-e", "pop.request.command",
                  "-e", "pop.request.parameter", "-e", "imap.request", "-e", "imap.request.username")
    logins: list[tuple[str, str, str | None]] = []
    streams: dict[str, list[list[str]]] = defaultdict(list)
    for row in rows:
        streams[row[0]].append(row[1:])
    for lines in streams.values():
        for n, (command, parameter, imap_line, imap_user) in enumerate(lines):
            following = [line[0] or line[2] for line in lines[n + 1:n + 3]]
            words = imap_line.split(" ")
            if command == "PASS":
                logins.append(("pop3", lines[n - 1][1], parameter))
            elif command == "APOP":
                logins.append(("pop3", parameter.rsplit(" ", 1)[0], None))
            elif command == "AUTH" or (len(words) >= 3 and words[1] == "AUTHENTICATE"):
                protocol = "pop3" if command else "imap"
                mechanism, _, initial = (parameter if command else " ".join(words[2:])).partition(" ")
                if mechanism == "PLAIN":
                    _, user, password = _b64(initial or following[0]).split("\0")
                    logins.append((protocol, user, password))
                else:
                    logins.append((protocol, _b64(following[0]), _b64(following[1])))
            elif len(words) >= 3 and words[1] == "LOGIN":
                password = next(p for _, u, p, _ in mail.logins if u == imap_user)
                quoted = '"' + password.replace("\\", "\\\\").replace('"', '\\"') + '"'
                assert imap_line == f"{words[0]} LOGIN {imap_user} {quoted}"  # the password as it went over the wire
                logins.append(("imap", imap_user, password))
    return logins


def test_pop3_and_imap_logins_equal_tshark(loopback) -> None:
    mail = loopback.mail
    creds = _of(mail.path, "credential")
    assert [(c.protocol, c.username, c.password) for c in creds] == _tshark_logins(mail)
    assert [(c.protocol, c.username, c.password, c.accepted) for c in creds] == mail.logins
    assert [c.where for c in creds] == ["POP3 PASS", "POP3 PASS", "POP3 APOP (password sent as a digest)",
                                        "POP3 AUTH PLAIN", "POP3 AUTH LOGIN", "IMAP LOGIN", "IMAP AUTHENTICATE PLAIN",
                                        "IMAP AUTHENTICATE LOGIN"]
    assert {f.app for f in _of(mail.path, "flow")} == {"pop3", "imap"}


# ------------------------------------------------------------------ protocols on ports not their own


def test_nonstandard_ports_equal_tshark_connections(loopback) -> None:
    cases = [(loopback.http.path, loopback.http.port, "HTTP"), (loopback.tls.path, loopback.tls.port, "TLS"),
             (loopback.ftp.path, loopback.ftp.port, "FTP"), (loopback.mail.path, loopback.mail.pop3_port, "POP3"),
             (loopback.mail.path, loopback.mail.imap_port, "IMAP")]
    syns = {path: Counter(int(row[0]) for row in tshark("-r", str(path), "-Y", "tcp.flags.syn == 1 and tcp.flags.ack == 0",
                                                        "-T", "fields", "-e", "tcp.dstport"))
            for path in {path for path, _, _ in cases}}
    for path, port, protocol in cases:
        found = [f for f in _of(path, "net_finding") if f.rule == "nonstandard-port" and f.detail["port"] == port]
        assert len(found) == 1, (protocol, port)
        assert found[0].severity == "medium" and found[0].detail["protocol"] == protocol
        assert found[0].detail["connections"] == syns[path][port]
    # the FTP data connection is FTP's own business, not a protocol on a strange port
    assert len([f for f in _of(loopback.ftp.path, "net_finding") if f.rule == "nonstandard-port"]) == 1


def test_standard_and_alternate_ports_on_corpus_traces(corpus_dir: Path) -> None:
    wolfssl = corpus_dir / "pcap" / "tls_tls13_wolfssl.pcap"
    port = {int(row[0]) for row in tshark("-r", str(wolfssl), "-Y", "tls.handshake.type == 1", "-T", "fields",
                                          "-e", "tcp.dstport")}
    found = [f for f in _of(wolfssl, "net_finding") if f.rule == "nonstandard-port"]
    assert [(f.detail["port"], f.detail["protocol"], f.severity) for f in found] == [(p, "TLS", "medium") for p in port]
    for trace in ("wikipedia.pcap", "tls_tls1.2.pcap", "smtp.pcap", "ftp_ipv4.pcap"):
        assert not [f for f in _of(corpus_dir / "pcap" / trace, "net_finding") if f.rule == "nonstandard-port"]


# ------------------------------------------------------------------ hosts


@lru_cache(maxsize=None)
def _ip_packets(path: Path) -> tuple[list[list[str]], dict[str, tuple[int, int]]]:
    """One tshark run: per IP packet (src, dst, ip.len, eth.src, frame.time_epoch) — outer header only, as
    an ICMP error quotes another — and its `-z endpoints,ip` table: address -> (Tx packets, Rx packets)."""
    rows = tshark("-r", str(path), "-T", "fields", "-E", "occurrence=f", "-e", "ip.src", "-e", "ip.dst", "-e", "ip.len",
                  "-e", "eth.src", "-e", "frame.time_epoch", "-z", "endpoints,ip")
    packets = [row for row in rows if len(row) == 5 and row[0]]
    stats = {}
    for row in rows:
        fields = row[0].split() if len(row) == 1 else []
        if len(fields) == 7 and fields[1].isdigit():
            stats[fields[0]] = (int(fields[3]), int(fields[5]))
    return packets, stats


def _endpoints(path: Path) -> dict[str, tuple[int, int, int, int]]:
    """address -> (packets sent, received) from tshark's endpoint table, (IP bytes sent, received) from ip.len."""
    packets, stats = _ip_packets(path)
    sent: Counter[str] = Counter()
    received: Counter[str] = Counter()
    for src, dst, length, _, _ in packets:
        sent[src] += int(length)
        received[dst] += int(length)
    return {address: (tx, rx, sent[address], received[address]) for address, (tx, rx) in stats.items()}


def _hosts(path: Path) -> dict[str, object]:
    return {h.address: h for h in _of(path, "host")}


def test_hosts_traffic_and_macs_equal_tshark(corpus_dir: Path) -> None:
    path = corpus_dir / "pcap" / "wikipedia.pcap"
    hosts = {a: h for a, h in _hosts(path).items() if ipaddress.ip_address(a).version == 4}
    endpoints = _endpoints(path)
    assert {a: (h.packets_out, h.packets_in, h.bytes_out, h.bytes_in) for a, h in hosts.items()} == endpoints
    macs = defaultdict(set)
    seen = defaultdict(list)
    for src, dst, _, mac, epoch in _ip_packets(path)[0]:
        macs[src].add(mac)
        seen[src].append(_iso(epoch))
        seen[dst].append(_iso(epoch))
    assert {a: set(h.macs) for a, h in hosts.items() if h.packets_out} == dict(macs)
    assert {a: (h.first_seen, h.last_seen) for a, h in hosts.items()} == {a: (min(t), max(t)) for a, t in seen.items()}


def _iso(epoch: str) -> str:
    """tshark's frame.time_epoch ('1300475167.096535000') as ISO 8601 UTC with microseconds."""
    seconds, _, fraction = epoch.partition(".")
    return dt.datetime.fromtimestamp(int(seconds), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + fraction[:6] + "Z"


def test_hosts_names_and_ports_equal_zeek_and_tshark(corpus_dir: Path) -> None:
    path = corpus_dir / "pcap" / "wikipedia.pcap"
    hosts = _hosts(path)
    expected_dns = defaultdict(set)
    for row in zeek_log(corpus_dir, "wikipedia.pcap", "opt.basic", "dns.log"):
        for answer in row["answers"].split(","):
            if row["rcode_name"] == "NOERROR" and answer[:1].isdigit() and answer in hosts:
                expected_dns[answer].add(row["query"].lower())
    assert {a: set(h.dns_names) for a, h in hosts.items() if h.dns_names} == dict(expected_dns)
    expected_http = defaultdict(set)  # tshark, not Zeek: Zeek skips the request the trace picks up mid-stream
    for server, host in tshark("-r", str(path), "-Y", "http.request", "-T", "fields", "-e", "ip.dst", "-e", "http.host"):
        expected_http[server].add(host)
    assert {a: set(h.http_hosts) for a, h in hosts.items() if h.http_hosts} == dict(expected_http)
    answered = defaultdict(set)
    for src, port in tshark("-r", str(path), "-Y", "tcp.flags.syn == 1 and tcp.flags.ack == 1", "-T", "fields",
                            "-e", "ip.src", "-e", "tcp.srcport"):
        answered[src].add(f"tcp/{port}")
    assert {a: {p for p in h.open_ports if p.startswith("tcp/")} for a, h in hosts.items()
            if any(p.startswith("tcp/") for p in h.open_ports)} == dict(answered)
    for trace in ("tls_tls-conn-with-extensions.pcap", "tls_tls1.2.pcap"):
        baseline = next((corpus_dir / "pcap" / "zeek-baselines" / trace).iterdir()).name
        ssl = zeek_log(corpus_dir, trace, baseline, "ssl.log")
        assert {a: h.tls_names for a, h in _hosts(corpus_dir / "pcap" / trace).items() if h.tls_names} == {
            row["id.resp_h"]: [row["server_name"]] for row in ssl if row["server_name"] != "-"}


def test_hosts_on_loopback_captures(loopback) -> None:
    http = _hosts(loopback.http.path)["127.0.0.1"]
    assert http.http_hosts == [loopback.http.host] and http.macs == ["00:00:00:00:00:00"]
    assert http.open_ports == [f"tcp/{loopback.http.port}"]
    assert _hosts(loopback.tls.path)["127.0.0.1"].tls_names == [loopback.tls.sni]
    dns_hosts = _hosts(loopback.dns.path)
    assert dns_hosts["127.0.0.1"].dns_names == sorted(loopback.dns.answers)
    assert dns_hosts[loopback.dns.server].open_ports == ["udp/53"]
    for path in (loopback.http.path, loopback.dns.path):
        ours = {a: (h.packets_out, h.packets_in, h.bytes_out, h.bytes_in) for a, h in _hosts(path).items()}
        assert ours == _endpoints(path)


# ------------------------------------------------------------------ through the command line


def test_scan_exports_hosts_findings_and_masked_credentials(loopback, tmp_path: Path) -> None:
    case = tmp_path / "case"
    paths = [loopback.http.path, loopback.dns.path, loopback.mail.path]
    result = run_cli("scan", *paths, "--case", case, "--quiet", "--no-yara")
    assert result.code == 0, result.stderr
    hosts = export(case, "hosts")
    expected = {str(p.resolve()): _hosts(p) for p in paths}
    assert sorted((h["evidence"], h["address"]) for h in hosts) == sorted(
        (e, a) for e, found in expected.items() for a in found)
    for row in hosts:
        host = expected[row["evidence"]][row["address"]]
        assert (row["macs"], row["names"], row["open_ports"], row["bytes_out"], row["bytes_in"]) == (
            host.macs, host.names, host.open_ports, host.bytes_out, host.bytes_in)
    findings = export(case, "findings")
    rules = Counter(f["rule"] for f in findings)
    assert rules["nonstandard-port"] == 3  # HTTP, POP3, IMAP on the builders' ports
    assert rules["dns-generated-name"] == len(captures.GENERATED)
    assert rules["dns-many-subdomains"] == rules["dns-long-txt"] == 1
    assert rules["cleartext-credentials"] == 1 + len(loopback.mail.logins)
    severities = Counter(f["severity"] for f in findings if f["rule"] == "cleartext-credentials")
    assert severities == {"medium": len(loopback.mail.logins), "low": 1}  # APOP: only the user name is in clear
    assert all(f["analyzer"] == "network" for f in findings if f["rule"].startswith(("dns-", "nonstandard")))
    creds = export(case, "credentials")
    assert {c["protocol"] for c in creds} == {"http", "pop3", "imap"}
    secrets = {p for _, _, p, _ in loopback.mail.logins if p} | {loopback.http.form["password"]}
    assert not secrets & {c["password"] for c in creds}  # masked unless --show-credentials
    assert {c["password"] for c in creds} == {MASK, None}  # APOP sends no password
    html = tmp_path / "report.html"
    result = run_cli("report", "--case", case, "--pdf", tmp_path / "report.pdf", "--html", html)
    assert result.code == 0, result.stderr
    text = html.read_text()
    assert f'id="net-hosts" data-total="{len(hosts)}"' in text
