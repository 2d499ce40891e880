"""The timeline's hourly counts brought up to date once the other passes have added their findings.

The scan counts its rows when it indexes their times (case/timeline.py create_indexes), before the
passes run; the findings the passes add after that would otherwise stay pending, read again by every
question the timeline asks until the next scan.
"""

from __future__ import annotations

import sqlite_utils

from ..case.timeline_counts import count_new_events
from .base import Pass, PassContext, PassResult


class TimelineCountsPass(Pass):
    NAME = "timeline-counts"
    ACTION = "timeline events counted"
    STAGE = "counting timeline events"

    def wanted(self, context: PassContext) -> bool:
        return True

    def run(self, db: sqlite_utils.Database, context: PassContext) -> PassResult:
        events = count_new_events(db)
        return PassResult(0, f"{events:,} timeline events counted", {"events": events})
