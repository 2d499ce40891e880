"""A read-only FUSE filesystem holding one file whose bytes [START, START+LENGTH) fail to read with EIO,
as the bad sectors of a failing disk do; every other byte reads through to the source file.

The kernel itself returns the error, so every reader meets it the same way: Python, Sleuth Kit's own
raw-image reader, sha256sum. Used by tests/test_soundness.py; by hand::

    python tests/badsectors.py IMAGE MOUNTPOINT START LENGTH   # until unmounted (umount MOUNTPOINT)
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from typing import Any

import mfusepy as fuse


class BadSectors(fuse.Operations):
    use_ns = True

    def __init__(self, source: str, start: int, length: int) -> None:
        self.name = "/" + os.path.basename(source)
        self.start, self.length = start, length
        self.fd = os.open(source, os.O_RDONLY)

    def getattr(self, path: str, fh: Any = None) -> dict[str, Any]:
        if path == "/":
            return {"st_mode": stat.S_IFDIR | 0o555, "st_nlink": 2}
        if path != self.name:
            raise fuse.FuseOSError(errno.ENOENT)
        info = os.fstat(self.fd)
        return {"st_mode": stat.S_IFREG | 0o444, "st_nlink": 1, "st_size": info.st_size, "st_mtime": info.st_mtime_ns}

    def readdir(self, path: str, fh: Any) -> list[str]:
        return [".", "..", self.name[1:]]

    def open(self, path: str, flags: int) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR):
            raise fuse.FuseOSError(errno.EROFS)
        return 0

    def read(self, path: str, size: int, offset: int, fh: Any) -> bytes:
        if offset < self.start + self.length and offset + size > self.start:
            raise fuse.FuseOSError(errno.EIO)
        return os.pread(self.fd, size, offset)


if __name__ == "__main__":
    source, mount_point, start, length = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    # direct_io: every read reaches read() with the reader's own offset and size, no page-cache read-ahead
    fuse.FUSE(BadSectors(source, start, length), mount_point, foreground=True, ro=True, direct_io=True)
