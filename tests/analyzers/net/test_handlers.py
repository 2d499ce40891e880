"""The protocol registry (analyzers/net/handlers.py): its order, how a greeting shared by two protocols is told
apart, and that a protocol added to the table is chosen by detection and gets the flow's streams as tshark
reassembles them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from cybertriage.analyzers.net import analyse_capture, handlers
from cybertriage.analyzers.net.app import Analysis, Connection, Opening, TcpProtocol, Verdict
from tests.analyzers.net.conftest import tshark
from tests.analyzers.net.pcapgen import TcpSession, write_pcap


def test_registry_order() -> None:
    """FTP before SMTP (both greet with 220), both before DNS (a text greeting on port 53 is not a DNS length)."""
    assert [p.name for p in handlers.TCP_PROTOCOLS] == ["http", "tls", "ftp", "smtp", "dns", "pop3", "imap", "ssh"]


def test_readme_lists_the_registry() -> None:
    readme = " ".join((Path(__file__).parents[3] / "README.md").read_text().split())
    listed = re.search(r"`analyzers/net/handlers\.py`: ([A-Z0-9, ]+)\)", readme)
    assert listed is not None and listed[1].lower().split(", ") == [p.name for p in handlers.TCP_PROTOCOLS]


def _told(client: bytes, server: bytes, port: int = 2525) -> tuple[str | None, bool]:
    protocol, wait = handlers.recognise(Opening(client, server, 40000, port))
    return (protocol.name if protocol else None), wait


def test_shared_greeting_waits_for_the_client() -> None:
    """RFC 959 and RFC 5321 servers both greet with 220; one naming neither protocol leaves it to the client's first
    command (EHLO: SMTP, USER: FTP), and a POP3 server's +OK turns USER into POP3 (RFC 1939)."""
    assert _told(b"", b"220 ready\r\n") == (None, True)
    assert _told(b"EHLO client.example\r\n", b"220 ready\r\n") == ("smtp", False)
    assert _told(b"USER anonymous\r\n", b"220 ready\r\n") == ("ftp", False)
    assert _told(b"USER alice\r\n", b"+OK POP3 ready\r\n") == ("pop3", False)
    assert _told(b"", b"220 ProFTPD Server ready\r\n") == ("ftp", False)
    assert _told(b"", b"220 mx.example ESMTP\r\n") == ("smtp", False)
    assert _told(b"", b"* OK IMAP4rev1 ready\r\n") == ("imap", False)
    assert _told(b"", b"220 mx.example ESMTP\r\n", port=53) == ("smtp", False)


class _Recorder:
    """A parser for the test protocol: keeps each direction's bytes and how often the flow was closed."""

    def __init__(self, conn: Connection, ctx: Analysis) -> None:
        self.conn = conn
        self.done = False
        self.streams = {True: bytearray(), False: bytearray()}
        self.closed = 0

    def stream(self, is_orig: bool, data: bytes, ts_ns: int) -> None:
        self.streams[is_orig] += data

    def gap(self, is_orig: bool, size: int) -> None:
        raise AssertionError("no bytes are missing from the test capture")

    def close(self, ts_ns: int) -> None:
        self.closed += 1


@pytest.fixture
def parsers(monkeypatch) -> Iterator[list[_Recorder]]:
    """A protocol "knock" added at the end of the table, and the parsers it makes (let go of afterwards: each
    holds its flow, which test_analyse expects freed)."""
    made: list[_Recorder] = []

    def parser(conn: Connection, ctx: Analysis) -> _Recorder:
        made.append(_Recorder(conn, ctx))
        return made[-1]

    knock = TcpProtocol("knock", lambda opening: opening.client.startswith(b"KNOCK "), lambda opening: Verdict.NO, parser)
    monkeypatch.setattr(handlers, "TCP_PROTOCOLS", (*handlers.TCP_PROTOCOLS, knock))
    yield made
    made.clear()


def test_registered_protocol_is_chosen_and_fed(tmp_path: Path, parsers: list[_Recorder]) -> None:
    """One line in the table: flows that open as the new protocol are its (the flow's application is its name),
    and its parser gets both directions as tshark's follow,tcp,raw reassembles them; other flows are not."""
    knock = TcpSession(sport=7070)
    knock.handshake()
    segments = knock.segments(True, b"KNOCK " + bytes(range(256)) * 8, 300)
    knock.frames += segments[1:] + segments[:1]  # the first segment last: detection waits for the bytes in order
    knock.frames += knock.segments(False, b"WHO IS THERE\n" * 100, 512)
    knock.close()
    other = TcpSession(cport=40001, sport=7071, t0=1_600_000_100.0)
    other.handshake()
    other.frames += other.segments(True, b"NOT A KNOCK\r\n" * 10, 100)
    other.close()
    path = tmp_path / "knock.pcap"
    write_pcap(path, knock.frames + other.frames)

    flows = {f.dport: f for f in analyse_capture(path) if f.KIND == "flow"}

    assert flows[7070].app == "knock" and flows[7071].app is None
    assert len(parsers) == 1 and parsers[0].closed == 1 and parsers[0].conn.r_port == 7070
    rows = tshark("-r", str(path), "-qz", "follow,tcp,raw,0")
    hex_rows = [r[0] for r in rows if len(r) == 1 and r[0] and all(c in "0123456789abcdef" for c in r[0].strip())]
    # follow,tcp,raw: the client's chunks flush left, the server's indented by a tab (split off above as "")
    client = b"".join(bytes.fromhex(r) for r in hex_rows)
    server = b"".join(bytes.fromhex(r[1]) for r in rows if len(r) == 2 and r[0] == "" and r[1])
    assert bytes(parsers[0].streams[True]) == client and bytes(parsers[0].streams[False]) == server
    assert len(client) == 6 + 2048 and len(server) == 1300
