"""A folder of loose files (a phone export, a copy of a USB stick), scanned like a filesystem.

Symbolic links are recorded but never followed, so nothing outside the folder is read.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import EvidenceError
from .base import Content, EvidenceObject, EvidenceSource, iso_utc
from .integrity import open_without_atime

# Reading must not change the evidence's access times where the OS lets us say so (open_without_atime).
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)


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

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.close()


class FolderEvidence(EvidenceSource):
    KIND = "folder"
    format = "folder"

    @property
    def container_files(self) -> list[Path]:
        return []

    def objects(self, cancelled: threading.Event) -> Iterator[EvidenceObject]:
        root = str(self.path)

        def unreadable(error: OSError) -> None:
            self.ledger.skipped("files", "unreadable directory", _relative(root, error.filename or root),
                                error.strerror)

        for directory, subdirs, names in _walk(root, unreadable):
            subdirs.sort()
            for name in sorted(subdirs) + sorted(names):
                if cancelled.is_set():
                    return
                full = os.path.join(directory, name)
                try:
                    info = os.lstat(full)
                except OSError as error:
                    self.ledger.skipped("files", "cannot stat", _relative(root, full), error.strerror)
                    continue
                yield self._object(root, full, info)

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


    def open_content(self, path: str, inode: str | None) -> Content:
        """A loose file by the path a scan recorded, opened one folder at a time without following a
        symbolic link anywhere, so nothing outside the evidence folder is reached. A name that was not
        valid UTF-8 (recorded with U+FFFD in its place) is found again by its inode."""
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
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise EvidenceError(f"{path} is no longer a regular file")
        return _LooseFileContent(path, info.st_size, fd)

    def _parts_of_inode(self, inode: int) -> list[bytes]:
        root = os.fsencode(self.path)
        for directory, _, names in os.walk(root, followlinks=False):
            for name in names:
                full = os.path.join(directory, name)
                if os.lstat(full).st_ino == inode:
                    return os.path.relpath(full, root).split(b"/")
        raise FileNotFoundError(inode)


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
def _walk(root: str, onerror: Callable[[OSError], None]) -> Iterator[tuple[str, list[str], list[str]]]:
    """os.walk (top down, links not followed, `subdirs` may be reordered) that lists each directory through
    a descriptor opened with O_NOATIME, so that examining a folder does not change its directories' access
    times (os.walk would, and a second scan would then see other times than the first)."""
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            fd = _open_directory(directory, follow=directory == root)  # the evidence folder may be a link
            try:
                with os.scandir(fd) as listing:
                    entries = list(listing)
            finally:
                os.close(fd)
        except OSError as error:
            error.filename = directory
            onerror(error)
            continue
        subdirs = [e.name for e in entries if e.is_dir(follow_symlinks=False)]
        names = [e.name for e in entries if not e.is_dir(follow_symlinks=False)]
        yield directory, subdirs, names
        stack.extend(os.path.join(directory, name) for name in reversed(subdirs))


def _open_directory(path: str, follow: bool) -> int:
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | (0 if follow else getattr(os, "O_NOFOLLOW", 0))
    return open_without_atime(path, flags)


def _relative(root: str, full: str) -> str:
    relative = os.path.relpath(full, root).replace(os.sep, "/")
    return "/" + relative.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
