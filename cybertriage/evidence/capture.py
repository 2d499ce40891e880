"""Packet captures: pcap (both byte orders, micro- and nanosecond) and pcapng, read record by record.

The record framing is read here with `struct` rather than through `dpkt.pcap.Reader` /
`dpkt.pcapng.Reader`, for three reasons measured on the corpus:

- dpkt 1.9.8's pcapng reader applies the first interface's `if_tsresol` to every
  interface (4 of the 6 timestamps of `pcapng-multi-interface.pcapng` come out wrong);
- dpkt's pcap reader silently yields the short tail of a packet cut by the end of the
  file, and raises on a corrupt record header, so damage cannot be reported;
- `struct.unpack_from` over the memory-mapped file is faster than dpkt's reader: nothing is
  copied but each frame's own bytes, and the pages already read are handed back to the kernel, so
  the memory used stays bounded however big the capture is. Where the install compiled
  `_pcap_records.pyx`, it frames the ordinary records (classic pcap records, pcapng enhanced packet
  blocks) in C, and the Python loop goes on from wherever it stops: other blocks and all damage are
  met, and reported, by the Python loop.

Damage is recorded in `CaptureReader.problems` (one line each) and reading stops
cleanly at a truncated end or at a block that cannot be framed; what was read before
is kept. A file that is not a capture at all raises `EvidenceError` from the constructor.
"""

from __future__ import annotations

import math
import mmap
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import EvidenceError
from .base import BytesContent, EvidenceObject, EvidenceSource
from .watchdog import ChildFailed, watched

if TYPE_CHECKING:
    from . import _pcap_records

# The ordinary records framed in C, when the install compiled _pcap_records.pyx; None: the Python loop frames all.
# Declared first so that mypy takes the fallback's None.
PcapRecords: type[_pcap_records.PcapRecords] | None
PcapngPackets: type[_pcap_records.PcapngPackets] | None
try:
    from ._pcap_records import PcapngPackets, PcapRecords
except ImportError:
    PcapngPackets = PcapRecords = None

__all__ = ["CaptureEvidence", "CaptureReader", "Packet", "LINKTYPE_NAMES", "is_capture"]

RELEASE_EVERY = 16 * 1024 * 1024  # bytes of the mapped capture read before their pages are handed back
MAX_RECORD = 256 * 1024  # Wireshark's largest standard packet; bigger is a corrupt header
MAX_BLOCK = 16 * 1024 * 1024  # pcapng block (a packet block, or a large name resolution block)
# The protocol analysis of a capture, run in the watchdog's child process as analysis(send, stop, capture_path):
# it sends the records as they complete and, now and then, the bytes of the capture read since the last count.
# The network analyzers provide it (cybertriage.analyzers.net.analyse_in_child) and the scan hands it to
# open_evidence: evidence never imports the analyzers.
ProtocolAnalysis = Callable[[Callable[[Any], None], threading.Event, str], None]

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1_000),  # little-endian, microseconds (ns multiplier)
    b"\xa1\xb2\xc3\xd4": (">", 1_000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),  # nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"

LINKTYPE_NAMES = {
    0: "BSD loopback", 1: "Ethernet", 12: "raw IP", 14: "raw IP", 101: "raw IP", 108: "OpenBSD loopback",
    113: "Linux cooked (SLL)", 228: "raw IPv4", 229: "raw IPv6", 276: "Linux cooked v2 (SLL2)",
    105: "802.11", 127: "802.11 radiotap", 9: "PPP", 50: "PPP over HDLC", 147: "user 0",
}


def is_capture(head: bytes) -> bool:
    """Whether the first bytes of a file are a pcap or pcapng header."""
    return head[:4] in PCAP_MAGICS or head[:4] == PCAPNG_SHB


@dataclass(slots=True)
class Packet:
    """One captured frame.

    `ts` is seconds since the epoch (float, for arithmetic); `ts_ns` the same instant in
    integer nanoseconds (exact, for display). `index` is the 1-based frame number, as
    Wireshark counts. `wirelen` is the frame's length on the wire; `len(data)` is less
    when the capture's snap length cut it.
    """

    ts: float
    linktype: int
    data: bytes
    index: int
    wirelen: int = 0
    ts_ns: int = 0


class _Interface:
    __slots__ = ("linktype", "snaplen", "units", "ns_per_unit", "offset", "name")

    def __init__(self, linktype: int, snaplen: int) -> None:
        self.linktype = linktype
        self.snaplen = snaplen
        self.units = 1_000_000  # timestamp units per second (if_tsresol)
        self.ns_per_unit: int | None = 1_000
        self.offset = 0  # if_tsoffset, seconds
        self.name = ""


_PACKET_BLOCKS = frozenset((2, 3, 6))  # obsolete, simple and enhanced packet blocks


class _Section:
    """What a pcapng section header sets for the blocks after it: the byte order and the interfaces."""

    __slots__ = ("order", "head", "epb", "interfaces")

    def __init__(self, order: str) -> None:
        self.order = order
        self.head = struct.Struct(order + "II")  # block type, block length
        self.epb = struct.Struct(order + "IIIII")  # enhanced packet: interface, time high, time low, lengths
        self.interfaces: list[_Interface] = []


class CaptureReader:
    """Frames of a pcap or pcapng file, in file order.

    Args:
        path: the capture file; opened read-only.

    Raises:
        EvidenceError: the file is missing, empty, unreadable or not a capture.

    After (or during) `packets()`: `problems` lists damage found, `truncated` says whether
    the file ended inside a record, `bytes_read` how far reading got.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.problems: list[str] = []
        self.truncated = False
        self.bytes_read = 0
        self.packets_read = 0
        self.linktypes: dict[int, int] = {}  # link type → packets
        try:
            self.size = self.path.stat().st_size
            with open(self.path, "rb") as handle:
                head = handle.read(32)
        except FileNotFoundError:
            raise EvidenceError("no such file") from None
        except IsADirectoryError:
            raise EvidenceError("a folder, not a capture file") from None
        except OSError as error:
            raise EvidenceError(f"cannot read: {error.strerror or error}") from None
        if not head:
            raise EvidenceError("capture file is empty")
        magic = head[:4]
        if magic in PCAP_MAGICS:
            self.format = "pcap"
            if len(head) < 24:
                raise EvidenceError(f"pcap header cut short ({len(head)} of 24 bytes)")
            order, self._frac_ns = PCAP_MAGICS[magic]
            self._order = order
            major, minor, _zone, _sigfigs, snaplen, network = struct.unpack(order + "HHiIII", head[4:24])
            if major != 2:
                raise EvidenceError(f"unsupported pcap version {major}.{minor}")
            self.snaplen = snaplen
            self.linktype = network & 0x03FF_FFFF  # upper bits carry FCS information
            self.nanosecond = self._frac_ns == 1
        elif magic == PCAPNG_SHB:
            self.format = "pcapng"
            if len(head) < 12:
                raise EvidenceError("pcapng section header cut short")
            bom = head[8:12]
            if bom == b"\x4d\x3c\x2b\x1a":
                self._order = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                self._order = ">"
            else:
                raise EvidenceError("pcapng section header with an unknown byte-order magic")
            self.snaplen = 0
            self.linktype = -1  # per interface; see `interfaces`
            self.nanosecond = False
        else:
            raise EvidenceError("not a pcap or pcapng capture (unknown magic number)")
        self.interfaces: list[_Interface] = []

    # ---------------------------------------------------------------- reading

    def packets(self) -> Iterator[Packet]:
        """Yield every frame; record damage in `problems` and stop at a truncated end."""
        for ts, linktype, data, index, wirelen, ts_ns in self.frames():
            yield Packet(ts, linktype, data, index, wirelen, ts_ns)

    def frames(self) -> Iterator[tuple[float, int, bytes, int, int, int]]:
        """`packets()` as plain tuples (ts, linktype, data, index, wirelen, ts_ns), without an object per
        frame: what the capture analysis reads, half a million times a second when it can."""
        try:
            handle = open(self.path, "rb")
        except OSError as error:
            raise EvidenceError(f"cannot read: {error.strerror or error}") from None
        with handle:
            try:
                view = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError) as error:  # emptied since it was opened, or not mappable
                self._problem(f"capture could not be read: {getattr(error, 'strerror', None) or error}")
                return
            with view:
                if self.format == "pcap":
                    yield from self._pcap(view)
                else:
                    yield from self._pcapng(view)

    @staticmethod
    def _release(view: mmap.mmap, below: int) -> None:
        """Hand the pages of the mapping below `below` back to the kernel: they stay in the page cache,
        but no longer count in this process's memory."""
        if hasattr(view, "madvise"):  # not on Windows
            view.madvise(mmap.MADV_DONTNEED, 0, below - below % mmap.PAGESIZE)

    def _problem(self, message: str) -> None:
        self.problems.append(message)

    def _cut(self, what: str, offset: int, index: int) -> None:
        self.truncated = True
        self._problem(f"capture ends inside {what} at byte {offset} (after {index} packets): "
                      f"{self.size - offset} trailing bytes not read")

    def _pcap(self, buf: mmap.mmap) -> Iterator[tuple[float, int, bytes, int, int, int]]:
        unpack_from = struct.Struct(self._order + "IIII").unpack_from
        frac_ns = self._frac_ns
        scale = 1e-6 if frac_ns == 1_000 else 1e-9
        linktype = self.linktype
        limit = max(self.snaplen, MAX_RECORD)
        size = len(buf)
        pos = 24
        release_at = RELEASE_EVERY
        index = 0
        records = None if PcapRecords is None else PcapRecords(buf, self._order == "<", frac_ns, linktype, limit,
                                                                   self, RELEASE_EVERY)
        try:
            if records is not None:  # the loop below takes over where the compiled one stops
                yield from records
                pos, index, release_at = records.pos, records.index, records.release_at
            while True:
                if pos + 16 > size:
                    if pos < size:
                        self._cut("a packet record header", pos, index)
                    break
                sec, frac, caplen, wirelen = unpack_from(buf, pos)
                if caplen > limit:
                    self._problem(f"corrupt packet record at byte {pos} (captured length {caplen}): "
                                  f"the remaining {self.size - pos} bytes were not read")
                    break
                end = pos + 16 + caplen
                if end > size:
                    self._cut(f"packet {index + 1}", pos, index)
                    break
                index += 1
                self.bytes_read = end
                yield (sec + frac * scale, linktype, buf[pos + 16:end], index, wirelen, sec * 1_000_000_000 + frac * frac_ns)
                pos = end
                if pos > release_at:
                    self._release(buf, pos)
                    release_at = pos + RELEASE_EVERY
        finally:
            if records is not None:
                index = max(index, records.index)  # the consumer may have stopped inside the compiled loop
            self.packets_read = index
            if index:
                self.linktypes[linktype] = self.linktypes.get(linktype, 0) + index
            if not self.truncated and not self.problems:
                self.bytes_read = self.size

    def _pcapng(self, buf: mmap.mmap) -> Iterator[tuple[float, int, bytes, int, int, int]]:
        size = len(buf)
        pos = 0
        release_at = RELEASE_EVERY
        index = 0
        section = _Section(self._order)
        counts: dict[int, int] = {}
        packets = None if PcapngPackets is None else PcapngPackets(buf, self, RELEASE_EVERY, MAX_BLOCK)
        try:
            while True:
                if packets is not None:  # the ordinary packet blocks from here on, framed in C
                    packets.resume(pos, section.order == "<", section.interfaces, index, release_at)
                    yield from packets
                    pos, index, release_at = packets.pos, packets.index, packets.release_at
                    for linktype, count in packets.take_counts().items():
                        counts[linktype] = counts.get(linktype, 0) + count
                if pos + 12 > size:
                    if pos < size:
                        self._cut("a block header", pos, index)
                    break
                if buf[pos:pos + 4] == PCAPNG_SHB:  # a new section may switch byte order; its interfaces start afresh
                    order = self._section_order(buf, pos)
                    if order is None:
                        break
                    section = _Section(order)
                btype, blen = section.head.unpack_from(buf, pos)
                if not self._block_framed(buf, pos, btype, blen, section, index):
                    break
                end = pos + blen
                if btype == 1:  # interface description block
                    iface = self._interface(buf[pos + 8:end - 4], section.order, pos)
                    section.interfaces.append(iface)
                    self.interfaces.append(iface)
                elif btype in _PACKET_BLOCKS:
                    packet = self._packet_block(buf, pos, btype, blen, section, index + 1)
                    if packet is not None:
                        index += 1
                        if btype == 6:  # an enhanced packet block: read up to its end (for progress)
                            self.bytes_read = end
                        counts[packet[1]] = counts.get(packet[1], 0) + 1
                        yield packet
                # Other blocks (name resolution, statistics, decryption secrets, custom) are skipped.
                pos = end
                if pos > release_at:
                    self._release(buf, pos)
                    release_at = pos + RELEASE_EVERY
        finally:
            if packets is not None:  # the consumer may have stopped inside the compiled loop
                index = max(index, packets.index)
                for linktype, count in packets.take_counts().items():
                    counts[linktype] = counts.get(linktype, 0) + count
            self.packets_read = index
            for linktype, count in counts.items():
                self.linktypes[linktype] = self.linktypes.get(linktype, 0) + count
            if not self.truncated and not self.problems:
                self.bytes_read = self.size

    def _section_order(self, buf: mmap.mmap, pos: int) -> str | None:
        """The byte order of the section header block at `pos` ("<" or ">"), or None (recorded) if it is corrupt."""
        bom = buf[pos + 8:pos + 12]
        if bom == b"\x4d\x3c\x2b\x1a":
            return "<"
        if bom == b"\x1a\x2b\x3c\x4d":
            return ">"
        self._problem(f"corrupt section header at byte {pos}: the rest was not read")
        return None

    def _block_framed(self, buf: mmap.mmap, pos: int, btype: int, blen: int, section: _Section,
                      index: int) -> bool:
        """Whether the block at `pos` can be read (False: reading stops there, recorded); a trailing length that
        differs from the leading one is recorded, and the block read by the leading one."""
        if blen < 12 or blen % 4 or blen > MAX_BLOCK:
            self._problem(f"corrupt block at byte {pos} (type {btype:#x}, length {blen}): "
                          f"the remaining {self.size - pos} bytes were not read")
            return False
        if pos + blen > len(buf):
            self._cut(f"a block (type {btype:#x})", pos, index)
            return False
        trailer = section.head.unpack_from(buf, pos + blen - 8)[1]
        if trailer != blen:
            self._problem(f"block at byte {pos}: trailing length {trailer} differs from {blen}")
        return True

    def _packet_block(self, buf: mmap.mmap, pos: int, btype: int, blen: int, section: _Section,
                      index: int) -> tuple[float, int, bytes, int, int, int] | None:
        """The packet of an enhanced (6), simple (3) or obsolete (2) packet block as packet `index`, or None
        (recorded) when the block cannot give one."""
        interfaces = section.interfaces
        if btype == 6:
            if blen < 32:
                self._problem(f"enhanced packet block too short at byte {pos}")
                return None
            iface_id, high, low, caplen, wirelen = section.epb.unpack_from(buf, pos + 8)
            if iface_id >= len(interfaces):
                self._problem(f"packet at byte {pos} names undefined interface {iface_id}")
            elif 28 + caplen > blen - 4:
                self._problem(f"packet block at byte {pos} holds {caplen} bytes in a {blen}-byte block")
            else:
                return self._packet(interfaces[iface_id], (high << 32) | low, buf[pos + 28:pos + 28 + caplen], index,
                                    wirelen)
            return None
        if btype == 3:  # interface 0, no timestamp
            if not interfaces:
                self._problem(f"simple packet block at byte {pos} before any interface")
                return None
            iface = interfaces[0]
            wirelen = section.head.unpack_from(buf, pos + 8)[0]
            caplen = min(wirelen, blen - 16, iface.snaplen or wirelen)
            return (0.0, iface.linktype, buf[pos + 12:pos + 12 + caplen], index, wirelen, 0)
        iface_id = struct.unpack_from(section.order + "H", buf, pos + 8)[0]
        high, low, caplen, wirelen = struct.unpack_from(section.order + "IIII", buf, pos + 12)
        if iface_id < len(interfaces) and 28 + caplen <= blen - 4:
            return self._packet(interfaces[iface_id], (high << 32) | low, buf[pos + 28:pos + 28 + caplen], index,
                                wirelen)
        self._problem(f"unreadable packet block at byte {pos}")
        return None

    @staticmethod
    def _packet(iface: _Interface, units: int, data: bytes, index: int, wirelen: int) -> tuple[float, int, bytes, int, int, int]:
        per = iface.units
        sec, frac = divmod(units, per)
        sec += iface.offset
        if iface.ns_per_unit is not None:
            ns = sec * 1_000_000_000 + frac * iface.ns_per_unit
        else:
            ns = sec * 1_000_000_000 + frac * 1_000_000_000 // per
        return (sec + frac / per, iface.linktype, data, index, wirelen, ns)

    def _interface(self, body: bytes, order: str, offset: int) -> _Interface:
        if len(body) < 8:
            self._problem(f"interface description block too short at byte {offset}")
            return _Interface(-1, 0)
        linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", body, 0)
        iface = _Interface(linktype, snaplen)
        pos = 8
        while pos + 4 <= len(body):
            code, length = struct.unpack_from(order + "HH", body, pos)
            value = body[pos + 4:pos + 4 + length]
            if code == 0:
                break
            if len(value) < length:
                self._problem(f"interface description block at byte {offset}: option {code} runs past the block")
                break
            if code == 9 and length >= 1:  # if_tsresol
                resol = value[0]
                if resol & 0x80:
                    iface.units = 1 << (resol & 0x7F)
                else:
                    iface.units = 10 ** resol
                iface.ns_per_unit = 1_000_000_000 // iface.units if 1_000_000_000 % iface.units == 0 else None
                if iface.units == 0 or (resol & 0x7F) > 63:
                    self._problem(f"interface {len(self.interfaces)}: implausible timestamp resolution {resol:#x}")
                    iface.units, iface.ns_per_unit = 1_000_000, 1_000
            elif code == 14 and length >= 8:  # if_tsoffset, seconds
                iface.offset = struct.unpack_from(order + "q", value, 0)[0]
            elif code == 2:  # if_name
                iface.name = value.decode("utf-8", "replace")
            pos += 4 + length + (-length % 4)
        return iface

    def close(self) -> None:
        """Nothing stays open between calls; kept for symmetry with other sources."""

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CaptureEvidence(EvidenceSource):
    """A packet capture: network records for the case, and the objects carried (HTTP bodies)
    as evidence objects that the same analyzers examine as files found on a disk."""

    KIND = "capture"

    def __init__(self, path: Path, analysis: ProtocolAnalysis | None = None) -> None:
        """`analysis` is what `objects` runs; without one the capture is opened to be recorded or verified only."""
        super().__init__(path)
        reader = CaptureReader(path)  # raises EvidenceError on what is not a capture
        self.format, self.size = reader.format, reader.size
        self.analysis = analysis
        self.bytes_read = 0  # by the analysis, so far

    @property
    def container_files(self) -> list[Path]:
        return [self.path]

    def reading(self) -> tuple[int, int] | None:
        return self.bytes_read, self.size

    def objects(self, cancelled: threading.Event) -> Iterator[Any]:
        """Network records (Flow, DnsRecord, ...) as they complete, and an EvidenceObject for each
        carried object; the CaptureSummary comes last and fills the ledger.

        The packets are analysed in a child process, so that the scan's other core examines the
        carried objects and writes the records while the next packets are read. A cancelled scan asks
        it to stop: the flows still open come back ended "cancelled", then the summary."""
        if self.analysis is None:
            raise EvidenceError("capture opened without a protocol analysis to run")
        try:
            for record in watched(self.analysis, (str(self.path),), math.inf, cancelled):
                if record.__class__ is int:  # bytes of the capture read since the last count
                    self.bytes_read += record
                    continue
                kind = record.KIND
                if kind == "extracted_object":
                    yield _carried_object(record)
                elif kind == "capture_summary":
                    record.fill_ledger(self.ledger)
                    self.problems.extend(record.problems)
                    if record.truncated and not record.problems:
                        self.problems.append("capture ends in the middle of a record")
                else:
                    yield record
        except ChildFailed as failure:  # what the analysis sent before it failed is kept
            if not failure.crashed:
                raise RuntimeError(f"capture analysis failed: {failure}") from None
            self.problems.append(f"capture analysis stopped: {failure}; the records sent before are kept")


def _carried_object(extracted: Any) -> EvidenceObject:
    """A carried body as an object of the case, named by protocol, server and flow, with the
    record that carried it as its origin: /http/<host>/…, /smtp/<server>/…, /ftp/<server>/…"""
    source = extracted.source
    kind = source.KIND
    if kind == "http":
        server = source.host or source.dst
        origin = f"HTTP {source.method or '?'} {server}{source.uri or ''} at {source.ts} from {source.dst}"
    elif kind == "smtp":
        server = source.dst
        recipients = ", ".join(source.rcpt_to) or "?"
        origin = (f"SMTP attachment of mail from {source.mail_from or '?'} to {recipients}"
                  f" (subject {source.subject!r}) at {source.ts} via {source.dst}")
    else:
        server = source.dst
        origin = f"FTP {source.command} {source.url or source.arg or ''} at {source.ts} from {source.dst}"
    server = (server or "unknown-server").replace("/", "_")
    depth = getattr(source, "trans_depth", 1)
    path = f"/{kind}/{server}/{extracted.flow_id}-{depth}-{extracted.direction}-{extracted.name}"
    obj = EvidenceObject(path=path, name=extracted.name, size=extracted.size, mtime=source.ts, origin=origin,
                         flow_id=extracted.flow_id)
    if extracted.truncated:
        obj.unreadable = f"body larger than the stored {len(extracted.data)} bytes; its sha256 is {extracted.sha256}"
    else:
        obj.content = BytesContent(extracted.data)
        obj.sha256 = extracted.sha256
    return obj
