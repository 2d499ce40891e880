# cython: annotation_typing=False
# (Compiled with the C types of analyse.pxd when the install can; the annotations are for readers.)
"""Capture analysis: packets → flows → reassembled streams → DNS/HTTP/TLS/SMTP/FTP records.

One pass over the capture, in file order, with bounded memory: flows end on FIN/RST or
idleness (timeouts in capture time) and are yielded then, reassembly buffers are capped
per direction, and application parsing stops as soon as a protocol has given what the
triage needs (a TLS connection costs its handshake, not its payload).
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ...evidence.capture import CaptureReader
from . import ftp as ftp_mod
from . import tls as tls_mod
from .app import AppHandler, Connection, DatagramHandler, Opening
from .conn_state import closed_for_good, conn_state
from .decode import Decoder
from .findings import CaptureFindings
from .handlers import UDP_TRIES, recognise, udp_protocols_on
from .hosts import MAX_MACS, HostTable
from .records import CaptureSummary, Flow, NetRecord, iso_us
from .settings import NetSettings
from .tcp import CLOSED, ESTABLISHED, INACTIVE, PARTIAL, RESET, SYN_ACK_SENT, SYN_SENT, Endpoint

logger = logging.getLogger(__name__)

_TCP = struct.Struct("!HHIIH").unpack_from
_PORTS = struct.Struct("!HH").unpack_from

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
PROTO_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp6", 132: "sctp", 47: "gre", 50: "esp", 51: "ah", 2: "igmp",
               89: "ospf", 4: "ipip", 41: "ipv6-in-ip", 103: "pim", 112: "vrrp", 136: "udplite"}
# Ports a server listens on: a flow whose first packet comes from one of them (and goes to a
# port that is not) is turned around, as Zeek does with its likely server ports.
SERVER_PORTS = frozenset(range(1, 1024)) | frozenset((1080, 1433, 1521, 1723, 1883, 2049, 3128, 3306, 3389, 5060,
                                                      5061, 5222, 5432, 5900, 6379, 6443, 8000, 8008, 8080, 8081,
                                                      8443, 8888, 9000, 9090, 9200, 11211, 27017))
PROGRESS_PACKETS = 4096
OBSERVED = frozenset(("flow", "dns", "http", "tls"))  # the records the hosts summary and the findings read
MAX_FTP_EXPECTED = 4096  # FTP data connections announced and not yet seen


_addr_cache: dict[bytes, str] = {}


def _addr(raw: bytes) -> str:
    text = _addr_cache.get(raw)
    if text is None:
        if len(_addr_cache) > 65536:
            _addr_cache.clear()
        text = socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)
        _addr_cache[raw] = text
    return text


class _Conn:
    """A flow being tracked."""

    __slots__ = ("id", "key", "proto", "proto_name", "version", "src", "dst", "o_port", "r_port", "first_ns",
                 "last_ns", "last_ts", "o_pkts", "r_pkts", "o_bytes", "r_bytes", "o_payload", "r_payload", "history",
                 "app", "handler", "datagram_handler", "o", "r", "vlan", "detect", "detect_size", "deciding", "closing", "ended",
                 "udp_tries", "o_mac", "r_mac", "macs")

    def __init__(self, cid: int, key: tuple, proto: int, version: int, src: bytes, dst: bytes, sport: int,
                 dport: int, ts_ns: int, ts: float, vlan: int | None) -> None:
        self.id = cid
        self.key = key
        self.proto = proto
        self.proto_name = PROTO_NAMES.get(proto, f"ip-{proto}")
        self.version = version
        self.src = _addr(src)
        self.dst = _addr(dst)
        self.o_port = sport
        self.r_port = dport
        self.first_ns = self.last_ns = ts_ns
        self.last_ts = ts
        self.o_pkts = self.r_pkts = self.o_bytes = self.r_bytes = self.o_payload = self.r_payload = 0
        self.history = ""
        self.app: str | None = None
        self.handler: AppHandler | None = None  # a TCP flow's parser, once its protocol is told
        self.datagram_handler: DatagramHandler | None = None  # a UDP flow's
        self.o: Endpoint | None = None  # a TCP flow's two directions (originator's, responder's), made with it
        self.r: Endpoint | None = None
        self.vlan = vlan
        self.detect: list[tuple[bool, bytes, int]] | None = None
        self.detect_size = 0
        self.deciding = True  # the application protocol is still to be told
        self.closing = False  # FIN both ways, or RST: ends after the close timeout
        self.ended = "end of capture"
        self.udp_tries = 0
        self.o_mac: bytes | None = None  # link-layer source of the last packet each way
        self.r_mac: bytes | None = None
        self.macs: tuple[set[bytes], set[bytes]] | None = None  # (responder's, originator's), once a side has two

    def closed_cleanly(self) -> bool:
        return bool(self.o and self.r and self.o.state == CLOSED and self.r.state == CLOSED)

    def tcp_ends(self) -> tuple[Endpoint, Endpoint]:
        """A TCP flow's two directions (originator's, responder's); asking another flow's is a bug."""
        o, r = self.o, self.r
        if o is None or r is None:
            raise ValueError(f"{self.describe()}: not a TCP flow being tracked")
        return o, r

    def describe(self) -> str:
        return f"flow {self.id} {self.proto_name} {self.src}:{self.o_port} → {self.dst}:{self.r_port}"


class CaptureAnalysis:
    """One analysis of one capture file. Iterate `records()`; read `summary` afterwards.

    Args:
        path: the capture (pcap or pcapng).
        settings: limits; `NetSettings()` by default.

    Raises:
        EvidenceError: from the constructor, when the file is not a readable capture.
    """

    def __init__(self, path: Path, settings: NetSettings | None = None) -> None:
        self.reader = CaptureReader(Path(path))
        self.settings = settings or NetSettings()
        self.summary = CaptureSummary(str(path), self.reader.format, self.reader.size)
        self._out: list[NetRecord] = []
        self._conns: dict[tuple, _Conn] = {}
        self._next_id = 0
        self._decoder = Decoder()
        self._decode = self._decoder.fastest()
        self._count = 0  # packets read
        self._reported = 0  # bytes of the capture told to `progress` so far
        self._first_ns: int | None = None  # capture time of the first packet and of the last one read
        self._last_ns: int | None = None
        self._sweep_every = min(self.settings.tcp_close_timeout, self.settings.udp_timeout)
        self._next_sweep = 0.0  # capture time (seconds) when idle flows are next looked for
        self._decoded = 0  # packets that reached a flow
        self._cut = 0  # of which shorter than they were on the wire (snap length)
        self._unlisted = 0  # flow problems past the first `max_warnings`
        self._ftp_expected: dict[tuple[str, int], ftp_mod.Channel] = {}  # (address, port) → announced data channel
        self.hosts = HostTable()
        self.findings = CaptureFindings()

    # ------------------------------------------------------------------ context for handlers

    def emit(self, record: NetRecord) -> None:
        counts = self.summary.records
        counts[record.KIND] = counts.get(record.KIND, 0) + 1
        self._out.append(record)
        if record.KIND in OBSERVED:
            self.hosts.observe(record)
            self.findings.observe(record)

    def expect_ftp_data(self, channel: object) -> None:
        """An FTP control connection announced a data connection to (resp_h, resp_p)."""
        if not isinstance(channel, ftp_mod.Channel):  # only the FTP parser announces one: anything else is a bug
            raise TypeError(f"not an FTP data channel: {channel!r}")
        expected = self._ftp_expected
        expected.pop((channel.resp_h, channel.resp_p), None)
        if len(expected) >= MAX_FTP_EXPECTED:
            del expected[next(iter(expected))]  # the oldest announcement
        expected[(channel.resp_h, channel.resp_p)] = channel

    def warn(self, conn: Connection, message: str) -> None:
        warnings = self.summary.warnings
        if len(warnings) < self.settings.max_warnings:
            warnings.append(f"{conn.describe()}: {message}")
        else:
            self._unlisted += 1  # counted, and said at the end: no problem goes unsaid

    # ------------------------------------------------------------------ main loop

    def records(self, cancel: threading.Event | None = None,
                progress: Callable[[int], None] | None = None) -> Iterator[NetRecord]:
        """Yield records as they are complete, then the CaptureSummary last.

        `progress` is called with the number of capture-file bytes read since its last call.
        When `cancel` is set, reading stops, flows still open are yielded (ended
        "cancelled") and the summary says `cancelled`.
        """
        summary = self.summary
        out = self._out
        conns = self._conns
        not_decoded = summary.not_decoded
        frames = self.reader.frames()
        try:
            while self._read(frames, cancel, progress):
                yield from out
                out.clear()
        except Exception:
            # A bug must not lose what was found; the summary tells what happened.
            logger.exception("capture analysis stopped at packet %d of %s", self._count, self.reader.path)
            summary.problems.append(f"analysis stopped at packet {self._count} by an internal error")
        if summary.cancelled:
            reason = "cancelled"
        else:
            reason = "end of capture"
        for conn in list(conns.values()):
            self._finish(conn, reason)
            if len(out) > 256:
                yield from out
                out.clear()
        self._decoder.finish()
        try:
            summaries: list[NetRecord] = [*self.hosts.records(), *self.findings.records()]
            for record in summaries:
                self.emit(record)
        except Exception:  # the summary of a capture must not lose the records already yielded
            logger.exception("hosts summary or findings failed on %s", self.reader.path)
            summary.problems.append("hosts summary or findings stopped by an internal error")
        if self._unlisted:
            summary.warnings.append(f"{self._unlisted:,} more problems of flows (malformed messages, parsers stopped) "
                                    f"not listed, past the first {self.settings.max_warnings:,}")
        if self.hosts.not_described:
            summary.warnings.append(f"hosts summary: {self.hosts.not_described} flow ends of addresses past the first "
                                    f"{len(self.hosts.hosts):,} not described")
        yield from out
        out.clear()
        if progress is not None and self.reader.bytes_read > self._reported:
            progress(self.reader.bytes_read - self._reported)
        summary.packets_read = self.reader.packets_read
        summary.packets_decoded = self._decoded
        summary.packets_cut = self._cut
        summary.bytes_read = self.reader.bytes_read
        summary.linktypes = dict(self.reader.linktypes)
        summary.problems[:0] = self.reader.problems
        summary.truncated = self.reader.truncated
        summary.fragments_incomplete = self._decoder.fragments_incomplete
        if self._decoder.fragment_packets_lost:
            not_decoded["IP fragment of an incomplete datagram"] = self._decoder.fragment_packets_lost
        if self._first_ns is not None and self._last_ns is not None:  # both set by the first packet
            summary.first_seen = iso_us(self._first_ns)
            summary.last_seen = iso_us(self._last_ns)
        yield summary

    def _read(self, frames: Iterator[tuple[float, int, bytes, int, int, int]], cancel: threading.Event | None,
              progress: Callable[[int], None] | None) -> bool:
        """Read packets until some records are complete (True), or to the end of the capture or a cancel (False)."""
        out = self._out
        for ts, linktype, data, _index, _wirelen, ts_ns in frames:
            self._count += 1
            if not self._count % PROGRESS_PACKETS:
                if progress is not None:
                    progress(self.reader.bytes_read - self._reported)
                    self._reported = self.reader.bytes_read
                if cancel is not None and cancel.is_set():
                    self.summary.cancelled = True
                    return False
                if len(self._conns) > self.settings.max_flows:
                    self._evict()
            if self._first_ns is None:
                self._first_ns = ts_ns
                self._next_sweep = ts + self._sweep_every
            self._last_ns = ts_ns
            if ts >= self._next_sweep:
                self._sweep(ts)
                self._next_sweep = ts + self._sweep_every
            self._packet(linktype, data, ts, ts_ns)
            if out:
                return True
        return False

    # The compiled per-packet path: complexity above 20 on purpose (ruff's C901 excepted here only). Cython compiles
    # it with analyse.pxd's C types as one function, with no call per packet; docs/ARCHITECTURE.md says so.
    def _packet(self, linktype: int, data: bytes, ts: float, ts_ns: int) -> None:  # noqa: C901
        """One frame: decode it, find its flow, count it in, and hand its payload on. Compiled with the
        types of analyse.pxd when the install could (as is `_tcp`): this is the per-packet path."""
        not_decoded = self.summary.not_decoded
        conns = self._conns
        res = self._decode(linktype, data, ts)
        if res.__class__ is not tuple:
            if res is not None:
                # res is the reason text here: mypy does not narrow on __class__ (isinstance would cost every packet)
                not_decoded[res] = not_decoded.get(res, 0) + 1  # type: ignore[index, arg-type]  # the reason text
            return  # else a fragment, held for its datagram (counted with it)
        version, src, dst, proto, buf, l4, end, ip_len, truncated, vlan, npk, l4_len = res
        if truncated:
            self._cut += 1
        if proto == 6:
            if end - l4 < 20:
                not_decoded["truncated TCP header"] = not_decoded.get("truncated TCP header", 0) + 1
                return
            sport, dport, seq, ack, offflags = _TCP(buf, l4)
            hlen = (offflags >> 12) << 2
            if hlen < 20:
                not_decoded["bad TCP header"] = not_decoded.get("bad TCP header", 0) + 1
                return
            flags = offflags & 0xFF
            key = (src, dst, sport, dport, 6)
            conn = conns.get(key)
            is_orig = True
            if conn is None:
                conn = conns.get((dst, src, dport, sport, 6))
                is_orig = False
            if conn is not None and conn.closing and flags & SYN and not flags & ACK:
                self._finish(conn, "fin/rst")  # the same ports used again
                conn = None
            if conn is None:
                if flags & SYN and flags & ACK or (not flags & SYN and sport in SERVER_PORTS
                                                   and dport not in SERVER_PORTS):
                    conn = self._new(6, version, dst, src, dport, sport, ts_ns, ts, vlan, True)
                    is_orig = False
                else:
                    conn = self._new(6, version, src, dst, sport, dport, ts_ns, ts, vlan, False)
                    is_orig = True
                conn.o = Endpoint()
                conn.r = Endpoint()
                if self._ftp_expected:
                    self._ftp_data(conn)
            conn.last_ns = ts_ns
            conn.last_ts = ts
            payload = buf[l4 + hlen:end] if end > l4 + hlen else b""
            claimed = max(l4_len - hlen, len(payload)) if truncated else len(payload)
            if is_orig:
                conn.o_pkts += npk
                conn.o_bytes += ip_len
                # A TCP flow's ends are made with it (above): a check here would cost every packet.
                self._tcp(conn, conn.o, conn.r,  # type: ignore[arg-type]  # its ends, as above
                          True, flags, seq, ack, payload, claimed, ts_ns)
            else:
                conn.r_pkts += npk
                conn.r_bytes += ip_len
                self._tcp(conn, conn.r, conn.o,  # type: ignore[arg-type]  # its ends, as above
                          False, flags, seq, ack, payload, claimed, ts_ns)
        elif proto == 17 or proto == 136:
            if end - l4 < 8:
                not_decoded["truncated UDP header"] = not_decoded.get("truncated UDP header", 0) + 1
                return
            sport, dport = _PORTS(buf, l4)
            ulen = (buf[l4 + 4] << 8) | buf[l4 + 5]
            pend = l4 + ulen if 8 <= ulen <= end - l4 else end
            payload = buf[l4 + 8:pend]
            key = (src, dst, sport, dport, proto)
            conn = conns.get(key)
            is_orig = True
            if conn is None:
                conn = conns.get((dst, src, dport, sport, proto))
                is_orig = False
                if conn is None:
                    if sport in SERVER_PORTS and dport not in SERVER_PORTS:
                        conn = self._new(proto, version, dst, src, dport, sport, ts_ns, ts, vlan, True)
                        is_orig = False
                    else:
                        conn = self._new(proto, version, src, dst, sport, dport, ts_ns, ts, vlan, False)
                        is_orig = True
            conn.last_ns = ts_ns
            conn.last_ts = ts
            if is_orig:
                conn.o_pkts += npk
                conn.o_bytes += ip_len
                conn.o_payload += len(payload)
                if payload and "D" not in conn.history:
                    conn.history += "D"
            else:
                conn.r_pkts += npk
                conn.r_bytes += ip_len
                conn.r_payload += len(payload)
                if payload and "d" not in conn.history:
                    conn.history += "d"
            if payload and (conn.datagram_handler is not None or conn.deciding):
                csum = (buf[l4 + 6] << 8) | buf[l4 + 7]
                if (csum or version == 6) and not truncated and pend == l4 + ulen \
                        and not _udp_checksum_ok(version, src, dst, proto, buf[l4:pend]):
                    self._bad_checksum(conn, is_orig)
                if conn.datagram_handler is not None:
                    conn.datagram_handler.datagram(is_orig, payload, ts_ns)
                else:
                    self._detect_udp(conn, is_orig, payload, ts_ns)
        else:
            if proto in (1, 58):
                if end - l4 < 4:
                    not_decoded["truncated ICMP header"] = not_decoded.get("truncated ICMP header", 0) + 1
                    return
                itype, icode = buf[l4], buf[l4 + 1]
            else:
                itype = icode = 0
            key = (src, dst, 0, 0, proto)
            conn = conns.get(key)
            is_orig = True
            if conn is None:
                conn = conns.get((dst, src, 0, 0, proto))
                is_orig = False
                if conn is None:
                    conn = self._new(proto, version, src, dst, 0, 0, ts_ns, ts, vlan, False)
                    conn.o_port, conn.r_port = itype, icode  # as Zeek: type and code stand for ports
                    conn.deciding = False
                    is_orig = True
            conn.last_ns = ts_ns
            conn.last_ts = ts
            size = end - l4
            if is_orig:
                conn.o_pkts += npk
                conn.o_bytes += ip_len
                conn.o_payload += size
            else:
                conn.r_pkts += npk
                conn.r_bytes += ip_len
                conn.r_payload += size
        if linktype == 1:
            known = conn.o_mac if is_orig else conn.r_mac
            if known is None or not data.startswith(known, 6):  # the same sender as last time: nothing to copy
                self._mac(conn, is_orig, data[6:12])
        elif linktype == 113 or linktype == 276:
            mac = _cooked_source(linktype, data)
            if mac != (conn.o_mac if is_orig else conn.r_mac):
                self._mac(conn, is_orig, mac)
        self._decoded += npk

    # ------------------------------------------------------------------ flows

    def _new(self, proto: int, version: int, src: bytes, dst: bytes, sport: int, dport: int, ts_ns: int, ts: float,
             vlan: int | None, flipped: bool) -> _Conn:
        self._next_id += 1
        key = (src, dst, sport, dport, proto)
        conn = _Conn(self._next_id, key, proto, version, src, dst, sport, dport, ts_ns, ts, vlan)
        if flipped:
            conn.history = "^"
        self._conns[key] = conn
        return conn

    def _hear_gaps(self, conn: _Conn) -> None:
        """Once a TCP flow's bytes go somewhere: each direction tells the flow of the holes in what it delivers,
        and of retransmissions that carry other bytes than the first copy. Not before: a flow without payload
        (a port scan's, a flood's) costs no callbacks."""
        o, r = conn.tcp_ends()
        if o.on_gap is None:
            o.on_gap = lambda size: self._gap(conn, True, size)
            r.on_gap = lambda size: self._gap(conn, False, size)
            o.on_conflict = lambda *ranges: self._conflict(conn, True, *ranges)
            r.on_conflict = lambda *ranges: self._conflict(conn, False, *ranges)

    # The compiled per-packet path as _packet is, for TCP segments: complexity above 20 on purpose (C901 excepted).
    def _tcp(self, conn: _Conn, ep: Endpoint, peer: Endpoint, is_orig: bool, flags: int,  # noqa: C901
             seq: int, ack: int, payload: bytes, claimed: int, ts_ns: int) -> None:
        syn = flags & SYN
        if ep.isn < 0:
            ep.isn = (seq + 1) & 0xFFFFFFFF if syn else seq
        last = ep.last
        rel = ((seq - ep.isn) & 0xFFFFFFFF) + (last & ~0xFFFFFFFF)  # Endpoint.rel, inlined: once per packet
        if rel - last > 0x80000000:
            rel -= 0x1_0000_0000
        elif last - rel > 0x80000000:
            rel += 0x1_0000_0000
        if syn:
            rel += 1
        if rel > last:
            ep.last = rel
        # History letters and endpoint states, after Zeek's TCP analyzer.
        if flags & (SYN | FIN | RST):
            bits = (1 if syn else 0) + (flags & FIN) + (1 if flags & RST else 0)
            if bits > 1:
                self._hist(conn, ep, is_orig, 0x40, "I" if flags & FIN and flags & RST else "Q")
            elif syn:
                if flags & ACK:
                    self._hist(conn, ep, is_orig, 0x01, "H")
                    if ep.state in (INACTIVE, SYN_SENT):
                        ep.state = SYN_ACK_SENT
                else:
                    self._hist(conn, ep, is_orig, 0x01, "S")
                    if ep.state == INACTIVE:
                        ep.state = SYN_SENT
            elif flags & FIN:
                self._hist(conn, ep, is_orig, 0x02, "F")
            else:
                self._hist(conn, ep, is_orig, 0x04, "R")
        elif claimed:
            if not ep.hist & 0x08:
                self._hist(conn, ep, is_orig, 0x08, "D")
        elif flags & ACK:
            if not ep.hist & 0x10:
                self._hist(conn, ep, is_orig, 0x10, "A")
        if flags & RST:
            ep.state = RESET
            conn.closing = True
        elif not syn:
            state = ep.state
            if state == INACTIVE:
                ep.state = PARTIAL
            elif state == SYN_SENT and flags & ACK and peer.state in (SYN_ACK_SENT, ESTABLISHED):
                ep.state = ESTABLISHED
                if peer.state == SYN_ACK_SENT:
                    peer.state = ESTABLISHED
            elif state == SYN_ACK_SENT and flags & ACK and peer.state in (SYN_SENT, ESTABLISHED):
                ep.state = ESTABLISHED
                if peer.state == SYN_SENT:
                    peer.state = ESTABLISHED
            if flags & FIN and ep.state != RESET:
                ep.fin = rel + claimed + 1
                ep.state = CLOSED
                if peer.state in (CLOSED, RESET):
                    conn.closing = True
        if claimed and rel + claimed > ep.hi:
            ep.hi = rel + claimed
        # Reassembly, while someone wants the bytes.
        if payload and ep.sink is not None:
            ep.segment(rel, payload, ts_ns)
            if claimed > len(payload) and ep.next == rel + len(payload):
                ep.skip_to(rel + claimed, ts_ns)
            if conn.handler is not None and conn.handler.done:
                self._stop_streams(conn)
        if flags & ACK and peer.fin >= 0 and not peer.fin_acked and peer.rel(ack) >= peer.fin:
            peer.fin_acked = True
        if flags & ACK and peer.pending and peer.isn >= 0:
            acked = peer.rel(ack)
            first = min(peer.pending)
            if acked >= first > peer.next:  # the receiver has what the capture lost
                peer.skip_to(first, ts_ns)
        if conn.deciding and ep.sink is None and payload:
            self._start_detect(conn, ep, is_orig, rel, payload, ts_ns)

    @staticmethod
    def _mac(conn: _Conn, is_orig: bool, mac: bytes | None) -> None:
        """A link-layer source not seen last time on this side of the flow (for the hosts summary). A side's first
        one is kept in o_mac or r_mac alone; the sets of all of them are made only once a side shows a second,
        which most flows never do (two sets would cost a port scan's open flow ~450 bytes each)."""
        if mac is None:
            return
        if conn.macs is None and (conn.o_mac if is_orig else conn.r_mac) is not None:  # this side's second MAC
            conn.macs = ({conn.r_mac} if conn.r_mac is not None else set(),
                         {conn.o_mac} if conn.o_mac is not None else set())
        if is_orig:
            conn.o_mac = mac
        else:
            conn.r_mac = mac
        if conn.macs is not None and len(conn.macs[is_orig]) < MAX_MACS:
            conn.macs[is_orig].add(mac)

    @staticmethod
    def _flow_macs(conn: _Conn) -> tuple[Iterable[bytes], Iterable[bytes]]:
        """The link-layer sources of the flow's originator and of its responder."""
        if conn.macs is not None:
            return conn.macs[1], conn.macs[0]
        return (() if conn.o_mac is None else (conn.o_mac,)), (() if conn.r_mac is None else (conn.r_mac,))

    def _bad_checksum(self, conn: _Conn, is_orig: bool) -> None:
        """Parsed all the same (checksum offloading makes a capture host's own packets look bad),
        but counted, marked in the history (C/c, as Zeek does) and reported once per flow."""
        self.summary.bad_checksums += 1
        letter = "C" if is_orig else "c"
        if letter not in conn.history:
            conn.history += letter
            if conn.history.count("C") + conn.history.count("c") == 1:
                self.warn(conn, "UDP checksum wrong (corrupt packet, or checksum offloading on the capture host)")

    def _hist(self, conn: _Conn, ep: Endpoint, is_orig: bool, bit: int, letter: str) -> None:
        if not ep.hist & bit:
            ep.hist |= bit
            conn.history += letter if is_orig else letter.lower()

    def _conflict(self, conn: _Conn, is_orig: bool, first_start: int, first_end: int, again_start: int,
                  again_end: int) -> None:
        """A retransmission carrying other bytes than the first copy (kept, as Zeek and the receiving stack keep
        it): a problem naming both byte ranges, and T/t in the history (Zeek's letter for retransmitted payload)."""
        o, r = conn.tcp_ends()
        self._hist(conn, o if is_orig else r, is_orig, 0x20, "T")
        side = "originator" if is_orig else "responder"
        self.warn(conn, f"TCP rexmit_inconsistency from the {side}: stream bytes {again_start}-{again_end - 1} "
                        f"retransmitted with other content than the first copy of bytes {first_start}-{first_end - 1}; "
                        f"the first copy was kept")

    def _gap(self, conn: _Conn, is_orig: bool, size: int) -> None:
        handler = conn.handler
        if handler is not None:
            handler.gap(is_orig, size)
        elif conn.deciding:
            conn.deciding = False  # a protocol cannot be told across a hole
            conn.detect = None
            self._stop_streams(conn)

    # ------------------------------------------------------------------ application protocols

    def _start_detect(self, conn: _Conn, ep: Endpoint, is_orig: bool, rel: int, payload: bytes, ts_ns: int) -> None:
        """First payload of a TCP flow: route both directions' in-order bytes to the detector."""
        self._hear_gaps(conn)
        conn.detect = []
        o, r = conn.tcp_ends()
        for side, end in ((True, o), (False, r)):
            def sink(data: bytes, ts: int, side: bool = side) -> None:
                self._detect_tcp(conn, side, data, ts)
            end.sink = sink
            if end is not ep and end.isn >= 0:
                end.next = max(end.next, end.hi)
        if ep.next < rel and ep.isn >= 0 and not ep.hist & 0x01:
            ep.next = rel  # picked up mid-stream: start where the capture starts
        ep.segment(rel, payload, ts_ns)

    def _detect_tcp(self, conn: _Conn, is_orig: bool, data: bytes, ts_ns: int) -> None:
        """In-order bytes of a flow whose protocol is still to be told: kept until the registered protocols
        (handlers.py) recognise one, then replayed to its parser; given up on past `detect_bytes`."""
        detect = conn.detect
        if detect is None:
            return
        detect.append((is_orig, data, ts_ns))
        conn.detect_size += len(data)
        opening = Opening(b"".join(d for o, d, _ in detect if o)[:64], b"".join(d for o, d, _ in detect if not o)[:64],
                          conn.o_port, conn.r_port)
        protocol, wait = recognise(opening)
        if protocol is None:
            undecided = wait or (len(opening.client) < 8 and len(opening.server) < 8)
            if not undecided or conn.detect_size > self.settings.detect_bytes:
                conn.deciding = False
                conn.detect = None
                self._stop_streams(conn)
            return
        conn.app = protocol.name
        conn.deciding = False
        conn.detect = None
        if protocol.parser is None:
            self._stop_streams(conn)
            return
        self._attach(conn, protocol.parser(conn, self))
        for side, chunk, ts in detect:
            if conn.handler is None:  # set by _attach; STARTTLS replaces it, nothing takes it away meanwhile
                return
            conn.handler.stream(side, chunk, ts)  # the handler may have become TLS after STARTTLS
            if conn.handler.done:
                self._stop_streams(conn)
                return

    def _attach(self, conn: _Conn, handler: AppHandler) -> None:
        """Route both directions' in-order bytes to an application parser."""
        self._hear_gaps(conn)
        self.summary.tcp_streams += 2
        self._route(conn, handler)

    def start_tls(self, conn: Connection, upgrade: str) -> None:
        """The server accepted `upgrade` (SMTP or IMAP STARTTLS, POP3 STLS, FTP AUTH TLS): from the next byte on
        each side the connection is TLS, and its handshake is read as on a TLS port. The clear-text parser has
        given what it had; the flow's application stays the one it started as."""
        if not isinstance(conn, _Conn):  # parsers are handed this analysis' own flows: anything else is a bug
            raise TypeError(f"{conn.describe()}: not a flow of this capture analysis")
        self._route(conn, tls_mod.TlsHandler(conn, self, upgrade))

    @staticmethod
    def _route(conn: _Conn, handler: AppHandler) -> None:
        conn.handler = handler
        o, r = conn.tcp_ends()
        for side, end in ((True, o), (False, r)):
            def sink(data: bytes, ts: int, side: bool = side) -> None:
                handler.stream(side, data, ts)
            end.sink = sink

    def _ftp_data(self, conn: _Conn) -> None:
        """A new TCP connection: an FTP data connection if a control connection announced it."""
        channel = self._ftp_expected.pop((conn.dst, conn.r_port), None)
        if channel is None:
            channel = self._ftp_expected.pop((conn.src, conn.o_port), None)
            if channel is None:
                return
        conn.app = "ftp-data"
        conn.deciding = False
        self._attach(conn, ftp_mod.FtpDataHandler(conn, self, channel))

    def _detect_udp(self, conn: _Conn, is_orig: bool, payload: bytes, ts_ns: int) -> None:
        """A datagram of a flow whose protocol is still to be told: the UDP protocols registered for its ports
        (handlers.py) are asked in turn, and the first that takes it parses the flow from this datagram on. A
        datagram none takes is recorded as a problem (malformed DNS is never dropped unsaid); after `UDP_TRIES`
        of them the flow is left unparsed."""
        conn.udp_tries += 1
        protocols = udp_protocols_on(conn.o_port, conn.r_port)
        if not protocols:
            conn.deciding = False
            return
        refusals = []
        for protocol in protocols:
            why = protocol.why_not(payload)
            if why is None:
                conn.app = protocol.name
                conn.deciding = False
                conn.datagram_handler = protocol.parser(conn, self)
                conn.datagram_handler.datagram(is_orig, payload, ts_ns)
                return
            refusals.append((protocol.title, why))
        for title, why in refusals:
            self.warn(conn, f"{title} message not decodable ({why}); not recorded")
        if conn.udp_tries >= UDP_TRIES:
            conn.deciding = False
            for protocol in protocols:
                self.warn(conn, f"traffic on a {protocol.title} port that does not parse as {protocol.title}: "
                                "not parsed further")

    def _stop_streams(self, conn: _Conn) -> None:
        for end in (conn.o, conn.r):
            if end is not None:
                end.sink = None
                end.pending = None
                end.pending_size = 0

    # ------------------------------------------------------------------ ending flows

    def _sweep(self, now: float) -> None:
        settings = self.settings
        ended = []
        for conn in self._conns.values():
            idle = now - conn.last_ts
            if conn.proto == 6:
                if conn.closing and idle > settings.tcp_close_timeout and (
                        idle > settings.tcp_unacked_close_timeout or closed_for_good(conn)) or idle > settings.tcp_timeout:
                    ended.append(conn)
            elif idle > (settings.udp_timeout if conn.proto == 17 else settings.other_timeout):
                ended.append(conn)
        for conn in ended:
            self._finish(conn, "fin/rst" if conn.closing else "idle")
        self._decoder.expire(now)

    def _evict(self) -> None:
        """Too many flows are open at once (a port scan, a flood): those idle longest end now, recorded with what
        was seen of them, until a tenth of the limit is free, and the ledger counts them. Memory stays bounded;
        nothing is dropped."""
        conns = sorted(self._conns.values(), key=lambda c: c.last_ts)
        ending = conns[: len(conns) - self.settings.max_flows * 9 // 10]
        self.summary.flows_evicted += len(ending)
        self.summary.max_flows = self.settings.max_flows
        for conn in ending:
            self._finish(conn, "evicted")

    def _finish(self, conn: _Conn, reason: str) -> None:
        self._conns.pop(conn.key, None)
        conn.ended = reason
        gaps = missing = 0
        o, r = conn.o, conn.r
        if o is not None and r is not None:
            for end in (o, r):
                if end.sink is not None and end.pending:
                    end.flush(conn.last_ns)
                gaps += end.gaps
                missing += end.gap_bytes
            conn.o_payload = o.hi
            conn.r_payload = r.hi
        parser = conn.handler if conn.handler is not None else conn.datagram_handler
        if parser is not None:
            try:
                parser.close(conn.last_ns)
            except Exception:  # one flow's parser must not stop the capture
                logger.exception("parser failed on %s", conn.describe())
                self.warn(conn, "parser failed at the end of the flow")
        if gaps:
            self.summary.streams_with_gaps += sum(1 for e in (conn.o, conn.r) if e is not None and e.gaps)
            self.summary.gap_bytes += missing
        self.summary.flows += 1
        flow = Flow(
            conn.id, conn.src, conn.o_port, conn.dst, conn.r_port, conn.proto_name, iso_us(conn.first_ns),
            iso_us(conn.last_ns), round((conn.last_ns - conn.first_ns) / 1e9, 6), conn.o_pkts, conn.r_pkts,
            conn.o_bytes, conn.r_bytes, conn.o_payload, conn.r_payload, conn.o_pkts + conn.r_pkts,
            conn.o_bytes + conn.r_bytes, conn.app, conn_state(conn), conn.history, missing, gaps, reason,
            conn.vlan, conn.version)
        self.hosts.flow(flow, *self._flow_macs(conn))
        self.emit(flow)
        # Its parser and its two directions refer back to the flow: let go of them, so that all of it is freed
        # now, not later by the cycle collector, which would have walked it again each time meanwhile.
        conn.handler = conn.datagram_handler = None
        conn.o = conn.r = None


def _cooked_source(linktype: int, data: bytes) -> bytes | None:
    """The sender's link-layer address in a Linux cooked header (SLL: length at 4, address at 6;
    SLL2: length at 11, address at 12), when it is a 6-byte (Ethernet) one."""
    if linktype == 113:
        return data[6:12] if len(data) >= 16 and data[5] == 6 and data[4] == 0 else None
    return data[12:18] if len(data) >= 20 and data[11] == 6 else None


def _udp_checksum_ok(version: int, src: bytes, dst: bytes, proto: int, segment: bytes) -> bool:
    """RFC 768/8200 checksum over the pseudo-header: the 16-bit one's-complement sum of a
    big-endian number is that number modulo 0xFFFF, so one bigint does the whole sum."""
    if version == 4:
        pseudo = src + dst + bytes((0, proto)) + len(segment).to_bytes(2, "big")
    else:
        pseudo = src + dst + len(segment).to_bytes(4, "big") + bytes((0, 0, 0, proto))
    if len(segment) % 2:
        segment += b"\0"
    return int.from_bytes(pseudo + segment, "big") % 0xFFFF == 0


def analyse_capture(path: Path, cancel: threading.Event | None = None, progress: Callable[[int], None] | None = None,
                    settings: NetSettings | None = None) -> Iterator[NetRecord]:
    """Analyse one capture: yield Flow, DnsRecord, HttpRecord, TlsRecord, SmtpRecord, FtpRecord,
    CredentialRecord and ExtractedObject records as they complete, and a CaptureSummary last (also
    after a cancel or a truncated file).

    Raises:
        EvidenceError: before anything is yielded, when the file is not a readable capture.
    """
    analysis = CaptureAnalysis(path, settings)
    return analysis.records(cancel, progress)
