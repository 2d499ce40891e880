"""What happens to one object: its content read once, every analyzer run on it (and on the members it
carries, in turn), its findings and the stages it skipped, and its row with its score.

The same bytes under the same name (a file copied about, a member of many archives) are examined once, and
the results and findings reused, when nothing in them depends on more than the bytes and the name. The
analyzers' results are typed (analyzers/results.py): each says which columns of the object's row it fills
and which rows it adds about the content, so this module stores them all without knowing any."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import GeneratorType
from typing import Any

from ..analyzers import Analyzer, Finding, Item
from ..analyzers.filetype import EXECUTABLE_MIMES, extension_of
from ..analyzers.results import Artefact, ContentType, Hashes, Result, empty_file_columns
from ..case.store import crash_point
from ..evidence import EvidenceObject, ObjectRef
from ..score import Score, score_object
from .carried import CarriedObjects
from .options import ScanRun
from .record import EvidenceRecord

# Objects remembered by sha256 and name, so that repeats are not examined again: at most this many,
# holding at most this many records (indicators) between them (a bounded few tens of MB).
MAX_EXAMINED, MAX_EXAMINED_RECORDS = 4096, 100_000
ROW_BATCH = 256  # objects' rows handed to the case writer at a time (an archive's members too, as they come)
ARTEFACT_BATCH = 5000  # artefact rows an object's analysis hands to the writer at a time (an event log has millions)

# Rows waiting for the case writer: by table as dicts, or by (table, columns) as tuples of values (keyword hits).
Batch = dict[str | tuple[str, tuple[str, ...]], list[Any]]


@dataclass
class Examined:
    """What the examination of one object's content found."""

    results: dict[type[Result], Result]
    findings: tuple[Finding, ...]
    skipped: tuple[tuple[str, str], ...]  # (stage, reason)
    executable: bool
    note: str | None = None  # why its content was not read in full
    worst_member: tuple[ObjectRef, int] | None = None  # (ref, score) of the worst object it carries
    reusable: bool = False  # depends on nothing but the bytes and the name


class Examiner:
    """Examines the objects of one evidence item; called by every worker thread at once."""

    def __init__(self, run: ScanRun, evidence: EvidenceRecord, carried: CarriedObjects) -> None:
        self.run = run
        self.evidence = evidence
        self.carried = carried
        self.examined: dict[tuple, Examined] = {}  # (sha256, name, kind, size, depth) → what was found
        self.examined_records = 0  # records held by the results in self.examined
        self.content_stored: set[str] = set()  # contents whose own rows (indicators) went to the writer
        self.empty_columns = empty_file_columns()  # every row carries every result's columns, in one order

    def examine(self, obj: EvidenceObject, batch: Batch) -> int:
        """Read the object once, run every analyzer on it, queue its row and findings (handed to the case writer
        every ROW_BATCH objects); its score."""
        ledger = self.evidence.source.ledger
        ledger.attempted("files")
        key = (obj.sha256, obj.name, obj.kind, obj.size, obj.depth) if obj.sha256 and obj.content is not None else None
        result = self._examined_before(obj, key) if key is not None else None
        if result is None:
            result = self._analyse(obj, batch)
            self._remember(key, result)
        findings = list(result.findings)
        if obj.origin and result.executable:
            findings.append(Finding("network", "executable-download", "high", f"Executable carried over the network: "
                                    f"{obj.origin}", {"origin": obj.origin, "flow_id": obj.flow_id}))
        sha256 = _sha256(result.results)
        if obj.flow_id is not None and result.note is None and sha256:
            self.carried.keep(obj, sha256)
        for stage, reason in result.skipped:
            ledger.skipped(stage, reason, obj.path)
        ledger.processed("files")
        score = score_object(obj.ref, obj.deleted, _mime(result.results), findings, result.worst_member, obj.origin)
        batch["files"].append(self._file_row(obj, result, score))
        batch["findings"].extend(self.evidence.finding_rows(obj, findings))
        ids = (obj.id, self.evidence.evidence_id)
        for found in result.results.values():
            for table, (columns, values) in found.object_rows().items():
                batch.setdefault((table, (*columns, "file_id", "evidence_id")), []).extend(
                    (*value, *ids) for value in values)
        if sha256:
            self._queue_content_rows(sha256, result.results, batch)
        with self.evidence.tally.lock:
            self.evidence.tally.done += 1
        if len(batch["files"]) >= ROW_BATCH:  # as they come, an archive's thousands of members too
            self.evidence.send(batch)
        return score.value

    def _examined_before(self, obj: EvidenceObject, key: tuple) -> Examined | None:
        """The same bytes under the same name, already examined: the same results and findings."""
        same = self.examined.get(key)
        if same is None:
            return None
        ledger = self.evidence.source.ledger
        ledger.attempted("content")
        ledger.processed("content")
        self.evidence.tally.read(obj.size)
        return same

    def _remember(self, key: tuple | None, result: Examined) -> None:
        records = sum(found.held() for found in result.results.values())
        if (key is not None and result.reusable and len(self.examined) < MAX_EXAMINED
                and self.examined_records + records <= MAX_EXAMINED_RECORDS):
            self.examined[key] = result
            self.examined_records += records

    def _analyse(self, obj: EvidenceObject, batch: Batch) -> Examined:
        item = Item(obj)
        note = self._read_content(item)
        findings: list[Finding] = []
        worst_member = None
        failed = False
        artefacts = 0
        for analyzer in self.run.analyzers:
            outputs: Iterable[Finding | EvidenceObject | Artefact] = ()
            try:
                outputs = analyzer.analyze(item)
                for output in outputs:
                    if isinstance(output, Finding):
                        findings.append(output)
                        continue
                    if self.run.cancel.is_set():  # an archive's members, a log's records: not read on once cancelled
                        what = "records" if isinstance(output, Artefact) else "members"
                        item.skipped.append((analyzer.NAME, f"cancelled: the rest of its {what} not examined"))
                        break
                    if isinstance(output, Artefact):
                        artefacts += 1
                        self._queue_artefact(obj, output, batch)
                        continue
                    member_score = self._examine_member(obj, output, batch)
                    if worst_member is None or member_score > worst_member[1]:
                        worst_member = (output.ref, member_score)
            except Exception as error:  # one analyzer's failure on one object must not stop the run
                failed = True
                self.evidence.source.ledger.skipped(analyzer.NAME, "analyzer error", obj.path,
                                                    f"{type(error).__name__}: {error}")
            finally:
                # Its reading stops now (an archive's pass on its own thread). GeneratorType, not the Generator ABC,
                # whose isinstance is six times slower: 20 of the examining threads' 1,323 GIL samples (py-spy) in
                # the disk benchmark, for 14 analyzers an object.
                if isinstance(outputs, GeneratorType):
                    outputs.close()
        results, skipped = item.results, tuple(item.skipped)
        executable = _mime(results) in EXECUTABLE_MIMES and item.head.startswith((b"MZ", b"\x7fELF"))
        # Reused only when nothing in the result depends on more than the bytes and the name (PE checks read mtime).
        reusable = (note is None and not failed and worst_member is None and not artefacts
                    and _sha256(results) == obj.sha256
                    and not item.head.startswith(b"MZ") and not any(reason == "timed out" for _, reason in skipped))
        return Examined(results, tuple(findings), skipped, executable, note, worst_member, reusable)

    def _read_content(self, item: Item) -> str | None:
        """Read the content once for every analyzer, counted in the ledger; None if read in full, else why not."""
        obj = item.obj
        ledger = self.evidence.source.ledger
        if obj.content is not None:
            ledger.attempted("content")
            note = read_once(item, self.run.analyzers, self.run.options.settings.keep_limit, self.evidence.tally.read,
                             self.run.cancel)
            if note is None:
                ledger.processed("content")
                return None
            reason, _, detail = note.partition(": ")
            ledger.skipped("content", reason, obj.path, detail or None)
            if reason == "unreadable content" and obj.depth == 0:
                self.evidence.source.content_unreadable(obj.path)
            return note
        if obj.unreadable:
            ledger.attempted("content")
            ledger.skipped("content", obj.unreadable)
        return obj.unreadable

    def _queue_artefact(self, obj: EvidenceObject, artefact: Artefact, batch: Batch) -> None:
        """One artefact record, tied to the file it was read from; handed on in batches while the file is read."""
        rows = batch.setdefault("artifacts", [])
        rows.append({"evidence_id": self.evidence.evidence_id, "file_id": obj.id, "type": artefact.type,
                     "ts": artefact.ts, "source": obj.path, "summary": artefact.summary,
                     "values": json.dumps(artefact.values, ensure_ascii=False, default=str)})
        if len(rows) >= ARTEFACT_BATCH:
            self.evidence.send(batch)

    def _examine_member(self, parent: EvidenceObject, member: EvidenceObject, batch: Batch) -> int:
        """An object carried in another (an archive member): examined in turn; its score."""
        member.id, member.parent_id, member.depth = next(self.evidence.ids), parent.id, parent.depth + 1
        with self.evidence.tally.lock:
            self.evidence.tally.found += 1
        return self.examine(member, batch)

    def _file_row(self, obj: EvidenceObject, result: Examined, score: Score) -> dict[str, Any]:
        """The object's row of the files table: where it is and what it is, then what each analyzer found."""
        row = {
            "id": obj.id, "evidence_id": self.evidence.evidence_id, "parent_id": obj.parent_id,
            "partition_offset": obj.partition_offset, "path": obj.path, "name": obj.name,
            "extension": extension_of(obj.name), "inode": obj.inode, "kind": obj.kind, "deleted": int(obj.deleted),
            "size": obj.size, "mtime": obj.mtime, "atime": obj.atime, "ctime": obj.ctime, "crtime": obj.crtime,
            "note": result.note, "origin": obj.origin, "flow_id": obj.flow_id,
            "score": score.value, "reasons": json.dumps(score.reasons, ensure_ascii=False) if score.reasons else None,
            **self.empty_columns,
        }
        for found in result.results.values():
            row.update(found.file_columns())
        return row

    def _queue_content_rows(self, sha256: str, results: dict[type[Result], Result], batch: Batch) -> None:
        """What the results say about the content itself (its indicators), once per content."""
        if sha256 in self.content_stored:
            return
        for found in results.values():
            for table, rows in found.content_rows(sha256).items():
                if rows:
                    self.content_stored.add(sha256)
                    batch.setdefault(table, []).extend(rows)


def _sha256(results: dict[type[Result], Result]) -> str | None:
    hashes = results.get(Hashes)
    return hashes.sha256 if isinstance(hashes, Hashes) else None


def _mime(results: dict[type[Result], Result]) -> str | None:
    content_type = results.get(ContentType)
    return content_type.mime if isinstance(content_type, ContentType) else None


def read_once(item: Item, analyzers: list[Analyzer], keep_limit: int,
              progress: Callable[[int], None], cancel: threading.Event) -> str | None:
    """Read an object's content once, in chunks, feeding every analyzer's stream consumer and
    keeping the whole content for YARA when it is small enough; None if all of it was read,
    else why not."""
    obj = item.obj
    if obj.content is None:  # the callers read only objects with content; said rather than failing on None
        return "no content to read"
    content = obj.content
    consumers = [c for analyzer in analyzers if (c := analyzer.stream(item)) is not None]
    keep = obj.size <= keep_limit
    kept: list[bytes] = []
    try:
        for chunk in content.chunks():
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
