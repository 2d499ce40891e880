# cython: language_level=3, boundscheck=False, wraparound=False
"""Ethernet frames (untagged, or with one 802.1Q VLAN tag) carrying a whole IPv4 datagram, or an IPv6
one without extension headers, decoded in C: the common cases of `Decoder.decode`.

`Decoder` is the reference and the fallback: any other frame (stacked VLAN tags, MPLS, IPv6 extension
headers, fragments, damage, other link types) goes to it unchanged, and so does everything when this
module is not built (it needs Cython and a C compiler at install time).
"""

# Next-header values that `Decoder._ipv6` walks as extension headers (hop-by-hop, routing, fragment,
# ESP's neighbour AH, destination options, mobility, HIP, shim6): such datagrams go to it.
cdef frozenset IPV6_EXTENSIONS = frozenset((0, 43, 44, 51, 60, 135, 139, 140))


cdef class EthernetIP:
    """`decode(linktype, data, ts)` with the same result as the Python decoder's `decode`."""

    cdef object general

    def __init__(self, general):
        self.general = general  # the Python decoder's decode, for every other frame

    def decode(self, int linktype, bytes data, double ts):
        cdef Py_ssize_t n = len(data), off = 14, ihl, total, end
        cdef const unsigned char* p = data
        cdef unsigned int etype
        if linktype != 1 or n < 14:
            return self.general(linktype, data, ts)
        etype = (p[12] << 8) | p[13]
        vlan = None
        if etype == 0x8100 and n >= 18:  # one 802.1Q tag: its VLAN id, then the type it carries
            vlan = ((p[14] << 8) | p[15]) & 0x0FFF
            etype = (p[16] << 8) | p[17]
            off = 18
        if etype == 0x0800 and n >= off + 20:
            ihl = (p[off] & 15) << 2
            total = (p[off + 2] << 8) | p[off + 3]
            if (p[off] >> 4 == 4 and ihl >= 20 and n >= off + ihl and total >= ihl
                    and not (((p[off + 6] << 8) | p[off + 7]) & 0x3FFF)):
                end = off + total
                truncated = end > n
                if truncated:
                    end = n
                return (4, data[off + 12:off + 16], data[off + 16:off + 20], p[off + 9], data, off + ihl, end, total,
                        truncated, vlan, 1, total - ihl)
        elif etype == 0x86DD and n >= off + 40 and p[off] >> 4 == 6:
            total = 40 + ((p[off + 4] << 8) | p[off + 5])
            if total > 40 and p[off + 6] not in IPV6_EXTENSIONS:
                end = off + total
                truncated = end > n
                if truncated:
                    end = n
                return (6, data[off + 8:off + 24], data[off + 24:off + 40], p[off + 6], data, off + 40, end, total,
                        truncated, vlan, 1, total - 40)
        return self.general(linktype, data, ts)
