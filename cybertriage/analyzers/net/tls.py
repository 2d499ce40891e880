"""TLS/SSL 3 handshakes in clear: ClientHello, ServerHello, Certificate; JA3 and JA3S.

Hello messages are read with `struct` here (dpkt's TLSClientHello builds cipher-suite
objects and skips extension blocks shorter than 6 bytes, and JA3 needs the raw code
points in order); cipher names come from `dpkt.ssl_ciphersuites`. JA3/JA3S follow the
published algorithm (salesforce/ja3): SSLVersion,Ciphers,Extensions,EllipticCurves,
EllipticCurvePointFormats in decimal, '-' joined, GREASE values (RFC 8701) left out,
then MD5. Parsing stops once both sides have switched to encrypted records, so a long
TLS connection costs only its first few kilobytes.
"""

from __future__ import annotations

import hashlib
import struct
from typing import overload

from dpkt import ssl_ciphersuites

from .app import Analysis, Connection, TcpProtocol, Verdict
from .records import TlsRecord, iso_us
from .x509 import Certificate, parse_certificate

VERSIONS = {0x0200: "SSLv2", 0x0300: "SSLv3", 0x0301: "TLSv1.0", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3",
            0xFEFF: "DTLSv1.0", 0xFEFD: "DTLSv1.2", 0xFEFC: "DTLSv1.3"}
HANDSHAKE_NAMES = {1: "ClientHello", 2: "ServerHello", 11: "Certificate"}
MAX_HANDSHAKE = 256 * 1024  # one handshake message (a certificate chain) may be this large
MAX_RECORD = 18 * 1024 + 2048
# Parsed certificates remembered by their DER bytes (a server sends the same chain every time), at most
# this many of at most this size each: a bounded 16 MiB.
MAX_CERTIFICATES, MAX_REMEMBERED_CERTIFICATE = 1024, 16 * 1024
_certificates: dict[bytes, Certificate] = {}


# RFC 8701's GREASE values (0x0A0A, 0x1A1A, ... 0xFAFA), which JA3 and JA3S leave out. A set: a ClientHello
# holds dozens of numbers to test, and a set lookup is several times cheaper than a function call.
GREASE = frozenset(byte * 0x0101 for byte in range(0x0A, 0x100, 0x10))


@overload
def version_name(value: int) -> str: ...


@overload
def version_name(value: None) -> None: ...


def version_name(value: int | None) -> str | None:
    """A protocol version as Wireshark names it (TLSv1.2, a TLS 1.3 draft, or the number); None for none."""
    if value is None:
        return None
    if 0x7F00 < value <= 0x7FFF:
        return f"TLSv1.3-draft{value & 0xFF}"
    return VERSIONS.get(value, f"0x{value:04x}")


def looks_like_tls(head: bytes) -> bool:
    """A handshake record of SSL 3/TLS, or an SSL 2-framed ClientHello."""
    if len(head) >= 6 and head[0] == 0x16 and head[1] == 3 and head[2] <= 4 and head[5] in (1, 2):
        return True
    return len(head) >= 5 and (head[0] & 0x80) != 0 and head[2] == 1 and head[3] in (0, 2, 3) and head[4] <= 4


def cipher_name(code: int) -> str:
    suite = ssl_ciphersuites.BY_CODE.get(code)
    return suite.name if suite is not None else f"0x{code:04x}"


class MalformedTls(ValueError):
    """A handshake message whose lengths do not add up: recorded as a problem, never as a handshake."""


def _hello_start(body: bytes) -> tuple[int, int]:
    """A ClientHello's or ServerHello's version, and where what follows its random and session id starts."""
    if len(body) < 34:
        raise MalformedTls("shorter than a version and a random")
    session, pos = _vector(body, 34, 1, "session id")
    if len(session) > 32:
        raise MalformedTls("session id longer than 32 bytes")
    return (body[0] << 8) | body[1], pos


def _vector(buf: bytes, pos: int, width: int, what: str) -> tuple[bytes, int]:
    """The field at `pos` preceded by its length in `width` bytes, and the offset after it. Each length is checked
    against what holds it (RFC 8446 3.4): one running past its container makes the message malformed, never
    a shorter field or a guessed one."""
    start = pos + width
    if start > len(buf):
        raise MalformedTls(f"length of {what} runs past its container")
    end = start + int.from_bytes(buf[pos:start], "big")
    if end > len(buf):
        raise MalformedTls(f"{what} runs {end - len(buf)} bytes past its container")
    return buf[start:end], end


def _whole(buf: bytes, width: int, what: str) -> bytes:
    """An extension's data that is one length-prefixed field and nothing else."""
    field, end = _vector(buf, 0, width, what)
    if end != len(buf):
        raise MalformedTls(f"{len(buf) - end} bytes left over after {what}")
    return field


def _u16s(raw: bytes, what: str) -> list[int]:
    if len(raw) % 2:
        raise MalformedTls(f"{what} of odd length {len(raw)}")
    return list(struct.unpack(f"!{len(raw) // 2}H", raw))


def _extensions(body: bytes, pos: int) -> tuple[list[tuple[int, bytes]], int]:
    """A hello's extensions from `pos` (none when the message ends there, as SSL 3 allows), and the offset after
    their block. Bytes after it are for the caller to report: tshark, too, reads the block as announced."""
    if pos == len(body):
        return [], pos
    block, after = _vector(body, pos, 2, "extensions")
    out = []
    pos, end = 0, len(block)
    while pos < end:
        if pos + 4 > end:
            raise MalformedTls("extension header runs past the extension block")
        etype = (block[pos] << 8) | block[pos + 1]
        stop = pos + 4 + ((block[pos + 2] << 8) | block[pos + 3])  # _vector inlined: a hello has dozens
        if stop > end:
            raise MalformedTls(f"extension {etype} runs {stop - end} bytes past the extension block")
        out.append((etype, block[pos + 4:stop]))
        pos = stop
    return out, after


class _Side:
    __slots__ = ("buf", "hs", "encrypted", "dead", "records")

    def __init__(self) -> None:
        self.buf = b""
        self.hs = b""
        self.encrypted = False
        self.dead = False
        self.records = 0


class TlsHandler:
    """The handshake of one TCP connection."""

    def __init__(self, conn: Connection, ctx: Analysis, upgrade: str | None = None) -> None:
        self.conn = conn
        self.ctx = ctx
        self.upgrade = upgrade  # the clear-text command after which TLS began (STARTTLS, ...), if any
        self.sides = (_Side(), _Side())  # indexed by is_orig
        self.rec: TlsRecord | None = None
        self.emitted = False
        self.done = False
        self.server_hello = False
        self.tls13 = False

    def _record(self, ts_ns: int) -> TlsRecord:
        if self.rec is None:
            conn = self.conn
            self.rec = TlsRecord(iso_us(ts_ns), conn.src, conn.o_port, conn.dst, conn.r_port, None, None, None,
                                 flow_id=conn.id)
        return self.rec

    def stream(self, is_orig: bool, data: bytes, ts_ns: int) -> None:
        side = self.sides[is_orig]
        if side.dead or self.done:
            return
        buf = side.buf + data if side.buf else data
        pos = 0
        while len(buf) - pos >= 5:
            ctype = buf[pos]
            if side.records == 0 and ctype & 0x80 and is_orig:
                length = ((ctype & 0x7F) << 8) | buf[pos + 1]
                if len(buf) - pos < 2 + length:
                    break
                self._sslv2_hello(buf[pos + 2:pos + 2 + length], ts_ns)
                side.dead = True
                return
            major = buf[pos + 1]
            length = (buf[pos + 3] << 8) | buf[pos + 4]
            if ctype not in (20, 21, 22, 23, 24) or major != 3 or length > MAX_RECORD:
                self._stop(side, "not a TLS record")
                return
            if len(buf) - pos < 5 + length:
                break
            body = buf[pos + 5:pos + 5 + length]
            pos += 5 + length
            side.records += 1
            if ctype == 22 and not side.encrypted:
                side.hs += body
                self._handshake(side, is_orig, ts_ns)
                if side.dead:
                    return
            elif ctype == 20:
                side.encrypted = True
            elif ctype == 23:
                side.encrypted = True
            if self._finished():
                return
        side.buf = buf[pos:]

    def _handshake(self, side: _Side, is_orig: bool, ts_ns: int) -> None:
        hs = side.hs
        pos = 0
        while len(hs) - pos >= 4:
            mtype = hs[pos]
            mlen = int.from_bytes(hs[pos + 1:pos + 4], "big")
            if mlen > MAX_HANDSHAKE:
                self._stop(side, "handshake message too large")
                return
            if len(hs) - pos < 4 + mlen:
                break
            body = hs[pos + 4:pos + 4 + mlen]
            pos += 4 + mlen
            try:
                if mtype == 1 and is_orig:
                    self._client_hello(body, ts_ns)
                elif mtype == 2 and not is_orig:
                    self._server_hello(body, ts_ns)
                    if self.tls13:
                        side.encrypted = True  # the rest of the server's flight is encrypted
                        break
                elif mtype == 11 and not is_orig:
                    self._certificates(body, ts_ns)
            except (MalformedTls, struct.error, IndexError, ValueError) as error:  # lengths, or a certificate's DER
                self.ctx.warn(self.conn, f"TLS {HANDSHAKE_NAMES.get(mtype, f'handshake message {mtype}')} malformed "
                                         f"({error}); not recorded")
        side.hs = hs[pos:] if not side.encrypted else b""

    def _client_hello(self, body: bytes, ts_ns: int) -> None:
        version, pos = _hello_start(body)
        offered_ciphers, pos = _vector(body, pos, 2, "cipher suites")
        ciphers = [c for c in _u16s(offered_ciphers, "cipher suites") if c not in GREASE]
        _, pos = _vector(body, pos, 1, "compression methods")
        extensions, after = _extensions(body, pos)
        ext_types: list[int] = []
        groups: list[int] = []
        formats: list[int] = []
        sni = None
        offered: list[str] = []
        alpn: list[str] = []
        for etype, data in extensions:
            if etype in GREASE:
                continue
            ext_types.append(etype)
            if etype == 0 and data:  # server_name: a list of (type, name)
                names = _whole(data, 2, "server name list")
                npos = 0
                while npos < len(names):
                    name, end = _vector(names, npos + 1, 2, "server name")
                    if names[npos] == 0 and sni is None:
                        sni = name.decode("utf-8", "backslashreplace")
                    npos = end
            elif etype == 10:
                groups = [g for g in _u16s(_whole(data, 2, "supported groups"), "supported groups") if g not in GREASE]
            elif etype == 11:
                formats = list(_whole(data, 1, "point formats"))
            elif etype == 43:
                offered = [version_name(v) for v in _u16s(_whole(data, 1, "supported versions"),
                                                           "supported versions") if v not in GREASE]
            elif etype == 16:
                protocols = _whole(data, 2, "ALPN list")
                apos = 0
                while apos < len(protocols):
                    protocol, apos = _vector(protocols, apos, 1, "ALPN protocol")
                    alpn.append(protocol.decode("ascii", "backslashreplace"))
        self._trailing(len(body) - after, "ClientHello")
        rec = self._record(ts_ns)
        rec.ts = iso_us(ts_ns)
        rec.sni = sni
        if offered:
            rec.offered_versions = offered
        if alpn:
            rec.alpn = alpn
        rec.client_version = version_name(version)
        rec.cipher_suites = ciphers
        text = ",".join((str(version), "-".join(map(str, ciphers)), "-".join(map(str, ext_types)),
                         "-".join(map(str, groups)), "-".join(map(str, formats))))
        rec.ja3_string = text
        rec.ja3 = hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

    def _server_hello(self, body: bytes, ts_ns: int) -> None:
        version, pos = _hello_start(body)
        if pos + 3 > len(body):
            raise MalformedTls("cipher suite and compression method run past the message")
        cipher = (body[pos] << 8) | body[pos + 1]
        extensions, after = _extensions(body, pos + 3)
        ext_types = []
        negotiated = version
        for etype, data in extensions:
            if etype in GREASE:
                continue
            ext_types.append(etype)
            if etype == 43:  # supported_versions: the one chosen
                if len(data) != 2:
                    raise MalformedTls(f"chosen version of {len(data)} bytes")
                negotiated = (data[0] << 8) | data[1]
        self._trailing(len(body) - after, "ServerHello")
        rec = self._record(ts_ns)
        self.server_hello = True
        self.tls13 = negotiated == 0x0304 or 0x7F00 < negotiated <= 0x7FFF
        rec.version = version_name(negotiated)
        rec.cipher = cipher_name(cipher)
        text = f"{version},{cipher},{'-'.join(map(str, ext_types))}"
        rec.ja3s_string = text
        rec.ja3s = hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

    def _trailing(self, left: int, message: str) -> None:
        if left:
            self.ctx.warn(self.conn, f"TLS {message}: {left} bytes after its extension block, not read")

    def _certificates(self, body: bytes, ts_ns: int) -> None:
        if self.rec is not None and self.rec.cert_chain_sha256:
            return  # a second Certificate message is the client's, or a renegotiation
        certificates = _whole(body, 3, "certificate list")
        chain = []
        pos = 0
        while pos < len(certificates):
            der, pos = _vector(certificates, pos, 3, "certificate")
            cert = _certificates.get(der)
            if cert is None:
                cert = parse_certificate(der)
                if len(der) <= MAX_REMEMBERED_CERTIFICATE:
                    if len(_certificates) >= MAX_CERTIFICATES:
                        _certificates.clear()
                    _certificates[der] = cert
            chain.append(cert)
        if not chain:
            return
        rec = self._record(ts_ns)
        leaf = chain[0]
        rec.cert_subject, rec.cert_issuer = leaf.subject, leaf.issuer
        rec.cert_not_before, rec.cert_not_after = leaf.not_before, leaf.not_after
        rec.cert_serial, rec.cert_san_dns = leaf.serial, list(leaf.san_dns)
        rec.cert_chain_sha256 = [c.sha256 for c in chain]
        rec.cert_chain_subjects = [c.subject or "" for c in chain]
        rec.cert_chain_issuers = [c.issuer or "" for c in chain]
        rec.cert_chain_not_before = [c.not_before or "" for c in chain]
        rec.cert_chain_not_after = [c.not_after or "" for c in chain]

    def _sslv2_hello(self, body: bytes, ts_ns: int) -> None:
        """An SSL 2-framed ClientHello (RFC 6101 E.2): kept for its version, once its lengths add up."""
        if len(body) < 9 or body[0] != 1:
            self.ctx.warn(self.conn, "TLS SSLv2-framed ClientHello malformed (shorter than its header); not recorded")
            return
        specs, session, challenge = struct.unpack_from("!HHH", body, 3)
        if 9 + specs + session + challenge != len(body) or specs % 3 or not 16 <= challenge <= 32:
            self.ctx.warn(self.conn, f"TLS SSLv2-framed ClientHello malformed (cipher specs {specs}, session id "
                                     f"{session} and challenge {challenge} bytes in a message of {len(body)}); "
                                     f"not recorded")
            return
        self._record(ts_ns).client_version = version_name((body[1] << 8) | body[2])

    def _stop(self, side: _Side, why: str) -> None:
        side.dead = True
        side.buf = side.hs = b""
        if side.records == 0 and self.rec is None and self.upgrade is None:
            return  # not TLS after all (told from its first bytes only)
        after = f" after {self.upgrade}" if self.upgrade else ""
        self.ctx.warn(self.conn, f"TLS{after}: {why}; that direction was not parsed further")

    def _finished(self) -> bool:
        orig, resp = self.sides[True], self.sides[False]
        if self.server_hello and orig.encrypted and resp.encrypted:
            if self.rec is not None:
                self.rec.established = True
            self._emit()
            self.done = True
            for side in self.sides:
                side.buf = side.hs = b""
            return True
        return False

    def gap(self, is_orig: bool, size: int) -> None:
        side = self.sides[is_orig]
        if not side.dead and not self.done:
            self._stop(side, f"{size} bytes missing from the capture")

    def close(self, ts_ns: int) -> None:
        if not self.done:
            for is_orig, side in ((True, self.sides[True]), (False, self.sides[False])):
                if side.dead or side.encrypted:
                    continue
                buf = side.buf
                sender = "client" if is_orig else "server"
                sslv2 = bool(buf) and side.records == 0 and is_orig and buf[0] & 0x80  # SSL 2 framing: 2-byte header
                header = 2 if sslv2 else 5
                if len(buf) >= header:
                    announced = ((buf[0] & 0x7F) << 8) | buf[1] if sslv2 else (buf[3] << 8) | buf[4]
                    self.ctx.warn(self.conn, f"TLS record from the {sender} announced as {announced} bytes, "
                                             f"{len(buf) - header} arrived; not parsed")
                elif buf:
                    self.ctx.warn(self.conn, f"TLS record header from the {sender} cut short ({len(buf)} bytes)")
                elif side.hs:
                    self.ctx.warn(self.conn, f"TLS handshake message from the {sender} cut short "
                                             f"({len(side.hs)} bytes of it arrived); not parsed")
        self._emit()

    def _emit(self) -> None:
        if self.rec is not None and not self.emitted:
            self.emitted = True
            self.ctx.emit(self.rec)


PROTOCOL = TcpProtocol("tls", lambda opening: looks_like_tls(opening.client),
                       lambda opening: Verdict.of(looks_like_tls(opening.server)), TlsHandler)
