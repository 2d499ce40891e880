"""What the Chromium and Firefox readers share: which browser and profile a file belongs to (from its path), a
browser database opened read-only with its tables and columns known, the browsers' clocks turned into UTC text,
and a form value masked to its length.

A database is read from the examiner's private copy, opened read-only. A live browser keeps recent changes in a
write-ahead log (`History-wal`, `places.sqlite-wal`) beside the database: that is a file of its own, which this
copy does not include, so what only the log holds is not read here."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...text_safety import visible
from ..results import Artefact
from .base import Deadline, OutOfTime, utc

SQLITE_HEADER = b"SQLite format 3\x00"
WEBKIT_EPOCH = dt.datetime(1601, 1, 1)  # Chromium's clock: microseconds since 1601, as Windows FILETIMEs count
UNIX_EPOCH = dt.datetime(1970, 1, 1)  # Firefox's PRTime: microseconds since 1970
LOOKUPS_KEPT = 20_000  # rows looked up by id kept for the records that refer to them again (a page's visits)
PROGRESS_STEPS = 10_000  # SQLite virtual-machine steps between two looks at the time limit inside one query

# Where the path tells the product of the Chromium family: a folder name (lower case) of its user data.
CHROMIUM_PRODUCTS = (
    ("/microsoft/edge", "edge"), ("/microsoft-edge", "edge"),
    ("/bravesoftware/", "brave"),
    ("/opera software/", "opera"), ("/com.operasoftware.opera", "opera"), ("/opera/", "opera"),
    ("/google/chrome", "chrome"), ("/google-chrome", "chrome"),
    ("/vivaldi/", "vivaldi"),
    ("/chromium/", "chromium"),
)


class _NoRow:
    """A looked-up row that is not there (or could not be read): every column empty."""

    def __getitem__(self, column: str) -> None:
        return None


EMPTY = _NoRow()


@dataclass(frozen=True)
class Origin:
    """Which browser wrote a file and for which profile, as far as the file's path tells it."""

    family: str  # chromium | firefox
    browser: str  # chrome, edge, brave, opera, … where the path names it; else the family
    profile: str  # the profile folder, as the evidence names it

    def values(self, **fields: Any) -> dict[str, Any]:
        """A record's values: the browser and profile first, then its own fields."""
        return {"browser": self.browser, "family": self.family, "profile": self.profile, **fields}


def origin(path: str, family: str) -> Origin:
    """The browser and profile of the file at `path` (the evidence's name for it). A Chromium profile is the folder
    holding the file (newer versions keep Cookies one folder down, in `Network`); a Firefox profile likewise."""
    folders = path.replace("\\", "/").split("/")[:-1]
    if family == "chromium" and folders and folders[-1].lower() == "network":
        folders = folders[:-1]
    lowered = "/" + "/".join(folders).lower() + "/"
    browser = family
    if family == "chromium":
        browser = next((name for marker, name in CHROMIUM_PRODUCTS if marker in lowered), family)
    return Origin(family, browser, "/".join(folders))


class BrowserDatabase:
    """A browser's SQLite database, opened read-only from the private copy, with its tables and their columns
    known up front so that a reader asks only for what this version of the browser wrote.

    Text that is not valid UTF-8 is read with replacement characters rather than stopping the read; a query that
    runs past the time limit is interrupted inside SQLite (a progress handler), so a hostile database cannot hang
    the scan; the schema is not trusted (no view, trigger or function of the file's own runs) and its damaged
    entries are passed over."""

    def __init__(self, path: Path, deadline: Deadline) -> None:
        self.deadline = deadline
        self.tables: dict[str, set[str]] = {}
        self.unreadable: dict[str, int] = {}  # rows looked up by id that damage kept from being read, by table
        self._lookups: dict[tuple[str, tuple[str, ...]], str] = {}
        self._found: dict[tuple[str, tuple[str, ...], int], sqlite3.Row | None] = {}  # pages visited again and again
        self.connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            self._open()
        except Exception:
            self.connection.close()
            raise

    def _open(self) -> None:
        self.connection.text_factory = lambda raw: raw.decode("utf-8", "replace")
        self.connection.row_factory = sqlite3.Row
        self.connection.set_progress_handler(self._out_of_time, PROGRESS_STEPS)
        try:
            self.connection.execute("PRAGMA trusted_schema = OFF")
            # A damaged schema entry (an index whose pages were cut off) must not stop the tables that are whole
            # from being read: SQLite skips such entries when the schema is writable, which a read-only connection
            # never is.
            self.connection.execute("PRAGMA writable_schema = ON")
            for name in self._table_names():
                quoted = name.replace('"', '""')
                self.tables[name] = {row[1] for row in self.connection.execute(f'PRAGMA table_info("{quoted}")')}
        except sqlite3.OperationalError:
            self.deadline.check()  # interrupted by the time limit, said as such
            raise

    def _table_names(self) -> list[str]:
        """The tables of the schema SQLite loaded (PRAGMA table_list reads it from memory, so a damaged page of
        sqlite_master that loading passed over does not stop the listing; SQLite before 3.37 lacks it)."""
        try:
            return [row[1] for row in self.connection.execute("PRAGMA table_list")
                    if row[0] == "main" and row[2] == "table" and not row[1].startswith("sqlite_")]
        except sqlite3.OperationalError:
            return [row[0] for row in self.connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                                              "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")]

    def _out_of_time(self) -> int:
        try:
            self.deadline.check()
        except OutOfTime:
            return 1  # SQLite stops the query: 'interrupted'
        return 0

    def has(self, table: str, *columns: str) -> bool:
        """Whether the table is there with all these columns."""
        return table in self.tables and all(column in self.tables[table] for column in columns)

    def pick(self, alias: str, table: str, *columns: str) -> str:
        """Select-list text for these columns of a table: each one that exists, and NULL under its name for each
        one this version lacks (a changed schema is read for what it has)."""
        present = self.tables.get(table, set())
        return ", ".join(f'{alias}."{column}" AS "{column}"' if column in present else f'NULL AS "{column}"'
                         for column in columns)

    def rows(self, sql: str, parameters: tuple[Any, ...] = ()) -> Iterator[sqlite3.Row]:
        """The query's rows as they are read, the time limit checked between them (and inside SQLite)."""
        try:
            for row in self.connection.execute(sql, parameters):
                self.deadline.check()
                yield row
        except sqlite3.OperationalError:
            self.deadline.check()  # an interrupted query is the time limit, said as such
            raise

    def by_id(self, table: str, key: Any, *columns: str) -> sqlite3.Row | None:
        """The row of `table` whose id is `key` (a visit's page), looked up on its own: when its page of the
        database is damaged, the record that refers to it is kept without it (and the loss counted in
        `unreadable`) rather than the whole table's reading stopped. None when there is no such row."""
        number = integer(key)
        if table not in self.tables or number is None:
            return None
        if (table, columns, number) in self._found:
            return self._found[(table, columns, number)]
        sql = self._lookups.get((table, columns))
        if sql is None:
            sql = self._lookups[(table, columns)] = f'SELECT {self.pick("t", table, *columns)} FROM "{table}" t ' \
                                                     "WHERE t.id = ?"
        try:
            row = self.connection.execute(sql, (number,)).fetchone()
        except sqlite3.DatabaseError:
            self.deadline.check()
            self.unreadable[table] = self.unreadable.get(table, 0) + 1
            return None
        if len(self._found) >= LOOKUPS_KEPT:
            self._found.clear()
        self._found[(table, columns, number)] = row
        return row

    def close(self) -> None:
        self.connection.close()


def webkit_time(value: Any) -> str | None:
    """UTC text of a Chromium time (microseconds since 1601); None for 0 ('never', 'session') and nonsense."""
    return _after(WEBKIT_EPOCH, integer(value))


def prtime(value: Any) -> str | None:
    """UTC text of a Firefox PRTime (microseconds since 1970); None for 0 and nonsense."""
    return _after(UNIX_EPOCH, integer(value))


def unix_time(value: Any, per_second: int = 1) -> str | None:
    """UTC text of a count since 1970 in 1/`per_second` seconds (seconds, milliseconds); None for 0 and nonsense."""
    count = integer(value)
    return None if count is None else _after(UNIX_EPOCH, count * 1_000_000 // per_second)


def _after(epoch: dt.datetime, microseconds: int | None) -> str | None:
    if microseconds is None or microseconds <= 0:
        return None
    try:
        return utc(epoch + dt.timedelta(microseconds=microseconds))
    except OverflowError:
        return None


def integer(value: Any) -> int | None:
    """A number column's value as a number; None when the file holds something else there."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def text(value: Any) -> str | None:
    """A text column's value as text (a blob where text belongs is decoded, damaged bytes replaced)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def masked(value: Any) -> str:
    """A form value as the examiner may see it in a listing: its length only, like a credential."""
    length = len(text(value) or "")
    return f"•••• ({length} character{'' if length == 1 else 's'})"


def line(*parts: str | None) -> str:
    """A summary line from its parts: empty parts left out, evidence text made visible and kept to one line."""
    return visible(" ".join(part for part in parts if part))


def form_field(where: Origin, field: str | None, value: Any, count: int | None, first_used: str | None,
               last_used: str | None) -> Artefact:
    """What was typed into a form field (Chromium's autofill, Firefox's form history), the value masked."""
    shown = masked(value)
    values = where.values(field=field, value=shown, count=count, first_used=first_used, last_used=last_used)
    return Artefact("browser.autofill", last_used, line("Form field", f'"{field}"', "filled", shown,
                                                        f"{count} times" if count is not None else None), values)


Problems = list[str]  # what stopped one part of a file, said to the examiner; the file's other parts are still read
Reader = Callable[[BrowserDatabase, Origin], Iterator[Artefact]]


@dataclass(frozen=True)
class Part:
    """One kind of record a database holds (visits, downloads), read on its own: damage to one table, or a table
    this version lacks, leaves the others read."""

    what: str  # "visits", as the examiner counts them
    needs: tuple[str, ...]  # the tables it reads; a database without them simply has none of these records
    read: Reader


@dataclass(frozen=True)
class BrowserFile:
    """A browser file the analyzer knows: by its name, its first bytes, and how it is read."""

    kind: str  # "Chromium history", as a problem names it
    family: str
    names: frozenset[str]  # file names, lower case
    looks_right: Callable[[bytes], bool]  # by the first bytes
    read: Callable[[Path, Origin, Deadline, Problems], Iterator[Artefact]]


def is_sqlite(head: bytes) -> bool:
    return head.startswith(SQLITE_HEADER)


def database_of(kind: str, parts: tuple[Part, ...]) -> Callable[[Path, Origin, Deadline, Problems], Iterator[Artefact]]:
    """The reader of a browser database made of these parts. A database with none of their tables is not this
    file (a problem, raised); a part the damage stops is a problem with the count it read, and the next is read."""

    def read(path: Path, where: Origin, deadline: Deadline, problems: Problems) -> Iterator[Artefact]:
        short = cut_short(path)
        if short:
            problems.append(f"{kind} {short}")
        database = BrowserDatabase(path, deadline)
        try:
            present = [part for part in parts if all(table in database.tables for table in part.needs)]
            if not present:
                found = ", ".join(sorted(database.tables)) or "none"
                if short:
                    raise UnreadableBrowserFile(f"none of the {kind} tables is in what is left (tables found: {found})")
                raise UnreadableBrowserFile(f"not a {kind} database: none of its tables (tables found: {found})")
            for part in present:
                count = 0
                try:
                    for record in part.read(database, where):
                        count += 1
                        yield record
                except sqlite3.DatabaseError as error:
                    deadline.check()
                    problems.append(f"{kind} {part.what} unreadable: {type(error).__name__}: {error}; "
                                    f"{count} {part.what} read before")
                for table, lost in database.unreadable.items():
                    problems.append(f"{kind} {part.what}: {lost} of them refer to rows of {table} that damage "
                                    "kept from being read; they are kept without them")
                database.unreadable.clear()
        finally:
            database.close()

    return read


class UnreadableBrowserFile(Exception):
    """The file has the name of a browser file but not its content, or not enough of it to read any record."""


def cut_short(path: Path) -> str | None:
    """What is missing when the file is shorter than the size its SQLite header gives (a copy cut short, a
    carved file): the records on the missing pages are lost, whatever the rest yields."""
    with open(path, "rb") as database:
        header = database.read(100)
        size = database.seek(0, 2)
    if len(header) < 100:
        return f"cut short: {size} bytes, less than a SQLite header"
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    if page_size < 512:
        return None
    # The header's page count is only kept by SQLite 3.7.0 and later, which say so with a matching change counter.
    if header[24:28] == header[92:96] and pages * page_size > size:
        return (f"cut short: {size // page_size} of the {pages} pages its header gives are there; "
                "what the others held is lost")
    if size % page_size:
        return f"cut short: it ends {size % page_size} bytes into a page of {page_size}; what followed is lost"
    return None
