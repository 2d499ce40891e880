# C types for dns.py's message parsing, used when the install compiles it with Cython (pyproject.toml's
# ext-modules); without a compiler, dns.py runs as it is. A DNS flood is a parse per packet, and reading names
# label by label is most of it.
cimport cython


@cython.locals(end="Py_ssize_t", limit="Py_ssize_t", total="Py_ssize_t", n="Py_ssize_t", ptr="Py_ssize_t",
               size="Py_ssize_t", label=bytes, labels=list)
cpdef tuple _name(bytes buf, Py_ssize_t off)

@cython.locals(start="Py_ssize_t", rtype=int, ttl="long long", rdlen="Py_ssize_t")
cpdef tuple _record(bytes buf, Py_ssize_t off, str section)

@cython.locals(off="Py_ssize_t", qdcount=int, ancount=int, nscount=int, arcount=int, flags=int, start="Py_ssize_t",
               rtype=int, qtype=int, qclass=int)
cpdef parse(bytes buf, bint netbios=*)
