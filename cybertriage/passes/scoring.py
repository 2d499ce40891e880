"""The scores, last and once: what the passes before it found about files added to their triage scores,
on the terms the scan scores each object (score.py)."""

from __future__ import annotations

import sqlite_utils

from ..case import lookups, writes
from ..score import Score, with_arrival, with_finding
from .base import Pass, PassContext, PassResult, ScoreRaise


class ScoringPass(Pass):
    NAME = "scoring"
    ACTION = "scores raised"
    STAGE = "scoring"

    def wanted(self, context: PassContext) -> bool:
        return True  # it runs after every other pass, even when they found nothing

    def run(self, db: sqlite_utils.Database, context: PassContext) -> PassResult:
        """Each file's recorded score with its raises added in the order the passes found them (points are
        capped at 100, so the order decides which reasons count), written once per file."""
        by_file: dict[int, list[ScoreRaise]] = {}
        for one_raise in context.take_raises():
            by_file.setdefault(one_raise.file_id, []).append(one_raise)
        raised = 0
        for file_id, found in by_file.items():
            recorded = lookups.file_score(db, file_id)
            if recorded is None:
                continue
            value, reasons, path, mime = recorded
            score = Score(value, reasons)
            for one in found:
                score = (with_arrival(score.value, score.reasons, path, mime, one.arrival) if one.arrival
                         else with_finding(score.value, score.reasons, one.severity, one.said))
            writes.set_score(db, file_id, score.value, score.reasons)
            raised += score.value != value
        return PassResult(raised, f"{raised} scores raised", {"files": len(by_file), "scores_raised": raised})
