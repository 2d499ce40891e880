"""The evidence's own integrity: the sha256 of the files that hold it (taken beside the analysis), an EWF
image's stored hashes checked against its media, and what could not be read or failed its checksum."""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlite_utils

from ..analyzers import Finding
from ..case import audit, writes
from ..case.store import crash_point
from ..errors import Cancelled, CybertriageError, EvidenceError
from ..evidence.disk import DiskImage
from ..evidence.integrity import ContainerHash, hash_files
from .progress import PROGRESS_SECONDS, Progress
from .record import EvidenceRecord

# The evidence's own hash is wanted only when its analysis ends: its thread yields a busy core to the analysis
# (on a two-core workstation, the capture analysis process and the scan's threads would otherwise take turns).
HASH_NICENESS = 10
# An EWF image whose stored MD5/SHA-1 matched, while its chunks' own checksums are still being checked.
CHUNKS_PENDING = "hashes match; chunks not checked yet"


class ContainerHashing(threading.Thread):
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


def verify_image(evidence: EvidenceRecord, source: DiskImage, cancel: threading.Event) -> Iterator[Progress]:
    """Recompute the hashes an EWF image (the evidence's source) stores of the acquired media, and compare."""
    stored = source.stored_hashes()
    if not stored:
        evidence.writer.call(lambda db: writes.update_evidence(db, evidence.evidence_id, {"verified": "no stored hash"}))
        return
    progress = Progress(str(evidence.path), "verifying image", bytes_total=source.size)
    events: queue.Queue = queue.Queue()
    result: dict[str, Any] = {}

    def verify() -> None:
        try:
            result["hashes"] = source.verify_media(set(stored), events.put, cancel)
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
        # "verified" waits for the chunk checksums (record_container_hash): libewf reads a damaged chunk as
        # zeros, and a chunk that held zeros then still gives the stored MD5
        verdict = CHUNKS_PENDING if computed == stored else "mismatch"
    evidence.writer.call(lambda db: writes.update_evidence(db, evidence.evidence_id, {
        "verified": verdict, "computed_md5": computed.get("md5"), "computed_sha1": computed.get("sha1")}))
    if verdict != CHUNKS_PENDING:
        evidence.record_findings([Finding(
            "integrity", "ewf-verification", "critical",
            "EWF image does not match its stored hash" if verdict == "mismatch"
            else "EWF image could not be read in full to verify its stored hash",
            {"stored": stored, "computed": computed})])
        source.problems.append(f"EWF verification: {verdict}")


def record_container_hash(evidence: EvidenceRecord, hashing: ContainerHashing,
                          cancel: threading.Event) -> Iterator[Progress]:
    """Wait for the container files' sha256 (taken while the analysis ran) and record it."""
    progress = Progress(str(evidence.path), "hashing evidence", bytes_total=hashing.total)
    while hashing.is_alive():
        if cancel.is_set():  # the examiner stopped the scan while its hash was still being taken
            hashing.stop.set()
        hashing.join(PROGRESS_SECONDS)
        progress.bytes_done = hashing.done
        yield progress
    if hashing.error is not None:
        raise hashing.error
    result = hashing.result
    if result is None:
        return
    source = evidence.source
    if result.unreadable and isinstance(source, DiskImage) and source.format != "ewf":
        _unhash_unreadable_files(evidence, result, cancel)
    if result.unreadable:  # a failing medium: what could not be read, to the byte (the ledger is already written)
        evidence.writer.add_rows("problems", [{
            "evidence_id": evidence.evidence_id, "run_id": evidence.run_id, "stage": "evidence", "object": bad.file,
            "message": f"bytes {bad.offset}-{bad.offset + bad.length - 1} unreadable ({bad.error}); hashed as zeros"}
            for bad in result.unreadable])
        count = sum(bad.length for bad in result.unreadable)
        source.problems.append(f"{count} bytes of the evidence unreadable in {len(result.unreadable)} "
                               "range(s); sha256 taken with them as zeros")
    damage = result.damage_note()
    if damage:
        _record_damaged_chunks(evidence, result, damage, cancel)
    else:  # the stored hashes matched, and every chunk passed its checksum
        evidence.writer.call(lambda db: writes.mark_verified(db, evidence.evidence_id, CHUNKS_PENDING))

    def record(db: sqlite_utils.Database) -> None:
        writes.update_evidence(db, evidence.evidence_id, {"sha256": result.sha256})
        audit(db, "evidence hashed", {"evidence": evidence.key, "sha256": result.sha256, "bytes": result.size,
                                      "unreadable": [str(bad) for bad in result.unreadable],
                                      **({"damaged_chunks": damage} if damage else {})})

    evidence.writer.call(record)


def _record_damaged_chunks(evidence: EvidenceRecord, result: ContainerHash, damage: str,
                           cancel: threading.Event) -> None:
    """E01 chunks whose checksum fails (libewf read them as zeros): each sector range is a problem, the files
    stored there lose their hashes, the image is not "verified" whatever its MD5 says, and the scan is partial."""
    evidence.writer.add_rows("problems", [{
        "evidence_id": evidence.evidence_id, "run_id": evidence.run_id, "stage": "evidence", "object": bad.segment,
        "message": f"sectors {bad.first}-{bad.first + bad.count - 1} (bytes {bad.offset}-{bad.offset + bad.length - 1} "
                   f"of the media) damaged: {bad.reason}; read as zeros"} for bad in result.damaged])
    if result.chunks_unchecked:
        evidence.writer.add_rows("problems", [{"evidence_id": evidence.evidence_id, "run_id": evidence.run_id,
                                               "stage": "evidence", "object": str(evidence.path), "message": damage}])
    _unhash_files_in(evidence, [(bad.offset, bad.length) for bad in result.damaged],
                     "unreadable content: stored in sectors of the EWF image whose chunk checksum fails", cancel)
    verdict = "damaged chunks" if result.damaged else "chunks not checked"
    evidence.writer.call(lambda db: writes.update_evidence(db, evidence.evidence_id, {"verified": verdict}))
    evidence.record_findings([Finding(
        "integrity", "ewf-damaged-chunks", "critical", "EWF image has chunks whose checksum fails",
        {"damaged": [str(bad) for bad in result.damaged], "unchecked": result.chunks_unchecked})])
    evidence.source.problems.append(damage)


def _unhash_unreadable_files(evidence: EvidenceRecord, result: ContainerHash, cancel: threading.Event) -> None:
    """Files stored in sectors that could not be read were read as zeros by Sleuth Kit (it reads a raw
    image itself and does not report the error): take their hashes and type back and say why."""
    starts, offset = {}, 0
    for segment in evidence.source.container_files:
        starts[str(segment)] = offset
        offset += segment.stat().st_size
    ranges = [(starts[bad.file] + bad.offset, bad.length) for bad in result.unreadable if bad.file in starts]
    _unhash_files_in(evidence, ranges, "unreadable content: stored in sectors of the evidence that could not be read",
                     cancel)


def _unhash_files_in(evidence: EvidenceRecord, ranges: list[tuple[int, int]], note: str,
                     cancel: threading.Event) -> None:
    """Files stored (partly) in these (offset, length) ranges of the image lose their hashes and type, are
    noted, and counted in the ledger as skipped for unreadable sectors."""
    source = evidence.source
    assert isinstance(source, DiskImage)  # the callers' sectors are a disk image's (raw, or EWF with its chunks)
    damaged = list(source.objects_stored_in(ranges, cancel)) if ranges else []
    if not damaged:
        return

    stored_at = [(obj.partition_offset, obj.path, obj.inode) for obj in damaged]
    if evidence.unhash_later is not None:  # their rows may not be written yet
        evidence.unhash_later.append((stored_at, note))
        return
    evidence.writer.call(lambda db: writes.unhash_files(db, evidence.evidence_id, evidence.run_id, stored_at, note))
