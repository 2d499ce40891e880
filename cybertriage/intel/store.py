"""The intel database: hash sets and IOC lists kept per workstation, outside any case.

One SQLite file (default `$XDG_DATA_HOME/cybertriage/intel.db`, i.e.
`~/.local/share/cybertriage/intel.db`; `CYBERTRIAGE_INTEL_DB` or `--intel-db`
name another) holds every imported set and list, so a unit imports the NSRL once
and every case scanned on the workstation uses it. Each hash set lives in a table
of its own (`hashset_<id>`, indexed on md5, sha1 and sha256) so that replacing a
100-million-row set is a DROP TABLE, not a DELETE. A scan opens the file read-only.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

ENV_VARIABLE = "CYBERTRIAGE_INTEL_DB"
SCHEMA_VERSION = 1
HASH_KINDS = ("md5", "sha1", "sha256")
HASH_LENGTHS = {32: "md5", 40: "sha1", 64: "sha256"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hash_sets (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, known TEXT NOT NULL CHECK (known IN ('good', 'bad')),
    format TEXT NOT NULL, source TEXT, source_sha256 TEXT, rows INTEGER NOT NULL, skipped INTEGER NOT NULL DEFAULT 0,
    imported_at TEXT NOT NULL, version TEXT);
CREATE TABLE IF NOT EXISTS ioc_lists (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, format TEXT NOT NULL, source TEXT, source_sha256 TEXT,
    rows INTEGER NOT NULL, skipped INTEGER NOT NULL DEFAULT 0, unsupported INTEGER NOT NULL DEFAULT 0,
    approximated INTEGER NOT NULL DEFAULT 0, imported_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS iocs (
    id INTEGER PRIMARY KEY, list_id INTEGER NOT NULL REFERENCES ioc_lists(id) ON DELETE CASCADE,
    kind TEXT NOT NULL, value TEXT NOT NULL, description TEXT, severity TEXT NOT NULL, reference TEXT);
CREATE INDEX IF NOT EXISTS iocs_list ON iocs(list_id);
"""


@dataclass(frozen=True)
class HashSet:
    """One imported hash set: what it is and where it came from (recorded with each run that uses it)."""

    id: int
    name: str
    known: str  # good | bad
    format: str  # nsrl-rds-v3 | list
    source: str | None
    source_sha256: str | None
    rows: int
    imported_at: str
    version: str | None = None

    @property
    def table(self) -> str:
        return f"hashset_{self.id}"

    def record(self) -> dict[str, object]:
        return {"name": self.name, "known": self.known, "format": self.format, "version": self.version,
                "source": self.source, "source_sha256": self.source_sha256, "rows": self.rows,
                "imported_at": self.imported_at}


@dataclass(frozen=True)
class IocList:
    """One imported IOC list."""

    id: int
    name: str
    format: str  # csv | stix2.1
    source: str | None
    source_sha256: str | None
    rows: int
    unsupported: int
    approximated: int
    imported_at: str

    def record(self) -> dict[str, object]:
        return {"name": self.name, "format": self.format, "source": self.source, "source_sha256": self.source_sha256,
                "rows": self.rows, "unsupported": self.unsupported, "approximated": self.approximated,
                "imported_at": self.imported_at}


def default_path() -> Path:
    """Where the intel database is when nothing names it: under the XDG data folder."""
    configured = os.environ.get(ENV_VARIABLE)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cybertriage" / "intel.db"


def resolve_path(path: Path | None) -> Path:
    """The intel database to use: `path` if given, else the environment's, else the default."""
    return path if path is not None else default_path()


def open_for_import(path: Path) -> sqlite3.Connection:
    """A writable connection, creating the database (and its folder) if needed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, timeout=30)
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise UsageError(f"intel database {path} is schema {version}; this cybertriage reads up to {SCHEMA_VERSION}")
        connection.execute("PRAGMA foreign_keys = ON")
        connection.executescript(_SCHEMA)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except OSError as error:
        raise UsageError(f"cannot create the intel database {path}: {error.strerror}") from None
    except sqlite3.DatabaseError as error:
        raise UsageError(f"intel database {path} cannot be used: {error}") from None
    return connection


def open_read_only(path: Path) -> sqlite3.Connection | None:
    """A connection that cannot write, or None when there is no intel database yet."""
    if not path.is_file():
        return None
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30,
                                     check_same_thread=False)
        connection.execute("PRAGMA query_only = ON")
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as error:
        raise UsageError(f"intel database {path} cannot be used: {error}") from None
    if not {"hash_sets", "ioc_lists", "iocs"} <= tables:
        connection.close()
        raise UsageError(f"{path} is not a cybertriage intel database")
    return connection


def hash_sets(connection: sqlite3.Connection) -> list[HashSet]:
    rows = connection.execute(
        "SELECT id, name, known, format, source, source_sha256, rows, imported_at, version FROM hash_sets ORDER BY name")
    return [HashSet(*row) for row in rows]


def ioc_lists(connection: sqlite3.Connection) -> list[IocList]:
    rows = connection.execute("SELECT id, name, format, source, source_sha256, rows, unsupported, approximated, "
                              "imported_at FROM ioc_lists ORDER BY name")
    return [IocList(*row) for row in rows]


@dataclass(frozen=True)
class Intel:
    """What a scan uses from the intel database: its path and the chosen sets and lists."""

    path: Path
    hash_sets: tuple[HashSet, ...]
    ioc_lists: tuple[IocList, ...]

    def record(self) -> dict[str, object]:
        """For the run's options: the database and each set and list in use, with their sources' sha256."""
        return {"intel_db": str(self.path), "hash_sets": [s.record() for s in self.hash_sets],
                "ioc_lists": [lst.record() for lst in self.ioc_lists]}


def load_intel(path: Path | None, set_names: list[str] | None = None) -> Intel | None:
    """The sets and lists a scan will use: every set (or those named) and every IOC list in the
    database at `path` (default: `default_path()`); None when there is no database. A named set
    that is not there is a usage error."""
    path = resolve_path(path)
    connection = open_read_only(path)
    if connection is None:
        if set_names:
            raise UsageError(f"no intel database at {path} (import a hash set with `cybertriage hashset import`)")
        return None
    try:
        sets = hash_sets(connection)
        lists = ioc_lists(connection)
    finally:
        connection.close()
    if set_names:
        known = {s.name: s for s in sets}
        missing = [n for n in set_names if n not in known]
        if missing:
            raise UsageError(f"no hash set named {', '.join(missing)} in {path} "
                             f"(there are: {', '.join(known) or 'none'})")
        sets = [known[n] for n in dict.fromkeys(set_names)]
    return Intel(path, tuple(sets), tuple(lists))


