"""Read-only questions the application asks of a case database, on connections of its own.

Nothing here imports Qt: every function takes a `sqlite3.Connection` made by
`connect()` on the thread that uses it. The writer (the core's `CaseWriter`)
may be committing at the same time; WAL mode lets these readers go on.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from ..errors import Cancelled, UsageError
from . import columns
from .columns import tags_of
from .files_query import FileQuery, cancellable, file_ids
from .host_profile import HostProfile, host_profiles
from .store import CASE_DB
from .stores import store_of

FILE_COLUMNS = ("id, evidence_id, parent_id, partition_offset, path, name, kind, inode, deleted, size, md5, sha1, "
                "sha256, mime, description, ext_mismatch, mtime, atime, ctime, crtime, note, score, reasons, pe, "
                "origin, flow_id, exif")


def notes_of(kind: str, ref: str) -> str:
    """SQL for the tags on an object with their notes and who wrote them, one a line."""
    return (f"(SELECT group_concat(tag || coalesce(': ' || note, '') || ' (' || coalesce(examiner || ', ', '') || created_at"
            f" || ')', char(10)) FROM tags t WHERE t.object_kind = '{kind}' AND t.object_id = {ref})")


def connect(case_dir: Path) -> sqlite3.Connection:
    """A connection that cannot write (PRAGMA query_only), for the calling thread only: to the case's
    PostgreSQL store when its folder names one (store.json), which answers as sqlite3 does."""
    address = store_of(case_dir)
    if address is not None:
        from . import postgres  # the PostgreSQL client only for a case kept there

        return cast(sqlite3.Connection, postgres.read_only(address, case_dir))
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
    """The case's own facts (created_at, name, number, examiner, agency …) by key."""
    return dict(conn.execute("SELECT key, value FROM case_info").fetchall())


@dataclass
class FindingTally:
    """How many findings each evidence item has per severity and analyzer: one pass over the findings
    answers the dashboard's counts, the evidence list's and the analyzer filter's choices."""

    counts: dict[tuple[int, str, str], int]

    def per_evidence(self) -> dict[int, dict[str, int]]:
        out: dict[int, dict[str, int]] = {}
        for (evidence_id, severity, _), n in self.counts.items():
            by_severity = out.setdefault(evidence_id, {})
            by_severity[severity] = by_severity.get(severity, 0) + n
        return out

    def per_severity(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for (_, severity, _), n in self.counts.items():
            out[severity] = out.get(severity, 0) + n
        return out

    def analyzers(self) -> list[str]:
        return sorted({analyzer for _, _, analyzer in self.counts})


def finding_tally(conn: sqlite3.Connection) -> FindingTally:
    return FindingTally({(row[0], row[1], row[2]): row[3] for row in conn.execute(
        "SELECT evidence_id, severity, analyzer, count(*) FROM findings GROUP BY evidence_id, severity, analyzer")})


def evidence_rows(conn: sqlite3.Connection, tally: FindingTally | None = None) -> list[dict[str, Any]]:
    """Every evidence item with its object count and findings per severity."""
    items = [dict(row) for row in conn.execute("SELECT * FROM evidence ORDER BY id")]
    findings = (tally or finding_tally(conn)).per_evidence()
    for item in items:
        # counted on the (evidence_id, path) index, without touching the table
        item["files"] = conn.execute("SELECT count(*) FROM files WHERE evidence_id = ?", [item["id"]]).fetchone()[0]
        item["findings"] = findings.get(item["id"], {})
    return items


def top_scored(conn: sqlite3.Connection, limit: int = 10) -> list[dict[str, Any]]:
    """The highest-scored objects (on the score index), with their reasons decoded."""
    # the ids first, on the score index alone: a tie on the top score can take in thousands of files
    rows = [dict(row) for row in conn.execute(
        f"""SELECT {', '.join('f.' + c.strip() for c in FILE_COLUMNS.split(','))}, e.path AS evidence
            FROM (SELECT id FROM files WHERE score > 0 ORDER BY score DESC, id LIMIT ?) top
            JOIN files f ON f.id = top.id JOIN evidence e ON e.id = f.evidence_id
            ORDER BY f.score DESC, f.id""", [limit])]
    for row in rows:
        row["reasons"] = json.loads(row["reasons"]) if row["reasons"] else []
    return rows


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


@dataclass(frozen=True)
class FindingFilter:
    """Which findings a view shows: a severity range, one analyzer, words of the title or the object's path."""

    min_rank: int = 0
    max_rank: int = 4
    analyzer: str | None = None
    text: str = ""
    tagged: bool = False

    def where(self) -> tuple[str, list[Any]]:
        clauses = ["g.severity_rank BETWEEN ? AND ?"]
        params: list[Any] = [self.min_rank, self.max_rank]
        if self.analyzer:
            clauses.append("g.analyzer = ?")
            params.append(self.analyzer)
        if self.tagged:
            clauses.append("g.id IN (SELECT object_id FROM tags WHERE object_kind = 'finding')")
        query = fts_query(self.text)
        if query:
            clauses.append("(g.id IN (SELECT rowid FROM findings_fts WHERE findings_fts MATCH ?) OR "
                           "(g.object_kind = 'file' AND g.object_id IN (SELECT rowid FROM files_fts WHERE files_fts MATCH ?)))")
            params += [query, query]
        return " AND ".join(clauses), params


# what the findings list is ordered by when a column's header is clicked
FINDING_SORTS = {column.name: column.sort or f"g.{column.name}" for column in columns.FINDINGS.shown}


@dataclass(frozen=True)
class FindingQuery:
    """A filter and an order: what a findings view lists, as plain data a worker thread can take."""

    filter: FindingFilter = FindingFilter()
    sort: str = "severity"
    descending: bool = True


def finding_ids(conn: sqlite3.Connection, query: FindingQuery, limit: int = -1) -> list[int]:
    """The ids of the findings the query selects, in its order (severity ties broken by the object's score)."""
    where, params = query.filter.where()
    direction = "DESC" if query.descending else "ASC"
    if query.sort == "severity":
        order = f"g.severity_rank {direction}, f.score {direction}, g.id"
    else:
        order = f"{FINDING_SORTS[query.sort]} {direction}, g.severity_rank DESC, g.id"
    join = "LEFT JOIN files f ON g.object_kind = 'file' AND f.id = g.object_id" if "f." in order else ""
    return [row[0] for row in conn.execute(f"SELECT g.id FROM findings g {join} WHERE {where} ORDER BY {order} LIMIT ?",
                                           [*params, limit])]


@dataclass
class FirstFindings:
    """The head of a findings query's order, read before the whole order: what the first screen shows."""

    query: FindingQuery
    ids: list[int]
    matching: int  # findings the query selects
    total: int  # findings in the case


def first_findings(conn: sqlite3.Connection, query: FindingQuery, limit: int) -> FirstFindings:
    """The first `limit` ids of `finding_ids(conn, query)`, and the counts, without ordering every finding.

    In severity order one severity is ordered at a time, worst (or mildest) first, until the
    page is full: the score of every finding's file is looked up only for the severities shown.
    """
    ids: list[int] = []
    if query.sort == "score" and query.descending:
        ids = _top_scored_findings(conn, query, limit)
    elif query.sort != "severity":
        ids = finding_ids(conn, query, limit)
    else:
        low, high = query.filter.min_rank, query.filter.max_rank
        for rank in (range(high, low - 1, -1) if query.descending else range(low, high + 1)):
            one = replace(query, filter=replace(query.filter, min_rank=rank, max_rank=rank))
            ids += finding_ids(conn, one, limit - len(ids))
            if len(ids) >= limit:
                break
    where, params = query.filter.where()
    matching = conn.execute(f"SELECT count(*) FROM findings g WHERE {where}", params).fetchone()[0]
    total = conn.execute("SELECT count(*) FROM findings").fetchone()[0]
    return FirstFindings(query, ids, matching, total)


def _top_scored_findings(conn: sqlite3.Connection, query: FindingQuery, limit: int) -> list[int]:
    """The head of the findings in descending score order, read from the files' score index down: a finding with
    no file has no score and comes after them all, so when files give `limit` findings they are the head (0.13 s
    instead of 1 s on 100,000 findings over 1,000,000 files, where joining every finding to its file is the cost)."""
    where, params = query.filter.where()
    ids = [row[0] for row in conn.execute(
        f"SELECT g.id FROM files f CROSS JOIN findings g ON g.object_kind = 'file' AND g.object_id = f.id WHERE {where} "
        "ORDER BY f.score DESC, g.severity_rank DESC, g.id LIMIT ?", [*params, limit])]
    return ids if len(ids) == limit else finding_ids(conn, query, limit)


def first_findings_of_case(case_dir: Path, query: FindingQuery, limit: int, *,
                           cancel: threading.Event | None = None) -> FirstFindings:
    """`first_findings` on a connection of the calling thread's own (for a pool worker)."""
    conn = connect(case_dir)
    try:
        with cancellable(conn, cancel):
            return first_findings(conn, query, limit)
    finally:
        conn.close()


def case_folder(conn: sqlite3.Connection) -> Path | None:
    """The folder of the case this connection reads (None for a database not in a file)."""
    row = conn.execute("PRAGMA database_list").fetchone()
    return Path(row[2]).parent if row and row[2] else None


def findings_by_id(conn: sqlite3.Connection, ids: list[int]) -> dict[int, dict[str, Any]]:
    """The list columns of these findings, with their object's score and their evidence's path."""
    out: dict[int, dict[str, Any]] = {}
    for at in range(0, len(ids), 500):
        chunk = ids[at : at + 500]
        for row in conn.execute(
                f"""SELECT g.id, g.severity, g.analyzer, g.rule, g.title, g.object, g.object_kind, g.object_id,
                           g.evidence_id, e.path AS evidence, f.score AS score, f.deleted AS deleted,
                           {tags_of("finding", "g.id")} AS tags, {notes_of("finding", "g.id")} AS tag_notes
                    FROM findings g JOIN evidence e ON e.id = g.evidence_id
                    LEFT JOIN files f ON g.object_kind = 'file' AND f.id = g.object_id
                    WHERE g.id IN ({','.join('?' * len(chunk))})""", chunk):
            out[row["id"]] = dict(row)
    return out


@dataclass
class Snapshot:
    """Everything the views show about a case apart from folder contents, read in one go (off the GUI thread)."""

    evidence: list[dict[str, Any]]
    severity_counts: dict[str, int]
    top: list[dict[str, Any]]
    analyzers: list[str]
    network: dict[str, int]
    query: FindingQuery
    finding_ids: list[int]
    artifacts: list[tuple[str, int]] = field(default_factory=list)  # artefact types and their counts
    profiles: list[HostProfile] = field(default_factory=list)  # the Windows computers their registries describe


def snapshot(conn: sqlite3.Connection, query: FindingQuery) -> Snapshot:
    tally = finding_tally(conn)
    return Snapshot(evidence_rows(conn, tally), tally.per_severity(), top_scored(conn, 10), tally.analyzers(),
                    network_counts(conn), query, finding_ids(conn, query), artifact_types(conn), host_profiles(conn))


def snapshot_of_case(case_dir: Path, query: FindingQuery, *, first: Callable[[FirstFindings], None] | None = None,
                     limit: int = 200, cancel: Any = None) -> Snapshot:
    """`snapshot` on a connection of the calling thread's own (for a pool worker).

    With `first`, the first `limit` findings in the query's order are handed to it before the
    rest is read: on a large case they show well before the dashboard's counts are ready.
    """
    conn = connect(case_dir)
    try:
        if first is not None:
            first(first_findings(conn, query, limit))
        return snapshot(conn, query)
    finally:
        conn.close()


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
    """Where a folder listing stopped: the (path, id) of the last entry looked at."""

    path: str
    after_id: int


LISTING_BATCH = 256


def folder_children(conn: sqlite3.Connection, evidence_id: int, partition_offset: int, folder: str, *,
                    start: Cursor | None = None, limit: int = 256, directories_only: bool = False,
                    hide_known_good: bool = False) -> tuple[list[dict[str, Any]], Cursor | None]:
    """The objects directly inside `folder`, in path order, about `limit` at a time.

    The files table has no parent link for filesystem entries, so this walks the
    (evidence_id, path) index, which covers (path, id): consecutive direct
    children come in batches, and each subfolder's contents are jumped over
    with one seek, however deep the tree under it is. Returns the rows and a
    cursor to continue from, or None when the folder is exhausted.
    """
    prefix = "" if folder == "/" else folder.rstrip("/")
    high = prefix + "0"  # '0' sorts right after '/': every path under prefix/ is below it
    position = (start.path, start.after_id) if start else (prefix + "/", -1)
    out: list[dict[str, Any]] = []
    last_direct = None
    while len(out) < limit:
        batch = conn.execute(
            "SELECT path, id FROM files WHERE evidence_id = ? AND (path, id) > (?, ?) AND path < ? "
            "ORDER BY path, id LIMIT ?", [evidence_id, *position, high, LISTING_BATCH]).fetchall()
        if not batch:
            return out, None
        direct: list[int] = []
        deeper: tuple[str, str, int] | None = None
        for path, file_id in batch:
            name, sep, _ = path[len(prefix) + 1 :].partition("/")
            if sep:
                deeper = (f"{prefix}/{name}", name, file_id)
                break
            direct.append(file_id)
            position, last_direct = (path, file_id), path
            if len(out) + len(direct) >= limit:
                break
        out.extend(_rows_by_id(conn, direct, partition_offset, directories_only, hide_known_good))
        if deeper is not None:
            child, name, file_id = deeper
            if child != last_direct and _implied_folder(conn, evidence_id, partition_offset, child, file_id):
                out.append({"id": None, "evidence_id": evidence_id, "partition_offset": partition_offset,
                            "path": child, "name": name, "kind": "directory", "deleted": 0, "implied": True})
            position = (child + "0", -1)  # past everything under child/
    return out, Cursor(*position)


def _rows_by_id(conn: sqlite3.Connection, ids: list[int], partition_offset: int,
                directories_only: bool, hide_known_good: bool = False) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    kind = " AND kind = 'directory'" if directories_only else ""
    if hide_known_good:  # the application migrates a case when it opens it: `known` is there
        kind += " AND coalesce(known, '') != 'good'"
    for at in range(0, len(ids), 500):
        chunk = ids[at : at + 500]
        rows += [dict(r) for r in conn.execute(
            f"SELECT {FILE_COLUMNS}, {tags_of('file', 'files.id')} AS tags, {notes_of('file', 'files.id')} AS tag_notes "
            f"FROM files WHERE id IN ({','.join('?' * len(chunk))}) AND partition_offset = ?{kind} "
            "ORDER BY path, id", [*chunk, partition_offset])]
    return rows


def _implied_folder(conn: sqlite3.Connection, evidence_id: int, partition_offset: int, child: str, below_id: int) -> bool:
    """A folder with no row of its own (an archive member's inner folder) that this volume has things in."""
    if conn.execute("SELECT 1 FROM files WHERE evidence_id = ? AND path = ? AND partition_offset = ?",
                    [evidence_id, child, partition_offset]).fetchone():
        return False
    row = conn.execute("SELECT partition_offset FROM files WHERE id = ?", [below_id]).fetchone()
    return row is not None and row[0] == partition_offset


def _of_evidence(evidence_id: int | None) -> tuple[str, list[int]]:
    """A WHERE clause keeping one evidence item's rows (None: every row)."""
    return ("WHERE evidence_id = ?", [evidence_id]) if evidence_id is not None else ("", [])


NETWORK_TABLES = tuple(table.name for table in columns.NETWORK)


def network_counts(conn: sqlite3.Connection, evidence_id: int | None = None) -> dict[str, int]:
    """Rows in each network table the case has (none before schema 3), of one evidence item or of the case."""
    where, parameters = _of_evidence(evidence_id)
    return {table: conn.execute(f"SELECT count(*) FROM [{table}] {where}", parameters).fetchone()[0]
            for table in NETWORK_TABLES if has_table(conn, table)}


def tag_names(conn: sqlite3.Connection) -> list[str]:
    """The tags used in the case, most used first: what the tag dialog offers."""
    return [row[0] for row in conn.execute("SELECT tag FROM tags GROUP BY tag ORDER BY count(*) DESC, tag")]


def tagged_files(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every tagged file of the case, in evidence and path order, as the files table lists them."""
    return [dict(row) for row in conn.execute(
        f"SELECT {FILE_COLUMNS}, {tags_of('file', 'files.id')} AS tags, {notes_of('file', 'files.id')} AS tag_notes "
        "FROM files WHERE id IN (SELECT object_id FROM tags WHERE object_kind = 'file') ORDER BY evidence_id, path, id")]


def object_tags(conn: sqlite3.Connection, kind: str, object_id: int) -> tuple[str | None, str | None]:
    """The tags on one object, and the same with notes (as the tables' Tags column shows them)."""
    row = conn.execute(f"SELECT {tags_of(kind, '?')}, {notes_of(kind, '?')}", [object_id, object_id]).fetchone()
    return row[0], row[1]


def schema_version(conn: sqlite3.Connection) -> int:
    """The case database's schema version (PRAGMA user_version): an older case is upgraded before it is shown."""
    return conn.execute("PRAGMA user_version").fetchone()[0]


def evidence_list(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Every evidence item's id, path, kind and format, in the order it was added."""
    return conn.execute("SELECT id, path, kind, format FROM evidence ORDER BY id").fetchall()


def evidence_names(conn: sqlite3.Connection) -> dict[int, str]:
    """Each evidence item's file name by its id: what a table shows instead of the id."""
    return {row[0]: Path(row[1]).name for row in conn.execute("SELECT id, path FROM evidence")}


def yara_findings(conn: sqlite3.Connection, file_id: int) -> list[tuple[str, dict[str, Any]]]:
    """The rule and decoded detail of every YARA finding on one file."""
    return [(rule, json.loads(detail or "{}")) for rule, detail in conn.execute(
        "SELECT rule, detail FROM findings WHERE object_kind = 'file' AND object_id = ? AND analyzer = 'yara'",
        [file_id])]


def record_ids(conn: sqlite3.Connection, table: str, column: str, descending: bool) -> list[int]:
    """The ids of a network table's rows, ordered by one of its columns (then by id, the same way)."""
    direction = "DESC" if descending else "ASC"
    return [row[0] for row in conn.execute(f"SELECT id FROM [{table}] ORDER BY [{column}] {direction}, id {direction}")]


def records_by_id(conn: sqlite3.Connection, table: str, columns: list[str], ids: list[int]) -> dict[int, sqlite3.Row]:
    """These columns of a network table's rows with these ids (at most SQLite's parameter limit), by id."""
    names = ", ".join(f"[{column}]" for column in columns)
    return {row["id"]: row for row in conn.execute(
        f"SELECT {names} FROM [{table}] WHERE id IN ({','.join('?' * len(ids))})", ids)}


def artifact_types(conn: sqlite3.Connection, evidence_id: int | None = None) -> list[tuple[str, int]]:
    """The artefact types with their counts (of one evidence item, or of the case), by type."""
    if not has_table(conn, "artifacts"):
        return []
    where, parameters = _of_evidence(evidence_id)
    return [(row[0], row[1]) for row in conn.execute(
        f"SELECT type, count(*) FROM artifacts {where} GROUP BY type ORDER BY type", parameters)]


def artifact_ids(conn: sqlite3.Connection, kind: str | None, text: str, column: str, descending: bool) -> list[int]:
    """The ids of the artefacts of one type (or type family: 'registry' holds 'registry.run'; None: all) whose
    summary or source holds `text`, ordered by one column (then by id, the same way)."""
    if not has_table(conn, "artifacts"):
        return []
    where, parameters = [], []
    if kind:
        where.append("(type = ? OR substr(type, 1, ?) = ?)")
        parameters += [kind, len(kind) + 1, kind + "."]
    if text:
        where.append("(instr(lower(summary), lower(?)) OR instr(lower(source), lower(?)))")
        parameters += [text, text]
    direction = "DESC" if descending else "ASC"
    sql = (f"SELECT id FROM artifacts {'WHERE ' + ' AND '.join(where) if where else ''} "
           f"ORDER BY [{column}] {direction}, id {direction}")
    return [row[0] for row in conn.execute(sql, parameters)]


# -- the Files tab: a sorted folder or the files a filter finds (case/files_query.py), a page at a time --------


def files_by_id(conn: sqlite3.Connection, ids: list[int]) -> dict[int, dict[str, Any]]:
    """The rows of these files as the table shows them (with their tags), by id."""
    out: dict[int, dict[str, Any]] = {}
    for at in range(0, len(ids), 500):
        chunk = ids[at : at + 500]
        for row in conn.execute(
                f"SELECT {FILE_COLUMNS}, {tags_of('file', 'files.id')} AS tags, {notes_of('file', 'files.id')} AS tag_notes "
                f"FROM files WHERE id IN ({','.join('?' * len(chunk))})", chunk):
            out[row["id"]] = dict(row)
    return out


@dataclass
class FileAnswer:
    """A query's first page of rows, then (complete) every id it selects in order."""

    query: FileQuery
    ids: list[int]
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    complete: bool = False



def read_files(case_dir: Path, query: FileQuery, *, first: Callable[[FileAnswer], None] | None = None,
               page: int = 200, cancel: threading.Event | None = None) -> FileAnswer:
    """For a worker thread: the first `page` rows handed to `first`, then every id of the query in order."""
    conn = connect(case_dir)
    try:
        with cancellable(conn, cancel):
            if first is not None:
                head = file_ids(conn, query, page)
                first(FileAnswer(query, head, files_by_id(conn, head), complete=len(head) < page))
                if len(head) < page:
                    return FileAnswer(query, head, complete=True)
            if cancel is not None and cancel.is_set():  # replaced before the whole order was asked for
                raise Cancelled("file listing replaced by another")
            return FileAnswer(query, file_ids(conn, query), complete=True)
    finally:
        conn.close()


def read_rows(case_dir: Path, ids: list[int], *, cancel: threading.Event | None = None) -> dict[int, dict[str, Any]]:
    """For a worker thread: the rows of these files, by id."""
    conn = connect(case_dir)
    try:
        return files_by_id(conn, ids)
    finally:
        conn.close()


# -- pictures: the gallery and the GPS list --------------------------------------------------------------------

PICTURE_MIMES = ("image/jpeg", "image/png", "image/gif", "image/bmp", "image/x-ms-bmp", "image/webp", "image/heic",
                 "image/heif", "image/tiff")


@dataclass(frozen=True)
class PictureFilter:
    """Which pictures the gallery shows: under a folder (a path prefix), taken between two dates (ISO text, either
    end open; a picture with no original time is left out once a date is asked) and by one camera ("make model")."""

    folder: str = ""
    since: str = ""
    until: str = ""
    camera: str = ""

    def where(self) -> tuple[str, list[Any]]:
        clauses = [f"mime IN ({', '.join('?' * len(PICTURE_MIMES))})"]
        parameters: list[Any] = list(PICTURE_MIMES)
        if self.folder:
            folder = self.folder.rstrip("/") + "/"
            clauses.append("substr(path, 1, ?) = ?")
            parameters += [len(folder), folder]
        taken = "json_extract(exif, '$.taken')"
        if self.since:
            clauses.append(f"{taken} >= ?")
            parameters.append(self.since)
        if self.until:
            clauses.append(f"substr({taken}, 1, ?) <= ?")
            parameters += [len(self.until), self.until]
        if self.camera:
            clauses.append(f"{CAMERA} = ?")
            parameters.append(self.camera)
        return " AND ".join(clauses), parameters


CAMERA = "trim(coalesce(json_extract(exif, '$.make'), '') || ' ' || coalesce(json_extract(exif, '$.model'), ''))"


@dataclass(frozen=True)
class Picture:
    """One picture as the gallery lists it."""

    id: int
    name: str
    path: str
    size: int
    mime: str
    taken: str | None
    camera: str


def picture_ids(conn: sqlite3.Connection, chosen: PictureFilter) -> list[int]:
    """The ids of the pictures chosen, in evidence and path order: the gallery's rows, read a page at a time."""
    where, parameters = chosen.where()
    return [row[0] for row in conn.execute(f"SELECT id FROM files WHERE {where} ORDER BY evidence_id, path, id",
                                           parameters)]


def pictures_by_id(conn: sqlite3.Connection, ids: list[int]) -> dict[int, Picture]:
    """These pictures (at most SQLite's parameter limit), by id."""
    return {row[0]: Picture(*row) for row in conn.execute(
        f"""SELECT id, name, path, size, mime, json_extract(exif, '$.taken'), {CAMERA} FROM files
            WHERE id IN ({','.join('?' * len(ids))})""", ids)}


def picture_cameras(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    """Each camera ("make model") the pictures name, with how many pictures it took, most first."""
    return [(row[0], row[1]) for row in conn.execute(
        f"SELECT {CAMERA} AS camera, count(*) FROM files WHERE exif IS NOT NULL AND {CAMERA} != '' "
        "GROUP BY camera ORDER BY count(*) DESC, camera")]


def gps_pictures(conn: sqlite3.Connection, limit: int = -1) -> list[dict[str, Any]]:
    """Every picture whose EXIF places it, in evidence then path order: id, path, evidence and its EXIF (decoded)."""
    rows = conn.execute(
        """SELECT f.id, f.path, e.path AS evidence, f.exif FROM files f JOIN evidence e ON e.id = f.evidence_id
           WHERE json_extract(f.exif, '$.latitude') IS NOT NULL AND json_extract(f.exif, '$.longitude') IS NOT NULL
           ORDER BY f.evidence_id, f.path, f.id LIMIT ?""", [limit])
    return [{"id": row[0], "path": row[1], "evidence": row[2], "exif": json.loads(row[3])} for row in rows]


# -- keyword hits: the Keyword Hits tab and the report ---------------------------------------------------------


def _dicts(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    """Rows as dicts whatever the connection's row factory (the application's or sqlite-utils')."""
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def keyword_terms(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Each keyword list's terms with their counts of hits and of objects, lists and terms in name order."""
    if not has_table(conn, "keyword_hits"):
        return []
    return _dicts(conn.execute("""SELECT list, term, count(*) AS hits, count(DISTINCT file_id) AS objects
                                  FROM keyword_hits GROUP BY list, term ORDER BY list, term"""))


def keyword_objects(conn: sqlite3.Connection, list_name: str, term: str, limit: int = -1) -> list[dict[str, Any]]:
    """The objects a term hit, in path order: each with its count of hits, its first offset and snippet."""
    return _dicts(conn.execute(
        """SELECT k.file_id, f.path, f.sha256, e.path AS evidence, count(*) AS hits, min(k.offset) AS offset,
                  (SELECT s.length FROM keyword_hits s WHERE s.file_id = k.file_id AND s.list = k.list
                   AND s.term = k.term ORDER BY s.offset LIMIT 1) AS length,
                  (SELECT s.snippet FROM keyword_hits s WHERE s.file_id = k.file_id AND s.list = k.list
                   AND s.term = k.term ORDER BY s.offset LIMIT 1) AS snippet
           FROM keyword_hits k JOIN files f ON f.id = k.file_id JOIN evidence e ON e.id = k.evidence_id
           WHERE k.list = ? AND k.term = ? GROUP BY k.file_id ORDER BY f.path, k.file_id LIMIT ?""",
        [list_name, term, limit]))


def keyword_places(conn: sqlite3.Connection, file_id: int, list_name: str, term: str) -> list[dict[str, Any]]:
    """Where one term hit one object: offsets (in its text) and snippets, in text order."""
    return _dicts(conn.execute("""SELECT offset, length, snippet FROM keyword_hits WHERE file_id = ? AND list = ? AND term = ?
                                  ORDER BY offset""", [file_id, list_name, term]))
