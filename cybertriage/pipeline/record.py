"""One evidence item as this run writes it to the case: its id, its opened source, the tally of its objects
and findings, and its findings as rows. Every stage and every worker thread of the item shares one."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..analyzers import Finding
from ..case import CaseWriter, writes
from ..evidence import EvidenceObject, EvidenceSource
from ..formatting import utc_now
from ..severity import SEVERITY_RANK
from .progress import Progress

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext
    from multiprocessing.sharedctypes import Synchronized


@dataclass
class Tally:
    """What the worker threads have counted so far; read for progress and the outcome, under the lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    found: int = 0  # objects listed or carried in others
    done: int = 0  # objects examined
    bytes: int = 0  # content read
    findings: dict[str, int] = field(default_factory=dict)  # severity → count

    def read(self, size: int) -> None:
        with self.lock:
            self.bytes += size


class FileIds:
    """The file ids an evidence item's objects get, in order, from the blocks the case gives this process
    (writes.reserve_file_ids): one block in a case one scan writes, blocks of their own per worker in a case
    several write at once. Taken by every worker thread of the item, under a lock. `on_block` is told each block
    in the transaction that takes it (a unit remembers its blocks: case/units.py)."""

    def __init__(self, writer: CaseWriter, on_block: Callable[[Any, int], None] | None = None) -> None:
        self._writer = writer
        self._on_block = on_block
        self._lock = threading.Lock()
        self._next, self._left = 0, 0
        self._endless = False
        self._shared: Synchronized | None = None

    def __iter__(self) -> FileIds:
        return self

    def __next__(self) -> int:
        with self._lock:
            if self._shared is not None:
                return next_shared(self._shared)
            if not self._endless and self._left == 0:
                self._take_block()
            self._left -= 1
            self._next += 1
            return self._next - 1

    def share(self, context: BaseContext) -> Synchronized | None:
        """The next ids as a counter that processes started from `context` take ids from too (examining processes:
        the members they find); None when the ids come in blocks (a case several workers write), not shared."""
        with self._lock:
            if self._shared is None and self._left == 0 and not self._endless:
                self._take_block()
            if self._shared is None and self._endless:
                self._shared = context.Value("q", self._next)
            return self._shared

    def _take_block(self) -> None:
        self._next, count = self._writer.call(self._reserve)
        self._endless, self._left = count is None, count or 0

    def _reserve(self, db: Any) -> tuple[int, int | None]:
        first, count = writes.reserve_file_ids(db)
        if self._on_block is not None:
            self._on_block(db, first)
        return first, count


def next_shared(counter: Synchronized) -> int:
    """The next id of a counter shared between processes (FileIds.share)."""
    with counter.get_lock():
        taken = counter.value
        counter.value = taken + 1
    return taken


@dataclass
class EvidenceRecord:
    """One evidence item, opened, being examined and written to the case in this run."""

    writer: CaseWriter
    run_id: int
    evidence_id: int
    path: Path  # as the examiner named it
    key: str  # as the case knows it: evidence.path
    source: EvidenceSource
    ids: Iterator[int]  # the next free file ids
    tally: Tally
    # Files found in damaged sectors, as (stored_at, note) for writes.unhash_files, when the image's files are
    # examined in parts by other workers (pipeline/parts.py): marked once every part is in. None: marked at once.
    unhash_later: list[tuple[list, str]] | None = None

    def finding_rows(self, obj: EvidenceObject | None, findings: list[Finding],
                     object_text: str | None = None) -> list[dict[str, Any]]:
        """Rows for findings on a file (obj), or on the evidence itself or one of its records (object_text)."""
        rows = []
        for finding in findings:
            with self.tally.lock:
                self.tally.findings[finding.severity] = self.tally.findings.get(finding.severity, 0) + 1
            rows.append({
                "evidence_id": self.evidence_id, "object_kind": "file" if obj else "evidence",
                "object_id": obj.id if obj else self.evidence_id, "object": obj.path if obj else object_text or self.key,
                "analyzer": finding.analyzer, "rule": finding.rule, "severity": finding.severity,
                "severity_rank": SEVERITY_RANK[finding.severity], "title": finding.title,
                "detail": json.dumps(finding.detail, ensure_ascii=False, default=str), "created_at": utc_now(),
            })
        return rows

    def record_findings(self, findings: list[Finding]) -> None:
        """Findings on the evidence itself (its integrity), written now."""
        self.writer.add_rows("findings", self.finding_rows(None, findings))

    def send(self, batch: dict[str | tuple[str, tuple[str, ...]], list[Any]]) -> None:
        """Hand a batch of rows to the case writer and empty it: by table as dicts, or by (table, columns) as tuples
        of values."""
        for key, rows in batch.items():
            if not rows:
                continue
            if isinstance(key, tuple):
                self.writer.add_values(*key, rows)
            else:
                self.writer.add_rows(key, rows)
            batch[key] = []

    def progress(self, listing_done: bool) -> Progress:
        """How far the analysis is. Bytes: how far through the evidence when the listing reads it (a capture),
        else how much content was read."""
        reading = self.source.reading()
        with self.tally.lock:
            done, total = reading if reading is not None else (self.tally.bytes, None)
            return Progress(str(self.path), "analysing", self.tally.found, self.tally.done, done, total,
                            listing_done=listing_done)
