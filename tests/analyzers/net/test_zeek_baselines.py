"""Capture analysis against Zeek's own baselines for the corpus traces (upstream answers)."""

from __future__ import annotations

import calendar
import re
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.analyzers.net.conftest import zeek_log

SERVICE = {"-": None, "dns": "dns", "http": "http", "ftp": "ftp", "ftp-data": None, "smtp": "smtp", "ssl": "tls"}


def _conn_key(row: dict) -> tuple:
    return (row["id.orig_h"], int(row["id.orig_p"]), row["id.resp_h"], int(row["id.resp_p"]), row["proto"])


def _flow_key(flow) -> tuple:
    return (flow.src, flow.sport, flow.dst, flow.dport, flow.proto)


CONN_BASELINES = [
    ("wikipedia.pcap", "opt.basic"),
    ("http_get.pcap", "core.tcp.reassembly-known-ports"),
    ("mixed-vlan-mpls.pcap", "core.vlan-mpls"),
    ("q-in-q.pcap", "core.q-in-q"),
    ("pcapng-multi-interface.pcapng", "core.pcapng-pktsrc"),
    ("ftp_ipv4.pcap", "scripts.base.protocols.ftp.ftp-ipv4"),
    ("ftp_ipv6.pcap", "scripts.base.protocols.ftp.ftp-ipv6"),
]


@pytest.mark.parametrize("trace,baseline", CONN_BASELINES)
def test_flows_equal_zeek_conn_log(analysed, corpus_dir: Path, trace: str, baseline: str) -> None:
    """Same connections, same orientation, packet and IP byte counts, payload bytes, history and state."""
    zeek = {_conn_key(row): row for row in zeek_log(corpus_dir, trace, baseline, "conn.log")}
    ours = {_flow_key(f): f for f in analysed(trace).of("flow")}
    assert set(ours) == set(zeek)
    for key, row in zeek.items():
        flow = ours[key]
        assert (flow.orig_packets, flow.resp_packets) == (int(row["orig_pkts"]), int(row["resp_pkts"])), key
        assert (flow.orig_bytes, flow.resp_bytes) == (int(row["orig_ip_bytes"]), int(row["resp_ip_bytes"])), key
        if row["orig_bytes"] != "-":
            assert (flow.orig_payload, flow.resp_payload) == (int(row["orig_bytes"]), int(row["resp_bytes"])), key
        # The baselines were made with `zeek -C` (checksums ignored) where it matters; checksum
        # letters are compared with tshark's verdicts in test_tshark.py.
        assert flow.history.replace("C", "").replace("c", "") == row["history"], key
        assert flow.state == row["conn_state"], key
        assert flow.packets == flow.orig_packets + flow.resp_packets and flow.bytes == flow.orig_bytes + flow.resp_bytes


@pytest.mark.parametrize("trace,baseline", CONN_BASELINES)
def test_app_protocol_agrees_with_zeek_service(analysed, corpus_dir: Path, trace: str, baseline: str) -> None:
    ours = {_flow_key(f): f for f in analysed(trace).of("flow")}
    for row in zeek_log(corpus_dir, trace, baseline, "conn.log"):
        expected = SERVICE[row["service"]]
        if expected is not None:  # Zeek leaves mid-stream connections unnamed; we may name them from content
            assert ours[_conn_key(row)].app == expected, row


def test_wikipedia_counts(analysed) -> None:
    result = analysed("wikipedia.pcap")
    flows = result.of("flow")
    assert Counter((f.proto, f.app) for f in flows) == {("udp", "dns"): 24, ("tcp", "http"): 9, ("tcp", None): 1}
    assert len(result.of("dns")) == 34
    summary = result.summary
    assert summary.packets_read == 136 and summary.not_decoded == {"not IP": 10}  # 10 ARP frames
    assert summary.packets_decoded == 126 and summary.complete


def test_wikipedia_dns_equals_zeek(analysed, corpus_dir: Path) -> None:
    def key(src, sport, dst, dport, query, qtype, rcode, answers):
        # Zeek logs queries in lower case (its policy script log-original-query-case adds the original)
        return (src, int(sport), dst, int(dport), query.lower(), qtype, rcode, tuple(answers))

    zeek = Counter(
        key(r["id.orig_h"], r["id.orig_p"], r["id.resp_h"], r["id.resp_p"], r["query"],
            None if r["qtype_name"] == "-" else r["qtype_name"], None if r["rcode_name"] == "-" else r["rcode_name"],
            [] if r["answers"] == "-" else r["answers"].split(","))
        for r in zeek_log(corpus_dir, "wikipedia.pcap", "opt.basic", "dns.log"))
    ours = Counter(key(d.src, d.sport, d.dst, d.dport, d.query, d.qtype, d.rcode, d.answers)
                   for d in analysed("wikipedia.pcap").of("dns"))
    assert ours == zeek


def test_wikipedia_http_equals_zeek(analysed, corpus_dir: Path) -> None:
    def key(src, sport, method, host, uri, status, agent):
        return (src, int(sport), method, host, uri, int(status), agent)

    zeek = Counter(key(r["id.orig_h"], r["id.orig_p"], r["method"], r["host"], r["uri"], r["status_code"], r["user_agent"])
                   for r in zeek_log(corpus_dir, "wikipedia.pcap", "opt.basic", "http.log"))
    ours = analysed("wikipedia.pcap").of("http")
    ours_keys = Counter(key(h.src, h.sport, h.method, h.host, h.uri, h.status, h.user_agent) for h in ours)
    assert not (zeek - ours_keys)  # every Zeek transaction is found
    extra = list((ours_keys - zeek).elements())
    # Zeek does not parse the connection picked up mid-stream (no SYN); we do, from its content.
    assert [(e[1], e[2], e[4], e[5]) for e in extra] == [(35634, "GET", "/", 304)]
    depth = {(h.sport, h.uri): h.trans_depth for h in ours}
    for row in zeek_log(corpus_dir, "wikipedia.pcap", "opt.basic", "http.log"):
        assert depth[(int(row["id.orig_p"]), row["uri"])] == int(row["trans_depth"])


@pytest.mark.parametrize("trace,baseline", [
    ("http_get.pcap", "core.tcp.reassembly-known-ports"),
    ("http_x-gzip.pcap", "scripts.base.protocols.http.x-gzip"),
    ("http_multipart.pcap", "scripts.base.protocols.http.multipart-extract"),
    ("http_100-continue.pcap", "scripts.base.protocols.http.100-continue"),
    ("mixed-vlan-mpls.pcap", "core.vlan-mpls"),
])
def test_http_equals_zeek(analysed, corpus_dir: Path, trace: str, baseline: str) -> None:
    rows = zeek_log(corpus_dir, trace, baseline, "http.log")
    ours = analysed(trace).of("http")
    assert len(ours) == len(rows)
    by_port = {h.sport: h for h in ours}
    for row in rows:
        http = by_port[int(row["id.orig_p"])]
        assert (http.src, http.dst, http.dport) == (row["id.orig_h"], row["id.resp_h"], int(row["id.resp_p"]))
        assert http.method == row["method"] and http.uri == row["uri"]
        assert http.host == (None if row["host"] == "-" else row["host"])
        assert http.user_agent == (None if row["user_agent"] == "-" else row["user_agent"])
        assert (http.status or 0) == int(row["status_code"])
        assert http.version == row["version"]
        assert http.body_size == int(row["response_body_len"])
        assert http.request_body_size == int(row["request_body_len"])
        assert http.info_code == (None if row["info_code"] == "-" else int(row["info_code"]))
        assert http.body_complete


def test_http_get_body_equals_zeek_files_log(analysed, corpus_dir: Path) -> None:
    (row,) = zeek_log(corpus_dir, "http_get.pcap", "scripts.base.frameworks.file-analysis.logging", "files.log")
    (http,) = analysed("http_get.pcap").of("http")
    (obj,) = analysed("http_get.pcap").of("extracted_object")
    assert http.body_sha256 == obj.sha256 == row["sha256"]
    assert obj.size == len(obj.data) == int(row["total_bytes"])
    assert obj.source is http and obj.direction == "response" and obj.name == "CHANGES.bro-aux.txt"
    assert http.content_type.startswith(row["mime_type"])


def test_dns_over_tcp_equals_zeek(analysed, corpus_dir: Path) -> None:
    (row,) = zeek_log(corpus_dir, "dns_tkey.pcap", "scripts.base.protocols.dns.tkey", "dns.log")
    (dns,) = analysed("dns_tkey.pcap").of("dns")
    assert (dns.proto, dns.query, dns.qtype, dns.rcode, dns.trans_id) == (
        row["proto"], row["query"], row["qtype_name"], row["rcode_name"], int(row["trans_id"]))
    assert dns.answers == [] and (dns.src, dns.sport, dns.dport) == (row["id.orig_h"], int(row["id.orig_p"]), 53)
    (flow,) = analysed("dns_tkey.pcap").of("flow")
    assert flow.app == "dns" and flow.proto == "tcp"


def test_ipv6_fragmented_dns_equals_zeek(analysed, corpus_dir: Path) -> None:
    rows = zeek_log(corpus_dir, "ipv6-fragmented-dns.pcap", "core.ipv6-frag", "dns.log")
    ours = analysed("ipv6-fragmented-dns.pcap").of("dns")

    def key(query, qtype, rcode, trans_id, sport):
        return (query, qtype, rcode, int(trans_id), int(sport))

    assert Counter(key(d.query, d.qtype, d.rcode, d.trans_id, d.sport) for d in ours) == Counter(
        key(r["query"], r["qtype_name"], None if r["rcode_name"] == "-" else r["rcode_name"], r["trans_id"],
            r["id.orig_p"]) for r in rows)
    for dns, row in zip(sorted(ours, key=lambda d: (d.sport, d.rcode is None)),
                        sorted(rows, key=lambda r: (r["id.orig_p"], r["rcode_name"] == "-"))):
        if row["answers"] != "-":
            # Zeek writes each string of a TXT record as 'TXT <length> <text>'; we join the strings.
            strings = [s for s in re.split(r"TXT \d+ ", row["answers"]) if s]
            assert dns.answers == [" ".join(s.strip() for s in strings)]
            assert dns.rtt == pytest.approx(float(row["rtt"]), abs=1e-6)
    # The 3238-byte response came in three IPv6 fragments; Zeek's output shows it reassembled.
    flow = next(f for f in analysed("ipv6-fragmented-dns.pcap").of("flow") if f.sport == 51851)
    assert flow.resp_packets == 3 and flow.resp_payload == 3230 and flow.ip_version == 6


def test_pcapng_multi_interface_dns(analysed, corpus_dir: Path) -> None:
    result = analysed("pcapng-multi-interface.pcapng")
    assert {(d.src, d.sport, d.dst, d.dport) for d in result.of("dns")} == {
        (r["id.orig_h"], int(r["id.orig_p"]), r["id.resp_h"], int(r["id.resp_p"]))
        for r in zeek_log(corpus_dir, "pcapng-multi-interface.pcapng", "core.pcapng-pktsrc", "conn.log")}
    assert all(d.rcode == "NOERROR" for d in result.of("dns"))


def _epoch(iso: str) -> int:
    return calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ"))


@pytest.mark.parametrize("trace,baseline", [
    ("tls_tls1.2.pcap", "scripts.base.protocols.ssl.tls-1.2"),
    ("tls_tls-conn-with-extensions.pcap", "scripts.base.protocols.ssl.basic"),
])
def test_tls_equals_zeek_ssl_and_x509_logs(analysed, corpus_dir: Path, trace: str, baseline: str) -> None:
    (ssl,) = zeek_log(corpus_dir, trace, baseline, "ssl.log")
    certs = zeek_log(corpus_dir, trace, baseline, "x509.log")
    (tls,) = analysed(trace).of("tls")
    assert (tls.src, tls.sport, tls.dst, tls.dport) == (
        ssl["id.orig_h"], int(ssl["id.orig_p"]), ssl["id.resp_h"], int(ssl["id.resp_p"]))
    assert tls.version.replace("v1.", "v1") == ssl["version"]  # Zeek writes TLSv12
    assert tls.cipher == ssl["cipher"]
    assert tls.sni == (None if ssl["server_name"] == "-" else ssl["server_name"])
    assert tls.established == (ssl["established"] == "T")
    assert tls.cert_chain_sha256 == ssl["cert_chain_fps"].split(",")
    assert tls.cert_chain_subjects == [c["certificate.subject"] for c in certs]
    leaf = certs[0]
    assert tls.cert_subject == leaf["certificate.subject"] and tls.cert_issuer == leaf["certificate.issuer"]
    assert tls.cert_serial == leaf["certificate.serial"]
    assert _epoch(tls.cert_not_before) == int(float(leaf["certificate.not_valid_before"]))
    assert _epoch(tls.cert_not_after) == int(float(leaf["certificate.not_valid_after"]))
    assert tls.cert_san_dns == ([] if leaf["san.dns"] == "-" else leaf["san.dns"].split(","))


def test_tls13_equals_zeek(analysed, corpus_dir: Path) -> None:
    (ssl,) = zeek_log(corpus_dir, "tls_tls13_wolfssl.pcap", "scripts.base.protocols.ssl.tls13_encrypted_handshake_events",
                      "ssl.log")
    (tls,) = analysed("tls_tls13_wolfssl.pcap").of("tls")
    assert tls.version == "TLSv1.3" and ssl["version"] == "TLSv13"
    assert tls.cipher == ssl["cipher"] and tls.sni is None and tls.established
    assert tls.client_version == "TLSv1.2" and tls.offered_versions[0] == "TLSv1.3"
    assert tls.cert_subject is None  # encrypted in TLS 1.3


def test_truncated_traces_record_why(analysed) -> None:
    """Zeek's weird.log names truncated_ethernet_frame / truncated_IP / truncated_IP_len for these."""
    expected = {
        "trunc_trunc-hdr.pcap": "truncated Ethernet header",
        "trunc_ip4-trunc.pcap": "truncated IPv4 header",
        "trunc_ip6-trunc.pcap": "truncated IPv6 header",
        "trunc_ip6-ext-trunc.pcap": "truncated IPv6 extension header",
    }
    for trace, reason in expected.items():
        summary = analysed(trace).summary
        assert summary.not_decoded == {reason: 1}, trace
        assert summary.packets_read == 1 and summary.packets_decoded == 0 and not summary.problems


def test_corrupt_udp_checksums_recorded(analysed, corpus_dir: Path) -> None:
    lines = (corpus_dir / "pcap/zeek-baselines/dns_dns-corrupt.pcap/core.udp-corrupt/conn.log").read_text().splitlines()
    row = dict(zip(lines[-2].split("\t"), lines[-1].split("\t")))  # btest-diff-cut: a header, then the row
    assert row["history"] == "Cc"  # Zeek: bad checksum from both sides
    result = analysed("dns_dns-corrupt.pcap")
    (flow,) = result.of("flow")
    assert "C" in flow.history and "c" in flow.history
    assert result.summary.bad_checksums == 2 and any("checksum" in w for w in result.summary.warnings)
