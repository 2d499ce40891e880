"""One input through the real code, and what counts as a failure.

Captures go through `analyse_capture` (the capture reader, decoders, reassembly and every
protocol parser), and the objects they carry through the analyzers. Disk images go through
`open_evidence` and the disk reader (pytsk3), folders holding a PE or zip file through the
folder reader; every object found is read once and handed to every analyzer
(`cybertriage.analyzers`), archive members recursively, as the pipeline does. A few cases
run a whole `Scan` into a case database instead.

A failure is any exception other than the one the code raises on purpose for bad evidence
(`EvidenceError`, which must then be one line), an error the code logged while swallowing
an exception (the capture analysis keeps going after a bug and would otherwise hide it),
a capture whose packets are not all accounted for, or, in a full scan, an analyzer error
or a listing stopped by an unexpected exception.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
from pathlib import Path

from cybertriage.analyzers import Item, Settings, build_analyzers
from cybertriage.analyzers.net import analyse_capture
from cybertriage.assets import asset_dir
from cybertriage.errors import EvidenceError
from cybertriage.evidence import EvidenceObject, open_evidence
from cybertriage.evidence.capture import _carried_object
from cybertriage.pipeline import Scan, ScanOptions, read_once

DISK_KINDS = ("fat", "ext4", "ntfs", "mbr", "gpt")
FOLDER_KINDS = ("pe", "zip")
CAPTURE_KINDS = ("pcap", "pcapng")


class Failure(Exception):
    """The code under test did something it must never do with hostile input."""


class _Errors(logging.Handler):
    """Errors logged by cybertriage while it swallowed an exception."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.seen.append(text)


class Harness:
    """The analyzers (YARA with the bundled rules, short timeouts) built once per worker."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.settings = Settings(rule_paths=(asset_dir("rules"),), yara_timeout=5, keep_limit=16 * 1024 * 1024)
        self.analyzers = build_analyzers(self.settings)
        self.cancel = threading.Event()
        self.errors = _Errors()
        logging.getLogger("cybertriage").addHandler(self.errors)

    def evidence_path(self, kind: str, data: bytes, suffix: str) -> Path:
        """Where the input is written: a file, or a folder holding the file for PE and zip."""
        target = self.work / "input"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        name = "evidence" + suffix
        (target / name).write_bytes(data)
        return target if kind in FOLDER_KINDS else target / name

    def run(self, kind: str, path: Path, full_scan: bool = False) -> str:
        """Examine one input; a short description of what was found, or raise Failure."""
        self.errors.seen.clear()
        try:
            outcome = self._scan(path) if full_scan else self._capture(path) if kind in CAPTURE_KINDS else self._source(path)
        except EvidenceError as error:
            if "\n" in str(error):
                raise Failure(f"EvidenceError of more than one line: {error!r}") from None
            outcome = f"refused: {error}"
        if self.errors.seen:
            raise Failure("error logged: " + self.errors.seen[0])
        return outcome

    # -- the readers -----------------------------------------------------------------

    def _capture(self, path: Path) -> str:
        records = list(analyse_capture(path, self.cancel))
        summary = records[-1]
        if summary.KIND != "capture_summary":
            raise Failure(f"last record is {summary.KIND}, not the capture summary")
        accounted = summary.packets_decoded + sum(summary.not_decoded.values())
        if summary.packets_read != accounted:
            raise Failure(f"{summary.packets_read} packets read, {accounted} accounted for: {summary.not_decoded}")
        objects = 0
        for record in records:
            if record.KIND == "extracted_object":
                self._examine(_carried_object(record))
                objects += 1
        return f"{summary.packets_read} packets, {len(records) - 1} records, {objects} objects"

    def _source(self, path: Path) -> str:
        source = open_evidence(path)
        count = 0
        try:
            for obj in source.objects(self.cancel):
                count += 1 + self._examine(obj)
        finally:
            source.close()
        return f"{count} objects, {len(source.ledger.warnings)} warnings, {len(source.problems)} problems"

    def _examine(self, obj: EvidenceObject) -> int:
        """Read once, every analyzer in registry order, members in turn (as the pipeline's Examiner.examine)."""
        item = Item(obj)
        if obj.content is not None:
            read_once(item, self.analyzers, self.settings.keep_limit, lambda size: None, self.cancel)
        members = 0
        for analyzer in self.analyzers:
            for output in analyzer.analyze(item):
                if isinstance(output, EvidenceObject):
                    output.depth = obj.depth + 1
                    members += 1 + self._examine(output)
        return members

    def _scan(self, path: Path) -> str:
        case = self.work / "case"
        shutil.rmtree(case, ignore_errors=True)
        scan = Scan(case, [path], ScanOptions(jobs=2, settings=self.settings))
        for _ in scan.run():
            pass
        (outcome,) = scan.outcomes
        message = outcome.message or ""
        if "\n" in message or "listing stopped" in message:
            raise Failure(f"scan outcome {outcome.status}: {message!r}")
        with sqlite3.connect(case / "case.db") as db:
            errors = db.execute("SELECT object, message FROM problems WHERE message LIKE '%analyzer error%'").fetchall()
        db.close()
        if errors:
            raise Failure(f"analyzer error on {errors[0][0]}: {errors[0][1]}")
        return f"scan {outcome.status}: {outcome.files} files"
