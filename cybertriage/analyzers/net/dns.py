# cython: annotation_typing=False
# (Compiled with the C types of dns.pxd when the install can; the annotations are for readers.)
"""DNS over UDP and TCP (also mDNS, LLMNR and NetBIOS name service, which share the format).

Messages are parsed here rather than with `dpkt.dns.DNS`: dpkt 1.9.8 rejects a whole
message when any record has a type it does not know (TKEY, TSIG, DNSKEY, HTTPS, NSEC, ...)
and when a TXT string is not UTF-8 — exactly the messages an examiner wants to see.
The header, the questions and all three record sections are read; the authority and additional
sections are kept as "name TYPE value" lines (an MX answer's addresses come in the additional one).

Transactions follow Zeek's dns.log: a query waits for the response with its transaction
id; a response without a query is a record of its own; queries never answered are
reported when the flow ends.
"""

from __future__ import annotations

import socket
import struct
from collections import deque

from .app import Analysis, Connection, Opening, TcpProtocol, UdpProtocol, Verdict
from .records import DnsRecord, iso_us

_HDR = struct.Struct("!HHHHHH").unpack_from
_RR = struct.Struct("!HHIH").unpack_from

QTYPES = {
    1: "A", 2: "NS", 3: "MD", 4: "MF", 5: "CNAME", 6: "SOA", 7: "MB", 8: "MG", 9: "MR", 10: "NULL", 11: "WKS",
    12: "PTR", 13: "HINFO", 14: "MINFO", 15: "MX", 16: "TXT", 17: "RP", 18: "AFSDB", 19: "X25", 20: "ISDN",
    21: "RT", 22: "NSAP", 23: "NSAP-PTR", 24: "SIG", 25: "KEY", 26: "PX", 27: "GPOS", 28: "AAAA", 29: "LOC",
    30: "NXT", 31: "EID", 32: "NIMLOC", 33: "SRV", 34: "ATMA", 35: "NAPTR", 36: "KX", 37: "CERT", 38: "A6",
    39: "DNAME", 40: "SINK", 41: "OPT", 42: "APL", 43: "DS", 44: "SSHFP", 45: "IPSECKEY", 46: "RRSIG",
    47: "NSEC", 48: "DNSKEY", 49: "DHCID", 50: "NSEC3", 51: "NSEC3PARAM", 52: "TLSA", 53: "SMIMEA",
    55: "HIP", 59: "CDS", 60: "CDNSKEY", 61: "OPENPGPKEY", 62: "CSYNC", 63: "ZONEMD", 64: "SVCB", 65: "HTTPS",
    99: "SPF", 249: "TKEY", 250: "TSIG", 251: "IXFR", 252: "AXFR", 253: "MAILB", 254: "MAILA", 255: "ANY",
    256: "URI", 257: "CAA", 32768: "TA", 32769: "DLV",
}
RCODES = {
    0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED", 6: "YXDOMAIN",
    7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE", 11: "DSOTYPENI",
}
DNS_PORTS = frozenset((53, 5353, 5355, 137))
MAX_PENDING = 256  # unanswered queries kept per flow


class DnsError(ValueError):
    """A message that does not parse as DNS."""


def _name(buf: bytes, off: int) -> tuple[str, int]:
    """Read a (possibly compressed) name; pointers must go backwards, so loops cannot happen."""
    labels: list[str] = []
    end = -1
    limit = off
    total = 0
    while True:
        if off >= len(buf):
            raise DnsError("name runs past the message")
        n = buf[off]
        if n == 0:
            off += 1
            break
        if n & 0xC0 == 0xC0:
            if off + 1 >= len(buf):
                raise DnsError("name runs past the message")
            ptr = ((n & 0x3F) << 8) | buf[off + 1]
            if ptr >= limit:
                raise DnsError("compression pointer that loops or points forward")
            if end < 0:
                end = off + 2
            off = limit = ptr
            continue
        if n & 0xC0:
            raise DnsError("bad label type")
        label = buf[off + 1:off + 1 + n]
        if len(label) < n:
            raise DnsError("label runs past the message")
        total += n + 1
        if total > 255:
            raise DnsError("name longer than 255 bytes")
        try:
            labels.append(label.decode("ascii"))
        except UnicodeDecodeError:
            labels.append(label.decode("utf-8", "backslashreplace"))
        off += 1 + n
    return ".".join(labels), (end if end >= 0 else off)


def _netbios(name: str) -> str:
    """NetBIOS first-level decoding ('EKFCFHED...' → 'BRWC0CB...'), as Zeek shows NBNS names."""
    if len(name) < 32 or not all("A" <= c <= "P" for c in name[:32]):
        return name
    raw = bytes(((ord(name[i]) - 65) << 4) | (ord(name[i + 1]) - 65) for i in range(0, 32, 2))
    return raw[:15].rstrip(b" \x00").decode("latin-1")


def _rdata(rtype: int, buf: bytes, off: int, rdlen: int) -> str | None:
    data = buf[off:off + rdlen]
    if rtype == 1 and rdlen == 4:
        return socket.inet_ntop(socket.AF_INET, data)
    if rtype == 28 and rdlen == 16:
        return socket.inet_ntop(socket.AF_INET6, data)
    if rtype in (2, 5, 12, 39):  # NS, CNAME, PTR, DNAME
        return _name(buf, off)[0]
    if rtype == 15 and rdlen > 2:  # MX
        return _name(buf, off + 2)[0]
    if rtype == 33 and rdlen > 6:  # SRV
        return _name(buf, off + 6)[0]
    if rtype == 6:  # SOA: the primary name server
        return _name(buf, off)[0]
    if rtype == 16:  # TXT: character strings joined by a space
        parts = []
        pos = 0
        while pos < len(data):
            n = data[pos]
            parts.append(data[pos + 1:pos + 1 + n].decode("utf-8", "backslashreplace"))
            pos += 1 + n
        return " ".join(parts)
    return None  # other types are not rendered as answers (as Zeek does for TKEY, OPT, ...)


class Message:
    """One parsed DNS message: its header's fields (set by `parse`) and its sections."""

    __slots__ = ("id", "qr", "opcode", "rcode", "questions", "answers", "ttls", "authority", "additional", "problems")
    id: int  # the transaction id that pairs a response with its query
    qr: int  # 1 in a response
    opcode: int
    rcode: int

    def __init__(self) -> None:
        self.questions: list[tuple[str, int, int]] = []
        self.answers: list[str] = []
        self.ttls: list[int] = []
        self.authority: list[str] = []  # "name TYPE value" (value left out when the type is not rendered)
        self.additional: list[str] = []
        self.problems: list[str] = []  # records that did not decode, in a message that otherwise did


def _record(buf: bytes, off: int, section: str) -> tuple[str, int, int, int, int]:
    """One resource record's owner name, type, TTL, and where its data starts and ends."""
    name, off = _name(buf, off)
    if off + 10 > len(buf):
        raise DnsError(f"{section} record runs past the message")
    rtype, _rclass, ttl, rdlen = _RR(buf, off)
    off += 10
    if off + rdlen > len(buf):
        raise DnsError(f"{section} record data runs past the message")
    return name, rtype, ttl, off, off + rdlen


def _value(msg: Message, rtype: int, buf: bytes, start: int, end: int, section: str) -> str | None:
    """A record's data as text; an undecodable one (a name whose pointers loop, say) is a problem of the message."""
    try:
        return _rdata(rtype, buf, start, end - start)
    except DnsError as error:
        msg.problems.append(f"{section} record of type {_qtype(rtype)} not decodable ({error})")
        return None


def parse(buf: bytes, netbios: bool = False) -> Message:
    """Parse one DNS message (header, questions, answers); raise DnsError when it is not DNS."""
    if len(buf) < 12:
        raise DnsError("shorter than a DNS header")
    msg = Message()
    msg.id, flags, qdcount, ancount, nscount, arcount = _HDR(buf, 0)
    msg.qr = flags >> 15
    msg.opcode = (flags >> 11) & 15
    msg.rcode = flags & 15
    if qdcount > 64 or ancount > 512 or nscount > 512 or arcount > 512:
        raise DnsError("implausible record counts")
    off = 12
    for _ in range(qdcount):
        name, off = _name(buf, off)
        if off + 4 > len(buf):
            raise DnsError("question runs past the message")
        qtype, qclass = struct.unpack_from("!HH", buf, off)
        off += 4
        msg.questions.append((_netbios(name) if netbios else name, qtype, qclass))
    for _ in range(ancount):
        name, rtype, ttl, start, off = _record(buf, off, "answer")
        value = _value(msg, rtype, buf, start, off, "answer")
        if value is not None:
            msg.answers.append(value)
            msg.ttls.append(ttl)
        if not msg.questions:
            msg.questions.append((_netbios(name) if netbios else name, -1, -1))  # as Zeek: query from the answer
    try:
        for section, count, kept in (("authority", nscount, msg.authority), ("additional", arcount, msg.additional)):
            for _ in range(count):
                name, rtype, _ttl, start, off = _record(buf, off, section)
                if rtype == 41:
                    continue  # EDNS's OPT pseudo-record: the sender's options, not a record of the zone
                value = _value(msg, rtype, buf, start, off, section)
                kept.append(f"{name or '.'} {_qtype(rtype)} {value}" if value is not None else
                            f"{name or '.'} {_qtype(rtype)}")
    except DnsError as error:  # the questions and answers stand; what follows them is reported, not guessed
        msg.problems.append(str(error))
    return msg


def why_not_dns(buf: bytes) -> str | None:
    """None when a UDP payload on a DNS port parses as DNS; else why it does not (for the problem recorded)."""
    try:
        msg = parse(buf)
    except (DnsError, struct.error, IndexError) as error:
        return str(error) or error.__class__.__name__
    _told[:] = [buf, msg]
    return None


# The payload why_not_dns took last and its message: the flow's DnsHandler is made next, for that very datagram,
# and takes the message instead of parsing it again (a flood's flows each start with one: a third of the parsing).
_told: list = [None, None]


class DnsHandler:
    """DNS transactions of one flow (UDP datagrams, or TCP with 2-byte length framing). Slotted: a flood keeps
    hundreds of thousands of DNS flows open at once."""

    __slots__ = ("conn", "ctx", "netbios", "pending", "waiting", "arrivals", "bufs", "dead", "done")

    def __init__(self, conn: Connection, ctx: Analysis) -> None:
        self.conn = conn
        self.ctx = ctx
        self.netbios = 137 in (conn.o_port, conn.r_port)
        # Queries waiting for their answer, oldest first: (transaction id, arrival number) → (record, time),
        # and, per transaction id, the arrival numbers of its queries (the same id may be waiting twice). Both
        # are None while nothing waits: a dict keeps its room once emptied, and most flows ask one question.
        self.pending: dict[tuple[int, int], tuple[DnsRecord, int]] | None = None
        self.waiting: dict[int, deque[int]] | None = None
        self.arrivals = 0
        self.bufs: list[bytes] | None = None  # TCP: resp, orig (made with the first bytes of a stream)
        self.dead = [False, False]
        self.done = False

    def datagram(self, is_orig: bool, data: bytes, ts_ns: int) -> None:
        told, msg = _told
        if told is data and not self.netbios:
            _told[:] = [None, None]
        else:
            try:
                msg = parse(data, self.netbios)
            except (DnsError, struct.error, IndexError) as error:
                self.ctx.warn(self.conn, f"DNS message not decodable ({error}); not recorded")
                return
        for problem in msg.problems:
            self.ctx.warn(self.conn, f"DNS message {msg.id}: {problem}")
        self._message(msg, ts_ns)

    def stream(self, is_orig: bool, data: bytes, ts_ns: int) -> None:
        side = int(is_orig)
        if self.dead[side]:
            return
        if self.bufs is None:
            self.bufs = [b"", b""]
        buf = self.bufs[side] + data
        while len(buf) >= 2:
            size = (buf[0] << 8) | buf[1]
            if len(buf) < 2 + size:
                break
            self.datagram(is_orig, buf[2:2 + size], ts_ns)
            buf = buf[2 + size:]
        if len(buf) > 70000:
            self.dead[side] = True
            buf = b""
        self.bufs[side] = buf

    def gap(self, is_orig: bool, size: int) -> None:
        side = int(is_orig)
        self.dead[side] = True
        if self.bufs is not None:
            self.bufs[side] = b""
        self.ctx.warn(self.conn, f"DNS over TCP: {size} bytes missing; the rest of that direction was not parsed")

    def _message(self, msg: Message, ts_ns: int) -> None:
        conn = self.conn
        query, qtype, qclass = msg.questions[0] if msg.questions else (None, -1, -1)
        if not msg.qr:
            rec = DnsRecord(iso_us(ts_ns), conn.src, conn.o_port, conn.dst, conn.r_port, conn.proto_name, msg.id,
                            query, _qtype(qtype), qclass if qclass >= 0 else None, flow_id=conn.id)
            if self.pending is None or self.waiting is None:
                self.pending, self.waiting = {}, {}
            elif len(self.pending) >= MAX_PENDING:
                self._flush_oldest(self.pending, self.waiting)
            self.arrivals += 1
            self.pending[(msg.id, self.arrivals)] = (rec, ts_ns)
            self.waiting.setdefault(msg.id, deque()).append(self.arrivals)
            return
        arrivals = self.waiting.get(msg.id) if self.waiting is not None else None
        if arrivals and self.pending is not None and self.waiting is not None:
            rec, sent = self.pending.pop((msg.id, arrivals.popleft()))
            if not arrivals:
                del self.waiting[msg.id]
            if not self.pending:
                self.pending = self.waiting = None
            rec.rtt = round((ts_ns - sent) / 1e9, 6)
        else:
            rec = DnsRecord(iso_us(ts_ns), conn.src, conn.o_port, conn.dst, conn.r_port, conn.proto_name, msg.id,
                            query, _qtype(qtype), qclass if qclass >= 0 else None, flow_id=conn.id)
        rec.rcode = RCODES.get(msg.rcode, f"RCODE{msg.rcode}")
        rec.answers = msg.answers
        rec.ttls = msg.ttls
        rec.authority = msg.authority
        rec.additional = msg.additional
        self.ctx.emit(rec)

    def _flush_oldest(self, pending: dict[tuple[int, int], tuple[DnsRecord, int]], waiting: dict[int, deque[int]]) -> None:
        """Too many queries wait: the one that came first goes out unanswered (in constant time: a flood of
        unanswered queries, as DNS tunnelling makes, must not cost a search per query)."""
        (ident, arrival), (rec, _) = next(iter(pending.items()))
        del pending[(ident, arrival)]
        waiting[ident].popleft()  # this arrival: the first of all is the first of its id
        if not waiting[ident]:
            del waiting[ident]
        self.ctx.emit(rec)

    def close(self, ts_ns: int) -> None:
        for side, buf in enumerate(self.bufs or ()):  # TCP: a message the connection ended in the middle of
            if buf and not self.dead[side]:
                announced = f"announced as {(buf[0] << 8) | buf[1]} bytes" if len(buf) >= 2 else "its length cut"
                self.ctx.warn(self.conn, f"DNS over TCP: a message from the {'client' if side else 'server'} "
                                         f"{announced}, {max(len(buf) - 2, 0)} arrived; not recorded")
        for rec, _ in sorted((self.pending or {}).values(), key=lambda item: item[1]):
            self.ctx.emit(rec)
        self.pending = self.waiting = None


def _qtype(qtype: int) -> str | None:
    if qtype < 0:
        return None
    return QTYPES.get(qtype, f"TYPE{qtype}")


TCP_PORT = frozenset((53,))  # DNS is told on TCP on its own port only: a length and a header are too little to go by


def _client_opens(opening: Opening) -> bool:
    """A length of at least a header, then a header asking at most 16 questions."""
    head = opening.client
    return opening.on_port(TCP_PORT) and len(head) >= 14 and ((head[0] << 8) | head[1]) >= 12 and head[7] + (head[6] << 8) <= 16


def _server_opens(opening: Opening) -> Verdict:
    head = opening.server
    return Verdict.of(opening.on_port(TCP_PORT) and len(head) >= 14 and ((head[0] << 8) | head[1]) >= 12)


PROTOCOL = TcpProtocol("dns", _client_opens, _server_opens, DnsHandler)
UDP_PROTOCOL = UdpProtocol("dns", "DNS", DNS_PORTS, why_not_dns, DnsHandler)  # also mDNS, LLMNR, NetBIOS names
