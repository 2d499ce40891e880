# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Capture records framed in C: the capture reader's hot loop for the ordinary records, the classic
pcap ones (`PcapRecords`) and pcapng's enhanced packet blocks (`PcapngPackets`).

`CaptureReader._pcap` and `_pcapng` are the reference and the fallback: when this module is built
(Cython and a C compiler at install time) they iterate these, then go on with their own loop from the
record where these stopped. These stop at the first record or block they do not simply frame (cut by
the end of the file, a corrupt length, a wrong trailer, an unknown interface, any other kind of block),
so that every damaged case is handled, and reported, by the Python loop alone.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport uint8_t, uint32_t


cdef inline uint32_t _u32(const uint8_t[:] v, Py_ssize_t p, bint little) noexcept nogil:
    if little:
        return v[p] | (v[p + 1] << 8) | (v[p + 2] << 16) | (<uint32_t>v[p + 3] << 24)
    return (<uint32_t>v[p] << 24) | (v[p + 1] << 16) | (v[p + 2] << 8) | v[p + 3]


cdef class PcapRecords:
    """The frames of the ordinary records from byte 24 on, as the tuples `CaptureReader.frames` yields.

    Afterwards `pos` is the offset of the record it stopped at, `index` the frames yielded and
    `release_at` the next offset at which the reader hands pages back.
    """

    cdef const uint8_t[:] view
    cdef object buf, reader, linktype
    cdef bint little
    cdef long long frac_ns
    cdef double scale
    cdef uint32_t limit
    cdef Py_ssize_t size, release_every
    cdef public Py_ssize_t pos, index, release_at

    def __init__(self, buf, bint little, long long frac_ns, linktype, uint32_t limit, reader, Py_ssize_t release_every):
        self.buf = buf
        self.view = buf
        self.size = len(buf)
        self.little = little
        self.frac_ns = frac_ns
        self.scale = 1e-6 if frac_ns == 1000 else 1e-9
        self.linktype = linktype
        self.limit = limit
        self.reader = reader
        self.release_every = release_every
        self.release_at = release_every
        self.pos = 24
        self.index = 0

    def __iter__(self):
        return self

    def __next__(self):
        cdef Py_ssize_t pos = self.pos, end
        cdef uint32_t sec, frac, caplen, wirelen
        if pos + 16 > self.size:
            raise StopIteration
        caplen = _u32(self.view, pos + 8, self.little)
        if caplen > self.limit or pos + 16 + <Py_ssize_t>caplen > self.size:
            raise StopIteration
        sec = _u32(self.view, pos, self.little)
        frac = _u32(self.view, pos + 4, self.little)
        wirelen = _u32(self.view, pos + 12, self.little)
        end = pos + 16 + caplen
        data = PyBytes_FromStringAndSize(<const char*>&self.view[pos + 16], caplen) if caplen else b""
        self.index += 1
        self.pos = end
        self.reader.bytes_read = end
        if end > self.release_at:
            self.reader._release(self.buf, end)
            self.release_at = end + self.release_every
        return (sec + frac * self.scale, self.linktype, data, self.index, wirelen,
                <long long>sec * 1000000000 + <long long>frac * self.frac_ns)


cdef class PcapngPackets:
    """The enhanced packet blocks of a pcapng file from `pos` on, as the tuples `CaptureReader.frames` yields,
    up to the first block of another kind or anything unusual.

    `CaptureReader._pcapng` calls `resume` with its position, byte order and interfaces before each
    block it reads itself, iterates, then takes `pos`, `index`, `release_at` and `take_counts()`
    (packets per interface since the last call). Interfaces whose timestamps need more than 64-bit
    arithmetic, and timestamps past the year 2255, are left to it.
    """

    cdef const uint8_t[:] view
    cdef object buf, reader, linktypes
    cdef bint little
    cdef Py_ssize_t size, release_every, max_block, n_interfaces
    cdef long long[64] per, ns_per_unit, offset, counts
    cdef public Py_ssize_t pos, index, release_at

    def __init__(self, buf, reader, Py_ssize_t release_every, Py_ssize_t max_block):
        self.buf = buf
        self.view = buf
        self.size = len(buf)
        self.reader = reader
        self.release_every = release_every
        self.max_block = max_block
        self.n_interfaces = 0

    def resume(self, Py_ssize_t pos, bint little, list interfaces, Py_ssize_t index, Py_ssize_t release_at):
        cdef Py_ssize_t i
        self.pos, self.little, self.index, self.release_at = pos, little, index, release_at
        self.n_interfaces = min(len(interfaces), 64)
        self.linktypes = [iface.linktype for iface in interfaces[:64]]
        for i in range(self.n_interfaces):
            iface = interfaces[i]
            simple = iface.ns_per_unit is not None and 0 < iface.units <= 1_000_000_000 and abs(iface.offset) < 1_000_000_000
            self.per[i] = iface.units if simple else 0  # 0: this interface's packets go to the Python loop
            self.ns_per_unit[i] = iface.ns_per_unit if simple else 0
            self.offset[i] = iface.offset if simple else 0
            self.counts[i] = 0

    def take_counts(self):
        """{link type: packets} framed here since the last call."""
        cdef Py_ssize_t i
        counted = {}
        for i in range(self.n_interfaces):
            if self.counts[i]:
                linktype = self.linktypes[i]
                counted[linktype] = counted.get(linktype, 0) + self.counts[i]
                self.counts[i] = 0
        return counted

    def __iter__(self):
        return self

    def __next__(self):
        cdef Py_ssize_t pos = self.pos, blen, end
        cdef uint32_t iface_id, caplen, wirelen
        cdef unsigned long long units
        cdef long long per, sec, frac
        if pos + 12 > self.size or _u32(self.view, pos, self.little) != 6:
            raise StopIteration
        blen = _u32(self.view, pos + 4, self.little)
        end = pos + blen
        if blen < 32 or blen % 4 or blen > self.max_block or end > self.size or _u32(self.view, end - 4, self.little) != blen:
            raise StopIteration
        iface_id = _u32(self.view, pos + 8, self.little)
        caplen = _u32(self.view, pos + 20, self.little)
        if iface_id >= self.n_interfaces or self.per[iface_id] == 0 or 28 + <Py_ssize_t>caplen > blen - 4:
            raise StopIteration
        units = (<unsigned long long>_u32(self.view, pos + 12, self.little) << 32) | _u32(self.view, pos + 16, self.little)
        per = self.per[iface_id]
        sec = <long long>(units // <unsigned long long>per) + self.offset[iface_id]
        frac = <long long>(units % <unsigned long long>per)
        if not 0 <= sec < 9_000_000_000:
            raise StopIteration
        wirelen = _u32(self.view, pos + 24, self.little)
        data = PyBytes_FromStringAndSize(<const char*>&self.view[pos + 28], caplen) if caplen else b""
        self.index += 1
        self.counts[iface_id] += 1
        self.pos = end
        self.reader.bytes_read = end
        if end > self.release_at:
            self.reader._release(self.buf, end)
            self.release_at = end + self.release_every
        return (sec + <double>frac / <double>per, self.linktypes[iface_id], data, self.index, wirelen,
                sec * 1000000000 + frac * self.ns_per_unit[iface_id])
