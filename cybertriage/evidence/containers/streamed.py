"""Archives read in one pass by libarchive: tar (plain, or compressed by gzip, bzip2, xz, zstd…), 7z, rar, cab, cpio,
ISO 9660 images, and a single file compressed by gzip, bzip2, xz or zstd (one member, named as the file without its
suffix).

Most of these are streams: a tar.gz cannot be read at random, and a member of a solid 7z is only reached by
inflating those before it. A scan therefore reads the members in order, once, each handed out as it comes (kept
in memory when small, in a private temporary file otherwise), and checks the limits as the bytes come out rather
than from a listing read first; reading one member back reads the stream again, up to it."""

from __future__ import annotations

import collections
import contextlib
import ctypes
import os
import posixpath
import tempfile
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import IO, Any

from ..base import CHUNK_SIZE, BytesContent, Content, EvidenceObject, ObjectRef, iso_utc
from ..digests import DigestsBehind
from .base import BOMB_MEMBER_MIN, Container, ContainerError, ContainerLimits, Member

# Where each format's signature lies, and what the examiner calls it.
SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (257, b"ustar", "tar"), (0, b"\x1f\x8b", "gzip"), (0, b"BZh", "bzip2"), (0, b"\xfd7zXZ\x00", "xz"),
    (0, b"\x28\xb5\x2f\xfd", "zstd"), (0, b"7z\xbc\xaf\x27\x1c", "7z"), (0, b"Rar!\x1a\x07", "rar"),
    (0, b"MSCF\x00\x00\x00\x00", "cab"), (0, b"070701", "cpio"), (0, b"070702", "cpio"), (0, b"070707", "cpio"),
    (0x8001, b"CD001", "iso"),
)
SIGNATURE_SPAN = 0x8001 + 5  # the head that holds every signature
COMPRESSORS = {"gzip": (".gz", ".tgz"), "bzip2": (".bz2", ".tbz2", ".tbz"), "xz": (".xz", ".txz"),
               "zstd": (".zst", ".tzst")}
# A single compressed file's member is named as gunzip, bunzip2, unxz and unzstd name what they write.
OWN_NAME_SUFFIXES = {".tgz": ".tar", ".tbz2": ".tar", ".tbz": ".tar", ".txz": ".tar", ".tzst": ".tar"}
_FORMATS = ("tar", "cpio", "7zip", "rar", "rar5", "cab", "iso9660", "raw")
_FILTERS = ("gzip", "bzip2", "xz", "lzma", "zstd", "lzip", "lz4", "compress")
BLOCK = 1024 * 1024  # read from the content, and inflated, a block at a time
# Members inflated ahead of the one being examined, on a thread of their own: at most this many, holding at most
# this many bytes in memory and this many in private files (/tmp may be memory too: about one large member waiting
# while the next is inflated); a larger member is still read ahead alone. Room for thousands of small members: while
# a large member is inflated alone (one core, LZMA), the examining side works through those read before it. With 64
# members ahead it waited, and the 7z benchmark took 9.0–9.2 s instead of 8.2–8.3 s; with 1,024, and a large
# member's file counted as memory (so that it waited for every member before it to be examined before the next could
# be inflated), the examining side still waited 2 s for the five large members.
AHEAD_MEMBERS = 4096
AHEAD_BYTES = 64 * 1024 * 1024
AHEAD_SPOOLED = 256 * 1024 * 1024

try:  # libarchive-c loads the shared library as it is imported: a machine (or a frozen build) may lack it
    import libarchive
    from libarchive import ffi
    from libarchive.read import ArchiveRead

    ffi.ffi("entry_is_encrypted", [ffi.c_archive_entry_p], ctypes.c_int)
    MISSING: str | None = None
except (ImportError, OSError, AttributeError) as error:
    MISSING = f"not opened: libarchive cannot be loaded ({error})"


def signature(head: bytes) -> str | None:
    """The archive format whose signature the first bytes bear (SIGNATURE_SPAN of them reach every one)."""
    return next((kind for offset, magic, kind in SIGNATURES if head[offset : offset + len(magic)] == magic), None)


@dataclass(frozen=True)
class Stop:
    """Why a pass ended before the archive's last member: a limit (members, total, ratio, time) or damage."""

    limit: str
    reason: str
    member: str = ""  # the member being read when it stopped
    inflated: int = 0  # bytes inflated by then
    packed: int = 0  # archive bytes read by then


class _Stopped(Exception):
    def __init__(self, stop: Stop) -> None:
        super().__init__(stop.reason)
        self.stop = stop


class _Halted(Exception):
    """The reader of the members stopped reading them (the scan was cancelled, or an analyzer failed)."""


class _Ahead:
    """Members handed from the thread that inflates them to the one that examines them, a few at a time: libarchive
    inflates in C without Python's lock, so inflating the next members overlaps the examination of this one. Each
    side wakes the other only when it waits: the examining side when a member comes, the inflating side once half
    the room is free again (a wake-up per member costs the examining thread more than the member's handing over)."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._queue: collections.deque[EvidenceObject] = collections.deque()
        self._held = self._spooled = 0  # bytes of the members waiting, in memory and in private files
        self._ended = False
        self._error: BaseException | None = None
        self._reader_waits = self._inflater_waits = False
        self.halted = threading.Event()

    def put(self, found: EvidenceObject) -> None:
        """Hand one member on, once there is room (_Halted when the reader stopped reading)."""
        held, spooled = _sizes(found)
        with self._ready:
            while (self._queue and (len(self._queue) >= AHEAD_MEMBERS or self._held + held > AHEAD_BYTES
                                    or self._spooled + spooled > AHEAD_SPOOLED)
                   and not self.halted.is_set()):
                self._inflater_waits = True
                self._ready.wait()
                self._inflater_waits = False
            if self.halted.is_set():
                raise _Halted()
            self._queue.append(found)
            self._held += held
            self._spooled += spooled
            if self._reader_waits:
                self._ready.notify()

    def end(self, error: BaseException | None = None) -> None:
        """No more members; `error` (a bug in the reading) is raised to the reader after the last one."""
        with self._ready:
            self._ended, self._error = True, error
            self._ready.notify_all()

    def halt(self) -> None:
        self.halted.set()
        with self._ready:
            self._ready.notify_all()

    def members(self) -> Iterator[EvidenceObject]:
        while True:
            with self._ready:
                while not self._queue and not self._ended:
                    self._reader_waits = True
                    self._ready.wait()
                    self._reader_waits = False
                if not self._queue:
                    if self._error is not None:
                        raise self._error
                    return
                found = self._queue.popleft()
                held, spooled = _sizes(found)
                self._held -= held
                self._spooled -= spooled
                if self._inflater_waits and (len(self._queue) <= AHEAD_MEMBERS // 2 and self._held <= AHEAD_BYTES // 2
                                             and self._spooled <= AHEAD_SPOOLED // 2):
                    self._ready.notify()
            yield found


def _sizes(found: EvidenceObject) -> tuple[int, int]:
    """The member's bytes held in memory, and in a private file."""
    if found.content is None:
        return 0, 0
    return (0, found.content.size) if isinstance(found.content, _FileContent) else (found.content.size, 0)


class _Feed:
    """The content handed to libarchive a block at a time, counting what it takes: the packed bytes behind what
    comes out. libarchive calls these from C: an error is kept and told as the end of the data."""

    def __init__(self, content: Content) -> None:
        self.content = content
        self.position = 0
        self.taken = 0
        self.error: str | None = None
        self._buffer = ctypes.create_string_buffer(BLOCK)
        self._address = ctypes.addressof(self._buffer)

    def read(self, _archive: int, _context: int, where: Any) -> int:
        try:
            data = self.content.read_at(self.position, min(BLOCK, self.content.size - self.position))
        except OSError as error:
            self.error = str(error)
            return -1
        ctypes.memmove(self._buffer, data, len(data))
        ctypes.cast(where, ctypes.POINTER(ctypes.c_void_p))[0] = self._address
        self.position += len(data)
        self.taken += len(data)
        return len(data)

    def seek(self, _archive: int, _context: int, offset: int, whence: int) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.position, os.SEEK_END: self.content.size}[whence]
        self.position = min(max(0, base + offset), self.content.size)
        return self.position


@contextlib.contextmanager
def _reading(feed: _Feed) -> Iterator[ArchiveRead]:
    """libarchive reading the feed, with the formats and filters read here and no others (none that would run an
    outside program)."""
    pointer = ffi.read_new()
    callbacks = (ffi.OPEN_CALLBACK(lambda *_: 0), ffi.READ_CALLBACK(feed.read), ffi.CLOSE_CALLBACK(lambda *_: 0),
                 ffi.SEEK_CALLBACK(feed.seek))
    try:
        for name in _FILTERS:
            ffi.get_read_filter_function(name)(pointer)
        for name in _FORMATS:
            ffi.get_read_format_function(name)(pointer)
        ffi.read_set_seek_callback(pointer, callbacks[3])
        ffi.read_open(pointer, None, callbacks[0], callbacks[1], callbacks[2])
        yield ArchiveRead(pointer, header_codec="utf-8")
    finally:
        ffi.read_free(pointer)


class _FileContent(Content):
    """A member too large to hold in memory, in a private temporary file (unlinked when made) until released."""

    def __init__(self, spool: IO[bytes], size: int, digests: tuple[str, str, str] | None = None) -> None:
        self._spool = spool
        self.digests = digests
        self.size = size

    def read_at(self, offset: int, length: int) -> bytes:
        return os.pread(self._spool.fileno(), length, offset)

    def close(self) -> None:
        self._spool.close()


class StreamedArchive(Container):
    """An archive libarchive reads: opening reads its first header (ContainerError if there is none, and when
    the headers themselves are encrypted); `objects` then reads every member in one pass, filling `members` and,
    when the pass ends early, `stopped`."""

    FORMAT = "archive"

    def __init__(self, content: Content, ref: ObjectRef, limits: ContainerLimits) -> None:
        super().__init__(content, ref, limits)
        self.stopped: Stop | None = None
        self.reading = ""  # the member the pass is at
        self._buffer = ctypes.create_string_buffer(CHUNK_SIZE)
        self._ends = time.monotonic() + limits.time_limit  # when the pass (or a read back) runs out of time
        head = content.read_at(0, min(content.size, SIGNATURE_SPAN))
        kind = signature(head)
        if kind is None:
            raise ContainerError("not an archive of a format read here")
        if MISSING is not None:
            raise ContainerError(f"{kind} {MISSING}")
        self.kind = kind  # as the examiner names it: "tar", "gzip", "7z"…
        self.single = False  # a single compressed file rather than an archive of members
        feed = _Feed(content)
        try:
            with _reading(feed) as archive:
                entry = next(iter(archive), None)
                if entry is not None and ffi.format_name(archive._pointer) == b"raw":
                    self.single = bool(archive.filter_names)
                    if not self.single:
                        raise ContainerError(f"not a {kind} archive")
                elif entry is not None and kind in COMPRESSORS:  # a compressed tar or cpio: "tar.gz"
                    packed = "tar" if b"tar" in ffi.format_name(archive._pointer).lower() else "cpio"
                    self.kind = f"{packed}{COMPRESSORS[kind][0]}"
        except libarchive.ArchiveError as error:
            raise ContainerError(_unreadable(kind, error, feed)) from None

    @classmethod
    def probe(cls, content: Content) -> bool:
        try:
            return signature(content.read_at(0, min(content.size, SIGNATURE_SPAN))) is not None
        except OSError:
            return False

    def objects(self, holder: EvidenceObject) -> Iterator[EvidenceObject]:
        """Every member as an object, as the pass reaches it; damage, a limit or the time stops the pass. The pass
        runs on a thread of its own, a few members ahead of the one the caller examines; `stopped` is set when the
        last member has been handed out."""
        self.members, self.listed, self.stopped, self.reading = [], 0, None, ""
        ahead = _Ahead()
        reader = threading.Thread(target=self._read_ahead, args=(holder, ahead), name="archive-read-ahead", daemon=True)
        reader.start()
        try:
            yield from ahead.members()
        finally:
            ahead.halt()
            reader.join()

    def _read_ahead(self, holder: EvidenceObject, ahead: _Ahead) -> None:
        feed = _Feed(self.content)
        error: BaseException | None = None
        try:
            with _reading(feed) as archive:
                for found in self._pass(archive, feed, holder, ahead.halted):
                    ahead.put(found)
        except _Halted:
            pass
        except _Stopped as stopped:
            self.stopped = stopped.stop
        except (libarchive.ArchiveError, OSError) as damage:
            reached = f" (at {self.reading})" if self.reading else ""
            self.stopped = Stop("damaged", _unreadable(self.kind, damage, feed) + reached, self.reading)
        except BaseException as bug:  # raised again on the examining thread, which reports it
            error = bug
        finally:
            ahead.end(error)

    def _pass(self, archive: ArchiveRead, feed: _Feed, holder: EvidenceObject,
              halted: threading.Event) -> Iterator[EvidenceObject]:
        limits = self.limits
        self._ends = time.monotonic() + limits.time_limit
        inflated = 0
        for index, entry in enumerate(archive):
            if index >= limits.max_members:
                raise _Stopped(Stop("members", f"more than {limits.max_members} members; the rest not examined"))
            if time.monotonic() > self._ends:
                raise _Stopped(Stop("time", "timed out", entry.pathname or ""))
            name = self.reading = self._name(entry)
            if name.strip("/") in ("", "."):  # the archive's own root (an ISO's, `tar -C dir .`'s)
                continue
            before = feed.taken
            member = Member(index, name, entry.size or 0, 0, directory=entry.isdir,
                            encrypted=ffi.entry_is_encrypted(entry._entry_p) > 0)
            if member.size and inflated + member.size > limits.total_limit:
                raise _Stopped(Stop("total", "archive expands past the total size limit", name, inflated + member.size,
                                    feed.taken))
            found = self._found(member, holder)
            found.mtime, found.atime, found.ctime, found.crtime = (_stamp(entry, which) for which in _TIMES)
            if entry.issym or entry.islnk:
                found.kind, found.size = "link", 0
            elif not member.directory:
                found.unreadable = self.refusal(member)
                if found.unreadable is None:
                    content = self._take(entry, name, feed, inflated, halted)
                    inflated += content.size
                    member = Member(index, name, content.size, feed.taken - before)
                    if entry.size is not None and content.size != entry.size:  # a volume of a set, or cut short
                        found.unreadable = f"incomplete member: {content.size} of its {entry.size} bytes in the {self.kind}"
                    else:
                        found.content, found.size = content, content.size
            self.members.append(member)
            self.listed += 1
            yield found

    def refusal(self, member: Member) -> str | None:
        """Why the member is not read, from its header (its ratio is only known as it is read: `_take`)."""
        if member.encrypted:
            return "encrypted: not examined"
        if member.size > self.limits.member_limit:
            return "member larger than the extraction limit"
        return None

    def _name(self, entry: Any) -> str:
        if not self.single:
            return entry.pathname or f"(member {len(self.members) + 1})"
        own = posixpath.basename(self.ref.path.replace("\\", "/"))
        stem, suffix = posixpath.splitext(own)
        if suffix.lower() in OWN_NAME_SUFFIXES:
            return stem + OWN_NAME_SUFFIXES[suffix.lower()]
        if stem and suffix.lower() in COMPRESSORS.get(self.kind, ()):
            return stem
        return entry.pathname or "data"

    def _take(self, entry: Any, name: str, feed: _Feed, inflated: int, halted: threading.Event | None = None) -> Content:
        """The member's bytes as they come out of the stream, within the member, total and ratio limits; _Halted when
        the members' reader stops reading them. A member too large to hold is written to a private file and hashed
        as it is inflated, on a thread of its own, when the pass reads it (`halted` given): the thread that examines
        it then has its digests, rather than hashing it while the next members wait to be inflated."""
        limits = self.limits
        held: list[bytes] = []  # joined once at the end: a member of one block is not copied again
        spool: IO[bytes] | None = None
        digests: DigestsBehind | None = None
        size = 0
        try:
            for block in self._blocks(entry):
                size += len(block)
                inflated += len(block)
                if inflated > limits.total_limit:
                    raise _Stopped(Stop("total", "archive expands past the total size limit", name, inflated,
                                        feed.taken))
                if inflated > BOMB_MEMBER_MIN and inflated / max(1, feed.taken) > limits.ratio_limit:
                    raise _Stopped(Stop("ratio", "compression ratio past the zip-bomb limit", name, inflated,
                                        feed.taken))
                if size > limits.member_limit:
                    raise _Stopped(Stop("member", "member larger than the extraction limit", name, inflated, feed.taken))
                if time.monotonic() > self._ends:
                    raise _Stopped(Stop("time", "timed out", name, inflated, feed.taken))
                if halted is not None and halted.is_set():
                    raise _Halted()
                if spool is None and size > limits.in_memory_limit:
                    spool = tempfile.TemporaryFile(prefix="cybertriage-member-")
                    spool.writelines(held)
                    if halted is not None:
                        digests = DigestsBehind(size)
                        for earlier in held:
                            digests.feed(earlier)
                    held = []
                if spool is not None:
                    spool.write(block)
                    if digests is not None:
                        digests.feed(block)
                else:
                    held.append(block)
        except BaseException:
            if spool is not None:
                spool.close()
            if digests is not None:
                digests.abandon()
            raise
        if spool is None:
            return BytesContent(b"".join(held))
        spool.flush()
        return _FileContent(spool, size, digests.hexdigests() if digests is not None else None)

    def _blocks(self, entry: Any) -> Iterator[bytes]:
        """The entry's bytes as libarchive inflates them (libarchive-c's get_blocks copies its whole buffer each time:
        a megabyte for every small member)."""
        while (count := ffi.read_data(entry._archive_p, self._buffer, CHUNK_SIZE)) > 0:
            yield ctypes.string_at(self._buffer, count)

    def _open_member(self, member: Member) -> Content:
        return self.open(ObjectRef(member.name, parent=self.ref))

    def open(self, ref: ObjectRef) -> Content:
        """The member named by the ref, read again from the start of the stream up to it (the first so named)."""
        with contextlib.closing(self.open_each([ref])) as found:
            _, content = next(found)
        if isinstance(content, ContainerError):
            raise content
        return content

    def open_each(self, refs: list[ObjectRef]) -> Generator[tuple[ObjectRef, Content | ContainerError], None, None]:
        """The members the refs name (the first so named each), read in one pass from the start of the stream and
        given in its order, each with its content or why it cannot be read; those not found come last. Reading many
        members back (an export) then costs one pass over a tar.gz or a solid 7z, not one pass each."""
        wanted = {ref.path: ref for ref in refs}
        feed = _Feed(self.content)
        self._ends = time.monotonic() + self.limits.time_limit
        failure: ContainerError | None = None
        try:
            with _reading(feed) as archive:
                for index, entry in enumerate(archive):
                    if not wanted or index >= self.limits.max_members:
                        break
                    name = self._name(entry)
                    ref = wanted.get(name)
                    if ref is None or entry.isdir or entry.issym or entry.islnk:
                        continue
                    content = self._read_back(entry, name, index, feed)  # _Stopped: this member and the rest
                    del wanted[name]
                    yield ref, content
        except _Stopped as stopped:
            failure = ContainerError(stopped.stop.reason)
        except libarchive.ArchiveError as error:
            failure = ContainerError(_unreadable(self.kind, error, feed))
        for ref in wanted.values():
            yield ref, failure or ContainerError(f"no member {ref.path!r} in the {self.kind}")

    def _read_back(self, entry: Any, name: str, index: int, feed: _Feed) -> Content | ContainerError:
        member = Member(index, name, entry.size or 0, 0, encrypted=ffi.entry_is_encrypted(entry._entry_p) > 0)
        refusal = self.refusal(member)
        if refusal is not None:
            return ContainerError(refusal)
        content = self._take(entry, name, feed, 0)
        if entry.size is not None and content.size != entry.size:
            return ContainerError(f"incomplete member: {content.size} of its {entry.size} bytes")
        return content


_TIMES = ("mtime", "atime", "ctime", "birthtime")  # as libarchive names them; the object's crtime is the last


def _stamp(entry: Any, which: str) -> str | None:
    """One of the member's times, as the archive records it (tar: mtime, and atime/ctime in pax headers)."""
    if not getattr(ffi, f"entry_{which}_is_set")(entry._entry_p):
        return None
    return iso_utc(getattr(ffi, f"entry_{which}")(entry._entry_p), getattr(ffi, f"entry_{which}_nsec")(entry._entry_p))


def _unreadable(kind: str, error: Exception, feed: _Feed) -> str:
    """What the examiner is told of an archive libarchive could not read (to its end)."""
    message = feed.error or getattr(error, "msg", None) or "its headers are unreadable or it ends early"
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    if "encrypt" in message.lower() or "passphrase" in message.lower():
        return "encrypted: not examined"
    if kind == "rar":
        return f"rar not read: libarchive cannot read it ({message}) and no other rar reader is used"
    return f"damaged {kind}: {message}"
