"""Build small captures by hand for the cases the corpus lacks (reordering, gaps, caps, link types).

The expected answers of tests built on these are the contents put in, not the analyser's
output. Frames are written with plain `struct`, independently of cybertriage.
"""

from __future__ import annotations

import socket
import struct
from pathlib import Path

MAC_A = b"\x02\x00\x00\x00\x00\x01"
MAC_B = b"\x02\x00\x00\x00\x00\x02"


def _sum16(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def ipv4(src: str, dst: str, proto: int, payload: bytes, ident: int = 1, frag: int = 0) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, 64, proto, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
    checksum = 0xFFFF - _sum16(header)
    return header[:10] + struct.pack("!H", checksum) + header[12:] + payload


def udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    segment = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, len(segment))
    checksum = (0xFFFF - _sum16(pseudo + segment)) or 0xFFFF
    return segment[:6] + struct.pack("!H", checksum) + segment[8:]


def tcp(sport: int, dport: int, seq: int, ack: int, flags: str, payload: bytes = b"") -> bytes:
    bits = sum({"F": 1, "S": 2, "R": 4, "P": 8, "A": 16}[f] for f in flags)
    return struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, bits, 65535, 0, 0) + payload


def dns_message(ident: int, name: str, answer: str | None = None, ttl: int = 300) -> bytes:
    """A DNS query for `name` (A, IN), or, with `answer`, its response holding one A record."""
    question = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"
    question += struct.pack("!HH", 1, 1)
    header = struct.pack("!HHHHHH", ident, 0x8180 if answer else 0x0100, 1, 1 if answer else 0, 0, 0)
    record = struct.pack("!HHHIH", 0xC00C, 1, 1, ttl, 4) + socket.inet_aton(answer) if answer else b""
    return header + question + record


def ether(ip_packet: bytes, vlans: tuple[int, ...] = ()) -> bytes:
    frame = MAC_B + MAC_A
    for vlan in vlans:
        frame += struct.pack("!HH", 0x8100, vlan)
    return frame + b"\x08\x00" + ip_packet


def read_pcap(data: bytes) -> tuple[bytes, list[tuple[int, int, int, bytes]]]:
    """A little-endian microsecond pcap as its header and (sec, usec, wirelen, frame) records, to be damaged
    and written again by the tests that need captures the corpus does not have."""
    assert data[:4] == b"\xd4\xc3\xb2\xa1"
    records, pos = [], 24
    while pos + 16 <= len(data):
        sec, usec, caplen, wirelen = struct.unpack_from("<IIII", data, pos)
        records.append((sec, usec, wirelen, data[pos + 16:pos + 16 + caplen]))
        pos += 16 + caplen
    return data[:24], records


def write_pcap(path: Path, frames: list[tuple[float, bytes]], linktype: int = 1, big_endian: bool = False,
               nanoseconds: bool = False) -> Path:
    order = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 262144, linktype)]
    for ts, frame in frames:
        sec = int(ts)
        frac = round((ts - sec) * (1e9 if nanoseconds else 1e6))
        out.append(struct.pack(order + "IIII", sec, frac, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))
    return path


class TcpSession:
    """Segments of one TCP connection between a client and a server, handshake included."""

    def __init__(self, client: str = "10.0.0.1", server: str = "10.0.0.2", cport: int = 40000, sport: int = 80,
                 cisn: int = 1000, sisn: int = 5000, t0: float = 1_600_000_000.0) -> None:
        self.client, self.server, self.cport, self.sport = client, server, cport, sport
        self.cseq, self.sseq = cisn, sisn
        self.t = t0
        self.frames: list[tuple[float, bytes]] = []

    def _frame(self, from_client: bool, seq: int, ack: int, flags: str, data: bytes) -> tuple[float, bytes]:
        self.t += 0.001
        if from_client:
            packet = ipv4(self.client, self.server, 6, tcp(self.cport, self.sport, seq, ack, flags, data))
        else:
            packet = ipv4(self.server, self.client, 6, tcp(self.sport, self.cport, seq, ack, flags, data))
        return (self.t, ether(packet))

    def handshake(self) -> None:
        self.frames.append(self._frame(True, self.cseq, 0, "S", b""))
        self.frames.append(self._frame(False, self.sseq, self.cseq + 1, "SA", b""))
        self.cseq += 1
        self.sseq += 1
        self.frames.append(self._frame(True, self.cseq, self.sseq, "A", b""))

    def segments(self, from_client: bool, data: bytes, size: int) -> list[tuple[float, bytes]]:
        """Data cut into segments (not yet added to the capture, so tests can reorder them)."""
        out = []
        for start in range(0, len(data), size):
            piece = data[start:start + size]
            if from_client:
                out.append(self._frame(True, self.cseq, self.sseq, "PA", piece))
                self.cseq += len(piece)
            else:
                out.append(self._frame(False, self.sseq, self.cseq, "PA", piece))
                self.sseq += len(piece)
        return out

    def raw(self, from_client: bool, seq: int, data: bytes, flags: str = "PA") -> tuple[float, bytes]:
        return self._frame(from_client, seq, self.sseq if from_client else self.cseq, flags, data)

    def close(self) -> None:
        self.frames.append(self._frame(True, self.cseq, self.sseq, "FA", b""))
        self.frames.append(self._frame(False, self.sseq, self.cseq + 1, "FA", b""))
        self.frames.append(self._frame(True, self.cseq + 1, self.sseq + 1, "A", b""))
        self.cseq += 1
        self.sseq += 1
