# C types for tcp.py, used when the install compiles it with Cython (pyproject.toml's ext-modules); without a
# compiler, tcp.py runs as it is. An attribute added to Endpoint must be declared here too.
cimport cython


@cython.final
cdef class Endpoint:
    cdef public int state, hist
    cdef public bint fin_acked
    cdef public object pending, sink, on_gap, kept, on_conflict
    cdef public long long isn, hi, last, next, pending_size, gaps, gap_bytes, overlaps, retransmits, fin, kept_from

    @cython.locals(nxt="long long", cut="Py_ssize_t")
    cpdef segment(self, long long rel, bytes data, object ts_ns)

    cpdef _keep(self, long long rel, bytes data)
