"""Opening a case, and the one writer thread that owns the case database's write connection."""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import itertools
import json
import logging
import os
import queue
import shutil
import signal
import socket
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import sqlite_utils
from sqlite_utils.db import jsonify_if_needed

from ..errors import CaseError, CybertriageError, UsageError
from ..formatting import utc_now
from .custody import append_entry, start_sidecar, write_transaction
from .schema import SCHEMA_VERSION, migrate
from .search import insert_texts, tune_for_writing
from .stores import StoreAddress, in_postgres, store_of
from .writes import inserted_id, statement_parts

logger = logging.getLogger(__name__)
CASE_DB = "case.db"
T = TypeVar("T")
# Test hook (tests/test_resume.py): CYBERTRIAGE_CRASH_AT=POINT[:N] kills the process with SIGKILL (or the
# signal named by CYBERTRIAGE_CRASH_SIGNAL, e.g. SIGINT) the N-th time it passes crash_point(POINT), so a
# test can prove that a crash exactly there loses and corrupts nothing; several points are separated by commas.
# Unset, crash_point does nothing.
_CRASH_COUNTS = {point: int(count or 1) for point, _, count in
                 (spec.partition(":") for spec in os.environ.get("CYBERTRIAGE_CRASH_AT", "").split(",") if spec)}
_crash_passes: dict[str, int] = {}
_crash_lock = threading.Lock()
# sqlite3 messages that mean the case folder cannot take writes (as opposed to a damaged database).
_CANNOT_WRITE = ("readonly", "read-only", "disk is full", "disk i/o error", "unable to open")


def crash_point(name: str) -> None:
    """Named place where a test may kill the process (see CYBERTRIAGE_CRASH_AT)."""
    if name not in _CRASH_COUNTS:
        return
    with _crash_lock:
        _crash_passes[name] = _crash_passes.get(name, 0) + 1
        if _crash_passes[name] == _CRASH_COUNTS[name]:
            os.kill(os.getpid(), getattr(signal, os.environ.get("CYBERTRIAGE_CRASH_SIGNAL", "SIGKILL")))


def _cannot_write(error: sqlite3.Error) -> bool:
    """Whether SQLite says the case folder cannot take writes (full, read-only), not that the database is damaged."""
    return any(words in str(error).lower() for words in _CANNOT_WRITE)


def open_case(case_dir: Path, create: bool = False) -> sqlite_utils.Database:
    """A connection to the case in `case_dir`, for one thread; `create` makes a new case if needed."""
    address = store_of(case_dir)
    if address is not None:
        return _open_postgres(case_dir, address)
    path = case_dir / CASE_DB
    if not path.exists():
        if not create:
            raise UsageError(f"no case in {case_dir} (expected {CASE_DB})")
        try:
            case_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CaseError(f"cannot create case folder {case_dir}: {error.strerror or error}") from None
    try:
        db = sqlite_utils.Database(sqlite3.connect(path, timeout=30, check_same_thread=True))
        db.execute("PRAGMA foreign_keys = ON")
        # In WAL mode a commit need not wait for the disk: a power cut may lose the last transactions but never
        # leaves the case inconsistent, and the run they belonged to is found interrupted and examined again.
        db.execute("PRAGMA synchronous = NORMAL")
        if create:
            db.enable_wal()
            migrate(db)
            if not db["case_info"].count:
                db.table("case_info").insert_all([{"key": "created_at", "value": utc_now()}])
                audit(db, "case created", {"folder": str(case_dir.resolve())})
                crash_point("case-created")
        else:
            _case_version(db, path)  # an empty or foreign file is refused, never given a schema
            migrate(db)
    except sqlite3.DatabaseError as error:
        if _cannot_write(error):
            raise CaseError(f"case database {path} cannot be written: {error}") from None
        raise UsageError(f"case database {path} cannot be used: {error}") from None
    return db


def use_store(case_dir: Path, url: str) -> None:
    """Keep the case in `case_dir` in the PostgreSQL store at `url` (scan --store): a new case is made there; a
    case already there goes on; a case kept in SQLite, or in another store, is refused. A store that cannot be
    reached or refuses the credentials is a UsageError before anything starts."""
    address = store_of(case_dir)
    if address is not None:
        if address.url != url:
            raise UsageError(f"the case in {case_dir} is kept in {address.url}, not {url}")
        return
    if (case_dir / CASE_DB).exists():
        raise UsageError(f"the case in {case_dir} is kept in its {CASE_DB}; --store is for a new case")
    from . import postgres  # the PostgreSQL client only for a case kept there

    try:
        postgres.create(url, case_dir)
    except CaseError as error:
        raise UsageError(str(error)) from None


def _open_postgres(case_dir: Path, address: StoreAddress) -> sqlite_utils.Database:
    """The case's schema in PostgreSQL (postgres.PostgresCase answers the calls the case package makes of
    sqlite-utils), its first audit entry written when it is new."""
    from . import postgres  # the PostgreSQL client only for a case kept there

    db = postgres.connect(address, case_dir)
    try:
        return _prepare_postgres(db, case_dir, address)
    except Exception as error:  # the server restarting between the connection and the first statements
        if not store_lost(cast(sqlite_utils.Database, db)):
            raise
        raise CaseError(f"the case store {address.url} went away: {error}") from None


def _prepare_postgres(db: Any, case_dir: Path, address: StoreAddress) -> sqlite_utils.Database:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version != SCHEMA_VERSION:
        db.close()
        raise UsageError(f"the case in {address.url} is schema {version}; this cybertriage reads {SCHEMA_VERSION}")
    case = cast(sqlite_utils.Database, db)
    if not db.table("case_info").count:  # new: whoever opens it first (the scan, a worker) writes its first entry
        # one statement, committed on its own: no chain head to record yet, custody.log is made just below
        created = db.execute("INSERT OR IGNORE INTO case_info (key, value) VALUES ('created_at', ?)",
                             [utc_now()]).rowcount > 0
        if created:
            start_sidecar(case)
            audit(case, "case created", {"folder": str(case_dir.resolve()), "store": address.url,
                                         "schema": address.schema})
    return case


def read_case(case_dir: Path, *, check_same_thread: bool = True) -> sqlite_utils.Database:
    """The case in `case_dir`, opened for reading only (info, export, report, extract's reads).

    Nothing is created, migrated or changed, and a case on read-only files in a read-only folder can
    still be read, with what its write-ahead log holds. A case of an older schema is read through an upgraded copy in memory; an empty
    file or one that is not a cybertriage case is a UsageError."""
    address = store_of(case_dir)
    if address is not None:
        db = _open_postgres(case_dir, address)
        db.execute("PRAGMA query_only = ON")
        return db
    path = case_dir / CASE_DB
    if not path.is_file():
        raise UsageError(f"no case in {case_dir} (expected {CASE_DB})")
    connection = _connect_read_only(path, check_same_thread)
    db = sqlite_utils.Database(connection)
    try:
        version = _case_version(db, path)
    except BaseException:
        db.close()
        raise
    if version < SCHEMA_VERSION:
        upgraded = sqlite3.connect(":memory:", check_same_thread=check_same_thread)
        connection.backup(upgraded)
        db.close()
        db = sqlite_utils.Database(upgraded)
        migrate(db)
    db.execute("PRAGMA query_only = ON")
    return db


def _connect_read_only(path: Path, check_same_thread: bool) -> sqlite3.Connection:
    """A read-only connection to a case database, also when neither it nor its folder can be written."""
    uri = path.resolve().as_uri()
    try:
        connection = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30, check_same_thread=check_same_thread)
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return connection
    except sqlite3.DatabaseError as error:
        if not _cannot_write(error):
            raise UsageError(f"{path} is not a cybertriage case database ({error})") from None
    # A write-ahead-log case in a folder that cannot be written: SQLite cannot make the index it reads the
    # log through, so the database is read as the immutable file it is, when no change waits in the log.
    wal = path.with_name(CASE_DB + "-wal")
    if wal.exists() and wal.stat().st_size:
        return _merged_copy(path, check_same_thread)
    try:
        connection = sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, timeout=30,
                                     check_same_thread=check_same_thread)
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as error:
        raise UsageError(f"case database {path} cannot be read: {error}") from None
    return connection


def _merged_copy(path: Path, check_same_thread: bool) -> sqlite3.Connection:
    """The case as its database and write-ahead log say together, when both are in a folder that cannot be
    written: SQLite merges a log only where it may write, so the two are copied to a private temporary
    folder, merged there, and the result is read from memory."""
    try:
        with tempfile.TemporaryDirectory(prefix="cybertriage-case-") as scratch:
            for name in (CASE_DB, CASE_DB + "-wal"):
                shutil.copyfile(path.with_name(name), Path(scratch) / name)
            merged = sqlite3.connect(Path(scratch) / CASE_DB)
            try:
                memory = sqlite3.connect(":memory:", check_same_thread=check_same_thread)
                merged.backup(memory)
            finally:
                merged.close()
    except (OSError, sqlite3.DatabaseError) as error:
        raise UsageError(f"case database {path} cannot be read: {getattr(error, 'strerror', None) or error}") from None
    return memory


def _case_version(db: sqlite_utils.Database, path: Path) -> int:
    """The schema version of a cybertriage case database; UsageError for any other file."""
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        is_case = bool(db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'case_info'").fetchone())
    except sqlite3.DatabaseError as error:
        raise UsageError(f"{path} is not a cybertriage case database ({error})") from None
    if version == 0 or not is_case:
        raise UsageError(f"{path} is not a cybertriage case database (it is empty or holds something else)")
    if version > SCHEMA_VERSION:
        raise UsageError(f"case database is schema {version}; this cybertriage reads up to {SCHEMA_VERSION}")
    return version


def record_reading(case_dir: Path, action: str, detail: dict[str, Any]) -> str | None:
    """Add what a reading command did (an export, a report) to the case's chain of custody.

    Returns None, or why the entry could not be added: a case on read-only files is still read, and
    reading never upgrades an older case's schema just to log itself."""
    try:
        if store_of(case_dir) is not None:
            db = open_case(case_dir)
        else:
            path = case_dir / CASE_DB
            db = sqlite_utils.Database(sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=30))
    except (sqlite3.Error, CybertriageError) as error:
        return str(error)
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            return f"the case is of schema {version}, older than this cybertriage's {SCHEMA_VERSION} (a scan upgrades it)"
        with db.conn:
            audit(db, action, detail)
    except sqlite3.Error as error:
        return str(error)
    finally:
        db.close()
    return None


def audit(db: sqlite_utils.Database, action: str, detail: dict[str, Any]) -> None:
    """Append one linked entry to the case's chain-of-custody log (case/custody.py), waiting for other writers
    rather than failing; on its own it is committed at once and its chain head goes to custody.log."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    with write_transaction(db):
        append_entry(db, utc_now(), user, socket.gethostname(), action, json.dumps(detail, ensure_ascii=False))


ROWS_PER_INSERT = 500  # rows inserted by one statement into a table whose inserts fire triggers
ROWS_PER_PLAIN_INSERT = 32  # into any other table: few enough that its statement journal stays in memory
MAX_VARIABLES = 32766  # SQLite's limit on a statement's parameters (since 3.32)
_PLAIN = frozenset((str, int, float, bytes, type(None), bool))
_CONTENT_TABLES = frozenset({"indicators"})  # facts of a sha256, unique: the same content again adds nothing


def _insert_rows(db: sqlite_utils.Database, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows in order, as sqlite-utils' insert_all does, but with one prepared statement per run of
    rows with the same columns (_insert_values): the case writer spends its time in SQLite, not in Python."""
    if table == "texts":  # once per sha256, and into the content index (case/search.py)
        insert_texts(db.conn, rows)
        return
    start = 0
    while start < len(rows):
        columns = tuple(rows[start])
        end = start + 1
        while end < len(rows) and tuple(rows[end]) == columns:  # the same columns in the same order as the values
            end += 1
        _insert_values(db, table, columns, [tuple(row.values()) for row in rows[start:end]])
        start = end


def _insert_values(db: sqlite_utils.Database, table: str, columns: tuple[str, ...], values: list[tuple]) -> None:
    """Insert rows given as tuples in the order of `columns`, several rows a statement.
    Values that are not plain SQLite values are converted as sqlite-utils converts them (JSON for lists).

    Python's sqlite3 lets the interpreter lock go around each statement's step and takes it back after, and taking
    it back waits for the thread that holds it to give it up (up to the 5 ms switch interval when that thread runs
    Python). One row a statement made the writer wait that way for every row, and made the examining threads give
    the lock up for it as often: 258,912 keyword hits took 0.9 s alone, and 345 s beside one thread running Python.

    Into a table whose inserts fire a trigger (the files' paths into the FTS5 indexes), up to ROWS_PER_INSERT rows a
    statement: such a statement opens a statement savepoint, and FTS5 writes what it holds as a new segment at every
    savepoint, so one row a statement made a segment per file, merged again and again (disk_triage's 10,000 files:
    the writer's CPU 7.4 s -> 6.2 s). Into any other table, up to ROWS_PER_PLAIN_INSERT: a statement of several rows
    keeps a journal of the pages it changes, in a temporary file once it passes 64 KiB (250,000 keyword hits, 500 a
    statement: 1.3 GB written); 32 rows change a few pages."""
    if not _PLAIN.issuperset(map(type, itertools.chain.from_iterable(values))):  # the loop in C, not Python
        values = [tuple(v if type(v) in _PLAIN else jsonify_if_needed(v) for v in value) for value in values]
    head = (f"INSERT {'OR IGNORE ' if table in _CONTENT_TABLES else ''}INTO [{table}] "
            f"({', '.join(f'[{c}]' for c in columns)}) VALUES ")
    row = f"({', '.join('?' * len(columns))})"
    try:
        # PostgreSQL takes any table's rows by COPY, triggers or not (case/postgres.py); the statement shapes are
        # for SQLite
        if in_postgres(db):
            db.conn.executemany(head + row, values)
            return
        triggers = db.execute("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?)",
                              [table]).fetchone()[0]
        most = min(ROWS_PER_INSERT if triggers else ROWS_PER_PLAIN_INSERT, MAX_VARIABLES // len(columns))
        for start, count in statement_parts(len(values), max(1, most)):
            part = values[start:start + count]
            db.conn.execute(head + ", ".join([row] * count), list(itertools.chain.from_iterable(part)))
    except sqlite3.OperationalError as error:
        if "no such table" not in str(error) and "has no column" not in str(error):
            raise
        db.table(table).insert_all(dict(zip(columns, value)) for value in values)  # sqlite-utils makes the table or column


# Rows waiting for the writer: per table as dicts, per (table, columns) as tuples of values (add_values).
_Pending = dict[str | tuple[str, tuple[str, ...]], list[Any]]


class CaseWriter:
    """Single writer: everything that changes the case goes through this thread, in batches."""

    BATCH_ROWS = 2000
    FLUSH_SECONDS = 0.5
    # Batches of rows (a few hundred rows each) waiting for the writer. When it falls behind (a slow disk, a
    # capture of a port scan: 800,000 records), whoever adds rows waits, and the evidence's reading with it,
    # rather than memory growing: that capture's scan peaked at 352 MB in the scan's process when 10,000
    # batches could wait, 306 MB now.
    WAITING_BATCHES = 64

    def __init__(self, case_dir: Path, shared: bool = False) -> None:
        """`shared`: a worker of a scan spread over several workstations, writing the case the scan's process
        holds (it takes no hold of the case folder itself)."""
        self.case_dir = case_dir
        self.shared = shared
        self._queue: queue.Queue = queue.Queue(maxsize=self.WAITING_BATCHES)
        self._thread = threading.Thread(target=self._run, name="case-writer", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread.start()
        self._ready.wait()
        if self._error:
            raise self._error

    def add_rows(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Queue rows for insertion; they are committed within FLUSH_SECONDS."""
        self._raise_if_failed()
        self._queue.put(("rows", table, rows))

    def add_values(self, table: str, columns: tuple[str, ...], values: list[tuple]) -> None:
        """Queue rows given as tuples of values in the order of `columns`: rows made elsewhere in that form (a
        capture's records) skip a dict each. Committed within FLUSH_SECONDS, as add_rows' are."""
        self._raise_if_failed()
        self._queue.put(("values", (table, columns), values))

    def call(self, work: Callable[[sqlite_utils.Database], T]) -> T:
        """Run `work` on the writer's connection after everything queued before it; wait for it."""
        self._raise_if_failed()
        done: queue.Queue = queue.Queue(maxsize=1)
        self._queue.put(("call", work, done))
        ok, value = done.get()
        if not ok:
            raise value
        return value

    def close(self) -> None:
        """Commit what is queued and stop; raises CaseError if any write failed."""
        if self._thread.is_alive():
            self._queue.put(("stop", None, None))
            self._thread.join()
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise CaseError(f"writing the case database failed: {self._error}")

    def _run(self) -> None:
        try:
            # before the case is made: two scans of a new case, one refused
            lock = None if self.shared else _lock_case(self.case_dir)
        except BaseException as error:  # reported to the constructor's caller
            self._error = error
            self._ready.set()
            return
        try:
            db = _ready_to_write(open_case(self.case_dir, create=not self.shared))
        except BaseException as error:  # reported to the constructor's caller
            self._error = error
            if lock is not None:
                os.close(lock)
            self._ready.set()
            return
        self._ready.set()
        filler = None
        if in_postgres(db):
            from .postgres import VectorFiller

            filler = VectorFiller(cast(Any, db).address, self.case_dir)
            filler.start()
        try:
            self._serve(db)
        finally:
            if filler is not None:
                filler.stop.set()
                filler.join()
            if lock is not None:
                os.close(lock)

    def _serve(self, db: sqlite_utils.Database) -> None:
        self._db = db
        pending: _Pending = {}
        count = 0
        while True:
            try:
                op, a, b = self._queue.get(timeout=self.FLUSH_SECONDS)
            except queue.Empty:
                count = self._flush(pending)
                continue
            if op == "rows" or op == "values":
                pending.setdefault(a, []).extend(b)
                count += len(b)
                if count >= self.BATCH_ROWS:
                    count = self._flush(pending)
                continue
            count = self._flush(pending)
            if op == "stop":
                self._db.close()
                return
            try:
                b.put((True, self._in_transaction(a)))  # one transaction, whatever `work` does
            except sqlite3.Error as error:  # disk full, read-only: one clear line for the caller
                b.put((False, CaseError(f"writing the case database failed: {error}")))
            except Exception as error:  # handed back to the caller of call()
                b.put((False, error))

    def _flush(self, pending: _Pending) -> int:
        if not pending or self._error is not None:
            pending.clear()
            return 0
        parents = [(parent, pending.pop(parent)) for parent in ("files", "findings", "problems") if pending.get(parent)]
        batch = parents + list(pending.items())  # parents before what refers to them
        pending.clear()
        try:
            self._in_transaction(lambda db: _write_batch(db, batch))  # the whole batch or nothing
        except Exception as error:  # a failed write must stop the scan, not hang it
            self._error = error
        return 0

    def _in_transaction(self, work: Callable[[sqlite_utils.Database], T]) -> T:
        """`work` in one write transaction. A case store on a server that went away (restarted) is waited for
        and the transaction, rolled back by the server, is done again: the scan pauses rather than fails."""
        while True:
            try:
                with write_transaction(self._db):
                    return work(self._db)
            except Exception as error:  # the server's client raises its own errors once the connection is gone
                if not store_lost(self._db):
                    raise
                self._db = _ready_to_write(_reopen(self.case_dir, self._db, error))


def _ready_to_write(db: sqlite_utils.Database) -> sqlite_utils.Database:
    """The writer's session: SQLite tuned for a scan's inserts; in PostgreSQL, the texts' words left to another
    session while the scan goes on (postgres.VectorFiller) and to every core at its end (scan_indexes.create)."""
    if in_postgres(db):
        cast(Any, db).leave_vectors_for_later()
    else:
        with write_transaction(db):
            tune_for_writing(db.conn)
    return db


STORE_WAIT_SECONDS = 600.0  # how long a case store on a server that went away is waited for


def store_lost(db: sqlite_utils.Database) -> bool:
    """Whether the connection to a case kept on a server (PostgreSQL) is gone; SQLite's never goes."""
    connection = getattr(db.conn, "pg", None)
    return connection is not None and (connection.closed or connection.broken)


def _reopen(case_dir: Path, db: sqlite_utils.Database, error: Exception) -> sqlite_utils.Database:
    logger.warning("the case store went away (%s); waiting up to %.0f s for it", error, STORE_WAIT_SECONDS)
    with contextlib.suppress(Exception):
        db.close()
    return open_case_waiting(case_dir)


def open_case_waiting(case_dir: Path) -> sqlite_utils.Database:
    """open_case, waiting up to STORE_WAIT_SECONDS for a case store on a server that is not back yet (restarting);
    a case folder that is gone, or any other reason, is not waited for."""
    deadline = time.monotonic() + STORE_WAIT_SECONDS
    while True:
        try:
            return open_case(case_dir)
        except CaseError as failure:
            if time.monotonic() > deadline:
                raise CaseError(f"the case store did not come back: {failure}") from None
            time.sleep(1.0)


def on_case_waiting(case_dir: Path, work: Callable[[sqlite_utils.Database], T]) -> T:
    """`work` on a connection of its own, done again on a new one when the case store went away during it (a
    server restarting): what a worker must not lose to a restart, such as taking or ending a unit."""
    while True:
        db = open_case_waiting(case_dir)
        try:
            return work(db)
        except Exception as error:
            if not store_lost(db):
                raise
            logger.warning("the case store went away (%s); waiting for it", error)
        finally:
            with contextlib.suppress(Exception):
                db.close()


def _write_batch(db: sqlite_utils.Database, batch: list[tuple[str | tuple[str, tuple[str, ...]], list[Any]]]) -> None:
    for key, rows in batch:
        if isinstance(key, tuple):  # (table, columns): rows as tuples of values
            table, columns = key
            _insert_values(db, table, columns, rows)
            continue
        _insert_rows(db, key, rows)
        if key in ("files", "findings", "problems"):
            crash_point("writer-batch")  # inside the transaction: half a batch written


def mark_run_failed(case_dir: Path, run_id: int, error: str) -> None:
    """Record at once that a run stopped because the case could not be written, on a connection of its own (the
    writer's has failed). Rolled-back pages leave room in the write-ahead log, so this usually succeeds on a full
    disk; if it does not, the next scan finds the run interrupted."""
    try:
        db = open_case(case_dir)
        try:
            with write_transaction(db):
                db.execute("UPDATE runs SET status = 'failed', finished = ?, summary = ? WHERE id = ?",
                           [utc_now(), json.dumps({"error": error}), run_id])
                audit(db, "scan failed", {"run": run_id, "error": error})
        finally:
            db.close()
    except (CybertriageError, sqlite3.Error):
        return


class CaseInUse(UsageError):
    """Another cybertriage process scans (or verifies) this case now."""


def _lock_case(case_dir: Path) -> int:
    """Hold the case folder for one scan or verification at a time, so that a scan can tell an interrupted
    run from one still going and verify never judges evidence a scan is still recording; the lock dies
    with the process, however it ends. The folder is made first if needed (a new case)."""
    try:
        case_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(case_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as error:
        raise CaseError(f"cannot create case folder {case_dir}: {error.strerror or error}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise CaseInUse(f"case {case_dir} is in use by another cybertriage scan or verify; "
                        "run this again when it has finished") from None
    except OSError:  # a network share without locks: one examiner, one scan at a time, as before
        pass
    return fd


@contextlib.contextmanager
def case_held(case_dir: Path) -> Iterator[None]:
    """Hold the case as a scan does, for as long as the block runs (verify); CaseInUse if a scan holds it."""
    fd = _lock_case(case_dir)
    try:
        yield
    finally:
        os.close(fd)


def add_tag(db: sqlite_utils.Database, object_kind: str, object_id: int, tag: str, note: str | None = None,
            examiner: str | None = None) -> int:
    """Tag a file or a finding with the examiner's words; the tag also goes into the chain of custody."""
    table = {"file": "files", "finding": "findings"}.get(object_kind)
    if table is None:
        raise UsageError(f"only files and findings can be tagged, not {object_kind!r}")
    if not tag.strip():
        raise UsageError("a tag needs a name")
    if not db.execute(f"SELECT 1 FROM [{table}] WHERE id = ?", [object_id]).fetchone():
        raise UsageError(f"no {object_kind} with id {object_id} in this case")
    with write_transaction(db):
        tag_id = inserted_id(db.table("tags").insert({"object_kind": object_kind, "object_id": object_id,
                                                      "tag": tag.strip(), "note": note, "examiner": examiner,
                                                      "created_at": utc_now()}))
        audit(db, "tag added", {"tag_id": tag_id, "object_kind": object_kind, "object_id": object_id,
                                "tag": tag.strip(), "note": note, "examiner": examiner})
    return tag_id

