"""Read-only questions the views, exports and reports ask of a case."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import sqlite_utils

FILE_FIELDS = ["id", "evidence", "partition_offset", "path", "name", "kind", "inode", "deleted", "size",
               "md5", "sha1", "sha256", "mime", "description", "ext_mismatch",
               "mtime", "atime", "ctime", "crtime", "parent_id", "note", "score", "reasons", "pe"]
FINDING_FIELDS = ["id", "evidence", "severity", "analyzer", "rule", "title", "object", "object_kind", "object_id",
                  "score", "detail", "created_at"]


def files(db: sqlite_utils.Database) -> Iterator[dict[str, Any]]:
    """Every file, directory and stream, in evidence then path order."""
    rows = db.query(
        """SELECT f.*, e.path AS evidence FROM files f JOIN evidence e ON e.id = f.evidence_id
           ORDER BY f.evidence_id, f.partition_offset, f.path, f.id""")
    for row in rows:
        row["deleted"] = bool(row["deleted"])
        row["ext_mismatch"] = bool(row["ext_mismatch"])
        row["reasons"] = json.loads(row["reasons"]) if row["reasons"] else []
        row["pe"] = json.loads(row["pe"]) if row["pe"] else None
        yield {name: row[name] for name in FILE_FIELDS}


def findings(db: sqlite_utils.Database) -> Iterator[dict[str, Any]]:
    """Every finding, worst first: by severity, then by its object's triage score."""
    rows = db.query(
        """SELECT g.*, e.path AS evidence, f.score AS score FROM findings g
           JOIN evidence e ON e.id = g.evidence_id
           LEFT JOIN files f ON g.object_kind = 'file' AND f.id = g.object_id
           ORDER BY g.severity_rank DESC, f.score DESC, g.id""")
    for row in rows:
        row["detail"] = json.loads(row["detail"]) if row["detail"] else {}
        yield {name: row[name] for name in FINDING_FIELDS}


EXPORTS = {"files": (FILE_FIELDS, files), "findings": (FINDING_FIELDS, findings)}


def evidence_summary(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Each evidence item with its counts of files, deleted files and findings per severity."""
    items = list(db.query("SELECT * FROM evidence ORDER BY id"))
    for item in items:
        counts = db.execute(
            "SELECT count(*), coalesce(sum(deleted), 0) FROM files WHERE evidence_id = ?", [item["id"]]).fetchone()
        item["files"], item["deleted"] = counts
        item["findings"] = dict(db.execute(
            "SELECT severity, count(*) FROM findings WHERE evidence_id = ? GROUP BY severity", [item["id"]]).fetchall())
        item["partitions"] = list(db.query("SELECT * FROM partitions WHERE evidence_id = ? ORDER BY offset", [item["id"]]))
        item["ledger"] = list(db.query(
            """SELECT stage, attempted, processed, skipped, reasons FROM ledger WHERE evidence_id = ?
               AND run_id = (SELECT max(run_id) FROM ledger WHERE evidence_id = ?)""", [item["id"], item["id"]]))
        item["problems"] = db.execute("SELECT count(*) FROM problems WHERE evidence_id = ?", [item["id"]]).fetchone()[0]
    return items
