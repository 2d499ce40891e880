"""A disk image or a folder examined by several workers at once, in a scan spread over workstations (--broker).

The worker that takes the item's unit opens it, describes and verifies it, and lists its files, as a local scan
does; but instead of examining them it writes them down in parts of about `unit_bytes` of content (at most
PART_FILES files), each a unit of its own in the case store, which the scan's process sends to whichever worker is
free. That worker opens its own copy of the evidence (the share) and examines the part's files as a local scan
would. The listing unit then carves an image, if asked, and hashes it. Once every unit of the item has ended, the
scan's process merges what each found of the item's completeness into its ledger and ends the evidence item
(`finish_evidence`). A local scan, and a spread scan without parts, never come here.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..case import audit, units, writes
from ..errors import CaseError, EvidenceError
from ..evidence import EvidenceObject, EvidenceSource, Ledger, open_evidence
from ..evidence.base import Content, ObjectRef
from ..evidence.folder import unreadable_summary
from ..formatting import utc_now
from .carried import CarriedObjects
from .examine import Examiner
from .options import ScanRun
from .progress import PROGRESS_SECONDS, Outcome, Progress
from .record import EvidenceRecord, FileIds, Tally
from .workers import WorkerPool

PART_FILES = 2000  # files in one part at most: a part of many small files costs its worker per file, not per byte
UNIT_BYTES = 256 * 1024 * 1024  # content in one part, by default (scan --unit-mb)


@dataclass
class Parts:
    """The unit of an evidence item whose files are handed on in parts, and its account so far."""

    unit: units.Unit
    run_id: int
    unit_bytes: int
    account: str | None = None  # what units.finish stores once it is handed on: ledger, warnings, problems (JSON)
    unhash_later: list[tuple[list, str]] = field(default_factory=list)  # files in damaged sectors (integrity.py)


class Handout:
    """The listing of an evidence item, written down part by part as units for other workers; in place of a
    WorkerPool for the listing unit, with the pool's view of how the listing went."""

    def __init__(self, run: ScanRun, evidence: EvidenceRecord, parts: Parts) -> None:
        self.run, self.evidence, self.parts = run, evidence, parts
        self.listed = 0
        self.listing_error: EvidenceError | None = None
        self.write_error: CaseError | None = None  # the parts could not be written down: the unit fails

    def analyse(self) -> Iterator[Progress]:
        """List the evidence on a thread (the listing process's messages are read there), writing each part down,
        yielding progress; stopped iterating, the listing is cancelled, as a WorkerPool's is."""
        thread = threading.Thread(target=self._list, name="walk", daemon=True)
        thread.start()
        try:
            while thread.is_alive():
                thread.join(PROGRESS_SECONDS)
                yield self.evidence.progress(False)
        finally:
            if thread.is_alive():  # the caller stopped iterating
                self.run.cancel.set()
                thread.join()

    def _list(self) -> None:
        entries: list[list] = []
        size, number = 0, 0
        try:
            for obj in self.evidence.source.objects(self.run.cancel):
                self.listed += 1
                with self.evidence.tally.lock:
                    self.evidence.tally.found += 1
                entries.append(self.evidence.source.entry(obj))
                size += obj.size if obj.content is not None else 0
                if size >= self.parts.unit_bytes or len(entries) >= PART_FILES:
                    self._write_down(number, entries)
                    entries, size, number = [], 0, number + 1
        except CaseError as error:  # the case cannot be written: the unit fails
            self.write_error = error
            self.run.cancel.set()
            entries = []
        except EvidenceError as error:
            self.listing_error = error
        except Exception as error:  # a corrupt filesystem must not lose what was listed
            self.listing_error = EvidenceError(f"listing stopped: {error}")
        try:
            if entries:  # what was listed before a failure is examined too
                self._write_down(number, entries)
        except CaseError as error:
            self.write_error = error

    def _write_down(self, number: int, entries: list[list]) -> None:
        text = json.dumps(entries, ensure_ascii=False)
        self.run.writer.call(lambda db: units.add_part(db, self.parts.unit, self.parts.run_id, number, text))


def examine_part(run: ScanRun, unit: units.Unit, latest: list[Progress]) -> tuple[Outcome, str]:
    """Examine the files of one part on this worker's copy of the evidence: its outcome, and its account."""
    entries = json.loads(run.writer.call(lambda db: units.objects(db, unit.id)))
    try:
        source = _Part(open_evidence(Path(unit.path)), entries)
    except EvidenceError as error:
        return Outcome(unit.path, "failed", unit.evidence_id, str(error)), account_of(Ledger(), [str(error)], [])
    ids = FileIds(run.writer, on_block=lambda db, first: units.took_block(db, unit.id, first))
    evidence = EvidenceRecord(run.writer, run.run_id, unit.evidence_id, Path(unit.path), unit.key, source, ids, Tally())
    carried = CarriedObjects(run.case_dir)
    pool = WorkerPool(run, evidence, Examiner(run, evidence, carried))
    try:
        for progress in pool.analyse():
            latest[:] = [progress]
    finally:
        carried.wait(source)
        source.close()
    if pool.write_error is not None:
        raise pool.write_error
    if pool.listing_error is not None:
        source.problems.append(str(pool.listing_error))
    status = "cancelled" if run.cancel.is_set() else "partial" if source.problems else "done"
    return (Outcome(unit.path, status, unit.evidence_id, "; ".join(source.problems) or None, evidence.tally.done),
            account_of(source.ledger, source.problems, source.unreadable_paths()))


class _Part(EvidenceSource):
    """The files of one part, made again from their listing by the evidence opened on this worker; its ledger and
    problems are the evidence's."""

    KIND = "part"

    def __init__(self, whole: EvidenceSource, entries: list[list]) -> None:
        super().__init__(whole.path)
        self.whole, self.entries = whole, entries
        self.format, self.ledger, self.problems = whole.format, whole.ledger, whole.problems

    @property
    def container_files(self) -> list[Path]:
        return self.whole.container_files

    def objects(self, cancelled: threading.Event) -> Iterator[EvidenceObject]:
        for entry in self.entries:
            if cancelled.is_set():
                return
            yield self.whole.listed(entry)

    def open(self, ref: ObjectRef) -> Content:
        return self.whole.open(ref)

    def content_unreadable(self, path: str) -> None:
        self.whole.content_unreadable(path)

    def unreadable_paths(self) -> list[str]:
        return self.whole.unreadable_paths()

    def close(self) -> None:
        self.whole.close()


def account_of(ledger: Ledger, problems: list[str], unreadable: list[str],
               unhash: list[tuple[list, str]] | None = None) -> str:
    """What one unit found of its evidence item's completeness, as units.finish keeps it (JSON): the paths it could
    not read, and the files found in damaged sectors, for the listing unit."""
    return json.dumps({"stages": ledger.stages, "warnings": ledger.warnings, "problems": problems,
                       "unreadable": unreadable, "unhash": unhash or []}, ensure_ascii=False)


def merged_problems(accounts: list[dict[str, Any]]) -> list[str]:
    """The units' problems in turn, their counts of a folder's paths not read made one, as a local scan's (where
    the first unit's count stood)."""
    problems: list[str] = []
    unreadable: set[str] = set()
    count_at: int | None = None
    for account in accounts:
        paths = account.get("unreadable", [])
        own_count = unreadable_summary(len(paths)) if paths else None
        for line in account["problems"]:
            if line == own_count:
                count_at = len(problems) if count_at is None else count_at
            else:
                problems.append(line)
        unreadable.update(paths)
    if unreadable:
        problems.insert(len(problems) if count_at is None else count_at, unreadable_summary(len(unreadable)))
    return problems


def finish_evidence(db: Any, unit: units.Unit, parts: list[units.Unit], run_id: int) -> Outcome:
    """Once every unit of an image examined in parts has ended: its ledger and problems from their accounts, its
    status (partial when a part was not examined to its end), its tags put back, and the audit entry."""
    ledger, unhash = Ledger(), []
    written = units.accounts(db, unit.id)
    accounts = [json.loads(written.get(each.id, '{"stages": {}, "warnings": [], "problems": []}'))
                for each in [unit, *parts]]
    for account in accounts:
        ledger.add_counts(account["stages"])
        ledger.warnings.extend(tuple(warning) for warning in account["warnings"])
        unhash.extend(account.get("unhash", []))
    problems = merged_problems(accounts)
    status, message = unit.status, unit.message
    lost = [part for part in parts if part.status not in ("done", "partial")]
    if status in ("done", "partial") and lost:
        status = "partial"
        problems.append(f"{len(lost)} of {len(parts)} parts of its files not examined: {lost[0].message or lost[0].status}")
    if status in ("done", "partial"):
        status, message = ("partial" if problems else "done"), "; ".join(problems) or None
    elif status == "quarantined":
        status = "failed"
    stages = [{"evidence_id": unit.evidence_id, "run_id": run_id, "stage": stage, "attempted": s["attempted"],
               "processed": s["processed"], "skipped": sum(s["skipped"].values()),
               "reasons": json.dumps(s["skipped"], ensure_ascii=False)} for stage, s in ledger.stages.items()]
    every = [unit, *parts]
    examined = sum(each.status in ("done", "partial") for each in every)
    stages.append({"evidence_id": unit.evidence_id, "run_id": run_id, "stage": "unit", "attempted": len(every),
                   "processed": examined, "skipped": len(every) - examined,
                   "reasons": json.dumps(_examined_by(every), ensure_ascii=False)})
    db.table("ledger").insert_all(stages)
    db.table("problems").insert_all([{"evidence_id": unit.evidence_id, "run_id": run_id, "stage": stage,
                                      "object": obj, "message": text} for stage, obj, text in ledger.warnings])
    for stored_at, note in unhash:  # now that every part's files are in
        writes.unhash_files(db, unit.evidence_id, run_id, [tuple(where) for where in stored_at], note)
    files, findings = units.evidence_tally(db, unit.evidence_id)
    writes.update_evidence(db, unit.evidence_id, {"status": status, "error": message, "processed_at": utc_now()})
    writes.retag(db, unit.evidence_id)
    audit(db, f"evidence {status}", {"evidence": unit.key, "message": message, "files": files, "findings": findings,
                                      "units": 1 + len(parts)})
    return Outcome(unit.path, status, unit.evidence_id, message, files, findings)


def _examined_by(every: list[units.Unit]) -> dict[str, int]:
    """The ledger's reasons for the unit stage: how many units each worker examined, and those none did."""
    reasons: dict[str, int] = {}
    for each in every:
        reason = f"examined by {each.worker}" if each.status in ("done", "partial") else \
            f"{each.status}: {each.message or 'not examined'}"
        reasons[reason] = reasons.get(reason, 0) + 1
    return reasons
