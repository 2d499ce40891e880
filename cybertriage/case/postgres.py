"""A case kept in PostgreSQL (issue 26: several workstations and examiners on one case), spoken to as SQLite.

The case package is written for SQLite through sqlite-utils. A case in PostgreSQL is opened as a `PostgresCase`,
which answers the part of sqlite-utils' Database and sqlite3's Connection that the package uses, and runs each
statement in PostgreSQL's words (case/dialect.py). Each case is a schema of its own in the database the store's
URL names; the case folder's `store.json` says which, so every command opens the case by its folder alone.

The schema is SQLite's, made by the same migrations (case/schema.py) in a database in memory and then created in
PostgreSQL table by table, so both stores hold the same tables and columns at the same version.
"""

from __future__ import annotations

import contextlib
import decimal
import json
import logging
import re
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import sqlite_utils
from psycopg import sql as pgsql
from psycopg.adapt import Dumper, Loader
from psycopg.pq import TransactionStatus
from psycopg.types.numeric import IntDumper
from sqlite_utils.db import jsonify_if_needed

from ..errors import CaseError, CybertriageError, UsageError
from .dialect import ROWID_TABLES, translate
from .fts_query import to_tsquery
from .postgres_text import LATER_SETTING, LEFT_FOR_LATER, fill_statement, full_text_statements
from .stores import STORE_FILE, StoreAddress, refuse_password

logger = logging.getLogger(__name__)
_PRAGMA = re.compile(r"\s*PRAGMA\s+(\w+)\s*(?:=\s*(\S+?)|\(\s*'?\"?(\w+)\"?'?\s*\))?\s*;?\s*$", re.IGNORECASE)
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")  # statements before which sqlite3 opens a transaction itself
_SQLITE_TYPES = {"INTEGER": "BIGINT", "TEXT": 'TEXT COLLATE "C"', "FLOAT": "DOUBLE PRECISION",
                 "REAL": "DOUBLE PRECISION", "BLOB": "BYTEA", "": 'TEXT COLLATE "C"', "NUMERIC": "NUMERIC"}
# An INSERT of one row of positional values, nothing else (no ON CONFLICT, no RETURNING): its rows may go by COPY.
_PLAIN_INSERT = re.compile(r'INSERT INTO ("[^"]+") (\("[^()]*"\)) VALUES \((?:%s, )*%s\)')
_PG_TYPES = {"bigint": "INTEGER", "integer": "INTEGER", "text": "TEXT", "double precision": "FLOAT", "bytea": "BLOB"}


# -- values in and out, as SQLite gives them ------------------------------------------------------------------


class _IntAsUnknown(Dumper):
    """Integers (and booleans) go as untyped literals, so that PostgreSQL compares them with a text column as
    SQLite does (`inode = 5`), and stores them in an integer column as numbers."""

    oid = 0

    def dump(self, obj: Any) -> bytes:
        return str(int(obj)).encode()


class _NumericAsNumber(Loader):
    """sum() and avg() of integers are NUMERIC in PostgreSQL; SQLite gives an integer or a float."""

    def load(self, data: Any) -> int | float:
        number = decimal.Decimal(bytes(data).decode())
        return int(number) if number == number.to_integral_value() else float(number)


def _adapt(connection: psycopg.Connection) -> None:
    connection.adapters.register_dumper(int, _IntAsUnknown)
    connection.adapters.register_dumper(bool, _IntAsUnknown)
    connection.adapters.register_loader("numeric", _NumericAsNumber)


def _values(params: Any) -> Any:
    """Parameters as sqlite-utils would store them (lists and dicts as JSON)."""
    if params is None:
        return []
    if isinstance(params, dict):
        return {key: jsonify_if_needed(value) for key, value in params.items()}
    return [jsonify_if_needed(value) for value in params]


def _full_text_values(values: Any, queries: tuple[str, ...]) -> dict[str, Any]:
    """A full-text statement's parameters by the names the dialect gave them (ct_p0...), its FTS5 queries as
    to_tsquery's text (a query FTS5 would refuse raises sqlite3.OperationalError as FTS5 does)."""
    named = dict(values) if isinstance(values, dict) else {f"ct_p{index}": value for index, value in enumerate(values)}
    for name in queries:
        named[name] = to_tsquery(str(named[name]))
    return named


def _reason(error: psycopg.Error) -> str:
    """libpq's message on one line (it spreads the reason and its hint over several)."""
    return " ".join(line.strip() for line in str(error).splitlines() if line.strip())


def _sqlite_error(error: psycopg.Error) -> sqlite3.Error:
    """A PostgreSQL error as the sqlite3 error the case package already handles (the same words where it reads them)."""
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    if isinstance(error, psycopg.errors.UndefinedTable):
        return sqlite3.OperationalError(f"no such table: {message}")
    if isinstance(error, psycopg.errors.UndefinedColumn):
        return sqlite3.OperationalError(f"has no column: {message}")
    if isinstance(error, psycopg.errors.RaiseException):
        return sqlite3.IntegrityError(message)
    if isinstance(error, psycopg.IntegrityError):
        return sqlite3.IntegrityError(message)
    if isinstance(error, psycopg.OperationalError):
        return sqlite3.OperationalError(message)
    return sqlite3.DatabaseError(message)


class Row(tuple):
    """A row readable by position and by column name, as sqlite3.Row is."""

    names: tuple[str, ...] = ()

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self.names.index(key))
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self.names)


class Cursor:
    """The part of sqlite3.Cursor the case package reads: rows, rowcount, lastrowid and description."""

    def __init__(self, cursor: psycopg.Cursor | None, row_factory: Any = None, lastrowid: int | None = None,
                 rows: list[tuple] | None = None) -> None:
        self._cursor = cursor
        self._rows = iter(rows) if rows is not None else None
        self.lastrowid = lastrowid
        self.rowcount = cursor.rowcount if cursor is not None else -1
        self.description = cursor.description if cursor is not None and cursor.description else None
        self._named = row_factory is sqlite3.Row and self.description is not None

    def _shape(self, row: tuple | None) -> Any:
        if row is None or not self._named:
            return row
        shaped = Row(row)
        shaped.names = tuple(column.name for column in self.description or ())
        return shaped

    def fetchone(self) -> Any:
        if self._rows is not None:
            return next(self._rows, None)
        if self._cursor is None or self.description is None:
            return None
        return self._shape(self._cursor.fetchone())

    def fetchall(self) -> list[Any]:
        return list(self)

    def fetchmany(self, size: int = 1) -> list[Any]:
        rows = []
        for _ in range(size):
            row = self.fetchone()
            if row is None:
                break
            rows.append(row)
        return rows

    def __iter__(self) -> Iterator[Any]:
        while (row := self.fetchone()) is not None:
            yield row

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()


class Connection:
    """The part of sqlite3.Connection the case package uses, over one PostgreSQL connection in the case's schema.

    As sqlite3 does, a write outside a transaction opens one (committed by commit() or the `with` block), and
    reads outside a transaction see every commit at once."""

    def __init__(self, connection: psycopg.Connection, case: PostgresCase) -> None:
        self.pg = connection
        self.case = case
        self.row_factory: Any = None
        self.progress: Callable[[], int] | None = None

    def set_progress_handler(self, handler: Callable[[], int] | None, _steps: int) -> None:
        """sqlite3's progress handler, asked before each statement: a true answer interrupts it, as in SQLite."""
        self.progress = handler

    @property
    def in_transaction(self) -> bool:
        return self.pg.info.transaction_status != TransactionStatus.IDLE

    def execute(self, sql: str, params: Any = None, *, opens_transaction: bool = True) -> Cursor:
        if self.progress is not None and self.progress():
            raise sqlite3.OperationalError("interrupted")
        pragma = _PRAGMA.match(sql)
        if pragma:
            return self.case.pragma(pragma.group(1).lower(), pragma.group(2), pragma.group(3))
        word = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
        if word == "BEGIN":
            sql = "BEGIN"  # IMMEDIATE / DEFERRED: PostgreSQL locks rows as they are written
        statement = translate(sql, self.case.keys)
        if opens_transaction and word in _WRITES and not self.in_transaction:
            self._run("BEGIN", [])
        values = _values(params)
        if statement.full_text:
            values = _full_text_values(values, statement.full_text)
        cursor = self._run(statement.sql, values, statement.typed_numbers)
        lastrowid = None
        if statement.returns_rowid and cursor.description:
            keys = cursor.fetchall()
            lastrowid = keys[-1][0] if keys else None
        if statement.sets_rowid and statement.inserts_into:
            self.case.follow_key(statement.inserts_into)
        return Cursor(cursor, self.row_factory, lastrowid)

    def executemany(self, sql: str, rows: Iterable[Any]) -> Cursor:
        """The rows of a plain INSERT (the case writer's bulk: keyword hits, indicators, flows...) go by COPY: one
        stream, not a statement per row (bench/lab.py's evidence, 258,912 keyword hits: the writer's 10 s -> 3 s)."""
        statement = translate(sql, self.case.keys, returning=False)
        if not self.in_transaction:
            self._run("BEGIN", [])
        cursor = self.pg.cursor()
        plain = _PLAIN_INSERT.fullmatch(statement.sql)
        try:
            if plain:  # COPY fires the same triggers and checks the same constraints as INSERT
                with cursor.copy(pgsql.SQL("COPY {} {} FROM STDIN").format(pgsql.SQL(plain[1]), pgsql.SQL(plain[2]))) \
                        as copy:
                    for row in rows:
                        copy.write_row(_values(row))
            else:
                cursor.executemany(statement.sql, [_full_text_values(_values(row), statement.full_text)
                                                   if statement.full_text else _values(row) for row in rows])
        except psycopg.Error as error:
            logger.debug("failed in PostgreSQL: %s", statement.sql)
            raise _sqlite_error(error) from None
        if statement.sets_rowid and statement.inserts_into:
            self.case.follow_key(statement.inserts_into)
        return Cursor(cursor, self.row_factory)

    def _run(self, sql: str, params: Any, typed_numbers: bool = False) -> psycopg.Cursor:
        cursor = self.pg.cursor()
        if typed_numbers:  # `WITH spans (i, ...) AS (VALUES (?, ...))`: i an integer, not the text it would be
            cursor.adapters.register_dumper(int, IntDumper)
        try:
            cursor.execute(sql, params)
        except psycopg.Error as error:
            logger.debug("failed in PostgreSQL: %s", sql)
            raise _sqlite_error(error) from None
        return cursor

    def commit(self) -> None:
        if self.in_transaction:
            self._run("COMMIT", None)

    def rollback(self) -> None:
        if self.in_transaction:
            self._run("ROLLBACK", None)

    def close(self) -> None:
        self.pg.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        if kind is None:
            self.commit()
        else:
            self.rollback()


class Table:
    """The part of sqlite-utils' Table the case package uses on a case in PostgreSQL."""

    def __init__(self, case: PostgresCase, name: str) -> None:
        self.db = case
        self.name = name
        self.last_pk: Any = None
        self.last_rowid: int | None = None

    @property
    def columns_dict(self) -> dict[str, type]:
        types = {"INTEGER": int, "TEXT": str, "FLOAT": float, "BLOB": bytes}
        return {row[1]: types.get(row[2], str) for row in self.db.pragma("table_info", None, self.name)}

    @property
    def count(self) -> int:
        return int(self.db.execute(f"SELECT count(*) FROM [{self.name}]").fetchone()[0])

    def exists(self) -> bool:
        return self.name in self.db.table_names()

    def insert(self, row: dict[str, Any], **_: Any) -> Table:
        self.insert_all([row])
        return self

    def insert_all(self, rows: Iterable[dict[str, Any]], **_: Any) -> Table:
        for row in rows:
            cursor = self.db.execute(f"INSERT INTO [{self.name}] ({', '.join(f'[{c}]' for c in row)}) "
                                     f"VALUES ({', '.join('?' * len(row))})", list(row.values()))
            self.last_rowid = self.last_pk = cursor.lastrowid
        return self

    def upsert_all(self, rows: Iterable[dict[str, Any]], pk: str, **_: Any) -> Table:
        for row in rows:
            self.db.execute(f"INSERT OR REPLACE INTO [{self.name}] ({', '.join(f'[{c}]' for c in row)}) "
                            f"VALUES ({', '.join('?' * len(row))})", list(row.values()))
        return self

    def update(self, pk: Any, updates: dict[str, Any] | None = None, **_: Any) -> Table:
        if updates:
            assignments = ", ".join(f"[{column}] = ?" for column in updates)
            self.db.execute(f"UPDATE [{self.name}] SET {assignments} WHERE id = ?", [*updates.values(), pk])
        self.last_pk = pk
        return self


class PostgresCase:
    """A case in PostgreSQL, with the part of sqlite-utils' Database the case package uses."""

    def __init__(self, connection: psycopg.Connection, address: StoreAddress, case_dir: Path) -> None:
        self.address = address
        self.case_dir = case_dir
        self.conn = Connection(connection, self)
        self.keys: dict[str, tuple[str, ...]] = {}
        self._sequences: dict[str, str | None] = {}
        self.refresh_keys()

    def refresh_keys(self) -> None:
        """The tables' primary keys, which the dialect needs (INSERT OR REPLACE, rowid, lastrowid)."""
        rows = self.conn.pg.execute(
            "SELECT c.relname, a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indisprimary AND c.relnamespace = current_schema()::regnamespace "
            "ORDER BY c.relname, array_position(i.indkey, a.attnum)").fetchall()
        keys: dict[str, list[str]] = {}
        for table, column in rows:
            keys.setdefault(table, []).append(column)
        self.keys = {table: tuple(columns) for table, columns in keys.items()}

    def execute(self, sql: str, params: Any = None) -> Cursor:
        """As sqlite-utils' execute: a write outside a transaction is committed at once."""
        was_in_transaction = self.conn.in_transaction
        try:
            cursor = self.conn.execute(sql, params, opens_transaction=False)
        except sqlite3.Error:
            if not was_in_transaction and self.conn.in_transaction:
                self.conn.rollback()
            raise
        if sql.lstrip()[:6].upper() == "CREATE" or sql.lstrip()[:4].upper() == "DROP":
            self.refresh_keys()
        return cursor

    def query(self, sql: str, params: Any = None) -> Iterator[dict[str, Any]]:
        cursor = self.execute(sql, params)
        names = [column.name for column in cursor.description or ()]
        for row in cursor:
            yield dict(zip(names, row))

    def table(self, name: str, **_: Any) -> Table:
        return Table(self, name)

    def __getitem__(self, name: str) -> Table:
        return Table(self, name)

    def table_names(self) -> list[str]:
        return [row[0] for row in self.conn.pg.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename NOT LIKE 'ct\\_%' "
            "ORDER BY tablename").fetchall()]

    @contextlib.contextmanager
    def atomic(self) -> Iterator[PostgresCase]:
        """sqlite-utils' atomic(): a transaction, or a savepoint inside one."""
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN")
            try:
                yield self
            except BaseException:
                self.conn.rollback()
                raise
            self.conn.commit()
            return
        savepoint = f"ct_{secrets.token_hex(8)}"
        self.conn.pg.execute(f"SAVEPOINT {savepoint}")
        try:
            yield self
        except BaseException:
            if self.conn.in_transaction:
                self.conn.pg.execute(f"ROLLBACK TO SAVEPOINT {savepoint}")
                self.conn.pg.execute(f"RELEASE SAVEPOINT {savepoint}")
            raise
        self.conn.pg.execute(f"RELEASE SAVEPOINT {savepoint}")

    def follow_key(self, table: str) -> None:
        """After rows were given their integer keys explicitly, the table's sequence continues after the largest,
        so that the next row without one gets max + 1, as SQLite gives it."""
        if table not in self._sequences:
            column = "id" if self.keys.get(table) == ("id",) else "rowid"
            found = self.conn.pg.execute("SELECT pg_get_serial_sequence(%s, %s)", [f'"{table}"', column]).fetchone()
            self._sequences[table] = found[0] if found else None
        sequence = self._sequences[table]
        if sequence:
            column = "id" if self.keys.get(table) == ("id",) else "rowid"
            self.conn.pg.execute(pgsql.SQL("SELECT setval(%s, greatest((SELECT max({}) FROM {}), 1))").format(
                pgsql.Identifier(column), pgsql.Identifier(table)), [sequence])

    def pragma(self, name: str, value: str | None, argument: str | None) -> Cursor:
        """SQLite's PRAGMAs the case package uses, answered from PostgreSQL's catalogue (the rest do nothing)."""
        pg = self.conn.pg
        if name == "user_version":
            if value is not None:
                pg.execute("UPDATE ct_meta SET user_version = %s", [int(value)])
                return Cursor(None)
            return Cursor(None, rows=pg.execute("SELECT user_version FROM ct_meta").fetchall())
        if name == "table_info" and argument:
            return Cursor(None, rows=self._table_info(argument))
        if name == "database_list":  # the case folder, for custody.log beside the case
            return Cursor(None, rows=[(0, "main", str(self.case_dir / "case.db"))])
        if name == "query_only" and value is not None:
            pg.execute(f"SET default_transaction_read_only = {'on' if value.lower() in ('on', '1', 'true') else 'off'}")
        return Cursor(None, rows=[])

    def _table_info(self, table: str) -> list[tuple]:
        """PRAGMA table_info's rows: (cid, name, type, notnull, default, pk)."""
        rows = self.conn.pg.execute(
            "SELECT a.attnum - 1, a.attname, format_type(a.atttypid, NULL), a.attnotnull, "
            "pg_get_expr(d.adbin, d.adrelid), coalesce(array_position(i.indkey, a.attnum) + 1, 0) "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum "
            "LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary "
            "WHERE c.relname = %s AND c.relnamespace = current_schema()::regnamespace AND a.attnum > 0 "
            "AND NOT a.attisdropped AND a.attname NOT IN ('rowid', 'ct_vector') ORDER BY a.attnum", [table]).fetchall()
        return [(cid, name, _PG_TYPES.get(kind, kind.upper()), int(notnull), None if _is_sequence(default) else default,
                 pk) for cid, name, kind, notnull, default, pk in rows]

    def close(self) -> None:
        self.conn.close()

    def leave_vectors_for_later(self) -> None:
        """This session's texts get their words later, not as each is inserted: from a VectorFiller while the scan
        goes on, and from fill_vectors at its end."""
        self.conn.pg.execute(f"SET {LATER_SETTING} = 'later'")


def _is_sequence(default: str | None) -> bool:
    return bool(default and default.startswith("nextval("))


# -- connecting and creating --------------------------------------------------------------------------------


def connect(address: StoreAddress, case_dir: Path) -> PostgresCase:
    """A connection to the case's schema; CaseError with one line when the server cannot be reached."""
    try:
        connection = psycopg.connect(address.url, autocommit=True, connect_timeout=10,
                                     application_name="cybertriage")
    except psycopg.Error as error:
        raise CaseError(f"cannot reach the case store {address.url}: {_reason(error)}") from None
    try:
        _adapt(connection)
        with contextlib.suppress(psycopg.errors.InvalidParameterValue):  # a server built without lz4 keeps pglz
            connection.execute("SET default_toast_compression = 'lz4'")  # long texts written 4× faster than pglz
        exists = connection.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [address.schema]).fetchone()
        if not exists:
            connection.close()
            raise UsageError(f"the case store {address.url} holds no case {address.schema}")
        connection.execute(pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(address.schema)))
        return PostgresCase(connection, address, case_dir)
    except psycopg.OperationalError as error:  # the server ended the session at once (restarting)
        connection.close()
        raise CaseError(f"the case store {address.url} went away: {_reason(error)}") from None


FILL_PAUSE_SECONDS = 0.5  # how long the filler waits when the writer has left it nothing


def fill_vectors(address: StoreAddress, case_dir: Path, sessions: int) -> None:
    """Give the texts a scan's writer left for later (postgres_text.LATER_SETTING) their words, on `sessions`
    connections at once, each taking the next rows no other one holds."""
    with contextlib.closing(connect(address, case_dir)) as first:
        if first.conn.pg.execute(f"SELECT 1 FROM content_fts WHERE {LEFT_FOR_LATER} LIMIT 1").fetchone() is None:
            return
    failures: list[BaseException] = []

    def fill() -> None:
        try:
            with contextlib.closing(connect(address, case_dir)) as case:
                filled = _fill_some(case)
                while filled:  # until no text is left that another session does not hold
                    filled = _fill_some(case)
        except BaseException as error:  # raised in the caller's thread below
            failures.append(error)

    threads = [threading.Thread(target=fill, name=f"fill-vectors-{n}") for n in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:  # one line for the examiner; the texts left are filled by the case's next scan
        error = failures[0]
        if isinstance(error, CybertriageError):
            raise error
        reason = _reason(error) if isinstance(error, psycopg.Error) else str(error)
        raise CaseError(f"the texts' words for search could not be made: {reason}") from error


def _fill_some(case: PostgresCase) -> int:
    """Words for the next texts left for later (FILL_ROWS at most); how many got them, 0 when none was free."""
    return case.conn.pg.execute(fill_statement()).rowcount


class VectorFiller(threading.Thread):
    """While a scan's writer inserts: the texts it left for later get their words on one more session, so that
    less is left for the scan's end (fill_vectors). A failure here only leaves more for the end."""

    def __init__(self, address: StoreAddress, case_dir: Path) -> None:
        super().__init__(name="fill-vectors-while-scanning", daemon=True)
        self.address, self.case_dir = address, case_dir
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            with contextlib.closing(connect(self.address, self.case_dir)) as case:
                while not self.stop.is_set():
                    if not _fill_some(case):
                        self.stop.wait(FILL_PAUSE_SECONDS)
        except Exception as error:  # the store restarting, or the case going away: the scan's end fills the rest
            logger.warning("the texts' words are left for the scan's end: %s", error)


def read_only(address: StoreAddress, case_dir: Path) -> Connection:
    """A connection that cannot write, rows by name as sqlite3.Row gives them (the application's readers)."""
    case = connect(address, case_dir)
    try:
        case.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the case's schema is there
    except sqlite3.Error as error:
        case.close()
        raise UsageError(f"the case store {address.url} cannot be read: {error}") from None
    case.conn.execute("PRAGMA query_only = ON")
    case.conn.row_factory = sqlite3.Row
    return case.conn


def create(url: str, case_dir: Path) -> StoreAddress:
    """Make a new case's schema in the store at `url`, with the tables SQLite's migrations make, and write the
    case folder's store.json. The folder keeps what is not in the database (carried objects, custody.log)."""
    refuse_password(url)
    address = StoreAddress(url, f"case_{secrets.token_hex(8)}")
    try:
        connection = psycopg.connect(url, autocommit=True, connect_timeout=10, application_name="cybertriage")
    except psycopg.Error as error:
        raise CaseError(f"cannot reach the case store {url}: {_reason(error)}") from None
    try:
        unaccent = _unaccent(connection)
        with connection.transaction():
            schema = pgsql.Identifier(address.schema)
            connection.execute(pgsql.SQL("CREATE SCHEMA {}").format(schema))
            connection.execute(pgsql.SQL("SET LOCAL search_path TO {}").format(schema))
            for statement in schema_statements(address.schema, unaccent):
                connection.execute(statement)
            connection.execute("CREATE SEQUENCE ct_file_id_blocks")  # writes.reserve_file_ids
        _grant_examiners(connection, address.schema)
    finally:
        connection.close()
    case_dir.mkdir(parents=True, exist_ok=True)
    (case_dir / STORE_FILE).write_text(json.dumps({"url": url, "schema": address.schema}, indent=1) + "\n",
                                       encoding="utf-8")
    return address


EXAMINERS = "cybertriage_examiners"  # the group role of the examiners' own logins


def _grant_examiners(connection: psycopg.Connection, schema: str) -> None:
    """The rights of the examiners' group role on the new case: read it, tag, add to it, and add to its audit log,
    never change or remove an entry there. The append-only rule then holds in the rights, not only in the triggers
    (which the case's owner, the role that scans, could drop). The role is made if this user may make roles;
    otherwise the server's administrator makes it once (README), and a case made before it has only its triggers."""
    if not connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [EXAMINERS]).fetchone():
        try:
            connection.execute(pgsql.SQL("CREATE ROLE {} NOLOGIN").format(pgsql.Identifier(EXAMINERS)))
        except psycopg.Error as error:
            logger.warning("no role %s (%s): the case's audit log is append-only by its triggers alone",
                           EXAMINERS, _reason(error))
            return
    names = {"schema": pgsql.Identifier(schema), "role": pgsql.Identifier(EXAMINERS)}
    with connection.transaction():
        for grant in ("GRANT USAGE ON SCHEMA {schema} TO {role}",
                      "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
                      "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
                      "REVOKE UPDATE, DELETE, TRUNCATE ON {schema}.audit_log FROM {role}"):
            connection.execute(pgsql.SQL(grant).format(**names))


def _unaccent(connection: psycopg.Connection) -> str | None:
    """The schema of the database's unaccent extension, made if the server has it and the user may (a trusted
    extension: words are searched without their accents, as FTS5 does); None without it."""
    with contextlib.suppress(psycopg.Error):
        connection.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    found = connection.execute("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                               "WHERE e.extname = 'unaccent'").fetchone()
    return str(found[0]) if found else None


def schema_statements(schema: str, unaccent: str | None) -> list[str]:
    """The statements that make the case's tables in `schema`: SQLite's migrated schema, table by table, SQLite's
    functions the case uses, the text indexes (postgres_text) and the audit log's append-only rules."""
    from .schema import SCHEMA_VERSION, migrate  # schema imports custody, which the store's users import first

    memory = sqlite_utils.Database(memory=True)
    migrate(memory)
    statements = [_FUNCTIONS, f"CREATE TABLE ct_meta (user_version INTEGER NOT NULL); "
                              f"INSERT INTO ct_meta VALUES ({SCHEMA_VERSION})"]
    tables = [row[0] for row in memory.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL TABLE%' "
        "AND name NOT LIKE '%\\_fts\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid")]
    for table in tables:
        statements.append(_create_table(memory, table))
    statements += full_text_statements(schema, unaccent)
    for name, table, sql in memory.execute(
            "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").fetchall():
        if table in tables:
            statements.append(translate(sql, {}).sql.replace("%%", "%"))
    statements.append(_AUDIT_RULES)
    statements.append(_SQLITE_MASTER)
    return statements


def _create_table(memory: sqlite_utils.Database, table: str) -> str:
    columns = memory.execute(f"PRAGMA table_info([{table}])").fetchall()
    key = [name for _, name, _, _, _, pk in sorted(columns, key=lambda column: column[5]) if pk]
    lines = []
    for _, name, kind, notnull, default, _pk in columns:
        pg_type = _SQLITE_TYPES.get(kind.upper(), 'TEXT COLLATE "C"')
        if key == ["id"] and name == "id":
            pg_type = "BIGINT GENERATED BY DEFAULT AS IDENTITY"
        line = f'"{name}" {pg_type}'
        if notnull:
            line += " NOT NULL"
        if default is not None:
            line += f" DEFAULT {default}"
        lines.append(line)
    if table in ROWID_TABLES:
        lines.append('"rowid" BIGINT GENERATED BY DEFAULT AS IDENTITY UNIQUE')
    if key:
        lines.append(f"PRIMARY KEY ({', '.join(f'{chr(34)}{name}{chr(34)}' for name in key)})")
    for _, _, parent, column, parent_column, *_ in memory.execute(f"PRAGMA foreign_key_list([{table}])").fetchall():
        lines.append(f'FOREIGN KEY ("{column}") REFERENCES "{parent}" ("{parent_column or "id"}") '
                     "DEFERRABLE INITIALLY DEFERRED")
    return f'CREATE TABLE "{table}" (\n  ' + ",\n  ".join(lines) + "\n)"


# SQLite's functions that PostgreSQL lacks or names otherwise, with SQLite's results (case/dialect.py calls them);
# json_each of NULL gives no rows (STRICT), and json_extract gives text, also for a JSON number (SQLite: a number).
_FUNCTIONS = r"""
CREATE FUNCTION ct_truth(bigint) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1 <> 0';
CREATE FUNCTION ct_truth(double precision) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1 <> 0';
CREATE FUNCTION ct_truth(boolean) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1';
CREATE FUNCTION ct_truth(text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(substring($1 from '^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)')::double precision <> 0, false)
$$;
CREATE FUNCTION ct_limit(bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS 'SELECT CASE WHEN $1 >= 0 THEN $1 END';
CREATE FUNCTION ct_json_extract(text, text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN $2 = '$' THEN $1
              ELSE jsonb_extract_path_text($1::jsonb, VARIADIC string_to_array(substr($2, 3), '.')) END
$$;
CREATE FUNCTION ct_json_each(text) RETURNS TABLE (value text) LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT jsonb_array_elements_text(CASE WHEN jsonb_typeof($1::jsonb) = 'array' THEN $1::jsonb
                                        ELSE jsonb_build_array($1::jsonb) END)
$$;
"""

# The chain of custody is append-only here too: a trigger refuses to change or remove an entry, as SQLite's do,
# and one refuses TRUNCATE, which PostgreSQL runs without row triggers.
_AUDIT_RULES = """
CREATE FUNCTION ct_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only: % refused', TG_OP;
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log FOR EACH ROW EXECUTE FUNCTION ct_audit_log_append_only();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION ct_audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log EXECUTE FUNCTION ct_audit_log_append_only();
"""

# What the case package asks SQLite's catalogue (which tables and triggers a case has), from PostgreSQL's. A
# trigger's sql is its definition and its function's body (custody.check_triggers reads the statement it fires on
# and the RAISE that refuses it there); a disabled trigger (ALTER TABLE ... DISABLE TRIGGER) is not listed.
_SQLITE_MASTER = """
CREATE VIEW sqlite_master AS
  SELECT 'table'::text AS type, c.relname::text AS name, c.relname::text AS tbl_name, NULL::text AS sql
    FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace
     AND (c.relkind = 'r' OR c.relname IN ('files_fts', 'findings_fts')) AND c.relname NOT LIKE 'ct\\_%'
  UNION ALL
  SELECT 'index', i.relname, c.relname, NULL FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_class c ON c.oid = x.indrelid WHERE c.relnamespace = current_schema()::regnamespace
  UNION ALL
  SELECT 'trigger', t.tgname, c.relname, pg_get_triggerdef(t.oid) || E'\n' || p.prosrc
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid
    WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal AND t.tgenabled <> 'D'
"""
