"""MD5, SHA-1 and SHA-256 of one content, fed its chunks as they are read or as they are made.

`Digests` hashes on the caller's thread (MD5 of a large content on a thread of its own). `DigestsBehind` hashes on a
thread of its own altogether, for a caller whose own time matters more: the thread that inflates an archive's
member hands each block over and goes on inflating, so the member is hashed by the time it is complete rather than
afterwards by the thread that examines it.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable

# From this size MD5 runs on a thread of its own beside SHA-1 and SHA-256. MD5 has no instructions of its own in the
# processor (742 MB/s here, against 1,904 for SHA-1 and 1,727 for SHA-256), so on one thread it is half the time of a
# large file's hashing; hashlib lets the GIL go for a chunk, so the two threads run on two cores. A small file keeps
# one thread: handing its chunks over would cost more than it saves.
MD5_APART_FROM = 8 * 1024 * 1024
CHUNKS_AHEAD = 8  # chunks handed to a hashing thread and not yet hashed, at most (memory stays bounded)


class Digests:
    """The three digests, fed every chunk of the content."""

    def __init__(self, size: int) -> None:
        self.md5, self.sha1, self.sha256 = hashlib.md5(), hashlib.sha1(), hashlib.sha256()
        self._md5 = _Behind(self.md5.update, "md5") if size >= MD5_APART_FROM else None

    def feed(self, chunk: bytes) -> None:
        if self._md5 is not None:
            self._md5.feed(chunk)
        else:
            self.md5.update(chunk)
        self.sha1.update(chunk)
        self.sha256.update(chunk)

    def hexdigests(self) -> tuple[str, str, str]:
        """MD5, SHA-1 and SHA-256 of what was fed (the MD5 thread, if any, finishes first)."""
        if self._md5 is not None:
            self._md5.finish()
            self._md5 = None
        return self.md5.hexdigest(), self.sha1.hexdigest(), self.sha256.hexdigest()


class DigestsBehind:
    """`Digests` on a thread of its own: `feed` only hands the chunk over (waiting when CHUNKS_AHEAD are not yet
    hashed). Call `hexdigests` or `abandon` once done, so that the thread ends."""

    def __init__(self, size: int) -> None:
        self._digests = Digests(size)
        self._thread = _Behind(self._digests.feed, "digests")

    def feed(self, chunk: bytes) -> None:
        self._thread.feed(chunk)

    def hexdigests(self) -> tuple[str, str, str]:
        self._thread.finish()
        return self._digests.hexdigests()

    def abandon(self) -> None:
        """The content was not taken whole: the thread ends and the digests are never asked for."""
        self._thread.finish()
        self._digests.hexdigests()


class _Behind:
    """A thread that calls `update` with every chunk fed to it, in order."""

    def __init__(self, update: Callable[[bytes], None], name: str) -> None:
        self._chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=CHUNKS_AHEAD)
        self._thread = threading.Thread(target=self._run, args=(update,), name=name, daemon=True)
        self._thread.start()

    def feed(self, chunk: bytes) -> None:
        self._chunks.put(chunk)

    def finish(self) -> None:
        self._chunks.put(None)
        self._thread.join()

    def _run(self, update: Callable[[bytes], None]) -> None:
        while (chunk := self._chunks.get()) is not None:
            update(chunk)
