"""Just enough DER to read an X.509 certificate's subject, issuer, validity, serial and DNS names.

No crypto library is needed for this (and none is verified: a capture only shows what the
server sent). Names are written as RFC 4514 strings, last RDN first, with OpenSSL's short
attribute names — what Zeek's x509.log shows.
"""

from __future__ import annotations

import calendar
import hashlib
import time
from dataclasses import dataclass, field


class DerError(ValueError):
    """Not well-formed DER."""


def _tlv(buf: bytes, off: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the element at `off`."""
    if off + 2 > end:
        raise DerError("element runs past its container")
    tag = buf[off]
    length = buf[off + 1]
    off += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or off + count > end:
            raise DerError("bad length")
        length = int.from_bytes(buf[off:off + count], "big")
        off += count
    if off + length > end:
        raise DerError("element runs past its container")
    return tag, off, off + length


def _children(buf: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out = []
    while start < end:
        tag, s, e = _tlv(buf, start, end)
        out.append((tag, s, e))
        start = e
    return out


def _oid(raw: bytes) -> str:
    if not raw:
        return ""
    parts = [raw[0] // 40, raw[0] % 40] if raw[0] < 80 else [2, raw[0] - 80]
    value = 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(map(str, parts))


ATTRIBUTE_NAMES = {
    "2.5.4.3": "CN", "2.5.4.4": "SN", "2.5.4.5": "serialNumber", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST",
    "2.5.4.9": "street", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.12": "title", "2.5.4.13": "description",
    "2.5.4.15": "businessCategory", "2.5.4.17": "postalCode", "2.5.4.42": "GN", "2.5.4.43": "initials",
    "2.5.4.44": "generationQualifier", "2.5.4.46": "dnQualifier", "2.5.4.65": "pseudonym",
    "2.5.4.97": "organizationIdentifier", "1.2.840.113549.1.9.1": "emailAddress",
    "0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID",
    "1.3.6.1.4.1.311.60.2.1.1": "jurisdictionL", "1.3.6.1.4.1.311.60.2.1.2": "jurisdictionST",
    "1.3.6.1.4.1.311.60.2.1.3": "jurisdictionC",
}


def _string(tag: int, raw: bytes) -> str:
    if tag == 0x1E:  # BMPString
        return raw.decode("utf-16-be", "replace")
    if tag == 0x1C:  # UniversalString
        return raw.decode("utf-32-be", "replace")
    if tag in (0x0C,):  # UTF8String
        return raw.decode("utf-8", "replace")
    if tag in (0x13, 0x16, 0x1A):  # Printable, IA5, Visible
        return raw.decode("ascii", "replace")
    return raw.decode("latin-1")  # T61String and anything else


_SPECIAL = frozenset(',+"\\<>;')


def _escape(value: str) -> str:
    if not _SPECIAL.intersection(value) and value[:1] not in ("#", " ") and not value.endswith(" "):
        return value
    out = []
    for i, ch in enumerate(value):
        if ch in ',+"\\<>;' or (i == 0 and ch in "# ") or (i == len(value) - 1 and ch == " "):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _name(buf: bytes, start: int, end: int) -> str:
    rdns = []
    for _tag, s, e in _children(buf, start, end):  # SET OF AttributeTypeAndValue
        parts = []
        for _t, s2, e2 in _children(buf, s, e):
            items = _children(buf, s2, e2)
            if len(items) < 2:
                continue
            oid = _oid(buf[items[0][1]:items[0][2]])
            vtag, vs, ve = items[1]
            parts.append(f"{ATTRIBUTE_NAMES.get(oid, oid)}={_escape(_string(vtag, buf[vs:ve]))}")
        rdns.append("+".join(parts))
    return ",".join(reversed(rdns))


def _time(tag: int, raw: bytes) -> str | None:
    text = raw.decode("ascii", "replace").rstrip("Z")
    try:
        if tag == 0x17:  # UTCTime YYMMDDHHMM[SS]
            year = int(text[:2])
            year += 2000 if year < 50 else 1900
            rest = text[2:]
        else:  # GeneralizedTime YYYYMMDDHHMM[SS]
            year = int(text[:4])
            rest = text[4:]
        month, day, hour, minute = int(rest[0:2]), int(rest[2:4]), int(rest[4:6]), int(rest[6:8])
        second = int(rest[8:10]) if len(rest) >= 10 else 0
        stamp = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))
    except (ValueError, IndexError, OverflowError):
        return None


@dataclass(slots=True)
class Certificate:
    """What the triage needs from one certificate."""

    sha256: str
    subject: str | None = None
    issuer: str | None = None
    serial: str | None = None
    not_before: str | None = None
    not_after: str | None = None
    san_dns: list[str] = field(default_factory=list)


def parse_certificate(der: bytes) -> Certificate:
    """Read one DER certificate; fields that cannot be read stay None (the fingerprint always exists)."""
    cert = Certificate(hashlib.sha256(der).hexdigest())
    try:
        _tag, s, e = _tlv(der, 0, len(der))
        tbs_tag, ts, te = _tlv(der, s, e)
        items = _children(der, ts, te)
        i = 1 if items and items[0][0] == 0xA0 else 0  # explicit [0] version
        serial_tag, ss, se = items[i]
        cert.serial = der[ss:se].hex().upper().lstrip("0") or "0"
        _t, s, e = items[i + 2]
        cert.issuer = _name(der, s, e)
        _t, s, e = items[i + 3]
        validity = _children(der, s, e)
        cert.not_before = _time(validity[0][0], der[validity[0][1]:validity[0][2]])
        cert.not_after = _time(validity[1][0], der[validity[1][1]:validity[1][2]])
        _t, s, e = items[i + 4]
        cert.subject = _name(der, s, e)
        for tag, s, e in items[i + 6:]:
            if tag != 0xA3:  # extensions
                continue
            _t, s2, e2 = _tlv(der, s, e)
            for _t3, s3, e3 in _children(der, s2, e2):
                ext = _children(der, s3, e3)
                if not ext or _oid(der[ext[0][1]:ext[0][2]]) != "2.5.29.17":
                    continue
                value = ext[-1]
                _t4, s4, e4 = _tlv(der, value[1], value[2])  # GeneralNames SEQUENCE
                for gtag, gs, ge in _children(der, s4, e4):
                    if gtag == 0x82:  # dNSName
                        cert.san_dns.append(der[gs:ge].decode("ascii", "replace"))
    except (DerError, IndexError):
        pass
    return cert
