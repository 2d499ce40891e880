"""Turns the core's Progress events into what the progress panel says: counts, rate, ETA (no Qt here)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from ..formatting import duration, human_size
from ..pipeline import Progress

RATE_WINDOW = 5.0  # seconds of samples behind the rate


@dataclass
class Shown:
    evidence: str
    stage: str
    counts: str
    bytes: str
    rate: str
    eta: str
    percent: int | None  # None: busy, no fraction known yet


class ProgressTracker:
    def __init__(self, clock=time.monotonic) -> None:
        self.clock = clock
        self.stage: tuple[str, str] | None = None
        self.samples: deque[tuple[float, int, int]] = deque()
        # A folder's objects counted ahead of its listing (pipeline.count_folder), by the path the scan was given:
        # the listing runs only a queue's length ahead of the analysis, so without it no total is known until the end.
        self.expected: dict[str, int] = {}
        self.counting: set[str] = set()  # folders being counted

    def expect(self, evidence: str, count: int | None) -> None:
        """The folder `evidence` holds `count` objects (None: the count was stopped)."""
        self.counting.discard(evidence)
        if count is not None:
            self.expected[evidence] = count

    def update(self, p: Progress) -> Shown:
        """What the panel says about this report of the scan, given the ones before it."""
        now = self.clock()
        if self.stage != (p.evidence, p.stage):
            self.stage = (p.evidence, p.stage)
            self.samples.clear()
        self.samples.append((now, p.bytes_done, p.objects_done))
        while len(self.samples) > 2 and now - self.samples[0][0] > RATE_WINDOW:
            self.samples.popleft()
        first = self.samples[0]
        elapsed = now - first[0]
        byte_rate = (p.bytes_done - first[1]) / elapsed if elapsed > 0.5 else None
        object_rate = (p.objects_done - first[2]) / elapsed if elapsed > 0.5 else None

        percent: int | None = None
        eta = ""
        if p.bytes_total:
            percent = min(100, int(100 * p.bytes_done / p.bytes_total))
            if byte_rate:
                eta = f"about {duration((p.bytes_total - p.bytes_done) / byte_rate)} left"
            counts = ""
        else:
            counted = p.evidence in self.expected and not p.listing_done
            objects = max(p.objects_found, self.expected[p.evidence]) if counted else p.objects_found
            known = p.listing_done or counted
            # a stage over the whole case (indexing times, the passes) has no objects to count
            counts = f"{p.objects_done:,} of {objects:,}{'' if known else '+'} objects" if p.evidence else ""
            if known and objects:
                percent = min(100, int(100 * p.objects_done / objects))
                if object_rate:
                    eta = f"about {duration(max(0, objects - p.objects_done) / object_rate)} left"
            elif p.stage == "analysing":
                eta = "counting the folder's objects" if p.evidence in self.counting else "still listing files"
        done = human_size(p.bytes_done)
        total = f" of {human_size(p.bytes_total)}" if p.bytes_total else " read"
        rate = f"{human_size(byte_rate)}/s" if byte_rate else ""
        if object_rate and not p.bytes_total:
            rate += f"{', ' if rate else ''}{object_rate:,.0f} objects/s"
        if p.units is not None:  # the workers' units: "units D/N" and "K in flight, F failed (worker: item, …)"
            finished, sent = p.units
            percent = min(100, int(100 * finished / sent)) if sent else None
            return Shown(p.evidence, p.stage, f"{p.objects_done:,} objects examined", done + total, rate, "", percent)
        return Shown(Path(p.evidence).name if p.evidence else "", p.stage, counts, done + total, rate, eta, percent)
