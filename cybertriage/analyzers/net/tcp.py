# cython: annotation_typing=False
# (Compiled with the C types of tcp.pxd when the install can; the annotations are for readers.)
"""One direction of a TCP connection: state, sequence space and bounded reassembly.

Sequence numbers are kept relative to the first one seen (the SYN's + 1, or the first
segment's for a connection picked up mid-stream) and unwrapped to 64 bits, so streams
longer than 4 GiB still count right. Reassembly is first-wins: bytes already delivered
are never replaced by a later, different retransmission (the count of such overlaps is
kept). A retransmission whose bytes differ from the first copy's is told to `on_conflict`
with both byte ranges (Zeek's "rexmit_inconsistency"), as long as the first copy is among the
last `MAX_KEPT` bytes delivered (copied into one buffer, not kept as the segments themselves,
so that the allocator keeps reusing the memory of the packets it has just freed). Out-of-order
segments wait up to `MAX_PENDING` bytes; past that, or when the peer acknowledges data the
capture never held, the hole is reported as a gap and skipped — never guessed.
"""

from __future__ import annotations

from collections.abc import Callable

MAX_PENDING = 1024 * 1024  # bytes of out-of-order data one direction may hold
MAX_PENDING_SEGMENTS = 1024
MAX_AHEAD = 64 * 1024 * 1024  # a segment further ahead than this is treated as garbage
MAX_KEPT = 64 * 1024  # delivered bytes kept (at least; at most twice as many) to compare retransmissions with

# Endpoint states, after Zeek's TCP_Endpoint.
INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = range(7)


class Endpoint:
    """One side of a connection, as the packets it sent describe it."""

    __slots__ = ("state", "isn", "hi", "last", "next", "pending", "pending_size", "gaps", "gap_bytes", "overlaps",
                 "retransmits", "hist", "sink", "on_gap", "fin", "fin_acked", "kept", "kept_from", "on_conflict")

    def __init__(self) -> None:
        self.state = INACTIVE
        self.isn = -1  # 32-bit sequence number of relative offset 0; -1 until the first segment
        self.hi = 0  # highest relative offset covered (payload bytes, as Zeek counts them)
        self.last = 0  # a recent relative offset, the anchor for unwrapping
        self.next = 0  # next relative offset to deliver
        self.pending: dict[int, bytes] | None = None
        self.pending_size = 0
        self.gaps = 0
        self.gap_bytes = 0
        self.overlaps = 0
        self.retransmits = 0
        self.hist = 0  # history letters already written for this side
        self.sink: Callable[[bytes, int], None] | None = None  # in-order bytes go here
        self.on_gap: Callable[[int], None] | None = None  # told the size of each hole, while there is a sink
        self.fin = -1  # relative offset just past this side's FIN, once it sent one
        self.fin_acked = False  # the peer acknowledged that FIN: this side will not send it again
        self.kept: bytearray | None = None  # the last bytes delivered, in order, once someone hears of conflicts
        self.kept_from = 0  # relative offset of kept[0]
        # told (first copy's start, end, retransmission's start, end) when a retransmission carries other bytes
        self.on_conflict: Callable[[int, int, int, int], None] | None = None

    def rel(self, seq: int) -> int:
        """Relative, unwrapped offset of a 32-bit sequence number."""
        rel = (seq - self.isn) & 0xFFFFFFFF
        last = self.last
        rel += last & ~0xFFFFFFFF
        if rel - last > 0x80000000:
            rel -= 0x1_0000_0000
        elif last - rel > 0x80000000:
            rel += 0x1_0000_0000
        return rel

    def segment(self, rel: int, data: bytes, ts_ns: int) -> None:
        """Take a segment's payload at relative offset `rel` and deliver what is now in order."""
        nxt = self.next
        if rel <= nxt:
            cut = nxt - rel
            if cut:
                if self.kept is not None:
                    self._compare(rel, data, cut)
                if cut >= len(data):
                    self.retransmits += 1
                    return
                self.overlaps += 1
                data = data[cut:]
            self.next = nxt + len(data)
            self._keep(nxt, data)
            self.sink(data, ts_ns)  # type: ignore[misc]  # called only while there is a sink (analyse._tcp)
            if self.pending:
                self._drain(ts_ns)
            return
        if rel - nxt > MAX_AHEAD:
            return  # nonsense sequence number: not buffered
        pending = self.pending
        if pending is None:
            pending = self.pending = {}
        old = pending.get(rel)
        if old is not None:
            same = min(len(old), len(data))
            if old[:same] != data[:same] and self.on_conflict is not None:
                self.on_conflict(rel, rel + len(old), rel, rel + len(data))
            if len(old) >= len(data):
                self.retransmits += 1
                return
            data = old + data[len(old):]  # the first copy wins here too
        pending[rel] = data
        self.pending_size += len(data) - (len(old) if old is not None else 0)
        while self.pending_size > MAX_PENDING or len(pending) > MAX_PENDING_SEGMENTS:
            self.skip_to(min(pending), ts_ns)
            if not pending:
                break

    def _keep(self, rel: int, data: bytes) -> None:
        """Remember delivered bytes, for the retransmissions to come; past 2 x MAX_KEPT the oldest go."""
        kept = self.kept
        if kept is None:
            if self.on_conflict is None:
                return
            kept = self.kept = bytearray()
            self.kept_from = rel
        elif rel != self.kept_from + len(kept):  # a hole was skipped: what is kept stays one run of bytes
            del kept[:]
            self.kept_from = rel
        kept += data
        if len(kept) > 2 * MAX_KEPT:
            drop = len(kept) - MAX_KEPT
            del kept[:drop]
            self.kept_from += drop

    def _compare(self, rel: int, data: bytes, cut: int) -> None:
        """The first `cut` bytes of a segment at `rel` were delivered before: tell a difference from the first copy."""
        kept, on_conflict = self.kept, self.on_conflict
        if kept is None or on_conflict is None:  # asked only with kept bytes, which are kept only for on_conflict
            return
        start = self.kept_from
        low = max(rel, start)
        high = min(rel + min(cut, len(data)), start + len(kept))
        if low < high and kept[low - start:high - start] != data[low - rel:high - rel]:
            on_conflict(low, high, rel, rel + len(data))

    def skip_to(self, rel: int, ts_ns: int) -> None:
        """Declare the bytes up to `rel` lost, then deliver whatever waits beyond them."""
        if rel > self.next:
            missing = rel - self.next
            self.gaps += 1
            self.gap_bytes += missing
            self.next = rel
            self.on_gap(missing)  # type: ignore[misc]  # set with the sink (analyse._hear_gaps), before any gap
        if self.pending:
            self._drain(ts_ns)

    def _drain(self, ts_ns: int) -> None:
        pending = self.pending
        while pending:
            first = min(pending)
            if first > self.next:
                return
            data = pending.pop(first)
            self.pending_size -= len(data)
            cut = self.next - first
            if cut > 0 and self.kept is not None:
                self._compare(first, data, cut)
            if cut >= len(data):
                continue
            if cut:
                self.overlaps += 1
                data = data[cut:]
            start = self.next
            self.next += len(data)
            if self.sink is None:
                pending.clear()
                self.pending_size = 0
                return
            self._keep(start, data)
            self.sink(data, ts_ns)

    def flush(self, ts_ns: int) -> None:
        """End of the connection: report what still waits behind a hole, and the hole."""
        while self.pending and self.sink is not None:
            self.skip_to(min(self.pending), ts_ns)
        self.pending = None
        self.pending_size = 0
