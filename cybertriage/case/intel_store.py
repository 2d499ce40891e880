"""The intel database: hash sets and IOC lists kept per workstation, outside any case (its SQL lives with the case's).

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
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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




# -- importing a hash set ------------------------------------------------------------------------

class NewHashSet:
    """A hash set being imported, all in one transaction: its rows go into a table of its own, which takes
    the place of any older set of that name only at `finish`; `abandon` leaves the database as it was."""

    def __init__(self, connection: sqlite3.Connection, name: str, known: str, format: str) -> None:
        self.connection = connection
        self.name, self.known, self.format = name, known, format
        connection.execute("PRAGMA cache_size = -262144")  # 256 MiB for building the indexes
        connection.execute("BEGIN")
        self.id = connection.execute(  # named for real once the rows are in and any older set is gone
            "INSERT INTO hash_sets (name, known, format, rows, imported_at) "
            "VALUES (?, ?, ?, 0, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))", [f"\0{name}", known, format]).lastrowid
        self.table = f"hashset_{self.id}"
        connection.execute(f"DROP TABLE IF EXISTS {self.table}")
        connection.execute(f"CREATE TABLE {self.table} (md5 TEXT, sha1 TEXT, sha256 TEXT, name TEXT)")

    def add(self, rows: list[tuple[str | None, str | None, str | None, str | None]]) -> None:
        """Rows of (md5, sha1, sha256, file name)."""
        self.connection.executemany(f"INSERT INTO {self.table} (md5, sha1, sha256, name) VALUES (?, ?, ?, ?)", rows)

    def finish(self, source: str, source_sha256: str, rows: int, skipped: int, version: str | None) -> None:
        """Index the set, put it in the place of an older set of its name, and commit."""
        for kind in HASH_KINDS:
            self.connection.execute(
                f"CREATE INDEX {self.table}_{kind} ON {self.table}({kind}) WHERE {kind} IS NOT NULL")
        old = self.connection.execute("SELECT id FROM hash_sets WHERE name = ?", [self.name]).fetchone()
        if old:
            self.connection.execute(f"DROP TABLE IF EXISTS hashset_{old[0]}")
            self.connection.execute("DELETE FROM hash_sets WHERE id = ?", [old[0]])
        self.connection.execute(
            "UPDATE hash_sets SET name = ?, known = ?, format = ?, source = ?, source_sha256 = ?, rows = ?, skipped = ?, "
            "version = ? WHERE id = ?", [self.name, self.known, self.format, source, source_sha256, rows, skipped,
                                         version, self.id])
        self.connection.execute("COMMIT")

    def abandon(self) -> None:
        self.connection.execute("ROLLBACK")


def find_in_hash_set(connection: sqlite3.Connection, hash_set: HashSet,
                     hashes: list[tuple[str, str]]) -> tuple[str | None, str | None, str | None, str | None] | None:
    """The first row (md5, sha1, sha256, file name) of a set matching any of these (kind, value) hashes."""
    where = " OR ".join(f"{kind} = ?" for kind, _ in hashes)
    return connection.execute(f"SELECT md5, sha1, sha256, name FROM {hash_set.table} WHERE {where} LIMIT 1",
                              [value for _, value in hashes]).fetchone()


# -- an NSRL RDS v3 database (read-only, a hash set's source) ---------------------------------------

def open_rds(source: Path) -> tuple[sqlite3.Connection, set[str]]:
    """A read-only connection to an SQLite file, and the columns of its FILE table or view (lower case; none if
    it has none). Raises sqlite3.DatabaseError when the file is not SQLite."""
    rds = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    return rds, {row[1].lower() for row in rds.execute("PRAGMA table_info(FILE)")}


def rds_version(rds: sqlite3.Connection) -> str | None:
    """What the RDS's VERSION table says of it (version and build set), if it says."""
    found = rds.execute("SELECT version, build_set FROM VERSION LIMIT 1").fetchone()
    return " ".join(str(v) for v in found if v) if found else None


def rds_files(rds: sqlite3.Connection) -> sqlite3.Cursor:
    """The RDS's FILE rows as (md5, sha1, sha256, file_name), for fetchmany."""
    return rds.execute("SELECT md5, sha1, sha256, file_name FROM FILE")


# -- IOC lists ------------------------------------------------------------------------------------------

def store_ioc_list(connection: sqlite3.Connection, ioc_list: dict[str, Any],
                   iocs: list[tuple[str, str, str | None, str, str | None]]) -> None:
    """Replace the IOC list of this name (ioc_list: name, format, source, source_sha256, rows, skipped,
    unsupported, approximated) and its IOCs, each (kind, value, description, severity, reference), at once."""
    with connection:
        connection.execute("DELETE FROM ioc_lists WHERE name = ?", [ioc_list["name"]])
        list_id = connection.execute(
            "INSERT INTO ioc_lists (name, format, source, source_sha256, rows, skipped, unsupported, approximated, "
            "imported_at) VALUES (:name, :format, :source, :source_sha256, :rows, :skipped, :unsupported, "
            ":approximated, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))", ioc_list).lastrowid
        connection.executemany(
            "INSERT INTO iocs (list_id, kind, value, description, severity, reference) VALUES (?, ?, ?, ?, ?, ?)",
            [(list_id, *ioc) for ioc in iocs])


def iocs_of(connection: sqlite3.Connection, list_id: int) -> sqlite3.Cursor:
    """A list's IOCs as (kind, value, description, severity, reference), in the list's order."""
    return connection.execute("SELECT kind, value, description, severity, reference FROM iocs "
                              "WHERE list_id = ? ORDER BY id", [list_id])


def ioc_kind_counts(connection: sqlite3.Connection, list_id: int) -> dict[str, int]:
    """How many IOCs of each kind a list holds."""
    return dict(connection.execute("SELECT kind, count(*) FROM iocs WHERE list_id = ? GROUP BY kind ORDER BY kind",
                                   [list_id]).fetchall())


@dataclass(frozen=True)
class KnownMatch:
    """A file found in a hash set: the set, what the set calls it, and the hash that matched."""

    set: HashSet
    name: str | None
    kind: str
    value: str

    @property
    def title(self) -> str:
        """The title of a known-bad match's finding, the same from a scan and from `hashset match`."""
        return f"Known-bad file: {self.name or self.set.name} (hash set {self.set.name})"

    def detail(self) -> dict[str, str | None]:
        return {"hash_set": self.set.name, "name": self.name, "hash": self.kind, "value": self.value,
                "set_source_sha256": self.set.source_sha256, "set_format": self.set.format}


class HashSetLookup:
    """Looks hashes up in the chosen sets, through one read-only connection per thread that asks."""

    def __init__(self, intel_path: Path, sets: Iterable[HashSet]) -> None:
        self.intel_path = intel_path
        self.sets = tuple(sets)
        self._local = threading.local()  # a connection per worker thread, closed when the thread's locals go

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = open_read_only(self.intel_path)
            if connection is None:
                raise UsageError(f"intel database {self.intel_path} disappeared during the scan")
            self._local.connection = connection
        return connection

    def find(self, md5: str | None, sha1: str | None, sha256: str | None) -> list[KnownMatch]:
        """Every set holding one of these hashes (known-bad sets first), with the set's name for the file."""
        connection = self._connection()
        hashes = {"md5": md5, "sha1": sha1, "sha256": sha256}
        terms = [(kind, value) for kind, value in hashes.items() if value]
        if not terms:
            return []
        found = []
        for hash_set in sorted(self.sets, key=lambda s: (s.known != "bad", s.name)):
            row = find_in_hash_set(connection, hash_set, terms)
            if row is not None:
                kind, value = next((k, v) for k, v in zip(HASH_KINDS, row[:3]) if v and v == hashes[k])
                found.append(KnownMatch(hash_set, row[3], kind, value))
        return found
