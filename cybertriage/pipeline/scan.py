"""The scan: its run record in the case, each evidence item in turn, the indexes it sorts at its end, then the
post-scan passes over the whole case (cybertriage.passes), and the run's end."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import sqlite_utils

from .. import __version__
from ..analyzers import build_analyzers
from ..analyzers.yara_scan import YaraScan
from ..case import CaseWriter, audit, scan_indexes, writes
from ..case.store import crash_point, mark_run_failed
from ..errors import CaseError, UsageError
from ..evidence.segments import first_segment
from ..formatting import utc_now
from ..passes import PassContext, chosen_passes, run_passes
from .options import ScanOptions, ScanRun
from .parts import UNIT_BYTES
from .progress import Outcome, Progress
from .stages import EvidenceRun


class Scan:
    """One run over a list of evidence into one case."""

    def __init__(self, case_dir: Path, evidence: list[Path], options: ScanOptions,
                 cancel: threading.Event | None = None, broker: str | None = None,
                 worker_timeout: float | None = None, unit_bytes: int | None = None) -> None:
        """`broker`: spread the evidence items over the workers of this Celery broker (pipeline/distributed.py)
        instead of examining them here; `worker_timeout`: how long a unit's worker may be silent; `unit_bytes`:
        the content of a disk image's files handed to a worker at a time (0: each image whole to one worker)."""
        self.case_dir = case_dir
        self.broker = broker
        self.worker_timeout = worker_timeout
        self.unit_bytes = UNIT_BYTES if unit_bytes is None else unit_bytes
        self.evidence = evidence
        self.options = options
        self.cancel = cancel or threading.Event()
        self.outcomes: list[Outcome] = []
        self.settings = options.settings
        self.analyzers = build_analyzers(self.settings)  # compiles YARA rules: fail before touching the case
        self.rules_sha256 = next((a.rules_sha256 for a in self.analyzers if isinstance(a, YaraScan)), None)

    def run(self) -> Iterator[Progress]:
        """Process every evidence item in turn, yielding progress; outcomes land in self.outcomes.
        A scan none of whose evidence exists (a mistyped path) is a usage error that writes nothing."""
        missing = [path for path in self.evidence if not path.exists() and not path.is_symlink()]
        if len(missing) == len(self.evidence):
            raise UsageError(f"no such evidence: {', '.join(map(str, missing))}; nothing scanned, no case written")
        writer = CaseWriter(self.case_dir)
        indexed = False
        run_id = None
        try:
            run_id = writer.call(self._start)
            crash_point("scan-started")
            writer.call(scan_indexes.drop)
            run = ScanRun(self.case_dir, self.options, self.analyzers, self.cancel, writer, run_id, self.outcomes)
            yield from self._spread(run) if self.broker else self._each_evidence(run)
            yield Progress(evidence="", stage="indexing times", listing_done=True)
            writer.call(scan_indexes.create)
            indexed = True
            yield from self._passes(run)
            self._end(run)
            yield Progress(evidence="", stage="finished", listing_done=True)
        except CaseError as error:  # disk full, read-only: the run says so now, not 'running' until the next scan
            if run_id is not None:
                mark_run_failed(self.case_dir, run_id, str(error))
            raise
        finally:
            if not indexed:  # stopped early: the indexes it dropped are made again all the same
                _index_again(writer)
            writer.close()

    def _options_record(self) -> dict[str, Any]:
        """What the run was asked to do, as its record and the audit log keep it."""
        return {"jobs": self.options.jobs, "analyzers": {a.NAME: a.VERSION for a in self.analyzers},
                "yara": self.settings.rule_paths is not None,
                "rules": [str(p) for p in self.settings.rule_paths or ()],
                "verify_images": self.options.verify_images, "carve": self.options.carve,
                **({"broker": self.broker, "unit_bytes": self.unit_bytes} if self.broker else {}),
                **(self.settings.intel.record() if self.settings.intel else {})}

    def _start(self, db: Any) -> int:
        """The run's record, 'running'; the writer holds the case's lock, so a run still 'running' was killed."""
        options = self._options_record()
        run_id = writes.start_run(db, {"started": utc_now(), "status": "running", "tool_version": __version__,
                                       "rules_sha256": self.rules_sha256, "options": json.dumps(options)})
        audit(db, "scan started", {"run": run_id, "evidence": [str(p) for p in self.evidence],
                                   "tool_version": __version__, "rules_sha256": self.rules_sha256, **options})
        return run_id

    def _items(self) -> Iterator[tuple[Path, str]]:
        """Every evidence item once, however often (or by whichever segment) it was named."""
        seen: set[str] = set()
        for path in self.evidence:
            key = _evidence_key(path)
            if key not in seen:
                seen.add(key)
                yield path, key

    def _spread(self, run: ScanRun) -> Iterator[Progress]:
        """The evidence items as units for the broker's workers, watched until each has ended."""
        from .distributed import WORKER_TIMEOUT, SpreadScan

        spread = SpreadScan(run, self.broker or "", self.worker_timeout or WORKER_TIMEOUT, self.unit_bytes)
        yield from spread.send_and_watch(list(self._items()))

    def _each_evidence(self, run: ScanRun) -> Iterator[Progress]:
        for path, key in self._items():
            if self.cancel.is_set():
                self.outcomes.append(Outcome(str(path), "cancelled", message="not started"))
                continue
            yield from EvidenceRun(run, path, key).stages()

    def _passes(self, run: ScanRun) -> Iterator[Progress]:
        """Once the evidence is in and the timeline indexed: every post-scan pass over the whole case, in one
        transaction, so that a scan stopped among them leaves no finding without the score it raises."""
        if self.cancel.is_set():
            return
        context = PassContext(self.settings.intel, utc_now(), {"run": run.run_id})
        passes = chosen_passes(context)
        yield Progress(evidence="", stage=", ".join(step.STAGE for step in passes), listing_done=True)
        run.writer.call(lambda db: run_passes(db, context, passes))

    def _end(self, run: ScanRun) -> None:
        """The run's record: finished, cancelled or completed, with what became of each evidence item."""
        status = "cancelled" if self.cancel.is_set() else "completed"
        summary = [asdict(o) for o in self.outcomes]

        def record(db: sqlite_utils.Database) -> None:
            writes.update_run(db, run.run_id, {"finished": utc_now(), "status": status, "summary": json.dumps(summary)})
            audit(db, "scan finished", {"run": run.run_id, "status": status, "outcomes": [
                {"evidence": o.path, "status": o.status, "files": o.files} for o in self.outcomes]})

        run.writer.call(record)


def _index_again(writer: CaseWriter) -> None:
    try:
        writer.call(scan_indexes.create)
    except CaseError:  # the case cannot be written: its next scan makes them
        return


def _evidence_key(path: Path) -> str:
    """The same evidence named twice (or by another segment of a split raw or EWF image) is one item."""
    resolved = path.resolve() if path.exists() else path.absolute()
    return str(first_segment(resolved) if resolved.is_file() else resolved)
