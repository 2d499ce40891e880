"""Checking each chunk of an EWF (E01) image against the checksum stored with it, as the image is hashed.

libewf reads a chunk whose checksum fails as zeros, and its Python binding (pyewf) does not say which
chunks those were: when the original chunk held zeros the media MD5 still matches, and when it held data
the files there are silently wrong. So the chunk tables are read here, as libyal's "Expert Witness
Compression Format (EWF)" document describes them (section descriptor, volume, table and table2 sections),
and each chunk is checked as libewf checks it (libewf_chunk_group_fill_v1, libewf_chunk_data_unpack):

- an uncompressed chunk is its data followed by the Adler-32 of that data;
- a compressed chunk is a zlib stream (with its own Adler-32) that must inflate to at most one chunk.

The chunk bytes are checked as the evidence sha256 streams them past (`feed`): apart from the section
descriptors and tables, nothing is read twice. Every size read from the file is bounded before it is used.
"""

from __future__ import annotations

import array
import os
import struct
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import EvidenceError

EWF_SIGNATURE = b"EVF\x09\x0d\x0a\xff\x00"
_FILE_HEADER = 13
_DESCRIPTOR = struct.Struct("<16sQQ40xI")  # type, next section offset, section size, padding, Adler-32
_TABLE_HEADER = struct.Struct("<IIQ4xI")  # entries, padding, base offset (EnCase 6+; 0 before), Adler-32
_MAX_TABLE_ENTRIES = 1 << 20  # EnCase writes at most 65534 a table; 4 MiB of entries is the most read at once
_MAX_CHUNK_BYTES = 16 * 1024 * 1024  # EnCase allows at most 32768 sectors of 512 bytes a chunk
_INT32_MAX = 0x7FFFFFFF


class EwfLayoutError(EvidenceError):
    """The sections or chunk tables of an EWF segment cannot be followed, so its chunks cannot be checked."""


@dataclass
class DamagedSectors:
    """Sectors of the acquired media whose chunk fails its checksum: libewf reads them as zeros."""

    first: int
    count: int
    bytes_per_sector: int
    segment: str  # the segment file(s) holding the chunks, comma separated
    reason: str  # why they failed, "; " separated

    @property
    def offset(self) -> int:
        """Where the sectors start in the media (the disk as acquired), in bytes."""
        return self.first * self.bytes_per_sector

    @property
    def length(self) -> int:
        return self.count * self.bytes_per_sector

    def __str__(self) -> str:
        return f"sectors {self.first}-{self.first + self.count - 1} ({self.reason}) in {self.segment}"


@dataclass(frozen=True)
class _Chunk:
    index: int  # the chunk's number in the media
    start: int  # its bytes in the segment file: [start, end)
    end: int
    compressed: bool


@dataclass
class _Table:
    start: int  # of the table section (its descriptor)
    end: int
    entries: array.array  # 4 bytes an entry, as on disk: a table is never larger in memory than in its file
    base: int
    sound: bool  # the entries match the table's own Adler-32
    first_chunk: int = 0  # the media's number of the table's first chunk


@dataclass
class _Segment:
    name: str
    chunks: Iterator[_Chunk]  # in file order, made as the bytes reach them
    current: _Chunk | None = None  # the next chunk whose bytes are awaited


class ChunkCheck:
    """Checks the chunks of one EWF segment set. Segments are opened in order (`open_segment`), each one's
    bytes fed in file order (`feed`), then `damaged()` lists the sectors whose chunk failed."""

    def __init__(self) -> None:
        self.chunk_size = 0
        self.bytes_per_sector = 0
        self.sectors_per_chunk = 0
        self.sector_count = 0
        self.chunks_checked = 0
        self._chunks_listed = 0
        self._bad: list[list] = []  # [first chunk, last chunk, segment, reason], neighbours merged as found
        self._segment: _Segment | None = None
        self._partial = bytearray()  # the start of a chunk that continues in the next block

    # -- layout ---------------------------------------------------------------------------

    def open_segment(self, fd: int, size: int, name: str) -> None:
        """Read the section descriptors and chunk tables of the next segment file (a few small reads)."""
        self.close_segment()
        tables: list[_Table] = []
        for kind, start, end in _sections(fd, size, name):
            if kind in (b"volume", b"disk", b"data") and not self.chunk_size:  # "disk": FTK Imager 2.3's volume
                self._read_volume(fd, start, end, name)
            elif kind in (b"table", b"table2"):
                table = _read_table(fd, start, end, name)
                if kind == b"table2" and tables and tables[-1].end == start:  # the mirror of the table before it
                    if not tables[-1].sound and table.sound:
                        tables[-1].entries, tables[-1].base, tables[-1].sound = table.entries, table.base, True
                else:
                    tables.append(table)
        if tables and not self.chunk_size:
            raise EwfLayoutError(f"{name}: chunk table before any volume section")
        for table in tables:
            table.first_chunk = self._chunks_listed
            self._chunks_listed += len(table.entries)
        self._segment = _Segment(name, self._streamable(tables, size, name))
        self._segment.current = next(self._segment.chunks, None)

    def _read_volume(self, fd: int, start: int, end: int, name: str) -> None:
        body = os.pread(fd, min(end - start - _DESCRIPTOR.size, 1052), start + _DESCRIPTOR.size)
        if len(body) == 94:  # the original EWF specification (SMART): a 32-bit sector count
            sectors_per_chunk, bytes_per_sector, sector_count = struct.unpack_from("<III", body, 8)
        elif len(body) >= 24:
            sectors_per_chunk, bytes_per_sector, sector_count = struct.unpack_from("<IIQ", body, 8)
        else:
            raise EwfLayoutError(f"{name}: volume section too short ({len(body)} bytes)")
        chunk_size = sectors_per_chunk * bytes_per_sector
        if not 0 < chunk_size <= _MAX_CHUNK_BYTES:
            raise EwfLayoutError(f"{name}: volume section gives chunks of {sectors_per_chunk} sectors "
                                 f"of {bytes_per_sector} bytes")
        self.chunk_size, self.sectors_per_chunk = chunk_size, sectors_per_chunk
        self.bytes_per_sector, self.sector_count = bytes_per_sector, sector_count

    @staticmethod
    def _table_chunks(table: _Table) -> Iterator[_Chunk]:
        """The chunks one table lists, sized as libewf sizes them: up to the next entry's offset, the last one
        up to the table section (or to the table's end, when the table holds the chunks, as in EnCase 1)."""
        entries = table.entries
        overflow = False  # EnCase 6.7.1 lets offsets past 2 GiB use the flag bit; libewf reads those as uncompressed
        for number, stored in enumerate(entries):
            offset = stored if overflow else stored & _INT32_MAX
            start = table.base + offset
            if number + 1 < len(entries):
                following = entries[number + 1]
                end = table.base + (following if overflow or following & _INT32_MAX < offset else following & _INT32_MAX)
            elif start < table.start:
                end = table.start
            else:
                end = table.end
            yield _Chunk(table.first_chunk + number, start, end, not overflow and bool(stored >> 31))
            overflow = overflow or end - table.base > _INT32_MAX

    def _streamable(self, tables: list[_Table], file_size: int, name: str) -> Iterator[_Chunk]:
        """The chunks that can be checked as their bytes go by, in file order; the others are damaged as they
        stand (a chunk that starts before the one before it ends, too: sound tables list chunks in order)."""
        largest = 2 * self.chunk_size + 1024  # deflate never grows a chunk near this much
        checked_up_to = 0
        for table in tables:
            for chunk in self._table_chunks(table):
                if chunk.index * self.sectors_per_chunk >= self.sector_count:
                    continue  # an entry past the media: nothing of the disk is read from it
                size = chunk.end - chunk.start
                if size <= (0 if chunk.compressed else 4) or size > largest:
                    self._fault(chunk.index, name, f"chunk table gives it {size} bytes")
                elif chunk.end > file_size:
                    self._fault(chunk.index, name, "chunk lies past the end of the segment file")
                elif chunk.start < checked_up_to:
                    self._fault(chunk.index, name, "chunk overlaps the one before it")
                else:
                    checked_up_to = chunk.end
                    yield chunk

    # -- the bytes ------------------------------------------------------------------------

    def feed(self, offset: int, data: bytes) -> None:
        """The next block of the open segment file (blocks arrive in order, back to back)."""
        segment = self._segment
        if segment is None:
            return
        view = memoryview(data)
        end = offset + len(data)
        while (chunk := segment.current) is not None and chunk.start < end:
            piece = view[max(chunk.start - offset, 0):min(chunk.end, end) - offset]
            if chunk.end > end:  # the rest comes with the next block
                self._partial += piece
                return
            if self._partial:
                self._partial += piece
                self._check(chunk, self._partial, segment.name)
                self._partial = bytearray()
            else:
                self._check(chunk, piece, segment.name)
            segment.current = next(segment.chunks, None)

    def close_segment(self) -> None:
        """Chunks of the segment whose bytes never came (the file ended early) are damaged."""
        segment = self._segment
        if segment is not None:
            while segment.current is not None:
                self._fault(segment.current.index, segment.name, "chunk not found in the segment file")
                segment.current = next(segment.chunks, None)
        self._segment = None
        self._partial = bytearray()

    def _check(self, chunk: _Chunk, stored: bytes | bytearray | memoryview, segment: str) -> None:
        self.chunks_checked += 1
        if not chunk.compressed:
            data, checksum = stored[:-4], int.from_bytes(stored[-4:], "little")
            if zlib.adler32(data) != checksum:
                self._fault(chunk.index, segment, "Adler-32 checksum mismatch")
            return
        inflate = zlib.decompressobj()
        try:
            data = inflate.decompress(stored, self.chunk_size + 1)
        except zlib.error as error:
            self._fault(chunk.index, segment, f"compressed chunk unreadable: {error}")
            return
        if len(data) > self.chunk_size:
            self._fault(chunk.index, segment, "compressed chunk inflates past the chunk size")
        elif not inflate.eof:
            self._fault(chunk.index, segment, "compressed chunk ends early")

    def _fault(self, index: int, segment: str, reason: str) -> None:
        last = self._bad[-1] if self._bad else None
        if last and last[1] + 1 == index and last[2:] == [segment, reason]:
            last[1] = index
        else:
            self._bad.append([index, index, segment, reason])

    # -- the verdict ----------------------------------------------------------------------

    def damaged(self, complete: bool = True) -> list[DamagedSectors]:
        """Sector ranges of the media whose chunks failed, in media order, neighbours merged (as ewfverify does).
        Once every segment has been read (complete), sectors that no chunk table covers are damaged too: libewf
        cannot read them."""
        self.close_segment()
        if not self.sectors_per_chunk:
            return []
        ranges: list[DamagedSectors] = []
        for first_chunk, last_chunk, segment, reason in sorted(self._bad):  # each chunk is judged once
            first = first_chunk * self.sectors_per_chunk
            end = min((last_chunk + 1) * self.sectors_per_chunk, self.sector_count)
            last = ranges[-1] if ranges else None
            if last and last.first + last.count == first:  # one range, as ewfverify names it, whatever the cause
                last.count = end - last.first
                last.segment += "" if segment in last.segment.split(", ") else f", {segment}"
                last.reason += "" if reason in last.reason.split("; ") else f"; {reason}"
            else:
                ranges.append(DamagedSectors(first, end - first, self.bytes_per_sector, segment, reason))
        covered = self._chunks_listed * self.sectors_per_chunk
        if complete and covered < self.sector_count:
            ranges.append(DamagedSectors(covered, self.sector_count - covered, self.bytes_per_sector,
                                         ranges[-1].segment if ranges else "", "no chunk table lists them"))
        return ranges


def _sections(fd: int, size: int, name: str) -> Iterator[tuple[bytes, int, int]]:
    """(type, start, end) of each section of a segment file, following the descriptors to "next" or "done"."""
    signature = os.pread(fd, len(EWF_SIGNATURE), 0)
    if signature.startswith(b"EVF2"):
        raise EwfLayoutError(f"{name}: an EWF2 (Ex01) segment file, whose chunks this version does not check")
    if signature != EWF_SIGNATURE:
        raise EwfLayoutError(f"{name}: not an EWF-E01 segment file")
    offset = _FILE_HEADER
    while True:
        raw = os.pread(fd, _DESCRIPTOR.size, offset)
        if len(raw) < _DESCRIPTOR.size:
            raise EwfLayoutError(f"{name}: the file ends inside the section at byte {offset}")
        kind, following, _, checksum = _DESCRIPTOR.unpack(raw)
        if zlib.adler32(raw[:-4]) != checksum:
            raise EwfLayoutError(f"{name}: the section descriptor at byte {offset} fails its checksum")
        kind = kind.rstrip(b"\0")
        if kind in (b"next", b"done"):
            return
        if not offset + _DESCRIPTOR.size <= following <= size:
            raise EwfLayoutError(f"{name}: the section at byte {offset} points to byte {following}")
        yield kind, offset, following
        offset = following


def _read_table(fd: int, start: int, end: int, name: str) -> _Table:
    """A table (or table2) section: header, entries and, where the format has one, the entries' Adler-32."""
    entries_at = start + _DESCRIPTOR.size + _TABLE_HEADER.size
    header = os.pread(fd, _TABLE_HEADER.size, start + _DESCRIPTOR.size)
    if len(header) < _TABLE_HEADER.size or entries_at > end:
        raise EwfLayoutError(f"{name}: the table at byte {start} is cut short")
    count, _, base, checksum = _TABLE_HEADER.unpack(header)
    if zlib.adler32(header[:-4]) != checksum:
        raise EwfLayoutError(f"{name}: the table header at byte {start} fails its checksum")
    if count > _MAX_TABLE_ENTRIES or entries_at + 4 * count > end:
        raise EwfLayoutError(f"{name}: the table at byte {start} lists {count} chunks, more than it holds")
    raw = os.pread(fd, 4 * count + 4, entries_at)
    entries = array.array("I", raw[:4 * count])
    if sys.byteorder == "big":
        entries.byteswap()  # stored little-endian
    sound = len(raw) == 4 * count + 4 and zlib.adler32(raw[:-4]) == int.from_bytes(raw[-4:], "little")
    return _Table(start, end, entries, base, sound)
