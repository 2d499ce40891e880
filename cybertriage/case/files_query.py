"""The Files tab's questions: a folder sorted on any column, and files filtered across the case.

The files table keeps no parent link for filesystem entries, so a file's folder is an expression over its path,
and schema 19 indexes it together with the size: a folder of 100,000 files comes sorted by size from the index.
A name glob ending in a plain extension (`*.ps1`) reads the index on the name's last suffix; sizes, deleted files
and sha256 prefixes have indexes of their own. The application reads the ordered ids of a question once, off its
thread, and its rows a page at a time (case/browse.py: read_files, read_rows). Nothing here imports Qt.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from ..errors import Cancelled, UsageError
from .columns import tags_of

# The folder holding a path, with its trailing '/': "/Windows/System32/" for "/Windows/System32/cmd.exe", "/" for
# "/boot.ini" (rtrim strips every character of the path but '/', from the right). An archive member
# "/docs/a.zip!b.txt" lies in "/docs/", as the folder listing shows it.
FOLDER = "rtrim(path, replace(path, '/', ''))"
# What follows the name's last dot, in lower case ("ps1" for "Run.PS1", the whole name when it has no dot): every
# name a glob "*.ps1" matches has the suffix "ps1".
SUFFIX = "lower(substr(name, length(rtrim(name, replace(name, '.', ''))) + 1))"

INDEXES = {
    # with `known`, the files of a folder in size order are counted without reading their rows (known-good hidden)
    "files_folder_size": f"files (evidence_id, partition_offset, {FOLDER}, size, known)",
    "files_suffix": f"files ({SUFFIX})",
    "files_size": "files (size)",
    "files_deleted": "files (evidence_id, path) WHERE deleted = 1",
}


def create_indexes(db: sqlite_utils.Database | sqlite3.Connection) -> None:
    """The indexes the Files tab's sorts and filters read (schema 19)."""
    for name, target in INDEXES.items():
        db.execute(f"CREATE INDEX IF NOT EXISTS [{name}] ON {target}")


# -- what the examiner types ------------------------------------------------------------------------------------

SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?", re.IGNORECASE)
_HEX = re.compile(r"[0-9a-f]+")
_TIME = re.compile(r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?)?Z?")
# hash columns by the length of their hex text
HASH_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64}


def parse_size(text: str) -> int | None:
    """A size as typed ("10k", "5M", "1.5 GiB", "2048"): binary units, as the table shows sizes; None when empty."""
    text = text.strip().replace(",", "").replace("_", "")
    if not text:
        return None
    match = _SIZE.fullmatch(text)
    if match is None:
        raise UsageError(f"not a size: {text!r} (try 10k, 5M or 1G)")
    return int(float(match.group(1)) * SIZE_UNITS[match.group(2).lower()])


def parse_time(text: str) -> str | None:
    """A UTC date or date and time as typed ("2024-03-01", "2024-03-01T14:30"), in the case's ISO form; None when
    empty."""
    text = text.strip()
    if not text:
        return None
    if _TIME.fullmatch(text) is None:
        raise UsageError(f"not a UTC date: {text!r} (try 2024-03-01 or 2024-03-01T14:30)")
    return text.rstrip("Z").replace(" ", "T")


def hash_columns(prefix: str) -> tuple[str, ...]:
    """The hash columns a hex prefix can be the start of, by its length: up to 32 digits any of the three, up to
    40 SHA-1 or SHA-256, longer only SHA-256."""
    return tuple(name for name, length in HASH_LENGTHS.items() if len(prefix) <= length)


def glob_suffix(pattern: str) -> str | None:
    """The plain extension a name glob ends in ("ps1" for "*.ps1", "gz" for "backup*.tar.gz"), read from the
    suffix index; None when the glob's end has a wildcard."""
    head, dot, tail = pattern.lower().rpartition(".")
    if not dot or not tail or any(c in tail for c in "*?[]"):
        return None
    return tail


# -- the question -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileFilter:
    """What the filter bar asks; every part set must hold (AND)."""

    name: str = ""  # a glob of the name (or of the path when it holds '/'), any case: *.ps1, invoice*, */Temp/*.exe
    path: str = ""  # what the path starts with, as written (case matters): /Users/alex/
    extensions: tuple[str, ...] = ()  # without the dot, any case: ("exe", "dll")
    hash: str = ""  # the start of an MD5, SHA-1 or SHA-256, in hex
    min_size: int | None = None
    max_size: int | None = None
    modified_from: str | None = None  # ISO 8601 UTC, a date or a date and time, both ends included
    modified_to: str | None = None
    deleted: bool = False
    tagged: bool = False

    @property
    def active(self) -> bool:
        """Whether the examiner set any part of the filter."""
        return self != FileFilter()

    def clauses(self) -> tuple[list[str], list[Any]]:
        """SQL conditions on `files` and their parameters; UsageError for a hash that is not hex."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.name:
            pattern = self.name.lower()
            suffix = glob_suffix(pattern) if "/" not in pattern else None
            if suffix is not None:
                clauses.append(f"{SUFFIX} = ?")
                params.append(suffix)
            clauses.append(f"lower({'path' if '/' in pattern else 'name'}) GLOB ?")
            params.append(pattern)
        if self.path:
            prefix = self.path.strip()
            # IN lets the (evidence_id, path) index take the range; 'U+10FFFF' sorts after anything that follows
            clauses.append("evidence_id IN (SELECT id FROM evidence) AND path >= ? AND path < ? AND substr(path, 1, ?) = ?")
            params += [prefix, prefix + "\U0010ffff", len(prefix), prefix]
        if self.extensions:
            clauses.append(f"{SUFFIX} IN ({', '.join('?' * len(self.extensions))})")
            params += [extension.lower().lstrip(".") for extension in self.extensions]
        if self.hash:
            prefix = self.hash.strip().lower()
            if not _HEX.fullmatch(prefix) or len(prefix) > HASH_LENGTHS["sha256"]:
                raise UsageError(f"not the start of a hash: {self.hash!r} (hexadecimal digits, at most 64)")
            parts = []
            for column in hash_columns(prefix):
                parts.append(f"({column} >= ? AND {column} < ?)")
                params += [prefix, prefix + "g"]  # 'g' sorts after every hex digit
            clauses.append("(" + " OR ".join(parts) + ")")
        if self.min_size is not None:
            clauses.append("size >= ?")
            params.append(self.min_size)
        if self.max_size is not None:
            clauses.append("size <= ?")
            params.append(self.max_size)
        if self.modified_from:
            clauses.append("mtime >= ?")
            params.append(self.modified_from)
        if self.modified_to:
            clauses.append("substr(mtime, 1, ?) <= ?")  # the whole last day (or minute) is in
            params += [len(self.modified_to), self.modified_to]
        if self.deleted:
            clauses.append("deleted = 1")
        if self.tagged:
            clauses.append("id IN (SELECT object_id FROM tags WHERE object_kind = 'file')")
        return clauses, params


# what the table is ordered by when a column's header is clicked (then by id, the same way). Never by the evidence
# before the path: SQLite would then walk the whole (evidence_id, path) index rather than sort the few matches.
SORTS = {
    "name": "lower(name)", "path": "path", "size": "size", "mime": "mime", "ext_mismatch": "ext_mismatch",
    "score": "score", "mtime": "mtime", "atime": "atime", "ctime": "ctime", "crtime": "crtime", "md5": "md5",
    "sha1": "sha1", "sha256": "sha256", "deleted": "deleted", "inode": "inode", "kind": "kind",
    "description": "description", "evidence_id": "evidence_id", "known": "known",
    "tags": tags_of("file", "files.id"),
}


@dataclass(frozen=True)
class FileQuery:
    """Which files the table lists and in which order, as plain data a worker thread can take.

    With no filter it is one folder's direct contents (evidence, volume, folder); with a filter it is every match
    under the scope: the whole case (no evidence), one evidence item, or one folder and everything below it.
    """

    filter: FileFilter = FileFilter()
    evidence_id: int | None = None
    partition_offset: int | None = None
    folder: str | None = None
    below: bool = False  # the folder's whole subtree, not only what it directly holds
    sort: str = "name"
    descending: bool = False
    hide_known_good: bool = True

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if self.evidence_id is not None:
            clauses.append("evidence_id = ?")
            params.append(self.evidence_id)
        if self.partition_offset is not None:
            clauses.append("partition_offset = ?")
            params.append(self.partition_offset)
        if self.folder is not None:
            folder = self.folder.rstrip("/")
            if not self.below:
                clauses.append(f"{FOLDER} = ?")
                params.append(folder + "/")
            elif folder:
                clauses.append("path > ? AND path < ?")
                params += [folder + "/", folder + "0"]
        more, values = self.filter.clauses()
        clauses += more
        params += values
        if self.hide_known_good:
            clauses.append("coalesce(known, '') != 'good'")
        return " AND ".join(clauses) or "1", params

    def order(self) -> str:
        direction = "DESC" if self.descending else "ASC"
        return f"{SORTS[self.sort]} {direction}, id {direction}"


def file_ids(conn: sqlite3.Connection, query: FileQuery, limit: int = -1) -> list[int]:
    """The ids of the files the query selects, in its order."""
    where, params = query.where()
    return [row[0] for row in conn.execute(f"SELECT id FROM files WHERE {where} ORDER BY {query.order()} LIMIT ?",
                                           [*params, limit])]


@contextmanager
def cancellable(conn: sqlite3.Connection, cancel: threading.Event | None) -> Iterator[None]:
    """Interrupt the statement running when `cancel` is set (the examiner asked for something else)."""
    if cancel is not None:
        if cancel.is_set():
            raise Cancelled("file listing replaced by another")
        conn.set_progress_handler(lambda: int(cancel.is_set()), 20_000)
    try:
        yield
    except sqlite3.OperationalError as error:
        if cancel is not None and cancel.is_set():
            raise Cancelled("file listing replaced by another") from None
        raise error
    finally:
        conn.set_progress_handler(None, 0)
