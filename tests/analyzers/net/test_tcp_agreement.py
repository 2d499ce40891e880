"""TCP connections that end late and retransmissions that disagree, against tshark.

The segments are built here (pcapgen); tshark reads the same capture. A connection whose last FIN was never
acknowledged is one connection until its sender gives up, however long it retransmits; a retransmission that
carries other bytes than the first copy is a recorded problem naming both byte ranges, and the flow's
history shows it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cybertriage.analyzers.net import analyse_capture
from tests.analyzers.net import pcapgen
from tests.analyzers.net.conftest import tshark

REQUEST = b"GET /report.pdf HTTP/1.1\r\nHost: files.example\r\n\r\n"
BODY = bytes(range(256)) * 16  # 4 KiB


def _late_close(path: Path) -> Path:
    """A request and response, FIN both ways, the client's last ACK lost; 5.4 s later the server sends its FIN
    again, twice, and the client answers with a RST."""
    session = pcapgen.TcpSession()
    session.handshake()
    session.frames += session.segments(True, REQUEST, 1000)
    session.frames += session.segments(False, b"HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n" + BODY, 1400)
    session.frames.append(session.raw(True, session.cseq, b"", "FA"))
    session.cseq += 1
    session.frames.append(session.raw(False, session.sseq, b"", "FA"))
    for delay in (5.4, 1.0):
        session.t += delay
        session.frames.append(session.raw(False, session.sseq, b"", "FA"))
    session.frames.append(session.raw(True, session.cseq, b"", "R"))
    return pcapgen.write_pcap(path, session.frames)


def _conflicting(path: Path) -> tuple[Path, int]:
    """A response whose second segment is sent again with other bytes in its place (a different last 100 bytes)."""
    session = pcapgen.TcpSession()
    session.handshake()
    session.frames += session.segments(True, REQUEST, 1000)
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n" + BODY
    first = session.sseq
    segments = session.segments(False, response, 1400)
    session.frames += segments
    forged = bytearray(response[1400:2800])
    forged[-100:] = b"X" * 100
    session.frames.append(session.raw(False, first + 1400, bytes(forged)))
    session.close()
    return pcapgen.write_pcap(path, session.frames), first


def test_connection_with_late_fin_retransmissions_is_one_flow(tmp_path: Path) -> None:
    capture = _late_close(tmp_path / "late.pcap")
    streams = {row[0] for row in tshark("-r", str(capture), "-T", "fields", "-e", "tcp.stream")}
    gap = [float(row[0]) for row in tshark("-r", str(capture), "-Y", "tcp.analysis.retransmission", "-T", "fields",
                                           "-e", "tcp.time_delta")]
    assert len(streams) == 1 and gap and gap[0] > 5.0  # one connection, its FIN sent again after more than 5 s
    flows = [r for r in analyse_capture(capture) if r.KIND == "flow"]
    packets = len(tshark("-r", str(capture), "-T", "fields", "-e", "frame.number"))
    assert len(flows) == len(streams)
    assert flows[0].packets == packets
    assert flows[0].history.startswith("ShAD") and "F" in flows[0].history and "R" in flows[0].history


def test_conflicting_retransmission_is_a_problem_with_both_ranges(tmp_path: Path) -> None:
    capture, isn = _conflicting(tmp_path / "conflict.pcap")
    rows = tshark("-r", str(capture), "-Y", "tcp.srcport == 80 and tcp.len > 0", "-T", "fields", "-e", "tcp.seq_raw",
                  "-e", "tcp.len", "-e", "tcp.payload")
    carried: dict[int, int] = {}  # stream offset -> the byte first carried there
    expected = []  # (first copy's range, retransmission's range), each as first and last offset
    for seq, length, payload in rows:
        start = int(seq) - isn
        data = bytes.fromhex(payload.replace(":", ""))
        assert len(data) == int(length)
        again = [offset for offset in range(start, start + len(data)) if offset in carried]
        if any(carried[offset] != data[offset - start] for offset in again):
            expected.append((again[0], again[-1], start, start + len(data) - 1))
        for offset, byte in enumerate(data, start):
            carried.setdefault(offset, byte)
    assert len(expected) == 1
    records = list(analyse_capture(capture))
    problems = [w for w in records[-1].warnings if "rexmit_inconsistency" in w]
    first_start, first_end, again_start, again_end = expected[0]
    assert len(problems) == 1, records[-1].warnings
    assert f"bytes {again_start}-{again_end} retransmitted" in problems[0]
    assert f"first copy of bytes {first_start}-{first_end};" in problems[0]
    flow = next(r for r in records if r.KIND == "flow")
    assert "t" in flow.history  # the responder's retransmission
    http = next(r for r in records if r.KIND == "http")
    assert http.body_sha256 == hashlib.sha256(BODY).hexdigest()  # the first copy was kept
