# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Classic pcap records framed in C: the capture reader's hot loop for the ordinary records.

`CaptureReader._pcap` is the reference and the fallback: it iterates a `PcapRecords` when this
module is built (Cython and a C compiler at install time), then goes on with its own loop from the
record where this one stopped. This one stops at the first record it does not simply frame (a
header or packet cut by the end of the file, a corrupt captured length), so that every damaged
case is handled, and reported, by the Python loop alone.
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
