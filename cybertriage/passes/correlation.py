"""Links between the case's evidence items (correlate.py): what arrived over the network, what was
contacted, the same user or host on a disk and in a capture."""

from __future__ import annotations

from collections import Counter

import sqlite_utils

from ..correlate import record_new_links
from .base import Pass, PassContext, PassResult, ScoreRaise


class CorrelationPass(Pass):
    NAME = "correlation"
    ACTION = "correlation"
    STAGE = "correlating"

    def wanted(self, context: PassContext) -> bool:
        return True  # whatever the intel: the case's own evidence is linked

    def run(self, db: sqlite_utils.Database, context: PassContext) -> PassResult:
        links = record_new_links(db)
        rules = Counter(link.rule for link in links)
        summary = f"{len(links)} new links" + (": " + ", ".join(f"{n} {rule}" for rule, n in rules.items())
                                               if links else "")
        return PassResult(len(links), summary, {"new_links": len(links)},
                          [ScoreRaise(link.file_id, link.severity, link.title, link.arrival)
                           for link in links if link.scored])
