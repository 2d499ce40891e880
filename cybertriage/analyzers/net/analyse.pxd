# C types for analyse.py's per-packet path, used when the install compiles it with Cython (pyproject.toml's
# ext-modules); without a compiler, analyse.py runs as it is. An attribute added to _Conn or CaptureAnalysis
# must be declared here too. Sequence numbers, ports and counters fit their C types; timestamps in
# nanoseconds stay Python integers.
cimport cython

from .tcp cimport Endpoint

cdef int FIN, SYN, RST, ACK
cdef int INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET


@cython.final
cdef class _Conn:
    cdef public long long id, o_pkts, r_pkts, o_bytes, r_bytes, o_payload, r_payload, detect_size
    cdef public int proto, version, o_port, r_port, udp_tries
    cdef public str proto_name, src, dst, history, ended
    cdef public object key, first_ns, last_ns, app, handler, datagram_handler, vlan, detect, o_mac, r_mac, macs
    cdef public double last_ts
    cdef public Endpoint o, r
    cdef public bint deciding, closing


@cython.final
cdef class CaptureAnalysis:
    cdef public object reader, settings, summary, hosts, findings, _decoder, _decode
    cdef public list _out
    cdef public dict _conns, _ftp_expected
    cdef public long long _next_id, _count, _reported, _decoded, _cut, _unlisted
    cdef public object _first_ns, _last_ns
    cdef public double _sweep_every, _next_sweep

    @cython.locals(ts=double, linktype=int, data=bytes)
    cpdef bint _read(self, object frames, object cancel, object progress)

    @cython.locals(conn=_Conn, version=int, proto=int, buf=bytes, l4="Py_ssize_t", end="Py_ssize_t", ip_len="long long",
                   truncated=bint, npk="long long", l4_len="Py_ssize_t", offflags=int, hlen=int,
                   flags=int, is_orig=bint, claimed="long long", ulen="Py_ssize_t", pend="Py_ssize_t", size="Py_ssize_t")
    cpdef _packet(self, int linktype, bytes data, double ts, object ts_ns)

    cpdef _hist(self, _Conn conn, Endpoint ep, bint is_orig, int bit, str letter)

    @cython.locals(syn=int, last="long long", rel="long long", bits=int, state=int)
    cpdef _tcp(self, _Conn conn, Endpoint ep, Endpoint peer, bint is_orig, int flags, long long seq, long long ack,
               bytes payload, long long claimed, object ts_ns)
