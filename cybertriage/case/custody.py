"""A chain of custody that shows tampering, as a transparency log does.

Each audit entry stores `link = sha256(previous entry's link ‖ its own canonical content)`, so changing,
inserting or removing any entry breaks every link after it. Anyone who can write the database can compute
a whole new chain, so the head (sequence number and link) after each action is also appended to an
append-only, fsynced file beside the database (`custody.log`), and every report prints the head it saw:
a rewritten chain no longer contains the heads written down before it.

A report also records a digest of the case's content (evidence, files, findings, network records) in a
canonical form that does not depend on SQLite's page layout or on later audit entries, so that a report can
be checked against its case after any number of later reads, tags or verifications.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from ..formatting import utc_now
from .stores import in_postgres

logger = logging.getLogger(__name__)

GENESIS = "0" * 64  # the link before the first entry
SIDECAR = "custody.log"
# The tables a report describes. A column added by a later schema is NULL in old rows and left out of the
# canonical form, so a schema upgrade alone does not change the digest.
CONTENT_TABLES = ("evidence", "partitions", "files", "findings", "flows", "dns", "http", "tls", "smtp", "ftp",
                  "credentials", "hosts", "artifacts", "keyword_hits")
# Tables a later schema added: while empty they are left out, as an absent table is, so that the upgrade alone (which
# makes them) does not change the digest of a case sealed before it.
LATER_TABLES = frozenset({"artifacts", "keyword_hits"})
AUDIT_LOCK = 0x637573746F6479  # "custody": the PostgreSQL lock appenders to the audit log take in turn
AUDIT_TRIGGERS = {"audit_log_no_update": "UPDATE", "audit_log_no_delete": "DELETE"}
# How long a command waits for another writer (a scan's batches, the application) before it gives up.
WRITE_WAIT_SECONDS = 120.0
_SEAL = re.compile(r"cybertriage-custody seq=(\d+) head=([0-9a-f]{64}) digest=([0-9a-f]{64})(?: tables=([a-z_:0-9a-f,]*))?")
TABLE_DIGEST_CHARS = 16  # per-table digests in a seal: enough to tell which tables changed


def canonical(entry: dict[str, Any]) -> bytes:
    """An audit entry's content as the chain hashes it: its sequence number and every recorded field."""
    fields = {"seq": entry["id"], "ts": entry["ts"], "user": entry["user"], "host": entry["host"],
              "action": entry["action"], "detail": entry["detail"]}
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def link(previous: str, entry: dict[str, Any]) -> str:
    """sha256(previous link ‖ canonical content): the entry's place in the chain."""
    return hashlib.sha256(previous.encode("ascii") + canonical(entry)).hexdigest()


@dataclass(frozen=True)
class ChainHead:
    """The last entry of the audit log: its sequence number (the entry's id) and its link."""

    seq: int
    link: str


def head(db: sqlite_utils.Database) -> ChainHead:
    row = db.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    return ChainHead(row[0], row[1] or "") if row else ChainHead(0, GENESIS)


def append_entry(db: sqlite_utils.Database, ts: str, user: str, host: str, action: str, detail: str) -> ChainHead:
    """Append one linked entry; call inside a write transaction, so that nobody appends in between."""
    if in_postgres(db):  # writers there do not wait for each other as SQLite's do
        db.execute("SELECT pg_advisory_xact_lock(?)", [AUDIT_LOCK])
    last = head(db)
    seq = last.seq + 1
    entry: dict[str, object] = {"id": seq, "ts": ts, "user": user, "host": host, "action": action, "detail": detail}
    digest = link(last.link, entry)
    entry["hash"] = digest
    db.execute("INSERT INTO audit_log (id, ts, user, host, action, detail, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
               [entry[k] for k in ("id", "ts", "user", "host", "action", "detail", "hash")])
    return ChainHead(seq, digest)


def case_folder(db: sqlite_utils.Database) -> Path | None:
    """The folder of the database file this connection has open (None in memory)."""
    for _, name, file in db.execute("PRAGMA database_list").fetchall():
        if name == "main" and file:
            return Path(file).parent
    return None


@contextlib.contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """One transaction that holds the write lock from its first statement (BEGIN IMMEDIATE), waiting for other
    writers for up to WRITE_WAIT_SECONDS instead of failing on 'database is locked'; the chain head is written
    to custody.log once it is committed. Nested in a transaction already open, it is a savepoint of it."""
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    _retry_while_locked(lambda: db.execute("BEGIN IMMEDIATE"))
    try:
        yield db
        _retry_while_locked(lambda: db.execute("COMMIT"))
    except BaseException:
        if db.conn.in_transaction:
            db.conn.rollback()
        raise
    record_head(db)


def _retry_while_locked(statement: Callable[[], object]) -> None:
    """Run `statement`, again while SQLite says another connection holds the lock (each try already waits for
    the connection's busy timeout; a lock taken away between tries is waited for once more)."""
    deadline = time.monotonic() + WRITE_WAIT_SECONDS
    while True:
        try:
            statement()
            return
        except sqlite3.OperationalError as error:
            busy = "locked" in str(error) or "busy" in str(error)
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# -- custody.log ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SidecarLine:
    number: int  # line number in custody.log, from 1
    seq: int
    link: str
    written: str


def start_sidecar(db: sqlite_utils.Database) -> None:
    """Create custody.log with the current head (new cases, and old cases when their log is first linked).
    Only this creates the file: a custody.log that disappears later is reported, never quietly remade."""
    folder = case_folder(db)
    if folder is None:
        return
    try:
        os.close(os.open(folder / SIDECAR, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644))
    except FileExistsError:
        pass  # a migration run again after an interruption
    record_head(db)


def record_head(db: sqlite_utils.Database) -> None:
    """Append the committed chain head to custody.log unless it is already there (fsynced; under an
    exclusive lock on the file, so heads from several processes go in increasing order)."""
    folder = case_folder(db)
    if folder is None or db.conn.in_transaction:
        return
    try:
        fd = os.open(folder / SIDECAR, os.O_RDWR | os.O_APPEND | os.O_NOFOLLOW)
    except FileNotFoundError:
        logger.warning("%s is missing: the chain head is not recorded (cybertriage verify reports it)", SIDECAR)
        return
    except OSError as error:
        logger.warning("cannot record the chain head in %s: %s", folder / SIDECAR, error)
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        tail = os.pread(fd, min(size, 4096), max(0, size - 4096)).decode("ascii", "replace").split()
        last = max((int(word) for word in tail[-3::-3] if word.isdigit()), default=0)  # the recent heads' numbers
        now = head(db)
        if now.seq > last:
            os.write(fd, f"{now.seq} {now.link} {utc_now()}\n".encode("ascii"))
            os.fsync(fd)
    except OSError as error:
        logger.warning("cannot record the chain head in %s: %s", folder / SIDECAR, error)
    finally:
        os.close(fd)


def read_sidecar(case_dir: Path) -> tuple[list[SidecarLine], list[str]]:
    """custody.log's lines, and what is wrong with its form (lines that are not `SEQ LINK TIME`)."""
    lines, problems = [], []
    text = (case_dir / SIDECAR).read_bytes().decode("ascii", "replace")
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if len(parts) != 3 or not parts[0].isdigit() or not re.fullmatch(r"[0-9a-f]{64}", parts[1]):
            problems.append(f"{SIDECAR} line {number} is not 'sequence link time': {line[:100]!r}")
            continue
        lines.append(SidecarLine(number, int(parts[0]), parts[1], parts[2]))
    return lines, problems


# -- checks (cybertriage verify) ------------------------------------------------------------------


def check_chain(db: sqlite_utils.Database, case_dir: Path) -> list[str]:
    """What disagrees in the audit log's chain and custody.log; the first broken entry is named."""
    problems = check_triggers(db)
    expected_seq, previous, links = 1, GENESIS, {}
    broken = None
    for row in db.query("SELECT id, ts, user, host, action, detail, hash FROM audit_log ORDER BY id"):
        if broken is None:
            if row["id"] != expected_seq:
                broken = (f"audit entry {expected_seq} is missing: the log goes from entry {expected_seq - 1} "
                          f"to entry {row['id']}")
            elif row["hash"] != link(previous, row):
                broken = (f"audit entry {row['id']} ({row['ts']}, {row['action']!r}) does not follow from entry "
                          f"{row['id'] - 1} and its own content: it was changed, or an entry before it was "
                          "removed or changed")
        links[row["id"]] = row["hash"]
        expected_seq, previous = row["id"] + 1, row["hash"] or ""
    if broken:
        problems.append(broken)
    if not (case_dir / SIDECAR).is_file() or (case_dir / SIDECAR).is_symlink():
        if not _linked_on_disk(case_dir):
            return problems  # a case from before the chain, read through an upgraded copy: linked when next written
        problems.append(f"{SIDECAR} is missing (or not a plain file): the chain heads recorded after each action "
                        "cannot be compared")
        return problems
    lines, malformed = read_sidecar(case_dir)
    problems += malformed
    last_seq = 0
    for line in lines:
        if line.seq <= last_seq:
            problems.append(f"{SIDECAR} line {line.number} names entry {line.seq} after entry {last_seq}: "
                            "heads are only ever appended in increasing order")
        elif line.seq not in links:
            problems.append(f"audit entry {line.seq} is missing: {SIDECAR} line {line.number} recorded it as the "
                            f"chain head at {line.written} (link {line.link})")
        elif links[line.seq] != line.link:
            problems.append(f"audit entry {line.seq} has link {links[line.seq]}, but {SIDECAR} line {line.number} "
                            f"recorded {line.link} at {line.written}")
        last_seq = max(last_seq, line.seq)
    return problems


def _linked_on_disk(case_dir: Path) -> bool:
    """Whether the case database on disk has the chain (a reader may see an older case upgraded in memory)."""
    try:
        connection = sqlite3.connect(f"{(case_dir / 'case.db').resolve().as_uri()}?mode=ro", uri=True)
        try:
            return bool(connection.execute(
                "SELECT 1 FROM pragma_table_info('audit_log') WHERE name = 'hash'").fetchone())
        finally:
            connection.close()
    except sqlite3.Error:
        return True  # cannot tell: a missing custody.log is reported


def check_triggers(db: sqlite_utils.Database) -> list[str]:
    """The triggers that refuse UPDATE and DELETE on the audit log must still be there."""
    present = {name: sql or "" for name, sql in db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'").fetchall()}
    return [f"the trigger {name} that refuses {statement} on the audit log is missing or altered"
            for name, statement in AUDIT_TRIGGERS.items()
            if statement not in present.get(name, "") or "RAISE" not in present.get(name, "")]


def check_evidence_hashes(db: sqlite_utils.Database) -> list[str]:
    """Every evidence item's recorded sha256 must be the one its 'evidence hashed' audit entry holds."""
    hashed: dict[str, list[tuple[int, str]]] = {}
    for entry in db.query("SELECT id, detail FROM audit_log WHERE action = 'evidence hashed' ORDER BY id"):
        try:
            detail = json.loads(entry["detail"] or "{}")
        except ValueError:
            detail = {}  # an altered entry: check_chain names it
        hashed.setdefault(detail.get("evidence"), []).append((entry["id"], detail.get("sha256")))
    problems = []
    for item in db.query("SELECT id, path, sha256 FROM evidence WHERE sha256 IS NOT NULL ORDER BY id"):
        entries = hashed.get(item["path"])
        if not entries:
            problems.append(f"evidence {item['id']} ({item['path']}): sha256 {item['sha256']} recorded, but no "
                            "'evidence hashed' audit entry holds a sha256 for it")
            continue
        seq, logged = entries[-1]
        if logged != item["sha256"]:
            problems.append(f"evidence {item['id']} ({item['path']}): the case records sha256 {item['sha256']}, "
                            f"audit entry {seq} ('evidence hashed') holds {logged}")
    return problems


def check_objects(case_dir: Path) -> list[str]:
    """Each carried object in CASE/objects/<sha256[:2]>/<sha256> must hash to its name."""
    root = case_dir / "objects"
    if root.is_symlink():
        return [f"{root} is a symbolic link, not the case's object store"]
    problems = []
    for directory, subdirs, names in os.walk(root, followlinks=False):
        subdirs.sort()
        for name in sorted(names):
            path = Path(directory, name)
            if name.startswith(".") and name.endswith(".part"):
                continue  # an object being stored: not yet in the store
            if not re.fullmatch(r"[0-9a-f]{64}", name) or path.parent != root / name[:2]:
                problems.append(f"{path} is not where the object store puts an object")
                continue
            if path.is_symlink() or not path.is_file():
                problems.append(f"{path} is not a plain file")
                continue
            with open(path, "rb") as handle:
                now = hashlib.file_digest(handle, "sha256").hexdigest()
            if now != name:
                problems.append(f"carried object {path.relative_to(case_dir)}: its content now hashes to {now}")
    return problems


# -- the content a report describes ---------------------------------------------------------------


@dataclass(frozen=True)
class ContentDigest:
    """sha256 over the canonical rows of CONTENT_TABLES, in all and per table."""

    total: str
    tables: dict[str, str]


def content_digest(db: sqlite_utils.Database) -> ContentDigest:
    """Each row as sorted-key JSON of its non-NULL values, in primary-key order, table by table."""
    existing = set(db.table_names())
    total, tables = hashlib.sha256(), {}
    for table in CONTENT_TABLES:
        if table not in existing:
            continue
        if table in LATER_TABLES and db.execute(f"SELECT 1 FROM [{table}] LIMIT 1").fetchone() is None:
            continue
        digest = hashlib.sha256()
        cursor = db.execute(f"SELECT * FROM [{table}] ORDER BY rowid")
        columns = [d[0] for d in cursor.description]
        for row in cursor:
            values = {c: (v.hex() if isinstance(v, bytes) else v) for c, v in zip(columns, row) if v is not None}
            digest.update(json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
                          .encode("utf-8") + b"\n")
        tables[table] = digest.hexdigest()
        total.update(f"{table} {tables[table]}\n".encode("ascii"))
    return ContentDigest(total.hexdigest(), tables)


@dataclass(frozen=True)
class ReportSeal:
    """What a report records so that it can be checked against its case later."""

    seq: int  # the audit log's last entry when the report read the case
    head: str  # that entry's link
    digest: str  # content_digest(...).total at that moment
    tables: dict[str, str] = field(default_factory=dict)  # table → first TABLE_DIGEST_CHARS of its digest

    @property
    def keywords(self) -> str:
        """The form written into the report's metadata (plain ASCII: PDF strings need no escaping)."""
        tables = ",".join(f"{table}:{digest}" for table, digest in self.tables.items())
        return f"cybertriage-custody seq={self.seq} head={self.head} digest={self.digest} tables={tables}"

    @classmethod
    def parse(cls, text: str) -> ReportSeal | None:
        found = _SEAL.search(text)
        if found is None:
            return None
        tables = dict(item.split(":", 1) for item in (found[4] or "").split(",") if ":" in item)
        return cls(int(found[1]), found[2], found[3], tables)

    def changed_tables(self, now: ContentDigest) -> list[str]:
        """The tables whose content differs from what the report saw (those the report named)."""
        return [table for table, digest in self.tables.items()
                if now.tables.get(table, "")[:TABLE_DIGEST_CHARS] != digest]


def report_seal(db: sqlite_utils.Database) -> ReportSeal:
    """The seal of the case as `db` sees it now (call inside the report's read snapshot)."""
    now, content = head(db), content_digest(db)
    return ReportSeal(now.seq, now.link, content.total,
                      {table: digest[:TABLE_DIGEST_CHARS] for table, digest in content.tables.items()})


def read_seal(report: Path) -> ReportSeal:
    """The seal a PDF report carries in its document information (/Keywords, which reportlab writes
    uncompressed and which the trailer points to) or an HTML report in its custody meta tag."""
    data = report.read_bytes()
    if data.startswith(b"%PDF"):
        text = _pdf_keywords(data)
    else:
        found = re.search(rb'<meta name="cybertriage-custody" content="([^"]*)"', data[:65536])
        text = found[1].decode("ascii", "replace") if found else ""
    found_seal = ReportSeal.parse(text or "")
    if found_seal is None:
        raise ValueError(f"{report} carries no cybertriage custody seal (not a cybertriage report, or one "
                         "written before reports were sealed)")
    return found_seal


def _pdf_keywords(data: bytes) -> str | None:
    """/Keywords of the document information dictionary the last trailer names (/Info N 0 R)."""
    trailer = data.rfind(b"trailer")
    info = re.search(rb"/Info\s+(\d+)\s+0\s+R", data[trailer:]) if trailer >= 0 else None
    if info is None:
        return None
    start = re.search(rb"(?:^|[\r\n])" + info[1] + rb"\s+0\s+obj", data)
    if start is None:
        return None
    end = data.find(b"endobj", start.end())
    found = re.search(rb"/Keywords\s*\(((?:[^()\\]|\\.)*)\)", data[start.end():end])
    return re.sub(rb"\\(.)", rb"\1", found[1]).decode("latin-1") if found else None
