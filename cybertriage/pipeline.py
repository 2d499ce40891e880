"""The triage pipeline: evidence → objects → analyzers (worker threads) → one case writer.

The CLI and the GUI drive the same `Scan`: iterate `Scan.run()` for progress
events, set the cancel event to stop. Each object's content is read once, in
chunks, and the same chunks feed hashing, type detection and YARA. hashlib,
libmagic and yara-python release the GIL on large buffers, so worker threads keep
both cores busy without copying content between processes.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .analyzers import Analyzer, Finding, Item, Settings, build_analyzers
from .analyzers.filetype import EXECUTABLE_MIMES, extension_of
from .analyzers.net import analyse_in_child
from .analyzers.yara_scan import YaraScan
from .case import CaseWriter, audit, timeline
from .case.objects import keep_carried
from .case.store import crash_point, mark_run_failed
from .correlate import correlate
from .errors import Cancelled, CaseError, CybertriageError, EvidenceError, UsageError
from .evidence import EvidenceObject, EvidenceSource, open_evidence
from .evidence.disk import LISTING_STALL_SECONDS, DiskImage, split_raw_segments
from .evidence.integrity import ContainerHash, hash_files
from .formatting import utc_now
from .intel import Intel, ioc_pass
from .score import score_object
from .severity import SEVERITY_RANK

ROW_BATCH = 256
# Carried objects remembered by sha256 and name, so that repeats are not examined again: at most this many,
# holding at most this many indicators between them (a bounded few tens of MB).
MAX_EXAMINED, MAX_EXAMINED_INDICATORS = 4096, 100_000
NETWORK_TABLES = {"flow": "flows", "dns": "dns", "http": "http", "tls": "tls", "smtp": "smtp", "ftp": "ftp",
                  "credential": "credentials", "host": "hosts"}
PROGRESS_SECONDS = 0.2
# The evidence's own hash is wanted only when its analysis ends: its thread yields a busy core to the analysis
# (on a two-core workstation, the capture analysis process and the scan's threads would otherwise take turns).
HASH_NICENESS = 10
STORE_AHEAD = 16  # carried objects waiting to be written to the case's object store
# An EWF image whose stored MD5/SHA-1 matched, while its chunks' own checksums are still being checked.
CHUNKS_PENDING = "hashes match; chunks not checked yet"


@dataclass
class Progress:
    """Where the scan is: the evidence and stage, and how much is done of what is known."""

    evidence: str
    stage: str  # hashing evidence | verifying image | analysing | matching IOCs | indexing times | correlating | finished
    objects_found: int = 0
    objects_done: int = 0
    bytes_done: int = 0
    bytes_total: int | None = None
    listing_done: bool = False


@dataclass
class Outcome:
    """What became of one evidence item in this run."""

    path: str
    status: str  # done | partial | failed | cancelled | already processed
    evidence_id: int | None = None
    message: str | None = None
    files: int = 0
    findings: dict[str, int] = field(default_factory=dict)


@dataclass
class ScanOptions:
    jobs: int = field(default_factory=lambda: os.cpu_count() or 2)
    verify_images: bool = True
    settings: Settings = field(default_factory=Settings)  # analyzer limits and the YARA rule paths
    listing_stall_seconds: float = LISTING_STALL_SECONDS  # a disk listing making no progress this long is stopped


class _Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.found = self.done = self.bytes = 0
        self.findings: dict[str, int] = {}


class Scan:
    """One run over a list of evidence into one case."""

    def __init__(self, case_dir: Path, evidence: list[Path], options: ScanOptions,
                 cancel: threading.Event | None = None) -> None:
        self.case_dir = case_dir
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
            options = {"jobs": self.options.jobs, "analyzers": {a.NAME: a.VERSION for a in self.analyzers},
                       "yara": self.settings.rule_paths is not None,
                       "rules": [str(p) for p in self.settings.rule_paths or ()],
                       "verify_images": self.options.verify_images,
                       **(self.settings.intel.record() if self.settings.intel else {})}

            def start(db: Any) -> int:
                # The writer holds the case's lock, so a run still 'running' is one that was killed.
                db.execute("UPDATE runs SET status = 'interrupted' WHERE status = 'running'")
                run_id = db["runs"].insert({"started": utc_now(), "status": "running", "tool_version": __version__,
                                            "rules_sha256": self.rules_sha256, "options": json.dumps(options)}).last_pk
                audit(db, "scan started", {"run": run_id, "evidence": [str(p) for p in self.evidence],
                                           "tool_version": __version__, "rules_sha256": self.rules_sha256, **options})
                return run_id

            run_id = writer.call(start)
            crash_point("scan-started")
            writer.call(timeline.drop_indexes)
            seen: set[str] = set()
            for path in self.evidence:
                key = _evidence_key(path)
                if key in seen:
                    continue
                seen.add(key)
                if self.cancel.is_set():
                    self.outcomes.append(Outcome(str(path), "cancelled", message="not started"))
                    continue
                yield from _EvidenceRun(self, writer, run_id, path, key).run()
            if self.settings.intel and self.settings.intel.ioc_lists and not self.cancel.is_set():
                yield Progress(evidence="", stage="matching IOCs", listing_done=True)
                writer.call(lambda db: _ioc_pass(db, self.settings.intel, run_id))
            yield Progress(evidence="", stage="indexing times", listing_done=True)
            writer.call(timeline.create_indexes)
            indexed = True
            if not self.cancel.is_set():
                yield Progress(evidence="", stage="correlating", listing_done=True)
                writer.call(lambda db: _correlate(db, run_id))
            status = "cancelled" if self.cancel.is_set() else "completed"
            summary = [asdict(o) for o in self.outcomes]
            writer.call(lambda db: (db["runs"].update(run_id, {"finished": utc_now(), "status": status,
                                                               "summary": json.dumps(summary)}),
                                    audit(db, "scan finished", {"run": run_id, "status": status, "outcomes": [
                                        {"evidence": o.path, "status": o.status, "files": o.files} for o in self.outcomes]})))
            yield Progress(evidence="", stage="finished", listing_done=True)
        except CaseError as error:  # disk full, read-only: the run says so now, not 'running' until the next scan
            if run_id is not None:
                mark_run_failed(self.case_dir, run_id, str(error))
            raise
        finally:
            if not indexed:  # stopped early: the timeline's indexes are made again all the same
                _index_times(writer)
            writer.close()


def _index_times(writer: CaseWriter) -> None:
    try:
        writer.call(timeline.create_indexes)
    except CaseError:  # the case cannot be written: its next scan makes them
        return


def _correlate(db: Any, run_id: int) -> None:
    """Link the case's evidence items (correlate.py); a failure there loses nothing already recorded."""
    try:
        added = correlate(db)
    except Exception as error:  # the scan's results stand without the links
        audit(db, "correlation failed", {"run": run_id, "error": f"{type(error).__name__}: {error}"})
        return
    audit(db, "correlation", {"run": run_id, "new_links": added})


def _evidence_key(path: Path) -> str:
    """The same evidence named twice (or by another segment of a split image) is one item."""
    resolved = path.resolve() if path.exists() else path.absolute()
    try:
        segments = split_raw_segments(resolved) if resolved.is_file() else None
    except (EvidenceError, OSError):
        segments = None
    return str(segments[0] if segments else resolved)


class _ContainerHash(threading.Thread):
    """sha256 of the files that hold the evidence, computed beside the analysis (a second core
    is usually free while the first files are listed, and the page cache serves both readers)."""

    def __init__(self, segments: list[Path], ewf: bool = False) -> None:
        super().__init__(name="container-hash", daemon=True)
        self.segments = segments
        self.ewf = ewf  # the segments of an E01: each chunk is checked against its checksum as it is hashed
        # Set when this evidence item's run ends before its hash does (cancelled, or failed): the hash of this
        # item stops, not the scan, whose other items go on.
        self.stop = threading.Event()
        self.total = sum(p.stat().st_size for p in segments)
        self.done = 0
        self.result: ContainerHash | None = None
        self.error: CybertriageError | None = None
        self.start()

    def run(self) -> None:
        if not self.segments:
            return
        if sys.platform.startswith("linux"):  # where a thread has a priority of its own
            with contextlib.suppress(OSError):  # a hint: refused (a container's seccomp), the hash runs all the same
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_NICENESS)
        try:
            self.result = hash_files(self.segments, self.stop, self._count, self.ewf)
        except CybertriageError as error:
            self.error = error

    def _count(self, size: int) -> None:
        self.done += size
        crash_point("hashing-evidence")


class _EvidenceRun:
    """Everything done to one evidence item: add, hash, verify, analyse, account."""

    def __init__(self, scan: Scan, writer: CaseWriter, run_id: int, path: Path, key: str) -> None:
        self.scan = scan
        self.writer = writer
        self.run_id = run_id
        self.path = path
        self.key = key
        self.outcome = Outcome(str(path), "failed")
        self.counters = _Counters()
        self.ids = itertools.count(writer.call(lambda db: (db.execute("SELECT max(id) FROM files").fetchone()[0] or 0) + 1))
        self.source: EvidenceSource | None = None
        self.evidence_id: int | None = None
        self.write_error: CaseError | None = None
        self.examined: dict[tuple, tuple] = {}  # (sha256, name, kind, size, depth) → facts, findings, skipped, executable
        self.examined_indicators = 0  # indicators held in self.examined
        self.kept: set[str] = set()  # carried objects in the case's object store, or on their way there
        # Carried objects are stored by a thread of their own: each file is synced to disk before it takes its
        # name, and the analysis threads go on meanwhile (STORE_AHEAD objects at most wait to be written).
        self.storer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="carried-objects")
        self.store_slots = threading.BoundedSemaphore(STORE_AHEAD)
        self.storing: list[tuple[str, Future]] = []  # (object path, its storing)
        self.indicated: set[str] = set()  # contents whose indicators went to the writer

    # -- the stages ----------------------------------------------------------------

    def run(self) -> Iterator[Progress]:
        scan = self.scan
        previous = self.writer.call(lambda db: db.execute(
            "SELECT id, status FROM evidence WHERE path = ?", [self.key]).fetchone())
        if previous and previous[1] in ("done", "partial"):
            self.outcome = Outcome(str(self.path), "already processed", previous[0])
            self.outcome.message = f"already in the case (status {previous[1]}); skipped"
            scan.outcomes.append(self.outcome)
            return
        if previous:  # interrupted (killed, cancelled, failed): examined again from the start, exactly once
            self.evidence_id = previous[0]
            self.writer.call(lambda db: (_forget(db, previous[0]), db["evidence"].update(previous[0], {"status": "added"})))
        else:
            self.evidence_id = self.writer.call(lambda db: db["evidence"].insert({
                "path": self.key, "status": "added", "added_at": utc_now()}).last_pk)
        self.outcome.evidence_id = self.evidence_id
        scan.outcomes.append(self.outcome)
        hashing: _ContainerHash | None = None
        try:
            self.source = open_evidence(self.path, capture_analysis=analyse_in_child)
            if isinstance(self.source, DiskImage):
                self.source.listing_stall_seconds = scan.options.listing_stall_seconds
            self._record_evidence()
            hashing = _ContainerHash(self.source.container_files,
                                     isinstance(self.source, DiskImage) and self.source.format == "ewf")
            if isinstance(self.source, DiskImage) and self.source.format == "ewf" and scan.options.verify_images:
                yield from self._verify_image()
            yield from self._analyse()
            yield from self._record_container_hash(hashing)
            problems = self.source.problems
            self._finish("partial" if problems else "done", "; ".join(problems) or None)
        except Cancelled:
            self._finish("cancelled", "cancelled by the examiner")
        except EvidenceError as error:
            self._finish("failed", str(error))
        finally:
            if hashing is not None and hashing.is_alive():
                hashing.stop.set()
                hashing.join()
            if self.source is not None:
                self.source.close()

    def _record_evidence(self) -> None:
        """What the evidence is, and what its container says it holds, before anything is read."""
        source = self.source
        segments = source.container_files
        stored = source.stored_hashes() if isinstance(source, DiskImage) else {}
        row = {"segments": json.dumps([str(p.resolve()) for p in segments]), "kind": source.KIND, "format": source.format,
               "size": sum(p.stat().st_size for p in segments) if segments else None,
               "stored_md5": stored.get("md5"), "stored_sha1": stored.get("sha1"),
               "status": "processing", "verified": "not applicable" if not stored else None}
        self.writer.call(lambda db: db["evidence"].update(self.evidence_id, row))
        self.writer.call(lambda db: audit(db, "evidence added", {
            "evidence": self.key, "kind": source.KIND, "format": source.format, "size": row["size"],
            "segments": [str(p.resolve()) for p in segments], "stored_md5": row["stored_md5"],
            "stored_sha1": row["stored_sha1"]}))
        crash_point("evidence-added")

    def _record_container_hash(self, hashing: _ContainerHash) -> Iterator[Progress]:
        """Wait for the container files' sha256 (taken while the analysis ran) and record it."""
        progress = Progress(str(self.path), "hashing evidence", bytes_total=hashing.total)
        while hashing.is_alive():
            if self.scan.cancel.is_set():  # the examiner stopped the scan while its hash was still being taken
                hashing.stop.set()
            hashing.join(PROGRESS_SECONDS)
            progress.bytes_done = hashing.done
            yield progress
        if hashing.error is not None:
            raise hashing.error
        result = hashing.result
        if result is None:
            return
        if result.unreadable and isinstance(self.source, DiskImage) and self.source.format != "ewf":
            self._unhash_unreadable_files(result)
        if result.unreadable:  # a failing medium: what could not be read, to the byte (the ledger is already written)
            self.writer.add_rows("problems", [{
                "evidence_id": self.evidence_id, "run_id": self.run_id, "stage": "evidence", "object": bad.file,
                "message": f"bytes {bad.offset}-{bad.offset + bad.length - 1} unreadable ({bad.error}); hashed as zeros"}
                for bad in result.unreadable])
            count = sum(bad.length for bad in result.unreadable)
            self.source.problems.append(f"{count} bytes of the evidence unreadable in {len(result.unreadable)} "
                                        "range(s); sha256 taken with them as zeros")
        damage = result.damage_note()
        if damage:
            self._record_damaged_chunks(result, damage)
        else:  # the stored hashes matched, and every chunk passed its checksum
            self.writer.call(lambda db: db.execute("UPDATE evidence SET verified = 'verified' WHERE id = ? AND verified = ?",
                                                   [self.evidence_id, CHUNKS_PENDING]))
        self.writer.call(lambda db: (db["evidence"].update(self.evidence_id, {"sha256": result.sha256}),
                                     audit(db, "evidence hashed", {
                                         "evidence": self.key, "sha256": result.sha256, "bytes": result.size,
                                         "unreadable": [str(bad) for bad in result.unreadable],
                                         **({"damaged_chunks": damage} if damage else {})})))

    def _record_damaged_chunks(self, result: ContainerHash, damage: str) -> None:
        """E01 chunks whose checksum fails (libewf read them as zeros): each sector range is a problem, the files
        stored there lose their hashes, the image is not "verified" whatever its MD5 says, and the scan is partial."""
        self.writer.add_rows("problems", [{
            "evidence_id": self.evidence_id, "run_id": self.run_id, "stage": "evidence", "object": bad.segment,
            "message": f"sectors {bad.first}-{bad.first + bad.count - 1} (bytes {bad.offset}-{bad.offset + bad.length - 1} "
                       f"of the media) damaged: {bad.reason}; read as zeros"} for bad in result.damaged])
        if result.chunks_unchecked:
            self.writer.add_rows("problems", [{"evidence_id": self.evidence_id, "run_id": self.run_id,
                                               "stage": "evidence", "object": str(self.path), "message": damage}])
        self._unhash_files_in([(bad.offset, bad.length) for bad in result.damaged],
                              "unreadable content: stored in sectors of the EWF image whose chunk checksum fails")
        verdict = "damaged chunks" if result.damaged else "chunks not checked"
        self.writer.call(lambda db: db["evidence"].update(self.evidence_id, {"verified": verdict}))
        self._record_findings(None, [Finding(
            "integrity", "ewf-damaged-chunks", "critical", "EWF image has chunks whose checksum fails",
            {"damaged": [str(bad) for bad in result.damaged], "unchecked": result.chunks_unchecked})])
        self.source.problems.append(damage)

    def _unhash_unreadable_files(self, result: ContainerHash) -> None:
        """Files stored in sectors that could not be read were read as zeros by Sleuth Kit (it reads a raw
        image itself and does not report the error): take their hashes and type back and say why."""
        starts, offset = {}, 0
        for segment in self.source.container_files:
            starts[str(segment)] = offset
            offset += segment.stat().st_size
        ranges = [(starts[bad.file] + bad.offset, bad.length) for bad in result.unreadable if bad.file in starts]
        self._unhash_files_in(ranges, "unreadable content: stored in sectors of the evidence that could not be read")

    def _unhash_files_in(self, ranges: list[tuple[int, int]], note: str) -> None:
        """Files stored (partly) in these (offset, length) ranges of the image lose their hashes and type, are
        noted, and counted in the ledger as skipped for unreadable sectors."""
        damaged = list(self.source.objects_stored_in(ranges, self.scan.cancel)) if ranges else []
        if not damaged:
            return

        def record(db: Any) -> None:
            for obj in damaged:
                db.execute(
                    """WITH RECURSIVE hit(id) AS (
                           SELECT id FROM files WHERE evidence_id = ? AND partition_offset = ? AND path = ? AND inode IS ?
                           UNION SELECT f.id FROM files f JOIN hit ON f.parent_id = hit.id)
                       UPDATE files SET md5 = NULL, sha1 = NULL, sha256 = NULL, mime = NULL, description = NULL,
                           ext_mismatch = 0, note = ? WHERE id IN hit""",
                    [self.evidence_id, obj.partition_offset, obj.path, obj.inode, note])
            db["problems"].insert_all([{"evidence_id": self.evidence_id, "run_id": self.run_id, "stage": "content",
                                        "object": obj.path, "message": note} for obj in damaged])
            db.execute("""UPDATE ledger SET processed = processed - ?, skipped = skipped + ?,
                              reasons = json_set(reasons, '$."unreadable sectors"', ?)
                          WHERE evidence_id = ? AND run_id = ? AND stage = 'content'""",
                       [len(damaged), len(damaged), len(damaged), self.evidence_id, self.run_id])

        self.writer.call(record)

    def _verify_image(self) -> Iterator[Progress]:
        """Recompute the hashes an EWF image stores of the acquired media, and compare."""
        source = self.source
        stored = source.stored_hashes()
        if not stored:
            self.writer.call(lambda db: db["evidence"].update(self.evidence_id, {"verified": "no stored hash"}))
            return
        progress = Progress(str(self.path), "verifying image", bytes_total=source.size)
        events: queue.Queue = queue.Queue()
        result: dict[str, Any] = {}

        def verify() -> None:
            try:
                result["hashes"] = source.verify_media(set(stored), events.put, self.scan.cancel)
            except (EvidenceError, Cancelled) as error:
                result["error"] = error
            events.put(None)

        worker = threading.Thread(target=verify, name="verify", daemon=True)
        worker.start()
        last = time.monotonic()
        yield progress
        while (step := events.get()) is not None:
            progress.bytes_done += step
            crash_point("verifying-image")
            if time.monotonic() - last > PROGRESS_SECONDS:
                last = time.monotonic()
                yield progress
        worker.join()
        if isinstance(result.get("error"), Cancelled):
            raise Cancelled()
        if "error" in result:
            verdict, computed = "unreadable", {}
            source.ledger.warn("verify", "", f"image could not be read in full: {result['error']}")
        else:
            computed = result["hashes"]
            # "verified" waits for the chunk checksums (_record_container_hash): libewf reads a damaged chunk as
            # zeros, and a chunk that held zeros then still gives the stored MD5
            verdict = CHUNKS_PENDING if computed == stored else "mismatch"
        self.writer.call(lambda db: db["evidence"].update(self.evidence_id, {
            "verified": verdict, "computed_md5": computed.get("md5"), "computed_sha1": computed.get("sha1")}))
        if verdict != CHUNKS_PENDING:
            self._record_findings(None, [Finding(
                "integrity", "ewf-verification", "critical",
                "EWF image does not match its stored hash" if verdict == "mismatch"
                else "EWF image could not be read in full to verify its stored hash",
                {"stored": stored, "computed": computed})])
            self.source.problems.append(f"EWF verification: {verdict}")

    def _analyse(self) -> Iterator[Progress]:
        scan = self.scan
        source = self.source
        work: queue.Queue = queue.Queue(maxsize=scan.options.jobs * 64)
        listing: dict[str, Any] = {"done": False, "error": None, "count": 0}

        def walk() -> None:
            records: dict[str, list[dict[str, Any]]] = {}
            try:
                for obj in source.objects(scan.cancel):
                    listing["count"] += 1
                    if not isinstance(obj, EvidenceObject):  # a network record: straight to its table
                        self._queue_record(obj, records)
                        continue
                    obj.id = next(self.ids)
                    with self.counters.lock:
                        self.counters.found += 1
                    work.put(obj)
                self._send(records)
            except EvidenceError as error:
                listing["error"] = error
            except Exception as error:  # a corrupt filesystem must not lose what was listed
                listing["error"] = EvidenceError(f"listing stopped: {error}")
            finally:
                listing["done"] = True
                for _ in range(scan.options.jobs):
                    work.put(None)

        threads = [threading.Thread(target=walk, name="walk", daemon=True)]
        threads += [threading.Thread(target=self._worker, args=(work,), name=f"analyse-{i}", daemon=True)
                    for i in range(scan.options.jobs)]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(PROGRESS_SECONDS)
                    yield self._progress(listing["done"])
        finally:
            if any(thread.is_alive() for thread in threads):  # the caller stopped iterating
                scan.cancel.set()
                for thread in threads:
                    thread.join()
            self._stored()
        if self.write_error is not None:
            raise self.write_error
        yield self._progress(True)
        self._account()
        if scan.cancel.is_set():
            raise Cancelled()
        error = listing["error"]
        if error is not None and listing["count"] == 0:
            raise error
        if error is not None:
            source.problems.append(str(error))

    def _progress(self, listing_done: bool) -> Progress:
        c = self.counters
        reading = self.source.reading() if self.source is not None else None
        with c.lock:  # bytes: how far through the evidence when the listing reads it (a capture), else content read
            done, total = reading if reading is not None else (c.bytes, None)
            return Progress(str(self.path), "analysing", c.found, c.done, done, total, listing_done=listing_done)

    # -- one object ------------------------------------------------------------------

    def _worker(self, work: queue.Queue) -> None:
        batch: dict[str, list[dict[str, Any]]] = {"files": [], "findings": []}
        while (obj := work.get()) is not None:
            if self.scan.cancel.is_set():
                continue  # drain the queue so the walker is not left blocked
            try:
                self._examine(obj, batch)
                if len(batch["files"]) >= ROW_BATCH:
                    self._send(batch)
            except CaseError as error:  # nowhere to put results: stop the whole scan
                self.write_error = error
                self.scan.cancel.set()
        if self.write_error is None:
            self._send(batch)

    def _queue_record(self, record: Any, records: dict[str, list[dict[str, Any]]]) -> None:
        """One network record as a row of its table (flows, dns, http, tls); lists become JSON. A finding
        about the capture (NetFinding) becomes a row of the findings."""
        if record.KIND == "net_finding":
            finding = Finding("network", record.rule, record.severity, record.title, record.detail)
            records.setdefault("findings", []).extend(self._finding_rows(None, [finding], object_text=record.object))
            return
        row = record.row()
        row["evidence_id"] = self.evidence_id
        if record.KIND == "flow":
            row["flow_id"] = row.pop("id")
        rows = records.setdefault(NETWORK_TABLES[record.KIND], [])
        rows.append(row)
        if record.KIND == "credential":
            where = f"flow {record.flow_id} ({record.src} → {record.dst}:{record.dport})"
            findings = self._finding_rows(None, [_credential_finding(record)], object_text=where)
            records.setdefault("findings", []).extend(findings)
        if len(rows) >= ROW_BATCH:
            self._send(records)

    def _send(self, batch: dict[str, list[dict[str, Any]]]) -> None:
        for table, rows in batch.items():
            if rows:
                self.writer.add_rows(table, rows)
                batch[table] = []

    def _examine(self, obj: EvidenceObject, batch: dict[str, list[dict[str, Any]]]) -> int:
        """Read the object once, run every analyzer on it, queue its row and findings; its score."""
        ledger = self.source.ledger
        ledger.attempted("files")
        key = (obj.sha256, obj.name, obj.kind, obj.size, obj.depth) if obj.sha256 and obj.content is not None else None
        same = self.examined.get(key) if key is not None else None
        if same is not None:  # the same bytes under the same name, already examined: the same facts and findings
            ledger.attempted("content")
            ledger.processed("content")
            with self.counters.lock:
                self.counters.bytes += obj.size
            facts, findings, skipped, executable = same
            findings = list(findings)
            note, worst_member = None, None
        else:
            item = Item(obj)
            note = obj.unreadable
            if obj.content is not None:
                ledger.attempted("content")
                note = self._read(item)
                if note is None:
                    ledger.processed("content")
                else:
                    reason, _, detail = note.partition(": ")
                    ledger.skipped("content", reason, obj.path, detail or None)
                    if reason == "unreadable content" and obj.depth == 0:
                        self.source.content_unreadable(obj.path)
            elif obj.unreadable:
                ledger.attempted("content")
                ledger.skipped("content", obj.unreadable)
            findings = []
            worst_member = None
            failed = False
            for analyzer in self.scan.analyzers:
                try:
                    for output in analyzer.analyze(item):
                        if isinstance(output, Finding):
                            findings.append(output)
                            continue
                        output.id, output.parent_id, output.depth = next(self.ids), obj.id, obj.depth + 1
                        with self.counters.lock:
                            self.counters.found += 1
                        member_score = self._examine(output, batch)
                        if worst_member is None or member_score > worst_member[1]:
                            worst_member = (output.path, member_score)
                except Exception as error:  # one analyzer's failure on one object must not stop the run
                    failed = True
                    ledger.skipped(analyzer.NAME, "analyzer error", obj.path, f"{type(error).__name__}: {error}")
            facts, skipped = item.facts, item.skipped
            executable = facts.get("mime") in EXECUTABLE_MIMES and item.head.startswith((b"MZ", b"\x7fELF"))
            # Reused only when nothing in the result depends on more than the bytes and the name (PE checks read mtime).
            if (key is not None and note is None and not failed and worst_member is None and facts.get("sha256") == obj.sha256
                    and not item.head.startswith(b"MZ") and not any(reason == "timed out" for _, reason in skipped)
                    and len(self.examined) < MAX_EXAMINED
                    and self.examined_indicators + len(facts.get("indicators", ())) <= MAX_EXAMINED_INDICATORS):
                self.examined[key] = (facts, tuple(findings), tuple(skipped), executable)
                self.examined_indicators += len(facts.get("indicators", ()))
        if obj.origin and executable:
            findings.append(Finding("network", "executable-download", "high", f"Executable carried over the network: "
                                    f"{obj.origin}", {"origin": obj.origin, "flow_id": obj.flow_id}))
        if obj.flow_id is not None and note is None and facts.get("sha256"):
            self._keep_carried(obj, facts["sha256"])
        for stage, reason in skipped:
            ledger.skipped(stage, reason, obj.path)
        ledger.processed("files")
        score = score_object(obj.path, obj.deleted, facts.get("mime"), findings, worst_member, obj.origin)
        batch["files"].append({
            "id": obj.id, "evidence_id": self.evidence_id, "parent_id": obj.parent_id,
            "partition_offset": obj.partition_offset, "path": obj.path, "name": obj.name,
            "extension": extension_of(obj.name), "inode": obj.inode, "kind": obj.kind, "deleted": int(obj.deleted),
            "size": obj.size, "md5": facts.get("md5"), "sha1": facts.get("sha1"), "sha256": facts.get("sha256"),
            "mime": facts.get("mime"), "description": facts.get("description"),
            "ext_mismatch": int(bool(facts.get("ext_mismatch"))),
            "mtime": obj.mtime, "atime": obj.atime, "ctime": obj.ctime, "crtime": obj.crtime, "note": note,
            "origin": obj.origin, "flow_id": obj.flow_id,
            "score": score.value, "reasons": json.dumps(score.reasons, ensure_ascii=False) if score.reasons else None,
            "pe": json.dumps(facts["pe"], ensure_ascii=False, default=str) if "pe" in facts else None,
            "known": facts.get("known"), "known_set": facts.get("known_set"),
        })
        batch["findings"].extend(self._finding_rows(obj, findings))
        sha256 = facts.get("sha256")
        if sha256 and facts.get("indicators") and sha256 not in self.indicated:  # once per content
            self.indicated.add(sha256)
            batch.setdefault("indicators", []).extend(
                {"sha256": sha256, "kind": kind, "value": value, "offset": offset}
                for kind, value, offset in facts["indicators"])
        with self.counters.lock:
            self.counters.done += 1
        return score.value

    def _keep_carried(self, obj: EvidenceObject, sha256: str) -> None:
        """A capture holds a carried object only as packets: keep its bytes in the case to view and export."""
        if sha256 in self.kept:
            return
        self.kept.add(sha256)
        self.store_slots.acquire()
        storing = self.storer.submit(keep_carried, self.scan.case_dir, sha256, obj.content)
        storing.add_done_callback(lambda _: self.store_slots.release())
        self.storing.append((obj.path, storing))

    def _stored(self) -> None:
        """Wait until every carried object is in the case's object store; the ledger tells those that are not."""
        self.storer.shutdown(wait=True)
        failures = []
        for path, storing in self.storing:
            error = storing.exception()
            if error is not None:
                self.source.ledger.skipped("objects", "carried object not stored", path, str(error))
                failures.append(str(error))
        if failures:  # their bytes cannot be viewed or extracted later: the evidence was examined only in part
            self.source.problems.append(f"{len(failures)} carried objects not stored in the case: {failures[0]}")
        self.storing.clear()

    def _read(self, item: Item) -> str | None:
        def count(size: int) -> None:
            with self.counters.lock:
                self.counters.bytes += size

        return read_once(item, self.scan.analyzers, self.scan.settings.keep_limit, count, self.scan.cancel)

    # -- recording -------------------------------------------------------------------

    def _finding_rows(self, obj: EvidenceObject | None, findings: list[Finding],
                      object_text: str | None = None) -> list[dict[str, Any]]:
        """Rows for findings on a file (obj), or on the evidence itself or one of its records (object_text)."""
        rows = []
        for finding in findings:
            with self.counters.lock:
                self.counters.findings[finding.severity] = self.counters.findings.get(finding.severity, 0) + 1
            rows.append({
                "evidence_id": self.evidence_id, "object_kind": "file" if obj else "evidence",
                "object_id": obj.id if obj else self.evidence_id, "object": obj.path if obj else object_text or self.key,
                "analyzer": finding.analyzer, "rule": finding.rule, "severity": finding.severity,
                "severity_rank": SEVERITY_RANK[finding.severity], "title": finding.title,
                "detail": json.dumps(finding.detail, ensure_ascii=False, default=str), "created_at": utc_now(),
            })
        return rows

    def _record_findings(self, obj: EvidenceObject | None, findings: list[Finding]) -> None:
        self.writer.add_rows("findings", self._finding_rows(obj, findings))

    def _account(self) -> None:
        """Write the partitions, the completeness ledger and the problems met."""
        source = self.source
        ledger = source.ledger
        partitions = [{"evidence_id": self.evidence_id, **asdict(p)} for p in source.partitions]
        stages = [{"evidence_id": self.evidence_id, "run_id": self.run_id, "stage": stage,
                   "attempted": s["attempted"], "processed": s["processed"],
                   "skipped": sum(s["skipped"].values()), "reasons": json.dumps(s["skipped"], ensure_ascii=False)}
                  for stage, s in ledger.stages.items()]
        problems = [{"evidence_id": self.evidence_id, "run_id": self.run_id, "stage": stage, "object": obj,
                     "message": message} for stage, obj, message in ledger.warnings]
        for table, rows in (("partitions", partitions), ("ledger", stages), ("problems", problems)):
            if rows:
                self.writer.add_rows(table, rows)

    def _finish(self, status: str, message: str | None) -> None:
        self.outcome.status = status
        self.outcome.message = message
        self.outcome.files = self.counters.done
        self.outcome.findings = dict(self.counters.findings)
        def record(db: Any) -> None:
            db["evidence"].update(self.evidence_id, {"status": status, "error": message, "processed_at": utc_now()})
            _retag(db, self.evidence_id)
            audit(db, f"evidence {status}", {"evidence": self.key, "message": message, "files": self.counters.done,
                                              "findings": self.outcome.findings})

        self.writer.call(record)
        crash_point("evidence-finished")


def _credential_finding(record: Any) -> Finding:
    """A password that crossed the network in clear: the finding names it, the credentials table holds it.
    Only a user name in clear (POP3 APOP sends the password as a digest) is low."""
    outcome = {True: "accepted", False: "refused"}.get(record.accepted, "outcome unknown")
    detail = {"protocol": record.protocol, "where": record.where, "username": record.username, "src": record.src,
              "dst": record.dst, "dport": record.dport, "ts": record.ts, "flow_id": record.flow_id,
              "accepted": record.accepted}
    if record.password is None:
        return Finding("network", "cleartext-credentials", "low",
                       f"User name sent in clear ({record.where}): {record.username or '?'} to {record.dst}, {outcome}",
                       detail)
    return Finding("network", "cleartext-credentials", "medium",
                   f"Cleartext credentials ({record.where}) for {record.username or '?'} to {record.dst}, {outcome}",
                   detail)


def read_once(item: Item, analyzers: list[Analyzer], keep_limit: int,
              progress: Callable[[int], None], cancel: threading.Event) -> str | None:
    """Read an object's content once, in chunks, feeding every analyzer's stream consumer and
    keeping the whole content for YARA when it is small enough; None if all of it was read,
    else why not."""
    obj = item.obj
    consumers = [c for analyzer in analyzers if (c := analyzer.stream(item)) is not None]
    keep = obj.size <= keep_limit
    kept: list[bytes] = []
    try:
        for chunk in obj.content.chunks():
            if not item.head:
                item.head = chunk
            else:
                crash_point("mid-file")  # a second chunk: the object is being read
            for consume in consumers:
                consume(chunk)
            if keep:
                kept.append(chunk)
            progress(len(chunk))
            if cancel.is_set():
                return "cancelled"
    except Exception as error:  # I/O errors, corrupt compressed members, truncated images
        return f"unreadable content: {error}"
    item.content_read = True
    if keep:
        item.data = kept[0] if len(kept) == 1 else b"".join(kept)
    return None


def _ioc_pass(db: Any, intel: Intel, run_id: int) -> None:
    """The IOC lists over the whole case, once its evidence is in; logged in the chain of custody."""
    result = ioc_pass(db, intel, utc_now())
    audit(db, "IOC pass", {"run": run_id, "lists": [lst.name for lst in intel.ioc_lists], "hits": result.hits,
                           "new_findings": result.new, "by_source": result.by_source})


def _forget(db: Any, evidence_id: int) -> None:
    """Drop every row an interrupted earlier run left for this evidence, before examining it again from
    the start: files, findings, network records, partitions, ledger and problems; indicators belong to
    content, not to this evidence, and stay. The evidence row keeps its id; tags on its files and
    findings keep what they were on (object_key) and are put back on the same objects by _retag once
    they exist again. The audit log keeps everything."""
    for kind, table, key in (("file", "files", _FILE_KEY), ("finding", "findings", _FINDING_KEY)):
        db.execute(
            f"""UPDATE tags SET object_id = NULL, object_key = (SELECT json_object('evidence_id', t.evidence_id, {key})
                FROM [{table}] t WHERE t.id = tags.object_id)
                WHERE object_kind = ? AND object_id IN (SELECT id FROM [{table}] WHERE evidence_id = ?)""",
            [kind, evidence_id])
    tables = [t for t in db.table_names() if t != "evidence" and "evidence_id" in db[t].columns_dict]
    for table in tables:
        db.execute(f"DELETE FROM [{table}] WHERE evidence_id = ?", [evidence_id])
    db["evidence"].update(evidence_id, {column: None for column in db["evidence"].columns_dict
                                        if column not in ("id", "path", "added_at")})


# What identifies a file or a finding across two examinations of the same evidence (ids do not).
_FILE_KEY = "'partition_offset', t.partition_offset, 'path', t.path, 'inode', t.inode, 'deleted', t.deleted"
_FINDING_KEY = "'object', t.object, 'analyzer', t.analyzer, 'rule', t.rule, 'title', t.title"


def _retag(db: Any, evidence_id: int) -> None:
    """Put tags that _forget detached back on the objects they were on, now examined again."""
    for kind, table, key in (("file", "files", _FILE_KEY), ("finding", "findings", _FINDING_KEY)):
        db.execute(
            f"""UPDATE tags SET object_id = (SELECT min(t.id) FROM [{table}] t
                    WHERE json_object('evidence_id', t.evidence_id, {key}) = tags.object_key),
                object_key = NULL
                WHERE object_kind = ? AND object_key IS NOT NULL AND json_extract(object_key, '$.evidence_id') = ?
                AND EXISTS (SELECT 1 FROM [{table}] t WHERE json_object('evidence_id', t.evidence_id, {key}) = tags.object_key)""",
            [kind, evidence_id])
