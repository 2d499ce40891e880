"""MD5, SHA-1 and SHA-256 of every file, from the one read of its content (or as it was inflated from an archive)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..evidence.digests import Digests
from .base import Analyzer, Finding, Item
from .results import Hashes


class Hashing(Analyzer):
    NAME = "hash"

    def stream(self, item: Item) -> Callable[[bytes], None] | None:
        content = item.obj.content
        if content is not None and content.digests is not None:
            return None  # hashed as it was made (a large archive member, as it was inflated)
        return item.keep_reader(Digests(item.obj.size)).feed

    def analyze(self, item: Item) -> Iterable[Finding]:
        digests = item.take_reader(Digests)
        content = item.obj.content
        if digests is not None:
            md5, sha1, sha256 = digests.hexdigests()  # also when the content was not read whole: the thread ends
        elif content is not None and content.digests is not None:
            md5, sha1, sha256 = content.digests
        else:
            return ()
        if item.content_read:
            item.add(Hashes(md5, sha1, sha256))
        return ()
