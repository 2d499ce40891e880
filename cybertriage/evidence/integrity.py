"""Hashing the files that hold evidence, read-only, the same way when it is added and when it is verified.

A failing medium does not stop the hash: a block that cannot be read is read again sector by
sector, the sectors that still fail are hashed as zeros (as ddrescue and ewfacquire fill them) and
their byte ranges are returned, so the case can say exactly what could not be read. The segments of
an E01 image have each chunk checked against its stored checksum as they are hashed (ewf_chunks).
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import Cancelled, EvidenceError
from .ewf_chunks import ChunkCheck, DamagedSectors, EwfLayoutError

BLOCK = 4 * 1024 * 1024
SECTOR = 512
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)
_NOATIME = getattr(os, "O_NOATIME", 0)


@dataclass
class UnreadableRange:
    """Bytes of one container file that could not be read (offsets within that file)."""

    file: str
    offset: int
    length: int
    error: str

    def __str__(self) -> str:
        return f"{self.file}: bytes {self.offset}-{self.offset + self.length - 1} unreadable ({self.error})"


@dataclass
class ContainerHash:
    """sha256 of the container files concatenated (as `cat FILES | sha256sum`), and what could not be read."""

    sha256: str
    size: int
    unreadable: list[UnreadableRange] = field(default_factory=list)
    damaged: list[DamagedSectors] = field(default_factory=list)  # E01 chunks whose checksum fails
    chunks_unchecked: str | None = None  # why an E01's chunks could not be checked

    def damage_note(self) -> str | None:
        """One line on the E01 damage, when there is any."""
        notes = []
        if self.damaged:
            sectors = sum(bad.count for bad in self.damaged)
            named = "; ".join(str(bad) for bad in self.damaged[:3])
            more = f"; and {len(self.damaged) - 3} more" if len(self.damaged) > 3 else ""
            notes.append(f"{sectors} sectors of the EWF media in {len(self.damaged)} range(s) fail their chunk "
                         f"checksum (libewf reads them as zeros): {named}{more}")
        if self.chunks_unchecked:
            notes.append(f"EWF chunk checksums not checked{' further' if self.damaged else ''}: {self.chunks_unchecked}")
        return "; ".join(notes) or None


def open_without_atime(path: str | bytes | Path, flags: int, dir_fd: int | None = None) -> int:
    """os.open(path, flags), asking the OS not to update the access time where it can: O_NOATIME is refused
    on a file the examiner does not own (unless root), and the open is then tried again without it."""
    try:
        return os.open(path, flags | _NOATIME, dir_fd=dir_fd)
    except PermissionError:
        if not _NOATIME:
            raise
        return os.open(path, flags, dir_fd=dir_fd)


def open_read_only(path: Path) -> int:
    """A read-only descriptor that, where the OS allows, does not even update the access time."""
    return open_without_atime(path, _READ_FLAGS)


def file_sha256(path: Path) -> str:
    """sha256 of a whole file on the workstation (an imported list, a written report, an exported copy)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def hash_files(files: list[Path], cancel: threading.Event | None = None,
               progress: Callable[[int], None] | None = None, ewf: bool = False) -> ContainerHash:
    """Hash the files in order; raise EvidenceError if one cannot be opened, Cancelled if asked to stop.
    With ewf=True the files are the segments of an E01 image, and every chunk is checked as it goes by."""
    digest = hashlib.sha256()
    unreadable: list[UnreadableRange] = []
    total = 0
    chunks: ChunkCheck | None = ChunkCheck() if ewf else None
    damaged: list[DamagedSectors] = []
    unchecked = None
    for path in files:
        try:
            fd = open_read_only(path)
        except OSError as error:
            raise EvidenceError(f"cannot open {path.name} to hash it: {error.strerror}") from None
        try:
            size = os.fstat(fd).st_size
            if chunks is not None:
                try:
                    chunks.open_segment(fd, size, str(path))
                except (EwfLayoutError, OSError) as error:  # the hash goes on; the chunks from here go unchecked
                    damaged, chunks, unchecked = chunks.damaged(complete=False), None, str(error)
            offset = 0
            while offset < size:
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
                length = min(BLOCK, size - offset)
                data = _read_block(fd, offset, length, path, unreadable)
                digest.update(data)
                if chunks is not None:
                    chunks.feed(offset, data)
                offset += len(data)
                total += len(data)
                if progress is not None:
                    progress(len(data))
        finally:
            os.close(fd)
    if chunks is not None:
        damaged = chunks.damaged()
    return ContainerHash(digest.hexdigest(), total, _merged(unreadable), damaged, unchecked)


def _read_block(fd: int, offset: int, length: int, path: Path, unreadable: list[UnreadableRange]) -> bytes:
    try:
        data = os.pread(fd, length, offset)
    except OSError:
        return _read_sectors(fd, offset, length, path, unreadable)
    if not data:
        raise EvidenceError(f"{path.name} ends early at byte {offset}")
    return data


def _read_sectors(fd: int, offset: int, length: int, path: Path, unreadable: list[UnreadableRange]) -> bytes:
    """Read a block that failed one sector at a time; zeros stand for the sectors that still fail."""
    parts = []
    end = offset + length
    while offset < end:
        size = min(SECTOR - offset % SECTOR, end - offset)  # whole sectors, even after a short read
        try:
            data = os.pread(fd, size, offset)
        except OSError as error:
            unreadable.append(UnreadableRange(str(path), offset, size, error.strerror or errno.errorcode.get(error.errno or 0, "")))
            data = b"\0" * size
        if not data:
            break
        parts.append(data)
        offset += len(data)
    return b"".join(parts)


def _merged(ranges: list[UnreadableRange]) -> list[UnreadableRange]:
    merged: list[UnreadableRange] = []
    for r in ranges:
        last = merged[-1] if merged else None
        if last and last.file == r.file and last.offset + last.length == r.offset and last.error == r.error:
            last.length += r.length
        else:
            merged.append(UnreadableRange(r.file, r.offset, r.length, r.error))
    return merged
