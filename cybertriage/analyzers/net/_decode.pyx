# cython: language_level=3, boundscheck=False, wraparound=False
"""Ethernet frames carrying a whole IPv4 datagram, decoded in C: the common case of `Decoder.decode`.

`Decoder` is the reference and the fallback: any other frame (VLAN tags, IPv6, IP options of an odd
kind, fragments, damage, other link types) goes to it unchanged, and so does everything when this
module is not built (it needs Cython and a C compiler at install time).
"""


cdef class EthernetIPv4:
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
        return self.general(linktype, data, ts)
