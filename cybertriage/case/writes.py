"""Named writes to a case: what the post-scan passes (hash sets, IOCs, correlation) add and raise, and
the scan's own bookkeeping (runs, verification, damaged files, an interrupted evidence item forgotten).

Each takes the connection of the one writer, inside the transaction it runs in (`CaseWriter.call`, or
a pass's `with db.conn`); the scan's stream of rows goes through `CaseWriter.add_rows`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import sqlite_utils
from sqlite_utils.db import Table

from .stores import in_postgres


def inserted_id(table: Table) -> int:
    """The integer id of the row the table just inserted (sqlite-utils types `last_pk` as any key, or none)."""
    last_pk = table.last_pk
    if not isinstance(last_pk, int):
        raise TypeError(f"the insert into {table.name} gave no integer id: {last_pk!r}")
    return last_pk


def settle_for_bulk_writes(db: sqlite_utils.Database) -> None:
    """The writer's connection set for a scan's stream of rows: a 16 MiB page cache, so that the indexes' pages stay
    in memory through a batch instead of being written out and read back (SQLite's default is 2 MB), and the
    write-ahead log checkpointed every 32 MiB rather than 4 MiB (a page written again and again is copied into the
    database once per checkpoint, and each checkpoint waits for the disk)."""
    db.execute("PRAGMA cache_size = -16384")
    db.execute("PRAGMA wal_autocheckpoint = 8192")


def statement_parts(total: int, most: int) -> Iterator[tuple[int, int]]:
    """(start, rows) of each statement inserting `total` rows: `most` rows each, then the rest in powers of two,
    so that a table's inserts use a few statement shapes. Python's sqlite3 keeps the statements it prepared, each
    holding the values last bound to it: a shape for every size of rest would hold on to many batches' values."""
    start = 0
    while total - start >= most:
        yield start, most
        start += most
    while start < total:
        count = 1 << ((total - start).bit_length() - 1)
        yield start, count
        start += count


def set_case_info(db: sqlite_utils.Database, info: dict[str, str]) -> None:
    """Record the case's own facts (name, number, examiner, agency …) by key, replacing earlier values."""
    db.table("case_info").upsert_all([{"key": key, "value": value} for key, value in info.items()], pk="key")


def add_findings(db: sqlite_utils.Database, findings: list[dict[str, Any]]) -> None:
    """Store findings: rows of the findings table (evidence_id, object_kind, object_id, object, analyzer, rule,
    severity, severity_rank, title, detail as JSON text, created_at)."""
    db.table("findings").insert_all(findings)


def set_score(db: sqlite_utils.Database, file_id: int, value: int, reasons: list[str]) -> None:
    """Record a file's triage score and the reasons for it."""
    db.table("files").update(file_id, {"score": value, "reasons": json.dumps(reasons, ensure_ascii=False)})


def mark_known(db: sqlite_utils.Database, file_id: int, known: str, hash_set: str) -> None:
    """Mark a file as found in a hash set (`known` is the set's good or bad)."""
    db.table("files").update(file_id, {"known": known, "known_set": hash_set})


# -- the scan's bookkeeping (called by the pipeline through CaseWriter.call) ------------------------

def next_file_id(db: sqlite_utils.Database) -> int:
    """The first file id no row has yet: a scan numbers its objects from here, so parents can be named early."""
    return (db.execute("SELECT max(id) FROM files").fetchone()[0] or 0) + 1


FILE_ID_BLOCK = 1 << 20  # file ids a worker takes at a time in a case several processes write at once
FILE_ID_LOCK = 0x66696C65696473  # "fileids": the PostgreSQL lock under which the blocks' sequence is made


def reserve_file_ids(db: sqlite_utils.Database) -> tuple[int, int | None]:
    """File ids this process may give (first, how many; None: every id from first on). A case one scan writes
    (SQLite) numbers on from its largest id. A case in PostgreSQL may be written by several workers at once, so
    each takes blocks of its own from a sequence of the store (blocks of 2^20: below 2^40, as content_fts needs)."""
    if not in_postgres(db):
        return next_file_id(db), None
    db.execute("SELECT pg_advisory_xact_lock(?)", [FILE_ID_LOCK])  # two workers' first blocks: one makes the sequence
    db.execute("CREATE SEQUENCE IF NOT EXISTS ct_file_id_blocks")
    block = int(db.execute("SELECT nextval('ct_file_id_blocks')").fetchone()[0])
    return block * FILE_ID_BLOCK, FILE_ID_BLOCK


def evidence_status(db: sqlite_utils.Database, path: str) -> tuple[int, str] | None:
    """(id, status) of the evidence the case knows by this path, or None for evidence new to the case."""
    row = db.execute("SELECT id, status FROM evidence WHERE path = ?", [path]).fetchone()
    return (row[0], row[1]) if row else None


def add_evidence(db: sqlite_utils.Database, path: str, added_at: str) -> int:
    """A new evidence item, status 'added'; its id."""
    return inserted_id(db.table("evidence").insert({"path": path, "status": "added", "added_at": added_at}))


def update_evidence(db: sqlite_utils.Database, evidence_id: int, values: dict[str, Any]) -> None:
    """Set columns of an evidence item's row (status, format, hashes, verification …)."""
    db.table("evidence").update(evidence_id, values)


def update_run(db: sqlite_utils.Database, run_id: int, values: dict[str, Any]) -> None:
    """Set columns of a run's row (finished, status, summary)."""
    db.table("runs").update(run_id, values)


def start_run(db: sqlite_utils.Database, run: dict[str, Any]) -> int:
    """Record a new run (a row of the runs table, status 'running') and return its id. The writer holds the
    case's lock, so a run still 'running' was killed: it is marked interrupted first."""
    db.execute("UPDATE runs SET status = 'interrupted' WHERE status = 'running'")
    return inserted_id(db.table("runs").insert(run))


def mark_verified(db: sqlite_utils.Database, evidence_id: int, pending: str) -> None:
    """The evidence's stored hashes matched and every chunk passed its checksum: 'verified', if it is still
    `pending` (a damaged chunk found meanwhile keeps its verdict)."""
    db.execute("UPDATE evidence SET verified = 'verified' WHERE id = ? AND verified = ?", [evidence_id, pending])


def unhash_files(db: sqlite_utils.Database, evidence_id: int, run_id: int, damaged: list[tuple[int, str, str | None]],
                 note: str) -> None:
    """Files stored in unreadable or damaged sectors, each (partition_offset, path, inode), and everything
    inside them (archive members), lose their hashes and type and carry `note`; each is a problem, and the
    run's content ledger counts them as skipped for unreadable sectors instead of processed."""
    for partition_offset, path, inode in damaged:
        db.execute(
            """WITH RECURSIVE hit(id) AS (
                   SELECT id FROM files WHERE evidence_id = ? AND partition_offset = ? AND path = ? AND inode IS ?
                   UNION SELECT f.id FROM files f JOIN hit ON f.parent_id = hit.id)
               UPDATE files SET md5 = NULL, sha1 = NULL, sha256 = NULL, mime = NULL, description = NULL,
                   ext_mismatch = 0, note = ? WHERE id IN hit""",
            [evidence_id, partition_offset, path, inode, note])
    db.table("problems").insert_all([{"evidence_id": evidence_id, "run_id": run_id, "stage": "content", "object": path,
                                "message": note} for _, path, _ in damaged])
    where = [evidence_id, run_id]
    row = db.execute("SELECT reasons FROM ledger WHERE evidence_id = ? AND run_id = ? AND stage = 'content'",
                     where).fetchone()
    if row is not None:  # the reasons' JSON changed here, alike in every store
        reasons = {**json.loads(row[0] or "{}"), "unreadable sectors": len(damaged)}
        db.execute("UPDATE ledger SET processed = processed - ?, skipped = skipped + ?, reasons = ? "
                   "WHERE evidence_id = ? AND run_id = ? AND stage = 'content'",
                   [len(damaged), len(damaged), json.dumps(reasons, ensure_ascii=False), *where])


# What identifies a file or a finding across two examinations of the same evidence (ids do not).
_FILE_KEY = "'partition_offset', t.partition_offset, 'path', t.path, 'inode', t.inode, 'deleted', t.deleted"
_FINDING_KEY = "'object', t.object, 'analyzer', t.analyzer, 'rule', t.rule, 'title', t.title"
_TAGGED = (("file", "files", _FILE_KEY), ("finding", "findings", _FINDING_KEY))


def forget_evidence(db: sqlite_utils.Database, evidence_id: int) -> None:
    """Drop every row an interrupted earlier run left for this evidence, before examining it again from
    the start: files, findings, network records, partitions, ledger and problems; indicators belong to
    content, not to this evidence, and stay. The evidence row keeps its id; tags on its files and
    findings keep what they were on (object_key) and are put back on the same objects by `retag` once
    they exist again. The audit log keeps everything."""
    for kind, table, key in _TAGGED:
        db.execute(
            f"""UPDATE tags SET object_id = NULL, object_key = (SELECT json_object('evidence_id', t.evidence_id, {key})
                FROM [{table}] t WHERE t.id = tags.object_id)
                WHERE object_kind = ? AND object_id IN (SELECT id FROM [{table}] WHERE evidence_id = ?)""",
            [kind, evidence_id])
    kept = ("evidence", "units")  # a unit's record outlives each examination of it (case/units.py)
    tables = [t for t in db.table_names() if t not in kept and "evidence_id" in db[t].columns_dict]
    for table in tables:
        db.execute(f"DELETE FROM [{table}] WHERE evidence_id = ?", [evidence_id])
    db.table("evidence").update(evidence_id, {column: None for column in db["evidence"].columns_dict
                                        if column not in ("id", "path", "added_at")})


def forget_examination(db: sqlite_utils.Database, evidence_id: int, blocks: list[int], lister: bool) -> None:
    """Drop the rows an interrupted examination of one unit of an evidence item examined in parts left (its
    worker died), before the unit is examined again: the files with ids in the unit's blocks, their findings and
    every row naming them by file_id; and for the unit that lists the item (`lister`), its partitions and the
    findings on the evidence itself. Other units' rows stay. Tags are detached as by `forget_evidence`."""
    spans = [(evidence_id, first, first + FILE_ID_BLOCK) for first in blocks]
    named = [t for t in db.table_names() if t not in ("files", "units") and {"evidence_id", "file_id"} <= set(db[t].columns_dict)]
    for span in spans:
        for kind, table, key in _TAGGED:
            owner = "id" if table == "files" else "object_id"
            db.execute(
                f"""UPDATE tags SET object_id = NULL, object_key = (SELECT json_object('evidence_id', t.evidence_id, {key})
                    FROM [{table}] t WHERE t.id = tags.object_id)
                    WHERE object_kind = ? AND object_id IN (SELECT id FROM [{table}] WHERE evidence_id = ? AND
                    {owner} >= ? AND {owner} < ?{" AND object_kind = 'file'" if table == "findings" else ""})""",
                [kind, *span])
        for table in named:
            db.execute(f"DELETE FROM [{table}] WHERE evidence_id = ? AND file_id >= ? AND file_id < ?", list(span))
        db.execute("DELETE FROM findings WHERE evidence_id = ? AND object_kind = 'file' AND object_id >= ? "
                   "AND object_id < ?", list(span))
        db.execute("DELETE FROM files WHERE evidence_id = ? AND id >= ? AND id < ?", list(span))
    if lister:
        db.execute("DELETE FROM partitions WHERE evidence_id = ?", [evidence_id])
        db.execute("DELETE FROM findings WHERE evidence_id = ? AND object_kind = 'evidence'", [evidence_id])


def retag(db: sqlite_utils.Database, evidence_id: int) -> None:
    """Put tags that `forget_evidence` detached back on the objects they were on, now examined again."""
    for kind, table, key in _TAGGED:
        db.execute(
            f"""UPDATE tags SET object_id = (SELECT min(t.id) FROM [{table}] t
                    WHERE json_object('evidence_id', t.evidence_id, {key}) = tags.object_key),
                object_key = NULL
                WHERE object_kind = ? AND object_key IS NOT NULL AND json_extract(object_key, '$.evidence_id') = ?
                AND EXISTS (SELECT 1 FROM [{table}] t WHERE json_object('evidence_id', t.evidence_id, {key}) = tags.object_key)""",
            [kind, evidence_id])
