"""Known files: every hashed object looked up in the workstation's hash sets (NSRL and known-bad lists).

A file in a known-good set is marked (`known = good` and the set's name) so that
the report and the application can leave it out; a file in a known-bad set is
marked too and gets a critical finding naming the set and what the set calls it.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..case.intel_store import HashSetLookup
from .base import Analyzer, Finding, Item, Settings
from .results import Hashes, KnownFile

ANALYZER = "hashset"  # a scan's findings and the hash-set pass's (intel/hashsets.py) are one kind


class KnownFiles(Analyzer):
    NAME = ANALYZER

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        intel = settings.intel
        assert intel is not None  # enabled() says so
        self.lookup = HashSetLookup(intel.path, intel.hash_sets)

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return settings.intel is not None and bool(settings.intel.hash_sets)

    def analyze(self, item: Item) -> Iterable[Finding]:
        hashes = item.result(Hashes)
        if hashes is None or not any((hashes.md5, hashes.sha1, hashes.sha256)):
            return
        matches = self.lookup.find(hashes.md5, hashes.sha1, hashes.sha256)
        bad = [m for m in matches if m.set.known == "bad"]
        chosen = bad[0] if bad else (matches[0] if matches else None)
        if chosen is None:
            return
        item.add(KnownFile(chosen.set.known, chosen.set.name))
        for match in bad:
            yield Finding(self.NAME, match.set.name, "critical", match.title, match.detail())
