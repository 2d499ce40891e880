"""Read-only questions the GUI asks of a case database, on connections of its own.

Nothing here imports Qt: every function takes a `sqlite3.Connection` made by
`connect()` on the thread that uses it. The writer (the core's `CaseWriter`)
may be committing at the same time; WAL mode lets these readers go on.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..case import CASE_DB
from ..errors import UsageError

FILE_COLUMNS = ("id, evidence_id, parent_id, partition_offset, path, name, kind, inode, deleted, size, md5, sha1, "
                "sha256, mime, description, ext_mismatch, mtime, atime, ctime, crtime, note, score, reasons, pe")


def connect(case_dir: Path) -> sqlite3.Connection:
    """A connection that cannot write (PRAGMA query_only), for the calling thread only."""
    path = case_dir / CASE_DB
    if not path.is_file():
        raise UsageError(f"no case in {case_dir} (expected {CASE_DB})")
    try:
        # mode=rw: never create a database by accident; query_only: never write through this one.
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=rw", uri=True, timeout=10)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA query_only = ON")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as error:
        raise UsageError(f"case database {path} cannot be read: {error}") from None
    return conn


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]).fetchone() is not None


def case_info(conn: sqlite3.Connection) -> dict[str, str]:
    return {row["key"]: row["value"] for row in conn.execute("SELECT key, value FROM case_info")}


def evidence_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every evidence item with its object count and findings per severity."""
    items = [dict(row) for row in conn.execute("SELECT * FROM evidence ORDER BY id")]
    findings: dict[int, dict[str, int]] = {}
    for row in conn.execute("SELECT evidence_id, severity, count(*) AS n FROM findings GROUP BY evidence_id, severity"):
        findings.setdefault(row["evidence_id"], {})[row["severity"]] = row["n"]
    for item in items:
        # counted on the (evidence_id, path) index, without touching the table
        item["files"] = conn.execute("SELECT count(*) FROM files WHERE evidence_id = ?", [item["id"]]).fetchone()[0]
        item["findings"] = findings.get(item["id"], {})
    return items


def severity_counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {row[0]: row[1] for row in conn.execute("SELECT severity, count(*) FROM findings GROUP BY severity")}


def top_scored(conn: sqlite3.Connection, limit: int = 10) -> list[dict[str, Any]]:
    """The highest-scored objects (on the score index), with their reasons decoded."""
    rows = [dict(row) for row in conn.execute(
        f"""SELECT {', '.join('f.' + c.strip() for c in FILE_COLUMNS.split(','))}, e.path AS evidence
            FROM files f JOIN evidence e ON e.id = f.evidence_id
            WHERE f.score > 0 ORDER BY f.score DESC, f.id LIMIT ?""", [limit])]
    for row in rows:
        row["reasons"] = json.loads(row["reasons"]) if row["reasons"] else []
    return rows


def analyzers(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute("SELECT DISTINCT analyzer FROM findings ORDER BY analyzer")]


def file_row(conn: sqlite3.Connection, file_id: int) -> dict[str, Any] | None:
    row = conn.execute(
        f"SELECT {', '.join('f.' + c.strip() for c in FILE_COLUMNS.split(','))}, e.path AS evidence, e.kind AS evidence_kind "
        "FROM files f JOIN evidence e ON e.id = f.evidence_id WHERE f.id = ?", [file_id]).fetchone()
    return dict(row) if row else None


def finding_row(conn: sqlite3.Connection, finding_id: int) -> dict[str, Any] | None:
    row = conn.execute("SELECT g.*, e.path AS evidence FROM findings g JOIN evidence e ON e.id = g.evidence_id "
                       "WHERE g.id = ?", [finding_id]).fetchone()
    return dict(row) if row else None


def fts_query(text: str) -> str | None:
    """Words typed by the examiner as an FTS5 query: every word must match, as a prefix."""
    words = re.findall(r"\w+", text)
    return " ".join(f'"{word}"*' for word in words) or None


def partitions(conn: sqlite3.Connection, evidence_id: int) -> list[dict[str, Any]]:
    """The evidence's volumes; while a scan is still listing them, the offsets files were found at."""
    rows = [dict(row) for row in conn.execute(
        "SELECT offset, length, description, filesystem, status, note FROM partitions WHERE evidence_id = ? ORDER BY offset",
        [evidence_id])]
    if rows:
        return rows
    return [{"offset": row[0], "length": None, "description": "volume", "filesystem": None, "status": "examined",
             "note": None}
            for row in conn.execute("SELECT DISTINCT partition_offset FROM files WHERE evidence_id = ? ORDER BY 1",
                                    [evidence_id])]


@dataclass(frozen=True)
class Cursor:
    """Where a folder listing stopped: the next path to look at and whether it is included."""

    path: str
    inclusive: bool


def folder_children(conn: sqlite3.Connection, evidence_id: int, partition_offset: int, folder: str, *,
                    start: Cursor | None = None, limit: int = 256,
                    directories_only: bool = False) -> tuple[list[dict[str, Any]], Cursor | None]:
    """The objects directly inside `folder`, in path order, `limit` at a time.

    The files table has no parent link for filesystem entries, so this walks the
    (evidence_id, path) index with one seek per child and jumps over each
    subfolder's contents in one more seek: a folder of k entries costs about 2k
    index lookups, however deep the tree under it is. Returns the rows and a
    cursor to continue from, or None when the folder is exhausted.
    """
    prefix = "" if folder == "/" else folder.rstrip("/")
    low, inclusive = (start.path, start.inclusive) if start else (prefix + "/", False)
    high = prefix + "0"  # '0' sorts right after '/': every path under prefix/ is below it
    out: list[dict[str, Any]] = []
    while len(out) < limit:
        op = ">=" if inclusive else ">"
        row = conn.execute(f"SELECT path, partition_offset FROM files WHERE evidence_id = ? AND path {op} ? AND path < ? "
                           "ORDER BY path LIMIT 1", [evidence_id, low, high]).fetchone()
        if row is None:
            return out, None
        path = row[0]
        name, sep, _ = path[len(prefix) + 1 :].partition("/")
        child = f"{prefix}/{name}"
        if sep:
            # Something deeper: its folder's own row, if any, came just before. A folder with no
            # row of its own (an archive member's inner folder) still gets listed.
            if row[1] == partition_offset and not conn.execute(
                    "SELECT 1 FROM files WHERE evidence_id = ? AND path = ? AND partition_offset = ?",
                    [evidence_id, child, partition_offset]).fetchone():
                out.append({"id": None, "evidence_id": evidence_id, "partition_offset": partition_offset,
                            "path": child, "name": name, "kind": "directory", "deleted": 0, "implied": True})
            low, inclusive = child + "0", True  # past everything under child/
            continue
        query = f"SELECT {FILE_COLUMNS} FROM files WHERE evidence_id = ? AND path = ? AND partition_offset = ?"
        if directories_only:
            query += " AND kind = 'directory'"
        out.extend(dict(r) for r in conn.execute(query + " ORDER BY id", [evidence_id, path, partition_offset]))
        low, inclusive = path, False
    return out, Cursor(low, inclusive)


def flow_count(conn: sqlite3.Connection) -> int | None:
    """Rows in the flows table, or None when the case has no such table yet."""
    if not has_table(conn, "flows"):
        return None
    return conn.execute("SELECT count(*) FROM flows").fetchone()[0]
