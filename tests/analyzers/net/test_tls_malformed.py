"""ClientHellos whose lengths lie, against tshark.

The hellos are built here field by field (RFC 8446 4.1.2), each sent on its own TCP connection to port
443. Where tshark finds the message malformed, cybertriage records a problem and no handshake (no SNI, no
JA3); where tshark reads it, cybertriage's SNI and JA3 equal tshark's.
"""

from __future__ import annotations

import struct
from pathlib import Path

from cybertriage.analyzers.net import analyse_capture
from tests.analyzers.net import pcapgen
from tests.analyzers.net.conftest import tshark

FIRST_PORT = 41000


def _vector(width: int, data: bytes) -> bytes:
    return len(data).to_bytes(width, "big") + data


def _extension(etype: int, data: bytes) -> bytes:
    return struct.pack("!H", etype) + _vector(2, data)


def _client_hello(cipher_length: int | None = None, name_length: int | None = None, extensions_short_by: int = 0,
                  message_longer_by: int = 0) -> bytes:
    """A TLS 1.2 ClientHello record for www.example.org; each argument makes one length lie."""
    name = b"www.example.org"
    ciphers = struct.pack("!4H", 0x1301, 0xC02F, 0xC030, 0x009C)
    server_name = b"\0" + struct.pack("!H", len(name) if name_length is None else name_length) + name
    extensions = (_extension(0, _vector(2, server_name)) + _extension(10, _vector(2, struct.pack("!2H", 29, 23)))
                  + _extension(11, _vector(1, b"\0")) + _extension(16, _vector(2, _vector(1, b"h2"))))
    body = (struct.pack("!H", 0x0303) + bytes(32) + _vector(1, b"")
            + struct.pack("!H", len(ciphers) if cipher_length is None else cipher_length) + ciphers
            + _vector(1, b"\0") + struct.pack("!H", len(extensions) - extensions_short_by) + extensions)
    message = b"\x01" + (len(body) + message_longer_by).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + _vector(2, message)


HELLOS = {
    "valid": _client_hello(),
    "cipher suites longer than the message": _client_hello(cipher_length=200),
    "server name longer than its extension": _client_hello(name_length=300),
    "bytes after the extension block": _client_hello(extensions_short_by=9),
    "handshake message longer than what was sent": _client_hello(message_longer_by=40),
}


def _capture(path: Path) -> Path:
    frames = []
    for index, hello in enumerate(HELLOS.values()):
        session = pcapgen.TcpSession(cport=FIRST_PORT + index, sport=443, t0=1_600_000_000.0 + index)
        session.handshake()
        session.frames += session.segments(True, hello, 1400)
        session.close()
        frames += session.frames
    return pcapgen.write_pcap(path, frames)


def test_lying_lengths_are_problems_never_handshakes(tmp_path: Path) -> None:
    capture = _capture(tmp_path / "hellos.pcap")
    theirs = {}
    for port, sni, ja3, malformed in tshark("-r", str(capture), "-Y", "tls", "-T", "fields", "-e", "tcp.srcport",
                                            "-e", "tls.handshake.extensions_server_name", "-e", "tls.handshake.ja3",
                                            "-e", "_ws.malformed"):
        theirs[int(port)] = (sni, ja3, bool(malformed))
    records = list(analyse_capture(capture))
    ours = {r.sport: r for r in records if r.KIND == "tls"}
    problems = records[-1].warnings
    read_by_tshark = 0
    for index, what in enumerate(HELLOS):
        port = FIRST_PORT + index
        mentioned = [p for p in problems if f":{port} → " in p]
        sni, ja3, malformed = theirs.get(port, ("", "", False))
        if malformed or not ja3:  # tshark could not read it: a problem, and no handshake recorded
            assert port not in ours, what
            assert mentioned, what
        else:
            read_by_tshark += 1
            assert (ours[port].sni, ours[port].ja3) == (sni, ja3), what
        if what != "valid":
            assert mentioned, what  # every lie is said, even the one tshark reads past
    assert read_by_tshark == 2  # the valid hello, and the one with bytes after its extensions
    assert not [p for p in problems if f":{FIRST_PORT} → " in p]


def _sslv2_hello(spec_length: int | None = None) -> bytes:
    """An SSL 2-framed ClientHello offering TLS 1.0 (RFC 6101 E.2), seven cipher specs and a 16-byte challenge."""
    specs = bytes.fromhex("0700c0050080030080010080060040040080020080")
    challenge = bytes(range(16))
    body = (b"\x01\x03\x01" + struct.pack("!HHH", len(specs) if spec_length is None else spec_length, 0, len(challenge))
            + specs + challenge)
    return bytes([0x80 | (len(body) >> 8), len(body) & 0xFF]) + body


def test_sslv2_framed_hello_whose_lengths_lie_is_a_problem(tmp_path: Path) -> None:
    frames = []
    for index, hello in enumerate((_sslv2_hello(), _sslv2_hello(spec_length=30))):
        session = pcapgen.TcpSession(cport=FIRST_PORT + index, sport=443, t0=1_600_000_000.0 + index)
        session.handshake()
        session.frames += session.segments(True, hello, 1400)
        session.close()
        frames += session.frames
    capture = pcapgen.write_pcap(tmp_path / "sslv2.pcap", frames)
    theirs = {int(port): (int(version, 16), bool(malformed)) for port, version, malformed in tshark(
        "-r", str(capture), "-Y", "tls", "-T", "fields", "-e", "tcp.srcport", "-e", "tls.handshake.version",
        "-e", "_ws.malformed")}
    assert theirs == {FIRST_PORT: (0x0301, False), FIRST_PORT + 1: (0x0301, True)}
    records = list(analyse_capture(capture))
    assert {r.sport: r.client_version for r in records if r.KIND == "tls"} == {FIRST_PORT: "TLSv1.0"}
    assert [w for w in records[-1].warnings if f":{FIRST_PORT + 1} → " in w and "SSLv2" in w]
