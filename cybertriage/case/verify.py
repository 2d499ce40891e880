"""Re-reading every evidence item of a case and comparing it with what the case recorded when it was added.

This is what lets an examiner show, months later, that the evidence the report describes is the
evidence still in the locker: the sha256 of its container files (read read-only, exactly as the scan
read them), for an E01 also the checksum of every chunk and the MD5/SHA-1 its acquisition stored, and for a
folder each file's sha256.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from ..errors import CybertriageError
from ..evidence.disk import DiskImage
from ..evidence.integrity import hash_files
from .custody import ReportSeal, check_chain, check_evidence_hashes, check_objects, content_digest

OK, MISMATCH, MISSING, NOT_HASHED, UNREADABLE = "OK", "MISMATCH", "MISSING", "NOT HASHED", "UNREADABLE"
DAMAGED = "DAMAGED"  # E01 chunks whose checksum fails: the same bytes as recorded, but not what was acquired


@dataclass
class Verdict:
    """What re-reading one evidence item showed."""

    evidence_id: int
    path: str
    status: str  # OK | MISMATCH | MISSING | NOT HASHED | UNREADABLE | DAMAGED
    detail: str

    @property
    def ok(self) -> bool:
        return self.status == OK


def verify_case(db: sqlite_utils.Database, cancel: threading.Event | None = None,
                evidence_id: int | None = None) -> list[Verdict]:
    """One verdict per evidence item (or for the one numbered `evidence_id`), in the order they were added."""
    return [_verify(db, row, cancel) for row in db.query("SELECT * FROM evidence WHERE ? IS NULL OR id = ? ORDER BY id",
                                                         [evidence_id, evidence_id])]


def _verify(db: sqlite_utils.Database, row: dict[str, Any], cancel: threading.Event | None) -> Verdict:
    def verdict(status: str, detail: str) -> Verdict:
        return Verdict(row["id"], row["path"], status, detail)

    if row["kind"] == "folder":
        return _verify_folder(db, row, verdict)
    segments = [Path(p) for p in json.loads(row["segments"] or "[]")] or [Path(row["path"])]
    missing = [p for p in segments if not p.is_file()]
    if missing:
        return verdict(MISSING, f"{missing[0]} not found")
    if not row["sha256"]:
        return verdict(NOT_HASHED, f"the case recorded no sha256 (evidence {row['status']}: {row['error'] or '-'})")
    try:
        now = hash_files(segments, cancel, ewf=row["format"] == "ewf")
    except CybertriageError as error:
        return verdict(UNREADABLE, str(error))
    note = f" ({sum(r.length for r in now.unreadable)} bytes unreadable, hashed as zeros)" if now.unreadable else ""
    if now.sha256 != row["sha256"]:
        return verdict(MISMATCH, f"sha256 recorded {row['sha256']}, now {now.sha256}{note}")
    damage = now.damage_note()
    if damage:  # libewf reads these sectors as zeros, so no MD5 over them can vouch for the media
        return verdict(DAMAGED, f"sha256 as recorded ({now.sha256}), but {damage}")
    stored = {name: row[f"stored_{name}"] for name in ("md5", "sha1") if row[f"stored_{name}"]}
    if not stored:
        return verdict(OK, f"sha256 {now.sha256}{note}")
    try:
        image = DiskImage(segments[0])
        try:
            computed = image.verify_media(set(stored), lambda _: None, cancel or threading.Event())
        finally:
            image.close()
    except (CybertriageError, OSError) as error:
        return verdict(UNREADABLE, f"sha256 matches, but the EWF media cannot be read to check its stored hashes: {error}")
    wrong = [name for name in stored if computed[name] != stored[name]]
    if wrong:
        return verdict(MISMATCH, "; ".join(f"stored {n.upper()} {stored[n]}, media now {computed[n]}" for n in wrong))
    return verdict(OK, f"sha256 {now.sha256}, stored " + ", ".join(f"{n.upper()} {v}" for n, v in stored.items()) + " match")


def _verify_folder(db: sqlite_utils.Database, row: dict[str, Any], verdict: Any) -> Verdict:
    """A folder has no one container file: each file it held (not its archive members) is hashed again."""
    root = Path(row["path"])
    if not root.is_dir():
        return verdict(MISSING, f"folder {root} not found")
    recorded = {r["path"]: r["sha256"] for r in db.query(
        "SELECT path, sha256 FROM files WHERE evidence_id = ? AND parent_id IS NULL AND kind = 'file'", [row["id"]])}
    if not recorded:
        return verdict(NOT_HASHED, "the case recorded no files of this folder")
    present = {}
    for directory, subdirs, names in os.walk(root, followlinks=False):
        subdirs.sort()
        for name in names:
            full = Path(directory, name)
            if stat.S_ISREG(full.lstat().st_mode):
                relative = "/" + full.relative_to(root).as_posix()
                present[relative.encode("utf-8", "surrogateescape").decode("utf-8", "replace")] = full
    problems = [f"{path} missing" for path in sorted(recorded.keys() - present.keys())]
    problems += [f"{path} added" for path in sorted(present.keys() - recorded.keys())]
    for path in sorted(recorded.keys() & present.keys()):
        if recorded[path] is None:
            continue  # unreadable when scanned: nothing to compare with
        try:
            now = hash_files([present[path]]).sha256
        except CybertriageError as error:
            problems.append(f"{path} unreadable: {error}")
            continue
        if now != recorded[path]:
            problems.append(f"{path} sha256 recorded {recorded[path]}, now {now}")
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        return verdict(MISMATCH, "; ".join(problems[:3]) + more)
    return verdict(OK, f"{len(recorded)} files, each sha256 as recorded")


def custody_problems(db: sqlite_utils.Database, case_dir: Path) -> list[str]:
    """What disagrees in the case's own chain of custody: the audit log's links and custody.log, the append-only
    triggers, the evidence hashes against their 'evidence hashed' entries, the carried objects against their names."""
    return check_chain(db, case_dir) + check_evidence_hashes(db) + check_objects(case_dir)


@dataclass
class ReportCheck:
    """Whether a report still describes its case, and why."""

    describes: bool
    detail: str


def check_report(db: sqlite_utils.Database, report: ReportSeal) -> ReportCheck:
    """The report's seal against the case now: the audit entry it ended with must still carry the link it
    printed, and the case's content must still have the digest it printed (later audit entries do not count)."""
    entry = db.execute("SELECT hash FROM audit_log WHERE id = ?", [report.seq]).fetchone()
    if report.seq and (entry is None or entry[0] != report.head):
        now = "is missing" if entry is None else f"has link {entry[0]}"
        return ReportCheck(False, f"audit entry {report.seq}, the last one the report saw, {now}; "
                                  f"the report printed {report.head}")
    since = [row[0] for row in db.execute("SELECT action FROM audit_log WHERE id > ? ORDER BY id", [report.seq])]
    actions = ", ".join(f"{action} ×{since.count(action)}" for action in dict.fromkeys(since)) or "none"
    content = content_digest(db)
    digest = content.total
    if digest != report.digest:
        changed = report.changed_tables(content)
        where = f" in {', '.join(changed)}" if changed else ""
        return ReportCheck(False, f"the case's content has changed{where} since audit entry {report.seq}: digest "
                                  f"now {digest}, the report printed {report.digest} (actions since: {actions})")
    return ReportCheck(True, f"the case's content is as at audit entry {report.seq} (digest {digest}); "
                             f"{len(since)} audit entries since ({actions}) changed nothing it describes")
