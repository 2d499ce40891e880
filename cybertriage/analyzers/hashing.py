"""MD5, SHA-1 and SHA-256 of every file, from the one read of its content."""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable, Iterable

from .base import Analyzer, Finding, Item
from .results import Hashes

# From this size MD5 runs on a thread of its own beside SHA-1 and SHA-256. MD5 has no instructions of its own in the
# processor (742 MB/s here, against 1,904 for SHA-1 and 1,727 for SHA-256), so on one thread it is half the time of a
# large file's hashing; hashlib lets the GIL go for a chunk, so the two threads run on two cores. A small file keeps
# one thread: handing its chunks over would cost more than it saves.
MD5_APART_FROM = 8 * 1024 * 1024
CHUNKS_AHEAD = 8  # chunks handed to the MD5 thread and not yet hashed, at most (memory stays bounded)


class _Digests:
    """The three digests, fed every chunk of the content."""

    def __init__(self, size: int) -> None:
        self.md5, self.sha1, self.sha256 = hashlib.md5(), hashlib.sha1(), hashlib.sha256()
        self._chunks: queue.Queue[bytes | None] | None = None
        self._md5_thread: threading.Thread | None = None
        if size >= MD5_APART_FROM:
            self._chunks = queue.Queue(maxsize=CHUNKS_AHEAD)
            self._md5_thread = threading.Thread(target=self._hash_md5, args=(self._chunks,), name="md5", daemon=True)
            self._md5_thread.start()

    def feed(self, chunk: bytes) -> None:
        if self._chunks is not None:
            self._chunks.put(chunk)
        else:
            self.md5.update(chunk)
        self.sha1.update(chunk)
        self.sha256.update(chunk)

    def hexdigests(self) -> tuple[str, str, str]:
        """MD5, SHA-1 and SHA-256 of what was fed (the MD5 thread, if any, finishes first)."""
        if self._chunks is not None and self._md5_thread is not None:
            self._chunks.put(None)
            self._md5_thread.join()
            self._chunks = None
        return self.md5.hexdigest(), self.sha1.hexdigest(), self.sha256.hexdigest()

    def _hash_md5(self, chunks: queue.Queue[bytes | None]) -> None:
        while (chunk := chunks.get()) is not None:
            self.md5.update(chunk)


class Hashing(Analyzer):
    NAME = "hash"

    def stream(self, item: Item) -> Callable[[bytes], None]:
        return item.keep_reader(_Digests(item.obj.size)).feed

    def analyze(self, item: Item) -> Iterable[Finding]:
        digests = item.take_reader(_Digests)
        if digests is not None:
            md5, sha1, sha256 = digests.hexdigests()  # also when the content was not read whole: the thread ends
            if item.content_read:
                item.add(Hashes(md5, sha1, sha256))
        return ()
