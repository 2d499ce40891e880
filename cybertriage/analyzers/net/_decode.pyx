# cython: language_level=3, boundscheck=False, wraparound=False
"""Ethernet frames carrying a whole IPv4 datagram, or an IPv6 one without extension headers, decoded
in C: the common cases of `Decoder.decode`.

`Decoder` is the reference and the fallback: any other frame (VLAN tags, IPv6 extension headers,
fragments, damage, other link types) goes to it unchanged, and so does everything when this module is
not built (it needs Cython and a C compiler at install time).
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
        cdef Py_ssize_t n = len(data), ihl, total, end
        cdef const unsigned char* p = data
        if linktype == 1 and n >= 34 and p[12] == 0x08 and p[13] == 0x00:
            ihl = (p[14] & 15) << 2
            total = (p[16] << 8) | p[17]
            if p[14] >> 4 == 4 and ihl >= 20 and n >= 14 + ihl and total >= ihl and not (((p[20] << 8) | p[21]) & 0x3FFF):
                end = 14 + total
                truncated = end > n
                if truncated:
                    end = n
                return (4, data[26:30], data[30:34], p[23], data, 14 + ihl, end, total, truncated, None, 1, total - ihl)
        elif linktype == 1 and n >= 54 and p[12] == 0x86 and p[13] == 0xDD and p[14] >> 4 == 6:
            total = 40 + ((p[18] << 8) | p[19])
            if total > 40 and p[20] not in IPV6_EXTENSIONS:
                end = 14 + total
                truncated = end > n
                if truncated:
                    end = n
                return (6, data[22:38], data[38:54], p[20], data, 54, end, total, truncated, None, 1, total - 40)
        return self.general(linktype, data, ts)
