"""A folder of loose files (a phone export, a copy of a USB stick), scanned like a filesystem.

Symbolic links are recorded but never followed, so nothing outside the folder is read.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

from .base import Content, EvidenceObject, EvidenceSource, iso_utc

# Reading must not change the evidence's access times where the OS lets us say so.
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
_NOATIME = getattr(os, "O_NOATIME", 0)


class _LooseFileContent(Content):
    def __init__(self, path: str, size: int) -> None:
        self._path = path
        self.size = size
        self._fd: int | None = None

    def _open(self) -> int:
        if self._fd is None:
            try:
                self._fd = os.open(self._path, _READ_FLAGS | _NOATIME)
            except PermissionError:
                if not _NOATIME:
                    raise
                self._fd = os.open(self._path, _READ_FLAGS)
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

        for directory, subdirs, names in os.walk(root, onerror=unreadable, followlinks=False):
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
            name=path.rsplit("/", 1)[1],
            size=info.st_size if kind == "file" else 0,
            kind=kind,
            inode=str(info.st_ino),
            mtime=iso_utc(info.st_mtime, info.st_mtime_ns % 1_000_000_000),
            atime=iso_utc(info.st_atime, info.st_atime_ns % 1_000_000_000),
            ctime=iso_utc(info.st_ctime, info.st_ctime_ns % 1_000_000_000),
            crtime=iso_utc(getattr(info, "st_birthtime", None)),
            content=_LooseFileContent(full, info.st_size) if kind == "file" else None,
        )


def _relative(root: str, full: str) -> str:
    relative = os.path.relpath(full, root).replace(os.sep, "/")
    return "/" + relative.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
