"""MD5, SHA-1 and SHA-256 of every file, from the one read of its content."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

from .base import Analyzer, Finding, Item


class Hashing(Analyzer):
    NAME = "hash"

    def stream(self, item: Item) -> Callable[[bytes], None]:
        hashers = (hashlib.md5(), hashlib.sha1(), hashlib.sha256())
        item.scratch[self.NAME] = hashers

        def update(chunk: bytes) -> None:
            for hasher in hashers:
                hasher.update(chunk)

        return update

    def analyze(self, item: Item) -> Iterable[Finding]:
        hashers = item.scratch.pop(self.NAME, None)
        if hashers and item.content_read:
            item.facts["md5"], item.facts["sha1"], item.facts["sha256"] = (h.hexdigest() for h in hashers)
        return ()
