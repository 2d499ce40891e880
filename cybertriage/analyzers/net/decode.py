"""Link, IP and fragment decoding with `struct` on the hot path (no dpkt object per packet).

`Decoder.decode(linktype, data, ts)` returns either a `Datagram` (a plain tuple), None for an IP
fragment that was buffered (its datagram comes out with the last fragment), or a short
reason string for a packet that could not be decoded (the summary counts them by reason).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import _decode

# The common case decoded in C, when the install compiled _decode.pyx; None: the Python decoder does it all.
# Declared first so that mypy takes the fallback's None.
EthernetIP: type[_decode.EthernetIP] | None
try:
    from ._decode import EthernetIP
except ImportError:
    EthernetIP = None

_H = struct.Struct("!H").unpack_from
_HH = struct.Struct("!HH").unpack_from
_IPV4 = struct.Struct("!BBHHHBB").unpack_from
_IPV6 = struct.Struct("!IHBB").unpack_from
_LE_I = struct.Struct("<I").unpack_from
_BE_I = struct.Struct(">I").unpack_from

ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
_VLAN_TYPES = frozenset((0x8100, 0x88A8, 0x9100, 0x9200, 0x9300))
_MPLS_TYPES = frozenset((0x8847, 0x8848))
_PPPOE_SESSION = 0x8864
_IPV6_EXT = frozenset((0, 43, 60, 135, 139, 140))  # hop-by-hop, routing, dest opts, mobility, HIP, shim6
_NULL_IPV6 = frozenset((24, 28, 30))  # AF_INET6 on the BSDs, Darwin

FRAG_TIMEOUT = 60.0  # seconds of capture time a fragmented datagram may take to complete
FRAG_MAX_DATAGRAM = 65535 + 8
FRAG_MAX_PENDING = 4096  # datagrams being reassembled at once


# An IP datagram down to its transport header, as a plain tuple (one is made per packet):
#   (version, src, dst, proto, buf, l4, end, ip_len, truncated, vlan, packets, l4_len)
# `buf[l4:end]` is the transport segment; ip_len the IP bytes on the wire (summed over the fragments of a
# reassembled datagram); truncated: the capture holds less than the IP header says (snap length);
# packets: 1, or the number of fragments; l4_len: transport bytes the IP header announces.
Datagram = tuple[int, bytes, bytes, int, bytes, int, int, int, bool, "int | None", int, int]


class _Fragments:
    __slots__ = ("parts", "total", "first_ts", "proto", "ip_len", "count", "size")

    def __init__(self, ts: float) -> None:
        self.parts: dict[int, bytes] = {}
        self.total: int | None = None
        self.first_ts = ts
        self.proto = -1
        self.ip_len = 0
        self.count = 0
        self.size = 0


class Decoder:
    """Stateful decoder: holds the IP fragments waiting for the rest of their datagram."""

    def __init__(self) -> None:
        self._frags: dict[tuple, _Fragments] = {}
        self.fragments_incomplete = 0  # datagrams
        self.fragment_packets_lost = 0  # packets holding their pieces
        self.fragments_overlapping = 0

    def fastest(self) -> Callable[[int, bytes, float], Datagram | str | None]:
        """`decode`, with Ethernet frames carrying a whole IPv4 or IPv6 datagram decoded in C first when the
        compiled module is there (the same results, a third of the time)."""
        return EthernetIP(self.decode).decode if EthernetIP is not None else self.decode

    # ------------------------------------------------------------------ link layer

    def decode(self, linktype: int, data: bytes, ts: float) -> Datagram | str | None:
        """Decode one frame of the given link type; see the module docstring for the result."""
        if linktype == 1:  # Ethernet
            if len(data) < 14:
                return "truncated Ethernet header"
            etype = (data[12] << 8) | data[13]
            if etype == ETH_IPV4:  # the common case first
                return self._ipv4(data, 14, ts, None)
            if etype in _VLAN_TYPES or etype in _MPLS_TYPES or etype < 0x0600 or etype == _PPPOE_SESSION:
                link = self._ether_extra(data, etype, 14)
            else:
                link = etype, 14, None
        else:
            link = self._link_header(linktype, data)
        if isinstance(link, str):
            return link
        etype, off, vlan = link
        if etype == ETH_IPV4:
            return self._ipv4(data, off, ts, vlan)
        if etype == ETH_IPV6:
            return self._ipv6(data, off, ts, vlan)
        return "not IP"

    def _link_header(self, linktype: int, data: bytes) -> tuple[int, int, int | None] | str:
        """A frame of a link type other than Ethernet: (ethertype, offset of the network header, VLAN id), or
        why it cannot be decoded."""
        if linktype == 113:  # Linux cooked capture
            if len(data) < 16:
                return "truncated SLL header"
            return self._cooked(data, _H(data, 14)[0], 16)
        if linktype == 276:  # Linux cooked capture v2
            if len(data) < 20:
                return "truncated SLL2 header"
            return self._cooked(data, _H(data, 0)[0], 20)
        if linktype in (101, 12, 14, 228, 229):  # raw IP
            if not data:
                return "empty packet"
            return (ETH_IPV6 if data[0] >> 4 == 6 else ETH_IPV4), 0, None
        if linktype == 0 or linktype == 108:  # BSD null / OpenBSD loopback: address family
            if len(data) < 4:
                return "truncated loopback header"
            family = _BE_I(data, 0)[0] if linktype == 108 else _LE_I(data, 0)[0]
            if family > 0xFFFF:  # written on a host of the other byte order
                family = _BE_I(data, 0)[0]
            if family == 2:
                return ETH_IPV4, 4, None
            if family in _NULL_IPV6:
                return ETH_IPV6, 4, None
            return "not IP"
        return f"unsupported link type {linktype}"

    def _cooked(self, data: bytes, etype: int, off: int) -> tuple[int, int, int | None] | str:
        """After a Linux cooked header: VLAN tags and MPLS labels are followed; LLC and PPPoE only after Ethernet."""
        if etype in _VLAN_TYPES or etype in _MPLS_TYPES:
            return self._ether_extra(data, etype, off)
        return etype, off, None

    def _ether_extra(self, data: bytes, etype: int, off: int) -> tuple[int, int, int | None] | str:
        """VLAN tags (802.1Q, QinQ), MPLS label stacks, 802.3/SNAP and PPPoE sessions."""
        vlan = None
        for _ in range(8):  # bounded: a frame of nothing but tags is not decoded
            if etype in _VLAN_TYPES:
                if len(data) < off + 4:
                    return "truncated VLAN tag"
                tci, etype = _HH(data, off)
                if vlan is None:
                    vlan = tci & 0x0FFF
                off += 4
            elif etype in _MPLS_TYPES:
                while True:
                    if len(data) < off + 4:
                        return "truncated MPLS label"
                    bottom = data[off + 2] & 1
                    off += 4
                    if bottom:
                        break
                if len(data) <= off:
                    return "truncated MPLS payload"
                nibble = data[off] >> 4
                if nibble == 4:
                    return ETH_IPV4, off, vlan
                if nibble == 6:
                    return ETH_IPV6, off, vlan
                return "MPLS payload not IP"
            elif etype < 0x0600:  # 802.3 length: LLC, maybe SNAP
                if len(data) >= off + 8 and data[off:off + 3] == b"\xaa\xaa\x03":
                    etype = _H(data, off + 6)[0]
                    off += 8
                else:
                    return "not IP"
            elif etype == _PPPOE_SESSION:
                if len(data) < off + 8:
                    return "truncated PPPoE header"
                proto = _H(data, off + 6)[0]
                off += 8
                if proto == 0x0021:
                    return ETH_IPV4, off, vlan
                if proto == 0x0057:
                    return ETH_IPV6, off, vlan
                return "not IP"
            else:
                return etype, off, vlan
        return "too many link-layer tags"

    # ------------------------------------------------------------------ IP

    def _ipv4(self, data: bytes, off: int, ts: float, vlan: int | None) -> Datagram | str | None:
        if len(data) < off + 20:
            return "truncated IPv4 header"
        vihl, _tos, total, ident, frag, _ttl, proto = _IPV4(data, off)
        ihl = (vihl & 15) << 2
        if vihl >> 4 != 4 or ihl < 20:
            return "bad IPv4 header"
        if len(data) < off + ihl:
            return "truncated IPv4 header"
        if total == 0:  # TCP segmentation offload: the length is left for the NIC to fill in
            total = len(data) - off
        elif total < ihl:
            return "bad IPv4 total length"
        end = off + total
        truncated = end > len(data)
        if truncated:
            end = len(data)
        src = data[off + 12:off + 16]
        dst = data[off + 16:off + 20]
        if frag & 0x3FFF:  # more fragments, or an offset
            if truncated:
                return "truncated IPv4 fragment"
            key = (src, dst, proto, ident)
            return self._fragment(key, 4, src, dst, proto, (frag & 0x1FFF) << 3, bool(frag & 0x2000),
                                  data[off + ihl:end], total, ts, vlan)
        return (4, src, dst, proto, data, off + ihl, end, total, truncated, vlan, 1, total - ihl)

    def _ipv6(self, data: bytes, off: int, ts: float, vlan: int | None) -> Datagram | str | None:
        if len(data) < off + 40:
            return "truncated IPv6 header"
        first, plen, nxt, _hops = _IPV6(data, off)
        if first >> 28 != 6:
            return "bad IPv6 header"
        src = data[off + 8:off + 24]
        dst = data[off + 24:off + 40]
        total = 40 + plen
        if plen == 0:  # jumbogram or offload: take what was captured
            total = len(data) - off
        end = off + total
        truncated = end > len(data)
        if truncated:
            end = len(data)
        pos = off + 40
        while nxt in _IPV6_EXT or nxt == 44 or nxt == 51:
            if pos + 8 > end:
                return "truncated IPv6 extension header"
            if nxt == 44:  # fragment header
                if truncated:
                    return "truncated IPv6 fragment"
                inner = data[pos]
                offset_flags = _H(data, pos + 2)[0]
                ident = struct.unpack_from("!I", data, pos + 4)[0]
                key = (src, dst, ident)
                return self._fragment(key, 6, src, dst, inner, offset_flags & 0xFFF8, bool(offset_flags & 1),
                                      data[pos + 8:end], total, ts, vlan)
            length = (data[pos + 1] + 2) << 2 if nxt == 51 else (data[pos + 1] + 1) << 3
            nxt = data[pos]
            pos += length
            if pos > end:
                return "truncated IPv6 extension header"
        return (6, src, dst, nxt, data, pos, end, total, truncated, vlan, 1, off + total - pos)

    def _fragment(self, key: tuple, version: int, src: bytes, dst: bytes, proto: int, offset: int, more: bool,
                  payload: bytes, ip_len: int, ts: float, vlan: int | None) -> Datagram | None | str:
        frags = self._frags
        entry = frags.get(key)
        if entry is None:
            if len(frags) >= FRAG_MAX_PENDING:
                self.expire(ts, force=True)
            entry = frags[key] = _Fragments(ts)
        elif ts - entry.first_ts > FRAG_TIMEOUT:
            self.fragments_incomplete += 1
            self.fragment_packets_lost += entry.count
            entry = frags[key] = _Fragments(ts)
        if offset + len(payload) > FRAG_MAX_DATAGRAM:
            del frags[key]
            self.fragments_incomplete += 1
            self.fragment_packets_lost += entry.count
            return "oversized fragmented datagram"
        if offset in entry.parts:
            self.fragments_overlapping += 1
        else:
            entry.parts[offset] = payload
            entry.size += len(payload)
        entry.ip_len += ip_len
        entry.count += 1
        if offset == 0:
            entry.proto = proto
        if not more:
            entry.total = offset + len(payload)
        if entry.total is None or entry.size < entry.total or entry.proto < 0:
            return None
        # All bytes may be present: join in offset order, first fragment wins on overlaps.
        out = bytearray()
        for start in sorted(entry.parts):
            piece = entry.parts[start]
            if start > len(out):
                return None  # a hole remains (overlaps made `size` look complete)
            out += piece[len(out) - start:]
        del frags[key]
        buf = bytes(out[:entry.total])
        return (version, src, dst, entry.proto, buf, 0, len(buf), entry.ip_len, False, vlan, entry.count, len(buf))

    def expire(self, now: float, force: bool = False) -> None:
        """Drop datagrams whose fragments stopped coming (or the oldest half, when forced)."""
        frags = self._frags
        if force:
            stale = sorted(frags, key=lambda k: frags[k].first_ts)[: max(1, len(frags) // 2)]
        else:
            stale = [k for k, e in frags.items() if now - e.first_ts > FRAG_TIMEOUT]
        for key in stale:
            self.fragment_packets_lost += frags.pop(key).count
            self.fragments_incomplete += 1

    def finish(self) -> None:
        """End of capture: whatever is still waiting is incomplete."""
        self.fragments_incomplete += len(self._frags)
        self.fragment_packets_lost += sum(entry.count for entry in self._frags.values())
        self._frags.clear()
