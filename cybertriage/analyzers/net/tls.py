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

from dpkt import ssl_ciphersuites

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


def version_name(value: int | None) -> str | None:
    if value is None:
        return None
    if 0x7F00 < value <= 0x7FFF:
        return f"TLSv1.3-draft{value & 0xFF}"
    return VERSIONS.get(value, f"0x{value:04x}")


def looks_like_tls(head: bytes) -> bool:
    """A handshake record of SSL 3/TLS, or an SSL 2-framed ClientHello."""
    if len(head) >= 6 and head[0] == 0x16 and head[1] == 3 and head[2] <= 4 and head[5] in (1, 2):
        return True
    return len(head) >= 5 and head[0] & 0x80 and head[2] == 1 and head[3] in (0, 2, 3) and head[4] <= 4


def cipher_name(code: int) -> str:
    suite = ssl_ciphersuites.BY_CODE.get(code)
    return suite.name if suite is not None else f"0x{code:04x}"


class MalformedTls(ValueError):
    """A handshake message whose lengths do not add up: recorded as a problem, never as a handshake."""


class _Fields:
    """The fields of one handshake message, each length checked against what holds it (RFC 8446 3.4): a length
    running past its container makes the message malformed, never a shorter field or a guessed one."""

    __slots__ = ("data", "pos", "end")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.end = len(data)

    @property
    def left(self) -> int:
        return self.end - self.pos

    def take(self, size: int, what: str) -> bytes:
        if size > self.end - self.pos:
            raise MalformedTls(f"{what} runs {size - (self.end - self.pos)} bytes past its container")
        start = self.pos
        self.pos += size
        return self.data[start:self.pos]

    def number(self, size: int, what: str) -> int:
        return int.from_bytes(self.take(size, what), "big")

    def vector(self, width: int, what: str) -> bytes:
        """A field preceded by its length in `width` bytes."""
        return self.take(self.number(width, f"length of {what}"), what)

    def inner(self, width: int, what: str) -> _Fields:
        return _Fields(self.vector(width, what))

    def finish(self, what: str) -> None:
        if self.pos != self.end:
            raise MalformedTls(f"{self.end - self.pos} bytes left over after {what}")


def _u16s(raw: bytes, what: str) -> list[int]:
    if len(raw) % 2:
        raise MalformedTls(f"{what} of odd length {len(raw)}")
    return list(struct.unpack(f"!{len(raw) // 2}H", raw))


def _extensions(fields: _Fields) -> list[tuple[int, bytes]]:
    """A hello's extensions (absent when the message ends before them, as SSL 3 allows). Bytes after the
    extension block are left in `fields` for the caller to report: tshark, too, reads the block as announced."""
    if not fields.left:
        return []
    block = fields.inner(2, "extensions")
    out = []
    while block.left:
        etype = block.number(2, "extension type")
        out.append((etype, block.vector(2, f"extension {etype}")))
    return out


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

    def __init__(self, conn, ctx, upgrade: str | None = None) -> None:
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
                self._sslv2_hello(buf[pos:], ts_ns)
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
        fields = _Fields(body)
        version = fields.number(2, "version")
        fields.take(32, "random")
        if len(fields.vector(1, "session id")) > 32:
            raise MalformedTls("session id longer than 32 bytes")
        ciphers = [c for c in _u16s(fields.vector(2, "cipher suites"), "cipher suites") if c not in GREASE]
        fields.vector(1, "compression methods")
        ext_types: list[int] = []
        groups: list[int] = []
        formats: list[int] = []
        sni = None
        offered: list[str] = []
        alpn: list[str] = []
        for etype, data in _extensions(fields):
            if etype in GREASE:
                continue
            ext_types.append(etype)
            ext = _Fields(data)
            if etype == 0 and data:  # server_name: a list of (type, name)
                names = ext.inner(2, "server name list")
                while names.left:
                    ntype = names.number(1, "server name type")
                    name = names.vector(2, "server name")
                    if ntype == 0 and sni is None:
                        sni = name.decode("utf-8", "backslashreplace")
            elif etype == 10:
                groups = [g for g in _u16s(ext.vector(2, "supported groups"), "supported groups") if g not in GREASE]
            elif etype == 11:
                formats = list(ext.vector(1, "point formats"))
            elif etype == 43:
                offered = [version_name(v) for v in _u16s(ext.vector(1, "supported versions"),  # type: ignore[misc]
                                                           "supported versions") if v not in GREASE]
            elif etype == 16:
                protocols = ext.inner(2, "ALPN list")
                while protocols.left:
                    alpn.append(protocols.vector(1, "ALPN protocol").decode("ascii", "backslashreplace"))
            else:
                continue
            ext.finish(f"extension {etype}")
        self._trailing(fields, "ClientHello")
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
        fields = _Fields(body)
        version = fields.number(2, "version")
        fields.take(32, "random")
        if len(fields.vector(1, "session id")) > 32:
            raise MalformedTls("session id longer than 32 bytes")
        cipher = fields.number(2, "cipher suite")
        fields.take(1, "compression method")
        ext_types = []
        negotiated = version
        for etype, data in _extensions(fields):
            if etype in GREASE:
                continue
            ext_types.append(etype)
            if etype == 43:  # supported_versions: the one chosen
                if len(data) != 2:
                    raise MalformedTls(f"chosen version of {len(data)} bytes")
                negotiated = struct.unpack_from("!H", data, 0)[0]
        self._trailing(fields, "ServerHello")
        rec = self._record(ts_ns)
        self.server_hello = True
        self.tls13 = negotiated == 0x0304 or 0x7F00 < negotiated <= 0x7FFF
        rec.version = version_name(negotiated)
        rec.cipher = cipher_name(cipher)
        text = f"{version},{cipher},{'-'.join(map(str, ext_types))}"
        rec.ja3s_string = text
        rec.ja3s = hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

    def _trailing(self, fields: _Fields, message: str) -> None:
        if fields.left:
            self.ctx.warn(self.conn, f"TLS {message}: {fields.left} bytes after its extension block, not read")

    def _certificates(self, body: bytes, ts_ns: int) -> None:
        if self.rec is not None and self.rec.cert_chain_sha256:
            return  # a second Certificate message is the client's, or a renegotiation
        fields = _Fields(body)
        certificates = fields.inner(3, "certificate list")
        fields.finish("the certificate list")
        chain = []
        while certificates.left:
            der = certificates.vector(3, "certificate")
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

    def _sslv2_hello(self, buf: bytes, ts_ns: int) -> None:
        rec = self._record(ts_ns)
        if len(buf) >= 5:
            rec.client_version = version_name((buf[3] << 8) | buf[4])

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
                if len(side.buf) >= 5:
                    announced = (side.buf[3] << 8) | side.buf[4]
                    self.ctx.warn(self.conn, f"TLS record from the {'client' if is_orig else 'server'} announced as "
                                             f"{announced} bytes, {len(side.buf) - 5} arrived; not parsed")
                elif side.hs:
                    self.ctx.warn(self.conn, f"TLS handshake message from the {'client' if is_orig else 'server'} "
                                             f"cut short ({len(side.hs)} bytes of it arrived); not parsed")
        self._emit()

    def _emit(self) -> None:
        if self.rec is not None and not self.emitted:
            self.emitted = True
            self.ctx.emit(self.rec)
