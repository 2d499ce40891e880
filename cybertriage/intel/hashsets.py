"""Known-file hash sets: importing NSRL RDS v3 and hash lists, and looking files up in them (the scan's
known-files analyzer per file, the hash-set pass of `cybertriage.passes` over a whole case).

The NSRL publishes its Reference Data Set (RDS v3) as an SQLite database whose
`FILE` view gives, per file of every package, `sha256, sha1, md5, file_name,
file_size, package_id` (hashes in upper case); `PKG`, `OS` and `MFG` describe
the packages. A modern RDS has well over 100 million FILE rows, so the import
streams them with `fetchmany`, inserts them in batches with `executemany`, and
builds the three hash indexes once the rows are in.

Known-bad lists are text or CSV: one hash (MD5, SHA-1 or SHA-256, told by its
length) per line, optionally followed by a name, separated by a comma, a tab or
spaces — `md5sum`/`sha256sum` output is such a list — or a CSV (comma, semicolon
or tab separated) with a header naming `md5`/`sha1`/`sha256`/`hash` and
`name`/`description`/`filename` columns.
Lines that are neither are counted and reported, never silently dropped.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..analyzers.known_files import ANALYZER as KNOWN_FILES
from ..case.intel_store import (
    HASH_LENGTHS,
    NewHashSet,
    open_for_import,
    open_rds,
    rds_files,
    rds_version,
)
from ..errors import UsageError
from ..evidence.integrity import file_sha256

BATCH = 50_000
SQLITE_MAGIC = b"SQLite format 3\x00"
RDS_COLUMNS = ("sha256", "sha1", "md5", "file_name")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_HASH_HEADERS = {"md5": "md5", "sha1": "sha1", "sha-1": "sha1", "sha256": "sha256", "sha-256": "sha256",
                 "hash": None, "hashes": None, "digest": None}
_NAME_HEADERS = ("name", "description", "filename", "file_name", "malware", "signature", "threat", "family")
MAX_PROBLEMS = 20


@dataclass
class ImportReport:
    """What an import did: rows taken, lines skipped and why (the first few, with line numbers)."""

    name: str
    rows: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)
    source_sha256: str | None = None
    format: str = ""
    unsupported: int = 0  # IOC lists: comparisons or patterns that cannot be matched
    approximated: int = 0  # IOC lists: patterns whose AND/FOLLOWEDBY/qualifiers were widened to OR

    def skip(self, where: str, why: str) -> None:
        self.skipped += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(f"{where}: {why}")


def import_hash_set(intel_path: Path, source: Path, name: str | None = None, known: str | None = None,
                    progress: Callable[[int], None] | None = None) -> ImportReport:
    """Import an NSRL RDS v3 database (known good unless said otherwise) or a hash list (known bad
    unless said otherwise) as the set `name` (default: the file's stem), replacing a set of that name."""
    if not source.is_file():
        raise UsageError(f"hash set not found: {source}")
    if known not in (None, "good", "bad"):
        raise UsageError("--known must be good or bad")
    name = name or source.stem
    with open(source, "rb") as handle:
        is_sqlite = handle.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    report = ImportReport(name, format="nsrl-rds-v3" if is_sqlite else "list")
    rows_in, version = (_rds_rows(source, report) if is_sqlite else (_list_rows(source, name, report), None))
    connection = open_for_import(intel_path)
    try:
        _store(connection, name, known or ("good" if is_sqlite else "bad"), report, source, rows_in, version, progress)
    finally:
        connection.close()
    if report.rows == 0:
        raise UsageError(f"{source}: no hashes found" + (f" ({report.problems[0]})" if report.problems else ""))
    return report


def _store(connection: sqlite3.Connection, name: str, known: str, report: ImportReport, source: Path,
           rows: Iterator[tuple[str | None, str | None, str | None, str | None]], version: str | None,
           progress: Callable[[int], None] | None) -> None:
    """Load the rows into a new table, index it, then swap it in for any older set of that name, all in one
    transaction: an interrupted import leaves the database as it was."""
    digest: dict[str, str] = {}
    hashing = threading.Thread(target=lambda: digest.setdefault("sha256", file_sha256(source)), daemon=True)
    hashing.start()  # the source's sha256 for the record, read beside the import
    new = NewHashSet(connection, name, known, report.format)
    try:
        batch: list[tuple] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= BATCH:
                new.add(batch)
                report.rows += len(batch)
                batch = []
                if progress:
                    progress(report.rows)
        new.add(batch)
        report.rows += len(batch)
        hashing.join()
        if "sha256" not in digest:
            raise UsageError(f"cannot read {source} to hash it")
        report.source_sha256 = digest["sha256"]
        if report.rows == 0:  # nothing to import: leave the database untouched
            new.abandon()
            return
        new.finish(str(source.resolve()), report.source_sha256, report.rows, report.skipped, version)
    except BaseException:
        new.abandon()
        raise


def normal_hash(value: str | None, kind: str | None = None) -> str | None:
    """Lower-case hex of the right length, or None."""
    if not value:
        return None
    value = value.strip().lower()
    if not _HEX.match(value) or HASH_LENGTHS.get(len(value)) is None:
        return None
    if kind is not None and HASH_LENGTHS[len(value)] != kind:
        return None
    return value


def _rds_rows(source: Path, report: ImportReport) -> tuple[Iterator[tuple], str | None]:
    """The FILE rows of an NSRL RDS v3 database, read-only, streamed; and its VERSION, if it says."""
    try:
        rds, columns = open_rds(source)
    except sqlite3.DatabaseError as error:
        raise UsageError(f"{source}: not a readable SQLite database ({error})") from None
    missing = [c for c in RDS_COLUMNS if c not in columns]
    if missing:
        rds.close()
        raise UsageError(f"{source}: an SQLite database but not an NSRL RDS v3 (its FILE table or view lacks "
                         f"{', '.join(missing)})")
    version = None
    try:
        version = rds_version(rds)
    except sqlite3.DatabaseError:
        pass  # VERSION is descriptive only

    def rows() -> Iterator[tuple]:
        try:
            cursor = rds_files(rds)
            number = 0
            while chunk := cursor.fetchmany(BATCH):
                for md5, sha1, sha256, file_name in chunk:
                    number += 1
                    hashes = (normal_hash(md5, "md5"), normal_hash(sha1, "sha1"), normal_hash(sha256, "sha256"))
                    if not any(hashes):
                        report.skip(f"FILE row {number}", "no valid MD5, SHA-1 or SHA-256")
                        continue
                    yield (*hashes, file_name)
        except sqlite3.DatabaseError as error:
            raise UsageError(f"{source}: reading the FILE rows failed: {error}") from None
        finally:
            rds.close()

    return rows(), version


def _list_rows(source: Path, list_name: str, report: ImportReport) -> Iterator[tuple]:
    """(md5, sha1, sha256, name) for each hash of a text or CSV list."""
    with open(source, "r", encoding="utf-8-sig", errors="replace", newline="") as handle:
        head = handle.read(64 * 1024)
        handle.seek(0)
        first = next((line for line in head.splitlines() if line.strip() and not line.lstrip().startswith("#")), "")
        delimiter = max(",;\t", key=first.count)
        columns = _header(first, delimiter)
        if columns is not None:
            yield from _csv_rows(handle, columns, delimiter, list_name, report)
        else:
            yield from _text_rows(handle, list_name, report)


def _header(line: str, delimiter: str) -> tuple[dict[str, int | None], int | None] | None:
    """For a CSV header line: the column of each hash kind (None: a hash column of any kind) and of the name."""
    try:
        cells = [c.strip().lower() for c in next(csv.reader([line], delimiter=delimiter))]
    except (csv.Error, StopIteration):
        return None
    hashes = {cells[i]: i for i in range(len(cells)) if cells[i] in _HASH_HEADERS}
    if not hashes:
        return None
    name = next((cells.index(n) for n in _NAME_HEADERS if n in cells), None)
    return {_HASH_HEADERS[h] or f"any:{i}": i for h, i in hashes.items()}, name


def _csv_rows(handle: io.TextIOBase, header: tuple[dict[str, int | None], int | None], delimiter: str, list_name: str,
              report: ImportReport) -> Iterator[tuple]:
    columns, name_column = header
    reader = csv.reader((line for line in handle if not line.lstrip().startswith("#")), delimiter=delimiter)
    next(reader, None)
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        found: dict[str, str] = {}
        for kind, index in columns.items():
            value = cells[index].strip() if index is not None and index < len(cells) else ""
            hashed = normal_hash(value)
            if hashed and (kind.startswith("any:") or HASH_LENGTHS[len(hashed)] == kind):
                found[HASH_LENGTHS[len(hashed)]] = hashed
        if not found:
            report.skip(f"line {number}", "no MD5, SHA-1 or SHA-256 in the hash columns")
            continue
        name = cells[name_column].strip() if name_column is not None and name_column < len(cells) else ""
        yield found.get("md5"), found.get("sha1"), found.get("sha256"), name or list_name


_TEXT_LINE = re.compile(r"^\s*([0-9A-Fa-f]{32,64})(?:\s*[,;\t ]\s*\*?(.*?))?\s*$")


def _text_rows(handle: Iterable[str], list_name: str, report: ImportReport) -> Iterator[tuple]:
    for number, line in enumerate(handle, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _TEXT_LINE.match(line)
        hashed = normal_hash(match[1]) if match else None
        if match is None or hashed is None:
            report.skip(f"line {number}", "not an MD5, SHA-1 or SHA-256 hash")
            continue
        kind = HASH_LENGTHS[len(hashed)]
        name = (match[2] or "").strip().strip('"') or list_name
        yield (hashed if kind == "md5" else None, hashed if kind == "sha1" else None,
               hashed if kind == "sha256" else None, name)


ANALYZER = KNOWN_FILES  # the known-files analyzer's name: a scan's findings and the hash-set pass's are one kind
