"""A folder of loose files (a phone export, a copy of a USB stick), scanned like a filesystem, and a
single loose file, scanned as a folder of one.

Symbolic links are recorded but never followed, so nothing outside the folder is read. A sparse
file is read by its data extents only: its holes are zeros by definition, so they are handed on
as zeros without asking the disk for them (a 1 TB file with a few MB of data is read as a few MB).
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import EvidenceError
from .base import CHUNK_SIZE, Content, EvidenceObject, EvidenceSource, Ledger, ObjectRef, iso_utc, written_down
from .integrity import open_without_atime

# Reading must not change the evidence's access times where the OS lets us say so (open_without_atime).
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
_ZEROS = bytes(CHUNK_SIZE)  # one hole chunk, shared: holes cost no memory and no reads


class _LooseFileContent(Content):
    def __init__(self, path: str, size: int, fd: int | None = None) -> None:
        self._path = path
        self.size = size
        self._fd = fd

    def _open(self) -> int:
        if self._fd is None:
            self._fd = open_without_atime(self._path, _READ_FLAGS)
        return self._fd

    def read_at(self, offset: int, length: int) -> bytes:
        return os.pread(self._open(), length, offset)

    def chunks(self, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """The bytes in order, a hole's as zeros that are not read (SEEK_DATA/SEEK_HOLE)."""
        if not hasattr(os, "SEEK_DATA"):  # Windows: no holes to ask about
            yield from super().chunks(chunk_size)
            return
        fd = self._open()
        offset = 0
        while offset < self.size:
            data_at = _seek(fd, offset, os.SEEK_DATA, self.size)
            while offset < data_at:
                length = min(chunk_size, data_at - offset)
                yield _ZEROS if length == len(_ZEROS) else bytes(length)
                offset += length
            if offset >= self.size:
                break
            hole_at = max(_seek(fd, offset, os.SEEK_HOLE, self.size), offset + 1)  # at data: a hole is past it
            while offset < hole_at:
                data = self.read_at(offset, min(chunk_size, hole_at - offset))
                if not data:
                    raise OSError(f"content ends at byte {offset} of {self.size}")
                offset += len(data)
                yield data
        if os.fstat(fd).st_size < self.size:  # a trailing "hole" may be the file cut short since it was listed
            raise OSError(f"file is now {os.fstat(fd).st_size} bytes, not {self.size}")

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.close()


def _seek(fd: int, offset: int, whence: int, size: int) -> int:
    """Where the next data (SEEK_DATA) or hole (SEEK_HOLE) starts at or after `offset`, within `size`.
    No data left is a hole up to `size`; a filesystem that cannot tell is read as all data."""
    try:
        return min(os.lseek(fd, offset, whence), size)
    except OSError as error:
        if error.errno == errno.ENXIO:  # no data after offset (SEEK_DATA), or offset past the end (cut short)
            return size
        if error.errno == errno.EINVAL:  # the filesystem does not report holes
            return offset if whence == os.SEEK_DATA else size
        raise


def unreadable_summary(count: int) -> str:
    """The problem line that counts a folder's paths that could not be read."""
    return f"{count} of its files or folders could not be read (each is listed in the problems of this evidence)"


class FolderEvidence(EvidenceSource):
    KIND = "folder"
    format = "folder"
    IN_PARTS = True

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._unreadable: set[str] = set()  # folders and files that could not be read: the scan is then only partial
        self._unreadable_lock = threading.Lock()  # content read failures are told from the analysis threads
        self._summary_at: int | None = None  # where in self.problems the count of them stands

    @property
    def container_files(self) -> list[Path]:
        return []

    def objects(self, cancelled: threading.Event) -> Iterator[EvidenceObject]:
        root = str(self.path)

        def unreadable(error: OSError) -> None:
            if error.filename == root:  # nothing of it can be examined: the evidence fails
                raise EvidenceError(f"the folder cannot be listed: {error.strerror or error}")
            path = _relative(root, error.filename)
            self.ledger.skipped("folders", "unreadable directory", path, error.strerror)
            self._unreadable.add(path)

        for directory, subdirs, names in _walk(root, unreadable, self.ledger):
            subdirs.sort()
            for name in sorted(subdirs) + sorted(names):
                if cancelled.is_set():
                    return
                yield from self._listed(root, os.path.join(directory, name))
        self._account_unreadable()

    def _listed(self, root: str, full: str) -> Iterator[EvidenceObject]:
        """The object at `full`, or a counted skip if it cannot even be looked at."""
        try:
            info = os.lstat(full)
        except OSError as error:
            self.ledger.attempted("files")
            self.ledger.skipped("files", "cannot stat", _relative(root, full), error.strerror)
            self._unreadable.add(_relative(root, full))
            return
        obj = self._object(root, full, info)
        if obj.content is not None:
            try:  # an unreadable file is known now, and said so, rather than found when its turn comes
                os.close(open_without_atime(full, _READ_FLAGS | getattr(os, "O_NONBLOCK", 0)))
            except OSError as error:
                obj.content, obj.unreadable = None, f"unreadable: {error.strerror or error}"
                self.ledger.warn("content", obj.path, obj.unreadable)
                self._unreadable.add(obj.path)
        yield obj

    def entry(self, obj: EvidenceObject) -> list:
        """An object of this folder's listing as plain values (JSON): its file by its full path's bytes (a name
        need not be valid UTF-8)."""
        content = obj.content
        where = os.fsencode(content._path).hex() if isinstance(content, _LooseFileContent) else None
        return [written_down(obj), where]

    def listed(self, entry: list) -> EvidenceObject:
        """An object its listing wrote down, its file opened here when it is read (another worker's share)."""
        fields, where = entry
        obj = EvidenceObject(*fields)
        if where is not None:
            obj.content = _LooseFileContent(os.fsdecode(bytes.fromhex(where)), obj.size)
        return obj

    def content_unreadable(self, path: str) -> None:
        with self._unreadable_lock:
            self._unreadable.add(path)
        self._account_unreadable()

    def unreadable_paths(self) -> list[str]:
        with self._unreadable_lock:
            return sorted(self._unreadable)

    def _account_unreadable(self) -> None:
        """One problem line counting the paths that could not be read, kept up to date as more are found."""
        with self._unreadable_lock:
            if not self._unreadable:
                return
            summary = unreadable_summary(len(self._unreadable))
            if self._summary_at is None:
                self._summary_at = len(self.problems)
                self.problems.append(summary)
            else:
                self.problems[self._summary_at] = summary

    def _object(self, root: str, full: str, info: os.stat_result) -> EvidenceObject:
        path = _relative(root, full)
        if stat.S_ISDIR(info.st_mode):
            kind = "directory"
        elif stat.S_ISREG(info.st_mode):
            kind = "file"
        elif stat.S_ISLNK(info.st_mode):
            kind = "link"
        else:
            kind = "other"
        return EvidenceObject(
            path=path,
            name=path.rsplit("/", 1)[1],  # the name as the path shows it: a non-UTF-8 name is text too
            size=info.st_size if kind == "file" else 0,
            kind=kind,
            inode=str(info.st_ino),
            mtime=iso_utc(info.st_mtime, info.st_mtime_ns % 1_000_000_000),
            atime=iso_utc(info.st_atime, info.st_atime_ns % 1_000_000_000),
            ctime=iso_utc(info.st_ctime, info.st_ctime_ns % 1_000_000_000),
            crtime=iso_utc(getattr(info, "st_birthtime", None)),
            content=_LooseFileContent(full, info.st_size) if kind == "file" else None,
        )


    def open(self, ref: ObjectRef) -> Content:
        """A loose file by the path a scan recorded, opened one folder at a time without following a
        symbolic link anywhere, so nothing outside the evidence folder is reached. A name that was not
        valid UTF-8 (recorded with U+FFFD in its place) is found again by its inode."""
        path, inode = ref.path, ref.inode
        parts = [p for p in path.split("/") if p]
        if not parts or any(p in (".", "..") for p in parts):
            raise EvidenceError(f"not a path inside the evidence folder: {path!r}")
        try:
            try:
                fd = _open_below(str(self.path), parts)
            except FileNotFoundError:
                if "\ufffd" not in path or inode is None:
                    raise
                fd = _open_below(str(self.path), self._parts_of_inode(int(inode)))
        except FileNotFoundError:
            raise EvidenceError(f"{path} is no longer in the evidence folder") from None
        except OSError as error:
            raise EvidenceError(f"{path} cannot be opened: {error.strerror or error}") from None
        return _regular_file_content(path, fd)

    def _parts_of_inode(self, inode: int) -> list[bytes]:
        root = os.fsencode(self.path)
        for directory, _, names in os.walk(root, followlinks=False):
            for name in names:
                full = os.path.join(directory, name)
                if os.lstat(full).st_ino == inode:
                    return os.path.relpath(full, root).split(b"/")
        raise FileNotFoundError(inode)


class LooseFileEvidence(FolderEvidence):
    """One loose file given on its own (a document, an executable, a memory dump): a folder of one, whose
    file is `/NAME`. The file is also the evidence's container, so its sha256 is recorded and `verify`
    checks it as it checks a raw image."""

    KIND = "file"
    format = "file"
    IN_PARTS = False  # one file: nothing to share

    @property
    def container_files(self) -> list[Path]:
        return [self.path]

    def objects(self, cancelled: threading.Event) -> Iterator[EvidenceObject]:
        yield from self._listed(str(self.path.parent), str(self.path))
        self._account_unreadable()

    def open(self, ref: ObjectRef) -> Content:
        """The file itself, by the path a scan recorded for it."""
        path = ref.path
        if path != _relative(str(self.path.parent), str(self.path)):
            raise EvidenceError(f"{path} is not the file this evidence is ({self.path.name})")
        try:
            fd = open_without_atime(self.path, _READ_FLAGS)
        except OSError as error:
            raise EvidenceError(f"{path} cannot be opened: {error.strerror or error}") from None
        return _regular_file_content(path, fd)


def _regular_file_content(path: str, fd: int) -> _LooseFileContent:
    """The content behind an open descriptor, if it is still a regular file (not swapped for a device or FIFO)."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise EvidenceError(f"{path} is no longer a regular file")
    return _LooseFileContent(path, info.st_size, fd)


def _open_below(root: str, parts: list[str] | list[bytes]) -> int:
    """Open root/parts[0]/.../parts[-1] for reading, refusing a symbolic link at every step."""
    folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
            os.close(folder)
            folder = inner
        flags = _READ_FLAGS | getattr(os, "O_NONBLOCK", 0)  # a FIFO put there since must not block the read
        return open_without_atime(parts[-1], flags, dir_fd=folder)
    finally:
        os.close(folder)
def _walk(root: str, onerror: Callable[[OSError], None],
          ledger: Ledger) -> Iterator[tuple[str, list[str], list[str]]]:
    """os.walk (top down, links not followed, `subdirs` may be reordered) that lists each directory through
    a descriptor opened with O_NOATIME, so that examining a folder does not change its directories' access
    times (os.walk would, and a second scan would then see other times than the first). Each listing is
    counted in the ledger's "folders" stage."""
    stack = [root]
    while stack:
        directory = stack.pop()
        ledger.attempted("folders")
        try:
            fd = _open_directory(directory, follow=directory == root)  # the evidence folder may be a link
            try:
                with os.scandir(fd) as listing:
                    # While the descriptor is open: where the filesystem gives no entry types (FUSE, some network
                    # filesystems) is_dir asks it through the descriptor.
                    entries = [(entry.name, _is_directory(entry)) for entry in listing]
            finally:
                os.close(fd)
        except OSError as error:
            error.filename = directory
            onerror(error)
            continue
        ledger.processed("folders")
        subdirs = [name for name, is_directory in entries if is_directory]
        names = [name for name, is_directory in entries if not is_directory]
        yield directory, subdirs, names
        stack.extend(os.path.join(directory, name) for name in reversed(subdirs))


def _is_directory(entry: os.DirEntry) -> bool:
    """A folder, not a link to one; an entry that cannot be looked at is left to lstat to report."""
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _open_directory(path: str, follow: bool) -> int:
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | (0 if follow else getattr(os, "O_NOFOLLOW", 0))
    return open_without_atime(path, flags)


def _relative(root: str, full: str) -> str:
    relative = os.path.relpath(full, root).replace(os.sep, "/")
    return "/" + relative.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
