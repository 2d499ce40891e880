"""The protocol registry (analyzers/net/handlers.py): its order, how a greeting shared by two protocols is told
apart, and that a protocol added to the table is chosen by detection and gets the flow's streams as tshark
reassembles them; on UDP, that a protocol added to its table gets its flows' datagrams as tshark reads them, and
that datagrams no protocol of the port takes are recorded and, after three, leave the flow unparsed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from cybertriage.analyzers.net import analyse_capture, handlers
from cybertriage.analyzers.net.app import Analysis, Connection, Opening, TcpProtocol, UdpProtocol, Verdict
from tests.analyzers.net.conftest import tshark
from tests.analyzers.net.pcapgen import TcpSession, dns_message, ether, ipv4, udp, write_pcap


def test_registry_order() -> None:
    """FTP before SMTP (both greet with 220), both before DNS (a text greeting on port 53 is not a DNS length)."""
    assert [p.name for p in handlers.TCP_PROTOCOLS] == ["http", "tls", "ftp", "smtp", "dns", "pop3", "imap", "ssh"]


def test_udp_registry() -> None:
    """DNS is told on UDP on the ports of DNS, mDNS, LLMNR and the NetBIOS name service."""
    assert [(p.name, sorted(p.ports)) for p in handlers.UDP_PROTOCOLS] == [("dns", [53, 137, 5353, 5355])]
    assert handlers.udp_protocols_on(40000, 5353) == list(handlers.UDP_PROTOCOLS)
    assert handlers.udp_protocols_on(53, 40000) == list(handlers.UDP_PROTOCOLS)
    assert handlers.udp_protocols_on(40000, 9999) == []


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


class _Datagrams:
    """A parser for the UDP test protocol: keeps each datagram it is handed and how often the flow was closed."""

    def __init__(self, conn: Connection, ctx: Analysis) -> None:
        self.conn = conn
        self.datagrams: list[tuple[bool, bytes]] = []
        self.closed = 0

    def datagram(self, is_orig: bool, data: bytes, ts_ns: int) -> None:
        self.datagrams.append((is_orig, data))

    def close(self, ts_ns: int) -> None:
        self.closed += 1


def _datagram(ts: float, src: str, dst: str, sport: int, dport: int, payload: bytes) -> tuple[float, bytes]:
    return ts, ether(ipv4(src, dst, 17, udp(src, dst, sport, dport, payload)))


def test_registered_udp_protocol_is_chosen_and_fed(tmp_path: Path, monkeypatch) -> None:
    """One line in the UDP table: a flow on its port whose datagram it takes is its, and its parser gets that
    datagram and every later one both ways, as tshark reads them; a datagram it refused first is a problem recorded
    with its reason; a flow on a port no protocol claims is not parsed."""
    made: list[_Datagrams] = []

    def parser(conn: Connection, ctx: Analysis) -> _Datagrams:
        made.append(_Datagrams(conn, ctx))
        return made[-1]

    beacon = UdpProtocol("beacon", "Beacon", frozenset((9999,)),
                         lambda data: None if data.startswith(b"BEACON ") else "no BEACON", parser)
    monkeypatch.setattr(handlers, "UDP_PROTOCOLS", (*handlers.UDP_PROTOCOLS, beacon))
    client, server, t0 = "10.0.0.1", "10.0.0.2", 1_600_000_000.0
    frames = [_datagram(t0, client, server, 40000, 9999, b"hello"),
              _datagram(t0 + 1, client, server, 40000, 9999, b"BEACON 1"),
              _datagram(t0 + 2, server, client, 9999, 40000, b"ACK 1"),
              _datagram(t0 + 3, client, server, 40000, 9999, b"BEACON 2"),
              _datagram(t0 + 4, client, server, 40001, 9998, b"BEACON 3")]
    path = write_pcap(tmp_path / "beacon.pcap", frames)

    records = list(analyse_capture(path))
    flows = {f.dport: f for f in records if f.KIND == "flow"}
    warnings = records[-1].warnings

    assert flows[9999].app == "beacon" and flows[9998].app is None
    rows = tshark("-r", str(path), "-T", "fields", "-e", "udp.srcport", "-e", "udp.payload")
    sent = [(int(port) == 40000, bytes.fromhex(payload)) for port, payload in rows]
    assert len(made) == 1 and made[0].closed == 1 and made[0].conn.r_port == 9999
    assert made[0].datagrams == sent[1:4]
    assert [w.split(": ", 1)[1] for w in warnings] == ["Beacon message not decodable (no BEACON); not recorded"]


def test_datagrams_no_protocol_takes(tmp_path: Path) -> None:
    """On a DNS port, each datagram that is not DNS is a problem recorded; after the third the flow is left unparsed,
    so a DNS query coming after them is not recorded (tshark reads it as one: the flow was given up on, the query is
    sound)."""
    client, server, t0 = "10.0.0.1", "10.0.0.2", 1_600_000_000.0
    frames = [_datagram(t0 + i, client, server, 40000, 53, b"\x00" * 3) for i in range(3)]
    frames.append(_datagram(t0 + 3, client, server, 40000, 53, dns_message(7, "example.com")))
    frames.append(_datagram(t0 + 4, client, server, 40001, 53, dns_message(8, "example.org")))
    path = write_pcap(tmp_path / "not-dns.pcap", frames)

    records = list(analyse_capture(path))
    flows = {f.sport: f for f in records if f.KIND == "flow"}
    queries = [r.query for r in records if r.KIND == "dns"]
    warnings = [w for w in records[-1].warnings if w.startswith(f"flow {flows[40000].id} ")]

    assert tshark("-r", str(path), "-Y", "dns.flags.response == 0", "-T", "fields", "-e", "dns.qry.name") == \
        [["example.com"], ["example.org"]]
    assert flows[40000].app is None and flows[40001].app == "dns" and queries == ["example.org"]
    assert len(warnings) == 4
    assert all(" DNS message not decodable (" in w for w in warnings[:3])
    assert warnings[3].endswith(": traffic on a DNS port that does not parse as DNS: not parsed further")
