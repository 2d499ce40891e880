"""Capture analysis against tshark on the same traces: exported HTTP objects, JA3/JA3S, SNI,
UDP checksum verdicts, and the same flows whatever the link layer."""

from __future__ import annotations

import dataclasses
import hashlib
import struct
from collections import Counter
from pathlib import Path

import pytest

from cybertriage.analyzers.net import analyse_capture
from cybertriage.analyzers.net import dns as dns_mod
from tests.analyzers.net import pcapgen
from tests.analyzers.net.conftest import tshark


@pytest.mark.parametrize("trace", ["http_get.pcap", "http_x-gzip.pcap", "http_multipart.pcap", "http_100-continue.pcap",
                                   "wikipedia.pcap"])
def test_bodies_equal_tshark_export_objects(analysed, corpus_dir: Path, tmp_path: Path, trace: str) -> None:
    tshark("-r", str(corpus_dir / "pcap" / trace), "-q", "--export-objects", f"http,{tmp_path}")
    exported = Counter(hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir())
    ours = Counter(obj.sha256 for obj in analysed(trace).of("extracted_object"))
    assert ours == exported
    for http in analysed(trace).of("http"):
        assert http.body_sha256 is None or http.body_sha256 in exported


def test_http09_body_equals_tshark_pieces(analysed, corpus_dir: Path, tmp_path: Path) -> None:
    """tshark exports an HTTP/0.9 response packet by packet; joined, they are our one body."""
    tshark("-r", str(corpus_dir / "pcap" / "mixed-vlan-mpls.pcap"), "-q", "--export-objects", f"http,{tmp_path}")
    pieces = sorted((p for p in tmp_path.iterdir() if p.name.startswith("%2f(")), key=lambda p: p.name)
    whole = tmp_path / "%2f"
    ours = {obj.sha256 for obj in analysed("mixed-vlan-mpls.pcap").of("extracted_object")}
    assert ours == {hashlib.sha256(whole.read_bytes()).hexdigest(),
                    hashlib.sha256(b"".join(p.read_bytes() for p in pieces)).hexdigest()}


@pytest.mark.parametrize("trace", ["tls_tls1.2.pcap", "tls_tls-conn-with-extensions.pcap", "tls_tls13_wolfssl.pcap",
                                   "smtp.pcap"])
def test_ja3_sni_equal_tshark(analysed, corpus_dir: Path, trace: str) -> None:
    rows = tshark("-r", str(corpus_dir / "pcap" / trace), "-Y", "tls.handshake.type == 1 || tls.handshake.type == 2",
                  "-T", "fields", "-e", "tcp.srcport", "-e", "tls.handshake.type", "-e",
                  "tls.handshake.extensions_server_name", "-e", "tls.handshake.ja3_full", "-e", "tls.handshake.ja3",
                  "-e", "tls.handshake.ja3s_full", "-e", "tls.handshake.ja3s")
    expected = {}
    for port, htype, sni, ja3_full, ja3, ja3s_full, ja3s in rows:
        if htype == "1":
            expected.setdefault(int(port), {}).update(sni=sni or None, ja3_string=ja3_full, ja3=ja3)
        else:
            expected.setdefault(int(port), {})  # the server's port; joined below
            expected[int(port)].update(ja3s_string=ja3s_full, ja3s=ja3s)
    ours = analysed(trace).of("tls")
    assert ours
    for tls in ours:
        client, server = expected[tls.sport], expected[tls.dport]
        assert (tls.sni, tls.ja3_string, tls.ja3) == (client["sni"], client["ja3_string"], client["ja3"])
        assert (tls.ja3s_string, tls.ja3s) == (server["ja3s_string"], server["ja3s"])


def test_sni_gstatic(analysed) -> None:
    (tls,) = analysed("tls_tls-conn-with-extensions.pcap").of("tls")
    assert tls.sni == "ssl.gstatic.com"


@pytest.mark.parametrize("trace", ["pcapng-multi-interface.pcapng", "dns_dns-corrupt.pcap"])
def test_udp_checksum_verdicts_equal_tshark(analysed, corpus_dir: Path, trace: str) -> None:
    rows = tshark("-r", str(corpus_dir / "pcap" / trace), "-o", "udp.check_checksum:TRUE", "-T", "fields",
                  "-e", "udp.checksum.status")
    assert analysed(trace).summary.bad_checksums == sum(1 for (status,) in rows if status == "0")


def test_wikipedia_dns_names_equal_tshark(analysed, corpus_dir: Path) -> None:
    rows = tshark("-r", str(corpus_dir / "pcap" / "wikipedia.pcap"), "-Y", "dns && dns.flags.response == 0 && !nbns",
                  "-T", "fields", "-e", "dns.qry.name")
    assert {name for (name,) in rows} <= {d.query for d in analysed("wikipedia.pcap").of("dns")}


def test_a_flood_of_unanswered_queries_keeps_the_latest_waiting(tmp_path: Path) -> None:
    """600 queries in one flow, then their answers: at most MAX_PENDING wait for an answer (as a tunnelling
    flood would otherwise fill memory), so the oldest go out unanswered in the order they were asked, their
    late answers stand alone, and the latest MAX_PENDING are paired with theirs. Names and answers as tshark
    reads them."""
    client, server, count = "10.0.0.1", "10.0.0.53", 600
    frames = [(1_700_000_000 + i * 0.001, pcapgen.ether(pcapgen.ipv4(client, server, 17, pcapgen.udp(
        client, server, 40000, 53, pcapgen.dns_message(i, f"q{i}.example.com"))))) for i in range(count)]
    frames += [(1_700_000_001 + i * 0.001, pcapgen.ether(pcapgen.ipv4(server, client, 17, pcapgen.udp(
        server, client, 53, 40000, pcapgen.dns_message(i, f"q{i}.example.com", f"10.1.{i // 256}.{i % 256}")))))
        for i in range(count)]
    path = pcapgen.write_pcap(tmp_path / "flood.pcap", frames)
    rows = tshark("-r", str(path), "-T", "fields", "-e", "dns.flags.response", "-e", "dns.qry.name", "-e", "dns.a")
    asked = [name for response, name, _ in rows if response in ("0", "False")]
    answers = {name: address for response, name, address in rows if response in ("1", "True")}
    assert len(asked) == len(answers) == count
    flushed = count - dns_mod.MAX_PENDING

    records = [record for record in analyse_capture(path) if record.KIND == "dns"]
    assert [r.query for r in records if r.rcode is None] == asked[:flushed]  # the oldest, unanswered, in order
    assert sorted(r.query for r in records if r.rcode is not None and r.rtt is None) == sorted(asked[:flushed])
    assert {r.query: r.answers for r in records if r.rtt is not None} == {
        name: [answers[name]] for name in asked[flushed:]}


# ---------------------------------------------------------------------------- link layers

def _rewrap(src: Path, dst: Path, linktype: int, wrap) -> Path:
    """The same IP packets under another link layer (non-IP frames left out)."""
    _, frames = pcapgen.read_pcap(src.read_bytes())
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)]
    for sec, usec, _wire, frame in frames:
        etype = struct.unpack_from("!H", frame, 12)[0]
        if etype not in (0x0800, 0x86DD):
            continue
        body = wrap(etype, frame[14:])
        out.append(struct.pack("<IIII", sec, usec, len(body), len(body)) + body)
    dst.write_bytes(b"".join(out))
    return dst


WRAPS = {
    "sll": (113, lambda etype, ip: struct.pack("!HHH8sH", 0, 1, 6, b"\x02" * 6 + b"\0\0", etype) + ip),
    "sll2": (276, lambda etype, ip: struct.pack("!HHIHBB8s", etype, 0, 2, 1, 0, 6, b"\x02" * 6 + b"\0\0") + ip),
    "raw": (101, lambda etype, ip: ip),
    "raw-ipv4-ipv6": (228, lambda etype, ip: ip),  # LINKTYPE_IPV4 used for both here: told by the version nibble
    "null": (0, lambda etype, ip: struct.pack("<I", 2 if etype == 0x0800 else 30) + ip),
    "vlan": (1, lambda etype, ip: pcapgen.MAC_B + pcapgen.MAC_A + struct.pack("!HHHH", 0x88A8, 10, 0x8100, 20)
             + struct.pack("!H", etype) + ip),
    "mpls": (1, lambda etype, ip: pcapgen.MAC_B + pcapgen.MAC_A + struct.pack("!HII", 0x8847, (16 << 12) | 64,
                                                                              (17 << 12) | 0x100 | 64) + ip),
}


@pytest.mark.parametrize("name", sorted(WRAPS))
def test_same_flows_under_every_link_layer(analysed, corpus_dir: Path, tmp_path: Path, name: str) -> None:
    linktype, wrap = WRAPS[name]
    path = _rewrap(corpus_dir / "pcap" / "wikipedia.pcap", tmp_path / f"{name}.pcap", linktype, wrap)
    if name != "raw-ipv4-ipv6":  # tshark reads the file as well and finds the same IP packets
        rows = tshark("-r", str(path), "-T", "fields", "-e", "ip.src", "-e", "ipv6.src")
        assert sum(1 for row in rows if any(row)) == 126
    records = list(analyse_capture(path))
    original = analysed("wikipedia.pcap")

    def view(recs):
        return sorted((r.KIND, repr({k: v for k, v in dataclasses.asdict(r).items() if k not in ("vlan", "path", "format",
                                                                                       "file_size", "bytes_read",
                                                                                       "linktypes", "not_decoded",
                                                                                       "packets_read", "macs")}))
                      for r in recs)

    assert view(records) == view(original.records)
    assert records[-1].packets_read == records[-1].packets_decoded == 126
    if name == "vlan":
        assert {r.vlan for r in records if r.KIND == "flow"} == {10}
