"""Reading any object of a case back from its evidence: for the content viewer and for exporting files.

An object is reopened by its ref (evidence/base.py's ObjectRef), rebuilt from the files table: the evidence
source opens what it lists (a disk's file by its partition and inode, a loose file by its path inside the
evidence folder), a container what it holds (an archive member through its archive, itself an object of the
case), and an object carried over the network comes from the case's own object store
(`objects/<sha256[:2]>/<sha256>`), where the scan put its bytes: a capture holds them only as packets.
Evidence is opened read-only, as in a scan.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import stat
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Generator
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import EvidenceError, UsageError
from ..evidence import EvidenceSource, open_evidence
from ..evidence.base import Content, ObjectRef
from ..evidence.carving import is_carved
from ..evidence.containers import ContainerLimits, StreamedArchive, open_container
from .store import read_case

OBJECTS_DIR = "objects"
OPEN_EVIDENCE = 4  # evidence items kept open between reads
OPEN_OBJECTS = 8  # objects kept open between reads (an archive member keeps its inflater)


def object_path(case_dir: Path, sha256: str) -> Path:
    """Where the case keeps the bytes of an object carried over the network, by their sha256."""
    return case_dir / OBJECTS_DIR / sha256[:2] / sha256


class ObjectBatch:
    """Objects stored in the case in batches: each one's bytes go to a temporary file at once, and `name_all`
    syncs all of them to disk together and only then gives each its name, so that a name always holds whole
    bytes. One sync per batch instead of one per object: a capture of 24,000 small bodies spent 30 s of the
    storing thread's time in fsync.

    The bytes are hashed again as they are written (a file moved in by `add_file`: as it is given), so that what
    is stored is what the case says it is. The store and its subfolders must be the case's own folders: a
    symbolic link planted at `objects/` (or below) is refused (OSError), never written through, and each
    temporary file has an unpredictable name created with O_EXCL."""

    def __init__(self, case_dir: Path) -> None:
        self.case_dir = case_dir
        self.waiting: list[tuple[Path, Path]] = []  # (temporary file, its name in the store), written, not synced
        self.folders: set[Path] = set()  # checked to be the case's own

    def add(self, sha256: str, content: Content) -> None:
        """Write the bytes to a temporary file beside their place in the store (nothing when they are there)."""
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        target = self._target(sha256)
        if os.path.lexists(target):
            return
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{sha256}.", suffix=".part")
        temporary = Path(name)
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in content.chunks():
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != sha256:
                raise OSError(f"carried object's bytes hash to {digest.hexdigest()}, not {sha256}")
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        self.waiting.append((temporary, target))

    def add_file(self, path: Path) -> str:
        """Move a file the case already holds (a carved file in the case's work folder) into the store, by renaming
        it at `name_all` rather than copying its bytes; its sha256, hashed here. When the store holds those bytes
        already, the file is removed now. The file must be a regular file, not a link, and must not change once
        given (its folder is private); one on another filesystem than the store's is copied."""
        with open(path, "rb", opener=_without_links) as handle:
            found = os.fstat(handle.fileno())
            if not stat.S_ISREG(found.st_mode):
                raise OSError(f"{path} is not a regular file: not stored")
            sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
            target = self._target(sha256)
            renamed = not os.path.lexists(target) and found.st_dev == os.stat(target.parent).st_dev
            if not renamed:
                self.add(sha256, _OpenFile(handle, found.st_size))  # nothing written when the bytes are there
        if renamed:
            self.waiting.append((path, target))
        else:
            path.unlink()
        return sha256

    def _target(self, sha256: str) -> Path:
        """Where the store keeps these bytes, its two folders checked (once per batch) to be the case's own."""
        target = object_path(self.case_dir, sha256)
        if target.parent not in self.folders:
            _own_folder(target.parent.parent)
            _own_folder(target.parent)
            self.folders.add(target.parent)
        return target

    def name_all(self) -> dict[str, str]:
        """Sync the waiting files to disk, then give each its name, read-only. The sha256 of each object that
        could not be stored, with why."""
        waiting, self.waiting = self.waiting, []
        failed: dict[str, str] = {}
        named = waiting
        try:
            _sync([temporary for temporary, _ in waiting])
        except OSError as error:
            failed = {target.name: str(error) for _, target in waiting}
            named = []
        for temporary, target in named:
            try:
                os.chmod(temporary, 0o444)
                os.replace(temporary, target)
            except OSError as error:
                if not os.path.lexists(target):
                    failed[target.name] = str(error)
                # else another thread stored the same bytes first (Windows refuses to replace a read-only file)
        for temporary, _ in waiting:
            temporary.unlink(missing_ok=True)
        return failed


def _sync(files: list[Path]) -> None:
    """Put these files' bytes on disk: with one sync of every filesystem where there is one (POSIX), which costs
    about what a single fsync does, else file by file."""
    if hasattr(os, "sync") and len(files) > 1:
        os.sync()
        return
    for path in files:
        fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))  # Windows syncs only what may be written
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _without_links(path: str, flags: int) -> int:
    """os.open refusing a symbolic link (where the system can tell)."""
    return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0))


def _own_folder(folder: Path) -> None:
    """Make `folder` if needed; OSError unless it is a real folder, not a link to one elsewhere."""
    try:
        folder.mkdir(exist_ok=True)
    except FileExistsError:
        pass
    if folder.is_symlink() or not folder.is_dir():
        raise OSError(f"{folder} is not the case's own folder (a symbolic link or a file): nothing is written there")


class _OpenFile(Content):
    """The bytes of a file already open, read in order (a file moved into the store from another filesystem)."""

    def __init__(self, handle: BinaryIO, size: int) -> None:
        self._handle = handle
        self.size = size

    def read_at(self, offset: int, length: int) -> bytes:
        return os.pread(self._handle.fileno(), length, offset)


class _StoredContent(Content):
    """An object's bytes in the case's object store."""

    _fd = -1

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        self.size = os.fstat(self._fd).st_size

    def read_at(self, offset: int, length: int) -> bytes:
        return os.pread(self._fd, length, offset)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.close()


class ObjectReader:
    """Reads objects of one case, keeping a few evidence items and objects open between reads so
    that paging through a file costs one read per page. Safe to share between threads (reads are
    serialised: Sleuth Kit and libewf handles are not meant for concurrent use)."""

    def __init__(self, case_dir: Path, limits: ContainerLimits | None = None) -> None:
        self.case_dir = case_dir
        self.limits = limits or ContainerLimits()
        self._conn = read_case(case_dir, check_same_thread=False).conn  # also a case on read-only files
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._evidence: OrderedDict[int, EvidenceSource] = OrderedDict()
        self._objects: OrderedDict[int, tuple[int, Content]] = OrderedDict()  # file id → (evidence id, content)

    def row(self, file_id: int) -> dict[str, Any]:
        """The object's row in the case, with its evidence's path and kind."""
        with self._lock:
            row = self._conn.execute(
                "SELECT f.*, e.path AS evidence, e.kind AS evidence_kind FROM files f "
                "JOIN evidence e ON e.id = f.evidence_id WHERE f.id = ?", [file_id]).fetchone()
        if row is None:
            raise UsageError(f"no file with id {file_id} in this case")
        return dict(row)

    def read(self, file_id: int, offset: int, length: int) -> bytes:
        """Up to `length` bytes at `offset` (fewer at the end, none past it); EvidenceError if unreadable."""
        if offset < 0 or length < 0:
            raise UsageError("offset and length cannot be negative")
        with self._lock:
            content = self.content(file_id)
            length = min(length, max(0, content.size - offset))
            parts = []
            while length > 0:  # Sleuth Kit and zipfile may return less than asked: ask for the rest
                try:
                    data = content.read_at(offset, length)
                except OSError as error:
                    raise EvidenceError(f"bytes {offset}–{offset + length} unreadable: {error}") from None
                if not data:
                    raise EvidenceError(f"content ends at byte {offset} of {content.size}")
                parts.append(data)
                offset += len(data)
                length -= len(data)
            return b"".join(parts)

    def content(self, file_id: int) -> Content:
        """The object's content, opened read-only (kept open for the next read)."""
        with self._lock:
            cached = self._objects.get(file_id)
            if cached is not None:
                self._objects.move_to_end(file_id)
                return cached[1]
            row = self.row(file_id)
            content = self._open(row)
            self._objects[file_id] = (row["evidence_id"], content)
            while len(self._objects) > OPEN_OBJECTS:
                self._objects.popitem(last=False)  # closed when nothing refers to it (an archive member's archive)
            return content

    def contents(self, file_ids: list[int]) -> Generator[tuple[int, Content | EvidenceError], None, None]:
        """Each object's content, or why it cannot be read, for reading each once from start to end (an export).
        The members of one archive read as a stream (tar.gz, 7z…) come from one pass over it, in its order, after
        the other objects: not one pass each. Use each content before asking for the next."""
        members: dict[int, list[int]] = {}  # archive's file id → its members asked for
        for file_id in file_ids:
            parent_id = self.row(file_id)["parent_id"]
            if parent_id is not None:
                members.setdefault(parent_id, []).append(file_id)
            else:
                yield file_id, self._content_or_why(file_id)
        for parent_id, ids in members.items():
            archive = self._streamed(parent_id) if len(ids) > 1 else None
            if archive is None:
                for file_id in ids:
                    yield file_id, self._content_or_why(file_id)
                continue
            by_path: dict[str, list[int]] = {}  # two members may share a name: both are read as its first
            refs = []
            for file_id in ids:
                ref = self.ref(file_id)
                by_path.setdefault(ref.path, []).append(file_id)
                refs.append(ref)
            with contextlib.closing(archive.open_each(refs)) as found:
                for ref, content in found:
                    if isinstance(content, OSError):
                        for file_id in by_path[ref.path]:
                            yield file_id, EvidenceError(f"{self.row(file_id)['path']}: {content}")
                        continue
                    try:
                        for file_id in by_path[ref.path]:
                            yield file_id, content
                    finally:
                        _close(content)  # read once, not kept

    def _content_or_why(self, file_id: int) -> Content | EvidenceError:
        try:
            return self.content(file_id)
        except EvidenceError as error:
            return error

    def _streamed(self, file_id: int) -> StreamedArchive | None:
        """The object opened as an archive read as a stream, or None (another container, or not one at all)."""
        try:
            opened = open_container(self.content(file_id), self.ref(file_id), self.limits)
        except (EvidenceError, OSError):
            return None  # its members are then opened one by one, and each says why it cannot be
        if isinstance(opened, StreamedArchive):
            return opened
        opened.close()
        return None

    def ref(self, file_id: int) -> ObjectRef:
        """The object's ref, rebuilt from its row and those of the objects it lies in."""
        row = self.row(file_id)
        if row["parent_id"] is None:
            return ObjectRef(row["path"], partition_offset=row["partition_offset"], inode=row["inode"])
        parent = self.ref(row["parent_id"])
        return ObjectRef(row["path"].removeprefix(parent.display() + "!"), parent=parent)

    def _open(self, row: dict[str, Any]) -> Content:
        what = row["path"]
        if row["kind"] not in ("file", "virtual"):
            raise EvidenceError(f"{what} is a {row['kind']}: it has no content of its own")
        ref = self.ref(row["id"])
        if ref.parent is not None:  # in a container, itself an object of the case
            try:
                return open_container(self.content(row["parent_id"]), ref.parent, self.limits).open(ref)
            except OSError as error:
                raise EvidenceError(f"{what}: {error}") from None
        if row["evidence_kind"] == "capture" or is_carved(row["path"]):  # bytes kept in the case's object store
            if not row["sha256"]:
                raise EvidenceError(f"{what}: its bytes were not kept ({row['note'] or 'no content'})")
            stored = object_path(self.case_dir, row["sha256"])
            if not stored.is_file():
                raise EvidenceError(f"{what}: its bytes are not in the case's object store ({stored})")
            return _StoredContent(stored)
        return self._source(row["evidence_id"], row["evidence"]).open(ref)

    def _source(self, evidence_id: int, path: str) -> EvidenceSource:
        source = self._evidence.get(evidence_id)
        if source is not None:
            self._evidence.move_to_end(evidence_id)
            return source
        try:
            source = open_evidence(Path(path))
        except OSError as error:
            raise EvidenceError(f"evidence {path} cannot be opened: {error.strerror or error}") from None
        self._evidence[evidence_id] = source
        while len(self._evidence) > OPEN_EVIDENCE:
            gone, oldest = self._evidence.popitem(last=False)
            for key in [k for k, (e, _) in self._objects.items() if e == gone]:
                del self._objects[key]
            oldest.close()
        return source

    def close(self) -> None:
        with self._lock:
            for _, content in self._objects.values():
                _close(content)
            for source in self._evidence.values():
                source.close()
            self._objects.clear()
            self._evidence.clear()
            self._conn.close()

    def __enter__(self) -> ObjectReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close(content: Content) -> None:
    close = getattr(content, "close", None)
    if close is not None:
        close()


def read_object(case_dir: Path, file_id: int, offset: int, length: int) -> bytes:
    """Bytes of one object of the case; for many reads keep an `ObjectReader` open instead."""
    with ObjectReader(case_dir) as reader:
        return reader.read(file_id, offset, length)
