"""Bad packets and bad capture files (issue 4, "Bad input").

- Thousands of mutated packets from the corpus traces (DNS, HTTP, TLS, SMTP, FTP payloads with
  flipped, overwritten, inserted and cut bytes; packets cut short as a snap length cuts them)
  never let an exception escape a parser. The capture analysis keeps going after a parser bug
  and logs it, so a logged error counts as an escape here.
- A capture cut in the middle of a packet yields every whole packet: as many as tshark reads
  from the same cut file, and a recorded warning.
- A file named .pcap that is no capture at all is one line of error and exit code 1.

Payload offsets are found with dpkt, packet counts come from tshark and editcap.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import sqlite3
import struct
import subprocess
from pathlib import Path

import dpkt
import pytest

from cybertriage.analyzers.net import analyse_capture
from cybertriage.analyzers.net import dns as dns_mod
from tests.analyzers.net.pcapgen import read_pcap
from tests.conftest import run_cli

PAYLOAD_TRACES = ["wikipedia.pcap", "dns_tkey.pcap", "ipv6-fragmented-dns.pcap", "http_get.pcap", "http_x-gzip.pcap",
                  "http_multipart.pcap", "http_100-continue.pcap", "smtp.pcap", "ftp_ipv4.pcap", "ftp_ipv6.pcap",
                  "tls_tls1.2.pcap", "tls_tls-conn-with-extensions.pcap", "tls_tls13_wolfssl.pcap",
                  "mixed-vlan-mpls.pcap"]
VARIANTS = 16
INSERTS = (b"\r\n", b"\r\n\r\n", b"\x00", b":", b" ", b"0", b"-1", b"99999999999999999999", b"%", b"=?", b"\xff" * 4,
           b"A" * 1500, b"Content-Length: 4294967296\r\n", b"Transfer-Encoding: chunked\r\n\r\nffffffff\r\n",
           b"\xc0\x0c", b"\x16\x03\x01\xff\xff")


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record.getMessage())


@pytest.fixture
def logged_errors():
    handler = _Errors()
    logger = logging.getLogger("cybertriage")
    logger.addHandler(handler)
    yield handler.seen
    logger.removeHandler(handler)


def _payload_at(frame: bytes) -> int | None:
    """Where the TCP or UDP payload starts in an Ethernet frame (dpkt decodes it), or None."""
    try:
        eth = dpkt.ethernet.Ethernet(frame)
    except (dpkt.UnpackError, IndexError, ValueError):
        return None
    ip = eth.data
    while isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)) and isinstance(ip.data, (dpkt.ip.IP, dpkt.ip6.IP6)):
        ip = ip.data
    l4 = getattr(ip, "data", None)
    if not isinstance(l4, (dpkt.tcp.TCP, dpkt.udp.UDP)) or not l4.data:
        return None
    at = frame.rfind(bytes(l4.data))
    return at if at > 0 else None


def _mutated_frame(rng: random.Random, frame: bytes, start: int) -> tuple[bytes, bool]:
    """The frame with its payload damaged; True if it is cut short (captured < on the wire)."""
    data = bytearray(frame)
    payload = len(data) - start
    how = rng.randrange(5)
    if how == 0:
        for _ in range(rng.randint(1, 8)):
            data[start + rng.randrange(payload)] ^= 1 << rng.randrange(8)
    elif how == 1:
        at = start + rng.randrange(payload)
        size = rng.randint(1, 16)
        data[at:at + size] = rng.randbytes(size)
    elif how == 2:
        at = start + rng.randrange(payload + 1)
        data[at:at] = rng.choice(INSERTS)
    elif how == 3:
        del data[start + rng.randrange(payload):]
        return bytes(data), True
    else:
        cut = rng.randrange(start)  # a snap length shorter than the headers
        return bytes(data[:cut]), True
    return bytes(data), False


def test_mutated_packets_never_escape_a_parser(corpus_dir: Path, tmp_path: Path, logged_errors: list[str]) -> None:
    mutated = cut = 0
    for name in PAYLOAD_TRACES:
        header, records = read_pcap((corpus_dir / "pcap" / name).read_bytes())
        for variant in range(VARIANTS):
            rng = random.Random(f"{name}:{variant}")
            out = [header]
            for sec, usec, wirelen, frame in records:
                start = _payload_at(frame)
                if start is not None and rng.random() < 0.6:
                    frame, short = _mutated_frame(rng, frame, start)
                    mutated += 1
                    cut += short
                    if not short:
                        wirelen = len(frame)
                out.append(struct.pack("<IIII", sec, usec, len(frame), wirelen) + frame)
            path = tmp_path / f"{variant}-{name}"
            path.write_bytes(b"".join(out))
            records_out = list(analyse_capture(path))
            summary = records_out[-1]
            assert not logged_errors, f"{path.name}: {logged_errors[0]}"
            assert summary.packets_read == len(records) and not summary.problems, (path.name, summary.problems)
            assert summary.packets_read == summary.packets_decoded + sum(summary.not_decoded.values())
            path.unlink()
    assert mutated >= 3000 and cut >= 500, (mutated, cut)


def test_mutated_dns_messages_parse_or_raise_dns_error(corpus_dir: Path) -> None:
    messages = []
    for name in ("wikipedia.pcap", "dns_tkey.pcap", "dns_dns-corrupt.pcap"):
        for _, _, _, frame in read_pcap((corpus_dir / "pcap" / name).read_bytes())[1]:
            start = _payload_at(frame)
            if start is not None and b"\x00\x35" in frame[start - 8:start - 4]:
                messages.append(frame[start:])
    assert len(messages) >= 20
    rng = random.Random(53)
    for number in range(4000):
        data = bytearray(rng.choice(messages))
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(data))
            data[at] = rng.choice((0, 0xC0, 0x3F, 0xFF, rng.randrange(256)))
        if number % 4 == 0:
            del data[rng.randrange(len(data)):]
        try:
            dns_mod.parse(bytes(data))
        except dns_mod.DnsError:
            pass


def test_snap_length_cut_capture_equals_tshark(corpus_dir: Path, tmp_path: Path, logged_errors: list[str]) -> None:
    for name in ("wikipedia.pcap", "smtp.pcap", "tls_tls1.2.pcap"):
        short = tmp_path / f"s60-{name}"
        subprocess.run(["editcap", "-s", "60", str(corpus_dir / "pcap" / name), str(short)], check=True,
                       capture_output=True)
        summary = list(analyse_capture(short))[-1]
        assert summary.packets_read == len(_tshark_frames(short)) and summary.packets_cut > 0
        assert not logged_errors and not summary.problems


def _tshark_frames(path: Path) -> list[str]:
    """Frame numbers tshark reads; on a cut file it complains (exit code 2) after the last whole one."""
    assert shutil.which("tshark"), "tshark missing (Debian package tshark; `make system-packages`)"
    done = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.number"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode in (0, 2), done.stderr
    return done.stdout.split()


def _record_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each packet record (pcap) or block (pcapng) in the file."""
    spans = []
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        pos = 0
        while pos + 8 <= len(data):
            length = struct.unpack_from("<I", data, pos + 4)[0]
            spans.append((pos, pos + length))
            pos += length
    else:
        pos = 24
        while pos + 16 <= len(data):
            spans.append((pos, pos + 16 + struct.unpack_from("<I", data, pos + 8)[0]))
            pos = spans[-1][1]
    return spans


@pytest.mark.parametrize("name", ["wikipedia.pcap", "smtp.pcap", "ftp_ipv6.pcap", "pcapng-multi-interface.pcapng"])
def test_capture_cut_mid_packet_yields_every_whole_packet(corpus_dir: Path, tmp_path: Path, name: str,
                                                          logged_errors: list[str]) -> None:
    data = (corpus_dir / "pcap" / name).read_bytes()
    spans = _record_spans(data)
    rng = random.Random(name)
    for start, end in rng.sample(spans[3:], 3):
        at = rng.randrange(start + 1, end)  # inside the record: its header or its packet
        path = tmp_path / f"cut{at}-{name}"
        path.write_bytes(data[:at])
        summary = list(analyse_capture(path))[-1]
        assert summary.packets_read == len(_tshark_frames(path)) > 0
        assert summary.truncated and len(summary.problems) == 1 and "capture ends inside" in summary.problems[0]
        assert not logged_errors


def test_cut_capture_through_the_command_line(corpus_dir: Path, tmp_path: Path) -> None:
    data = (corpus_dir / "pcap" / "smtp.pcap").read_bytes()
    start, end = _record_spans(data)[60]
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[:start + (end - start) // 2])
    case = tmp_path / "case"
    result = run_cli("scan", path, "--case", case, "--quiet")
    assert result.code == 1 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert str(path) in line and "partial" in line and "capture ends inside packet 61" in line
    with sqlite3.connect(case / "case.db") as db:
        stages = dict(db.execute("SELECT stage, attempted FROM ledger").fetchall())
        problems = [m for (m,) in db.execute("SELECT message FROM problems WHERE stage = 'packets'")]
    assert stages["packets"] == 60 == len(_tshark_frames(path))
    assert len(problems) == 1 and problems[0].startswith("capture ends inside packet 61")


def test_garbage_named_as_a_capture_is_one_line_and_exit_1(tmp_path: Path) -> None:
    noise = tmp_path / "intercept.pcap"
    noise.write_bytes(os.urandom(64 * 1024))
    text = tmp_path / "notes.pcapng"
    text.write_text("not a capture, just an officer's notes\n")
    case = tmp_path / "case"
    result = run_cli("scan", noise, text, "--case", case, "--quiet")
    assert result.code == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    for path, line in zip((noise, text), lines, strict=True):
        assert str(path) in line and "failed: named as a packet capture but not a pcap or pcapng file" in line
