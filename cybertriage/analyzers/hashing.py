"""MD5, SHA-1 and SHA-256 of every file, from the one read of its content."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

from .base import Analyzer, Finding, Item
from .results import Hashes


class _Digests:
    """The three digests, fed every chunk of the content."""

    def __init__(self) -> None:
        self.hashers = (hashlib.md5(), hashlib.sha1(), hashlib.sha256())

    def feed(self, chunk: bytes) -> None:
        for hasher in self.hashers:
            hasher.update(chunk)


class Hashing(Analyzer):
    NAME = "hash"

    def stream(self, item: Item) -> Callable[[bytes], None]:
        return item.keep_reader(_Digests()).feed

    def analyze(self, item: Item) -> Iterable[Finding]:
        digests = item.take_reader(_Digests)
        if digests is not None and item.content_read:
            md5, sha1, sha256 = (hasher.hexdigest() for hasher in digests.hashers)
            item.add(Hashes(md5, sha1, sha256))
        return ()
