"""Everything done to one evidence item, in order: added to the case (or resumed), opened, described,
its hash started, its image verified, its objects analysed, its hash recorded, accounted for, finished."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import sqlite_utils

from ..analyzers.net import analyse_in_child
from ..case import audit, units, writes
from ..case.store import crash_point
from ..errors import Cancelled, EvidenceError
from ..evidence import EvidenceSource, open_evidence
from ..evidence.disk import DiskImage
from ..formatting import utc_now
from .carried import CarriedObjects
from .carving import CarvedSource
from .examine import Examiner
from .integrity import ContainerHashing, record_container_hash, verify_image
from .options import ScanRun
from .parts import Handout, Parts, account_of
from .progress import Outcome, Progress
from .record import EvidenceRecord, FileIds, Tally
from .workers import WorkerPool


class EvidenceRun:
    """One evidence item in one scan run; its outcome joins the run's outcomes as soon as it starts. With `parts`
    (a unit of a spread scan), a disk image's or a folder's files are handed on in parts to other workers instead
    of examined here, and the item is ended by the scan's process once they all are (pipeline/parts.py)."""

    def __init__(self, run: ScanRun, path: Path, key: str, parts: Parts | None = None) -> None:
        self.run = run
        self.path = path
        self.key = key  # as the case knows it: evidence.path
        self.outcome = Outcome(str(path), "failed")
        self.tally = Tally()
        self.evidence_id = 0
        self.parts = parts
        self.in_parts = False  # its files handed on in parts: the item's ledger and end are the scan's process's
        self.ids = FileIds(run.writer) if parts is None else FileIds(
            run.writer, on_block=lambda db, first: units.took_block(db, parts.unit.id, first))

    def stages(self) -> Iterator[Progress]:
        """Add the item to the case (or take up an interrupted one again, or skip one already examined), then
        examine it."""
        writer = self.run.writer
        writer.call(writes.settle_for_bulk_writes)
        previous = writer.call(lambda db: writes.evidence_status(db, self.key))
        if previous and previous[1] in ("done", "partial"):
            self.outcome = Outcome(str(self.path), "already processed", previous[0],
                                   f"already in the case (status {previous[1]}); skipped")
            self.run.outcomes.append(self.outcome)
            return
        if previous:  # interrupted (killed, cancelled, failed): examined again from the start, exactly once
            self.evidence_id = previous[0]
            def forget(db: sqlite_utils.Database) -> None:
                if self.parts is not None and units.has_parts(db, self.parts.unit.id):  # others' parts' rows stay
                    writes.forget_examination(db, previous[0], units.blocks(db, self.parts.unit.id), lister=True)
                else:
                    writes.forget_evidence(db, previous[0])
                writes.update_evidence(db, previous[0], {"status": "added"})

            writer.call(forget)
        else:
            self.evidence_id = writer.call(lambda db: writes.add_evidence(db, self.key, utc_now()))
        self.outcome.evidence_id = self.evidence_id
        self.run.outcomes.append(self.outcome)
        yield from self._examine()

    def _examine(self) -> Iterator[Progress]:
        """Open, describe, hash, verify, analyse and finish; evidence that cannot be read ends only this item."""
        hashing: ContainerHashing | None = None
        source: EvidenceSource | None = None
        try:
            source = open_evidence(self.path, capture_analysis=analyse_in_child)
            ewf_image = source if isinstance(source, DiskImage) and source.format == "ewf" else None
            if isinstance(source, DiskImage):
                source.listing_stall_seconds = self.run.options.listing_stall_seconds
            evidence = self._describe(source)
            hashing = ContainerHashing(source.container_files, ewf_image is not None)
            if ewf_image is not None and self.run.options.verify_images:
                yield from verify_image(evidence, ewf_image, self.run.cancel)
            yield from self._analyse(evidence)
            yield from record_container_hash(evidence, hashing, self.run.cancel)
            self._finish("partial" if source.problems else "done", "; ".join(source.problems) or None, source)
        except Cancelled:
            self._finish("cancelled", "cancelled by the examiner", source)
        except EvidenceError as error:
            self._finish("failed", str(error), source)
        finally:
            if hashing is not None and hashing.is_alive():
                hashing.stop.set()
                hashing.join()
            if source is not None:
                source.close()

    def _describe(self, source: EvidenceSource) -> EvidenceRecord:
        """What the evidence is, and what its container says it holds, recorded before anything is read."""
        writer = self.run.writer
        segments = source.container_files
        stored = source.stored_hashes() if isinstance(source, DiskImage) else {}
        row = {"segments": json.dumps([str(p.resolve()) for p in segments]), "kind": source.KIND, "format": source.format,
               "size": sum(p.stat().st_size for p in segments) if segments else None,
               "stored_md5": stored.get("md5"), "stored_sha1": stored.get("sha1"),
               "status": "processing", "verified": "not applicable" if not stored else None}
        writer.call(lambda db: writes.update_evidence(db, self.evidence_id, row))
        writer.call(lambda db: audit(db, "evidence added", {
            "evidence": self.key, "kind": source.KIND, "format": source.format, "size": row["size"],
            "segments": [str(p.resolve()) for p in segments], "stored_md5": row["stored_md5"],
            "stored_sha1": row["stored_sha1"]}))
        crash_point("evidence-added")
        return EvidenceRecord(writer, self.run.run_id, self.evidence_id, self.path, self.key, source, self.ids, self.tally)

    def _analyse(self, evidence: EvidenceRecord) -> Iterator[Progress]:
        """The objects examined by the worker threads, the carried ones stored, and the item accounted for."""
        carried = CarriedObjects(self.run.case_dir)
        examiner = Examiner(self.run, evidence, carried)
        self.in_parts = self.parts is not None and evidence.source.IN_PARTS
        pool: WorkerPool | Handout = WorkerPool(self.run, evidence, examiner)
        if self.parts is not None and self.in_parts:
            pool = Handout(self.run, evidence, self.parts)
            evidence.unhash_later = self.parts.unhash_later
        try:
            yield from pool.analyse()
            options = self.run.options
            if pool.write_error is None and isinstance(evidence.source, DiskImage) and (options.carve or options.carve_slack):
                yield from self._carve(evidence, examiner)
        finally:
            carried.wait(evidence.source)
        if pool.write_error is not None:
            raise pool.write_error
        yield evidence.progress(True)
        self._account(evidence)
        if self.run.cancel.is_set():
            raise Cancelled()
        if pool.listing_error is not None and pool.listed == 0:
            raise pool.listing_error
        if pool.listing_error is not None:
            evidence.source.problems.append(str(pool.listing_error))

    def _carve(self, evidence: EvidenceRecord, examiner: Examiner) -> Iterator[Progress]:
        """The carving stage: each volume's unallocated space carved once its files are examined, the carved files
        examined by a pool of their own, and each one's image ranges written as its artefact."""
        assert isinstance(evidence.source, DiskImage)  # the caller's check
        options = self.run.options
        carved = CarvedSource(evidence.source, self.run.case_dir, options.listing_stall_seconds, options.carve,
                              options.carve_slack)
        pool = WorkerPool(self.run, replace(evidence, source=carved), examiner)
        yield from pool.analyse()
        if pool.write_error is not None:
            raise pool.write_error
        rows = carved.artefact_rows(self.evidence_id)
        if rows:
            self.run.writer.add_rows("artifacts", rows)
        if pool.listing_error is not None:
            evidence.source.problems.append(f"carving: {pool.listing_error}")

    def _account(self, evidence: EvidenceRecord) -> None:
        """Write the partitions, the completeness ledger and the problems met."""
        source = evidence.source
        ledger = source.ledger
        partitions = [{"evidence_id": self.evidence_id, **asdict(p)} for p in source.partitions]
        stages = [{"evidence_id": self.evidence_id, "run_id": self.run.run_id, "stage": stage,
                   "attempted": s["attempted"], "processed": s["processed"],
                   "skipped": sum(s["skipped"].values()), "reasons": json.dumps(s["skipped"], ensure_ascii=False)}
                  for stage, s in ledger.stages.items()]
        problems = [{"evidence_id": self.evidence_id, "run_id": self.run.run_id, "stage": stage, "object": obj,
                     "message": message} for stage, obj, message in ledger.warnings]
        if self.in_parts:  # the ledger and problems merged with the parts' once they have ended (parts.py)
            stages, problems = [], []
        for table, rows in (("partitions", partitions), ("ledger", stages), ("problems", problems)):
            if rows:
                self.run.writer.add_rows(table, rows)

    def _finish(self, status: str, message: str | None, source: EvidenceSource | None) -> None:
        self.outcome.status = status
        self.outcome.message = message
        self.outcome.files = self.tally.done
        self.outcome.findings = dict(self.tally.findings)
        if self.parts is not None and self.in_parts and source is not None:  # ended by the scan's process
            kept = status in ("done", "partial")
            self.parts.account = account_of(source.ledger, source.problems if kept else [],
                                            source.unreadable_paths() if kept else [], self.parts.unhash_later)
            return

        def record(db: Any) -> None:
            writes.update_evidence(db, self.evidence_id, {"status": status, "error": message, "processed_at": utc_now()})
            writes.retag(db, self.evidence_id)
            audit(db, f"evidence {status}", {"evidence": self.key, "message": message, "files": self.tally.done,
                                              "findings": self.outcome.findings})

        self.run.writer.call(record)
        crash_point("evidence-finished")

