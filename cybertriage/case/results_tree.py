"""The results tree's counts: evidence → volumes → folders, the views of the files (by MIME group, by extension,
deleted, by size, modified around a date), the results (findings by analyzer and rule, hash-set hits, keyword
hits, correlations) and the tags.

Every count is read from an index, so that a million-file case is counted in a fraction of a second on the
thread pool: the files' MIME types, the findings' analyzer and rule, and the tags' names have indexes of their
own (schema 21); the others are the Files tab's (case/files_query.py) and the timeline's
(case/timeline_sources.py). Nothing here imports Qt or writes.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from . import browse
from .files_query import FOLDER, SUFFIX, FileFilter, cancellable
from .timeline_sources import SOURCES

# The findings a section of their own shows rather than "Findings": what the analyzers name them
HASH_SET_ANALYZER = "hashset"  # analyzers/known_files.py
CORRELATION_ANALYZER = "correlation"  # correlate.py
TOP_EXTENSIONS = 30
FOLDERS_SHOWN = 2000  # subfolders listed under one folder; the Files tab lists the rest
DAY_WINDOWS = (7, 30, 90)
MIB = 1024**2
# (label, smallest size, largest size) in bytes, both included, None for no bound: the Files tab's size fields
SIZE_RANGES = (("0 bytes", None, 0), ("1 byte – 1 MiB", 1, MIB - 1), ("1 MiB – 100 MiB", MIB, 100 * MIB),
               ("over 100 MiB", 100 * MIB + 1, None))
# The groups the MIME view shows, in order; a type in none of them is "Other"
MIME_GROUPS = ("Images", "Documents", "Executables", "Archives", "Text", "Other")
_DOCUMENT_TYPES = ("application/pdf", "application/msword", "application/rtf", "application/vnd.ms-",
                   "application/vnd.openxmlformats-officedocument", "application/vnd.oasis.opendocument",
                   "application/epub", "application/postscript", "text/rtf")
_EXECUTABLE_TYPES = ("dosexec", "executable", "sharedlib", "mach-binary", "x-msi", "java-archive", "x-elf")
_ARCHIVE_TYPES = ("application/zip", "application/x-7z", "application/x-tar", "application/gzip", "application/x-gzip",
                  "application/x-rar", "application/vnd.rar", "application/x-bzip2", "application/x-xz",
                  "application/x-lzma", "application/zstd", "application/x-cpio", "application/x-iso9660",
                  "application/vnd.ms-cab", "application/x-archive", "application/x-compress")
_MTIME_KEY = next(source.key for source in SOURCES if source.table == "files" and source.column == "mtime")


def mime_group(mime: str | None) -> str:
    """The MIME view's group of a type; an archive or executable type is not a document though Microsoft's are."""
    text = (mime or "").lower()
    if any(part in text for part in _EXECUTABLE_TYPES):
        return "Executables"
    if text.startswith(_ARCHIVE_TYPES):
        return "Archives"
    if text.startswith("image/"):
        return "Images"
    if text.startswith(_DOCUMENT_TYPES):
        return "Documents"
    if text.startswith("text/") or text in ("application/json", "application/xml", "application/javascript"):
        return "Text"
    return "Other"


# -- the filters a node gives the Files tab ------------------------------------------------------------------------


@dataclass(frozen=True)
class MimeFilter(FileFilter):
    """The files of some MIME types (with `untyped`, those with none too): the filter bar has no MIME field, so a
    MIME node asks the Files tab's table with this."""

    mimes: tuple[str, ...] = ()
    untyped: bool = False

    def clauses(self) -> tuple[list[str], list[Any]]:
        clauses, params = super().clauses()
        parts = [f"mime IN ({', '.join('?' * len(self.mimes))})"] if self.mimes else []
        if self.untyped:
            parts.append("mime IS NULL")
        clauses.append("(" + " OR ".join(parts or ["0"]) + ")")
        return clauses, [*params, *self.mimes]


@dataclass(frozen=True)
class RuleFilter(browse.FindingFilter):
    """One rule's findings, or the findings with one tag (the findings filter names an analyzer, not a rule, and
    its "tagged only" takes every tag)."""

    rule: str | None = None
    tag: str | None = None

    def where(self) -> tuple[str, list[Any]]:
        where, params = super().where()
        if self.rule is not None:
            where, params = f"{where} AND g.rule = ?", [*params, self.rule]
        if self.tag is not None:
            where = f"{where} AND g.id IN (SELECT object_id FROM tags WHERE object_kind = 'finding' AND tag = ?)"
            params = [*params, self.tag]
        return where, params


@dataclass(frozen=True)
class TagFilter(FileFilter):
    """The files with one tag (the Files tab's "tagged only" takes every tag)."""

    tag: str = ""

    def clauses(self) -> tuple[list[str], list[Any]]:
        clauses, params = super().clauses()
        clauses.append("id IN (SELECT object_id FROM tags WHERE object_kind = 'file' AND tag = ?)")
        return clauses, [*params, self.tag]


# -- evidence → volumes → folders --------------------------------------------------------------------------------


@dataclass
class Place:
    """An evidence item, a volume or a folder, with how many objects it directly holds (all for evidence and volumes)."""

    kind: str  # evidence | volume | folder
    label: str
    evidence_id: int
    offset: int | None = None  # None: an evidence item with volumes under it
    path: str = "/"
    count: int = 0
    tooltip: str = ""
    deleted: bool = False
    greyed: bool = False  # a volume that was not examined: nothing under it
    children: list[Place] | None = None  # None: read when opened
    more: int = 0  # subfolders not listed (FOLDERS_SHOWN)


def evidence_places(conn: sqlite3.Connection, cancel: threading.Event | None = None) -> list[Place]:
    """Each evidence item with its objects counted, and its volumes (each counted) under it."""
    out: list[Place] = []
    with cancellable(conn, cancel):
        for row in browse.evidence_list(conn):
            count = conn.execute("SELECT count(*) FROM files WHERE evidence_id = ?", [row["id"]]).fetchone()[0]
            name = row["path"].replace("\\", "/").rsplit("/", 1)[-1]
            place = Place("evidence", f"{name} ({row['format'] or row['kind'] or 'unknown'})", row["id"],
                          count=count, tooltip=row["path"])
            if row["kind"] in ("folder", "file", "capture"):  # no volumes: objects sit at offset 0
                place.offset = 0
            else:
                place.children = [_volume(conn, row["id"], volume) for volume in browse.partitions(conn, row["id"])]
            out.append(place)
    return out


def _volume(conn: sqlite3.Connection, evidence_id: int, volume: dict[str, Any]) -> Place:
    system = volume["filesystem"] or "no filesystem"
    count = conn.execute("SELECT count(*) FROM files WHERE evidence_id = ? AND partition_offset = ?",
                         [evidence_id, volume["offset"]]).fetchone()[0]
    tip = f"{volume['description']}, {system}, {volume['status']}" + (f": {volume['note']}" if volume.get("note") else "")
    return Place("volume", f"{system} at byte {volume['offset']:,}", evidence_id, volume["offset"], count=count,
                 tooltip=tip, greyed=volume["status"] != "examined")


def folder_count(conn: sqlite3.Connection, evidence_id: int, offset: int, folder: str) -> int:
    """How many objects the folder directly holds, as the Files tab lists it (known-good files too)."""
    # named: without statistics SQLite takes the (evidence_id, partition_offset, path) index and reads the whole volume
    return conn.execute(f"SELECT count(*) FROM files INDEXED BY files_folder_size "
                        f"WHERE evidence_id = ? AND partition_offset = ? AND {FOLDER} = ?",
                        [evidence_id, offset, folder.rstrip("/") + "/"]).fetchone()[0]


def subfolders(conn: sqlite3.Connection, evidence_id: int, offset: int, folder: str,
               cancel: threading.Event | None = None) -> tuple[list[Place], int]:
    """The folder's subfolders (the first FOLDERS_SHOWN), each with its objects counted; and whether more follow (1)
    or not (0)."""
    with cancellable(conn, cancel):
        rows, cursor = browse.folder_children(conn, evidence_id, offset, folder, limit=FOLDERS_SHOWN,
                                              directories_only=True)
        places = [Place("folder", row["name"], evidence_id, offset, row["path"],
                        folder_count(conn, evidence_id, offset, row["path"]), tooltip=row["path"],
                        deleted=bool(row.get("deleted"))) for row in rows[:FOLDERS_SHOWN]]
    return places, int(cursor is not None or len(rows) > FOLDERS_SHOWN)


# -- the views of the files --------------------------------------------------------------------------------------


@dataclass
class FileViews:
    """The counts of the Views branch: MIME types by group, top extensions, deleted, sizes, modified windows."""

    mimes: dict[str, dict[str | None, int]] = field(default_factory=dict)  # group → type → files
    extensions: list[tuple[str, int]] = field(default_factory=list)
    deleted: int = 0
    sizes: list[int] = field(default_factory=list)  # one per SIZE_RANGES
    latest: str | None = None  # the latest modification date of the case (YYYY-MM-DD)
    around: str | None = None  # the date the windows end on
    modified: list[int] = field(default_factory=list)  # one per DAY_WINDOWS


def file_views(conn: sqlite3.Connection, around: str | None = None, cancel: threading.Event | None = None) -> FileViews:
    """Count the Views branch; the modified windows end on `around` (a UTC date), by default the latest
    modification of the case."""
    views = FileViews()
    with cancellable(conn, cancel):
        for mime, count in conn.execute("SELECT mime, count(*) FROM files GROUP BY mime"):
            views.mimes.setdefault(mime_group(mime), {})[mime] = count
        views.extensions = top_extensions(conn)
        views.deleted = conn.execute("SELECT count(*) FROM files WHERE deleted = 1").fetchone()[0]
        views.sizes = [size_count(conn, low, high) for _, low, high in SIZE_RANGES]
        latest = conn.execute(f"SELECT max({_MTIME_KEY}) FROM files").fetchone()[0]
        views.latest = latest[:10] if latest else None
        views.around = around or views.latest
        if views.around:
            views.modified = modified_counts(conn, views.around)
    return views


def top_extensions(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    """The commonest extensions with their files, as the Files tab's extension filter selects them. The suffix
    index holds the whole name of a name without a dot ("hosts"): a suffix no name with a dot ends in is left out
    (a look at its first rows), so is the empty one of a name ending in a dot."""
    counted = conn.execute(f"SELECT {SUFFIX} AS suffix, count(*) AS n FROM files GROUP BY suffix "
                           "ORDER BY n DESC, suffix LIMIT ?", [2 * TOP_EXTENSIONS]).fetchall()
    dotted = f"SELECT 1 FROM files WHERE {SUFFIX} = ? AND instr(name, '.') > 0 LIMIT 1"
    return [(row[0], row[1]) for row in counted
            if row[0] and conn.execute(dotted, [row[0]]).fetchone()][:TOP_EXTENSIONS]


def size_count(conn: sqlite3.Connection, low: int | None, high: int | None) -> int:
    clauses = (["size >= ?"] if low is not None else []) + (["size <= ?"] if high is not None else [])
    params = [value for value in (low, high) if value is not None]
    return conn.execute(f"SELECT count(*) FROM files WHERE {' AND '.join(clauses)}", params).fetchone()[0]


def modified_window(around: str, days: int) -> tuple[str, str]:
    """The first and last UTC dates of the `days` whole days that end on `around`."""
    last = date.fromisoformat(around[:10])
    return (last - timedelta(days=days - 1)).isoformat(), last.isoformat()


def modified_count(conn: sqlite3.Connection, first: str, last: str) -> int:
    """Files modified from the start of `first` to the end of `last` (UTC dates), on the timeline's mtime index."""
    end = (date.fromisoformat(last) + timedelta(days=1)).isoformat()
    return conn.execute(f"SELECT count(*) FROM files WHERE {_MTIME_KEY} >= ? AND {_MTIME_KEY} < ?",
                        [first, end]).fetchone()[0]


def modified_counts(conn: sqlite3.Connection, around: str) -> list[int]:
    """The files modified in each of DAY_WINDOWS's windows ending on `around`."""
    return [modified_count(conn, *modified_window(around, days)) for days in DAY_WINDOWS]


def modified_of_case(case_dir: Any, around: str, cancel: threading.Event | None = None) -> list[int]:
    """`modified_counts` on a connection of the calling thread's own (another date chosen)."""
    conn = browse.connect(case_dir)
    try:
        with cancellable(conn, cancel):
            return modified_counts(conn, around)
    finally:
        conn.close()


# -- results and tags --------------------------------------------------------------------------------------------


@dataclass
class Results:
    """The counts of the Results and Tags branches."""

    findings: dict[str, dict[str, int]] = field(default_factory=dict)  # analyzer → rule → findings
    keywords: dict[str, dict[str, int]] = field(default_factory=dict)  # list → term → hits
    tags: dict[str, dict[str, int]] = field(default_factory=dict)  # tag → object kind → tagged objects


def results(conn: sqlite3.Connection, cancel: threading.Event | None = None) -> Results:
    out = Results()
    with cancellable(conn, cancel):
        for analyzer, rule, count in conn.execute(
                "SELECT analyzer, rule, count(*) FROM findings GROUP BY analyzer, rule ORDER BY analyzer, rule"):
            out.findings.setdefault(analyzer, {})[rule] = count
        if browse.has_table(conn, "keyword_hits"):
            for name, term, count in conn.execute(
                    "SELECT list, term, count(*) FROM keyword_hits GROUP BY list, term ORDER BY list, term"):
                out.keywords.setdefault(name, {})[term] = count
        out.tags = tag_counts(conn)
    return out


def tag_counts(conn: sqlite3.Connection) -> dict[str, dict[str, int]]:
    """Each tag's objects by kind (file, finding), tags in name order."""
    counted: dict[str, dict[str, int]] = {}
    if browse.has_table(conn, "tags"):
        for tag, kind, count in conn.execute(
                "SELECT tag, object_kind, count(*) FROM tags GROUP BY tag, object_kind ORDER BY tag, object_kind"):
            counted.setdefault(tag, {})[kind] = count
    return counted


def tags_of_case(case_dir: Any, cancel: threading.Event | None = None) -> dict[str, dict[str, int]]:
    """`tag_counts` on a connection of the calling thread's own (a tag was written)."""
    conn = browse.connect(case_dir)
    try:
        with cancellable(conn, cancel):
            return tag_counts(conn)
    finally:
        conn.close()


@dataclass
class TreeCounts:
    """Everything the tree shows but the folders below the volumes, read at once on the pool."""

    evidence: list[Place]
    views: FileViews
    results: Results


def tree_counts(case_dir: Any, around: str | None = None, cancel: threading.Event | None = None) -> TreeCounts:
    """Read the tree's counts from the case in `case_dir` on a connection of the calling thread's own."""
    conn = browse.connect(case_dir)
    try:
        return TreeCounts(evidence_places(conn, cancel), file_views(conn, around, cancel), results(conn, cancel))
    finally:
        conn.close()


def subfolders_of_case(case_dir: Any, evidence_id: int, offset: int, folder: str,
                       cancel: threading.Event | None = None) -> tuple[list[Place], int]:
    """`subfolders` on a connection of the calling thread's own."""
    conn = browse.connect(case_dir)
    try:
        return subfolders(conn, evidence_id, offset, folder, cancel)
    finally:
        conn.close()
