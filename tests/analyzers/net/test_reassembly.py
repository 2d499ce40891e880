"""TCP reassembly and HTTP decoding on hand-built captures: the expected answers are the
contents that were put in (bodies, URIs), not what the analyser says."""

from __future__ import annotations

import gzip
import hashlib
import random
import zlib
from pathlib import Path

from cybertriage.analyzers.net import NetSettings, analyse_capture
from tests.analyzers.net import pcapgen

BODY_1 = b"".join(b"line %05d of the first body\n" % i for i in range(3000))
BODY_2 = bytes(random.Random(7).randrange(256) for _ in range(20000))


def _chunked(data: bytes, size: int) -> bytes:
    out = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(data[i:i + size]), data[i:i + size]) for i in range(0, len(data), size))
    return out + b"0\r\nX-Trailer: yes\r\n\r\n"


def _pipelined_session(tmp_path: Path, shuffle: bool) -> Path:
    session = pcapgen.TcpSession(cisn=0xFFFFF000)  # the client's sequence numbers wrap past 2^32
    session.handshake()
    requests = (b"GET /files/first.txt HTTP/1.1\r\nHost: example.test\r\nUser-Agent: t/1\r\n\r\n"
                b"GET /dl?id=2 HTTP/1.1\r\nHost: example.test\r\n\r\n"
                b"HEAD /third HTTP/1.1\r\nHost: example.test\r\n\r\n")
    gz = gzip.compress(BODY_1)
    deflated = zlib.compress(BODY_2)
    responses = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(gz, 1000)
                 + b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Encoding: deflate\r\n"
                 b"Content-Disposition: attachment; filename=\"../../evil name.bin\"\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(deflated) + deflated
                 + b"HTTP/1.1 200 OK\r\nContent-Length: 12345\r\n\r\n")
    session.frames += session.segments(True, requests, 40)
    server = session.segments(False, responses, 536)
    if shuffle:
        rng = random.Random(1)
        rng.shuffle(server)
        server.insert(5, server[3])  # a retransmission
    session.frames += server
    session.close()
    return pcapgen.write_pcap(tmp_path / "pipelined.pcap", session.frames)


def _http(path: Path, settings: NetSettings | None = None):
    records = list(analyse_capture(path, settings=settings))
    return records, [r for r in records if r.KIND == "http"], [r for r in records if r.KIND == "extracted_object"]


def test_pipelining_chunked_gzip_deflate_in_order(tmp_path: Path) -> None:
    records, http, objects = _http(_pipelined_session(tmp_path, shuffle=False))
    assert [(h.method, h.uri, h.status, h.trans_depth) for h in http] == [
        ("GET", "/files/first.txt", 200, 1), ("GET", "/dl?id=2", 200, 2), ("HEAD", "/third", 200, 3)]
    assert http[0].body_sha256 == hashlib.sha256(BODY_1).hexdigest() and http[0].body_size == len(BODY_1)
    assert http[1].body_sha256 == hashlib.sha256(BODY_2).hexdigest() and http[1].body_size == len(BODY_2)
    assert http[2].body_size == 0 and http[2].body_sha256 is None  # HEAD: no body despite Content-Length
    assert all(h.body_complete for h in http)
    assert [(o.name, o.data) for o in objects] == [("first.txt", BODY_1), ("evil_name.bin", BODY_2)]
    (flow,) = [r for r in records if r.KIND == "flow"]
    assert flow.app == "http" and flow.state == "SF" and flow.gaps == 0 and flow.ended == "end of capture"


def test_reordered_and_retransmitted_segments(tmp_path: Path) -> None:
    records, http, objects = _http(_pipelined_session(tmp_path, shuffle=True))
    assert [h.body_sha256 for h in http[:2]] == [hashlib.sha256(BODY_1).hexdigest(), hashlib.sha256(BODY_2).hexdigest()]
    assert records[-1].streams_with_gaps == 0


def test_overlap_first_copy_wins(tmp_path: Path) -> None:
    session = pcapgen.TcpSession()
    session.handshake()
    body = b"A" * 100 + b"B" * 100
    request = session.segments(True, b"POST /up HTTP/1.1\r\nContent-Length: 200\r\n\r\n", 1000)
    seq = session.cseq
    session.frames += request
    session.frames.append(session.raw(True, seq, body[:150]))
    session.frames.append(session.raw(True, seq + 100, b"X" * 100))  # overlaps 50 bytes with different content
    session.cseq += 200
    session.frames += session.segments(False, b"HTTP/1.1 204 No Content\r\n\r\n", 1000)
    session.close()
    _, (http,), (obj,) = _http(pcapgen.write_pcap(tmp_path / "overlap.pcap", session.frames))
    assert obj.data == b"A" * 100 + b"B" * 50 + b"X" * 50 and http.request_body_sha256 == obj.sha256
    assert http.status == 204 and http.body_size == 0


def test_gap_is_recorded_not_guessed(tmp_path: Path) -> None:
    session = pcapgen.TcpSession()
    session.handshake()
    session.frames += session.segments(True, b"GET /big HTTP/1.1\r\nHost: h\r\n\r\n", 1000)
    body = bytes(range(256)) * 40
    server = session.segments(False, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body, 1000)
    lost = server.pop(4)  # capture loss: the receiver acknowledges it, the capture never held it
    session.frames += server
    session.frames.append(session.raw(True, session.cseq, b"", "A"))
    session.close()
    records, (http,), (obj,) = _http(pcapgen.write_pcap(tmp_path / "gap.pcap", session.frames))
    assert lost and not http.body_complete and obj.truncated
    summary = records[-1]
    assert summary.streams_with_gaps == 1 and summary.gap_bytes == 1000
    (flow,) = [r for r in records if r.KIND == "flow"]
    assert flow.gaps == 1 and flow.missing_bytes == 1000
    # what is kept is the true prefix before the hole, hashed as such; nothing is shifted into it
    header = len(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
    assert obj.data == body[:4000 - header] and http.body_size == len(obj.data)
    assert obj.sha256 == hashlib.sha256(obj.data).hexdigest()


def test_object_cap_keeps_the_hash_of_the_whole_body(tmp_path: Path) -> None:
    session = pcapgen.TcpSession()
    session.handshake()
    session.frames += session.segments(True, b"GET /a.bin HTTP/1.1\r\n\r\n", 1000)
    session.frames += session.segments(False, b"HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n" + BODY_2, 1400)
    session.close()
    path = pcapgen.write_pcap(tmp_path / "cap.pcap", session.frames)
    _, (http,), (obj,) = _http(path, NetSettings(max_object_size=1000))
    assert obj.truncated and obj.data == BODY_2[:1000]
    assert obj.size == http.body_size == 20000 and obj.sha256 == hashlib.sha256(BODY_2).hexdigest()


def test_decompression_is_bounded(tmp_path: Path) -> None:
    bomb = gzip.compress(b"\0" * 5_000_000)
    session = pcapgen.TcpSession()
    session.handshake()
    session.frames += session.segments(True, b"GET /z HTTP/1.1\r\n\r\n", 1000)
    session.frames += session.segments(
        False, b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(bomb) + bomb, 1400)
    session.close()
    path = pcapgen.write_pcap(tmp_path / "bomb.pcap", session.frames)
    _, (http,), (obj,) = _http(path, NetSettings(max_object_size=1000, max_body_size=100_000))
    assert http.body_size == 100_000 and not http.body_complete and len(obj.data) == 1000


def test_port_reuse_and_idle_timeout_end_flows(tmp_path: Path) -> None:
    frames = []
    for t0 in (1_600_000_000.0, 1_600_000_100.0):
        session = pcapgen.TcpSession(t0=t0)
        session.handshake()
        session.frames += session.segments(True, b"GET / HTTP/1.1\r\n\r\n", 1000)
        session.frames += session.segments(False, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 1000)
        session.close()
        frames += session.frames
    frames.append((1_600_000_200.0, pcapgen.ether(pcapgen.ipv4("10.0.0.9", "10.0.0.8", 17, pcapgen.udp(
        "10.0.0.9", "10.0.0.8", 5000, 6000, b"x")))))
    frames.append((1_600_000_400.0, pcapgen.ether(pcapgen.ipv4("10.0.0.9", "10.0.0.8", 17, pcapgen.udp(
        "10.0.0.9", "10.0.0.8", 5000, 6000, b"y")))))
    records = list(analyse_capture(pcapgen.write_pcap(tmp_path / "reuse.pcap", frames)))
    flows = [r for r in records if r.KIND == "flow"]
    assert [(f.proto, f.packets, f.ended) for f in flows] == [
        ("tcp", 8, "fin/rst"), ("tcp", 8, "fin/rst"), ("udp", 1, "idle"), ("udp", 1, "end of capture")]
    assert len({f.id for f in flows}) == 4
    # a flow's records come before the flow itself
    kinds = [r.KIND for r in records]
    assert kinds.index("http") < kinds.index("flow")


def test_ipv4_fragments_out_of_order(tmp_path: Path) -> None:
    import struct

    answer = b"\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\x04test\x00\x00\x10\x00\x01"
    txt = b"T" * 250
    answer += b"\xc0\x0c\x00\x10\x00\x01\x00\x00\x00\x3c" + struct.pack("!H", 5 * 251) + (bytes([250]) + txt) * 5
    segment = pcapgen.udp("10.0.0.53", "10.0.0.1", 53, 33333, answer)
    pieces = [segment[i:i + 600] for i in range(0, len(segment), 600)]
    frames = []
    for index, piece in reversed(list(enumerate(pieces))):
        more = 0x2000 if index < len(pieces) - 1 else 0
        frames.append((1_600_000_000.0 + index, pcapgen.ether(pcapgen.ipv4(
            "10.0.0.53", "10.0.0.1", 17, piece, ident=77, frag=more | (index * 600 // 8)))))
    records = list(analyse_capture(pcapgen.write_pcap(tmp_path / "frag.pcap", frames)))
    (dns,) = [r for r in records if r.KIND == "dns"]
    assert dns.query == "test" and dns.qtype == "TXT" and dns.answers == [" ".join(["T" * 250] * 5)]
    (flow,) = [r for r in records if r.KIND == "flow"]
    assert flow.packets == len(pieces) and flow.src == "10.0.0.1" and flow.dport == 53  # turned to the client
    assert records[-1].packets_decoded == len(pieces) and records[-1].bad_checksums == 0


def test_requests_without_responses_are_bounded(tmp_path: Path) -> None:
    session = pcapgen.TcpSession()
    session.handshake()
    session.frames += session.segments(True, b"".join(b"GET /%d HTTP/1.1\r\n\r\n" % i for i in range(200)), 1400)
    session.close()
    records = list(analyse_capture(pcapgen.write_pcap(tmp_path / "many.pcap", session.frames)))
    http = [r for r in records if r.KIND == "http"]
    assert [h.uri for h in http] == ["/%d" % i for i in range(200)] and all(h.status is None for h in http)
    assert any("without responses" in w for w in records[-1].warnings)
