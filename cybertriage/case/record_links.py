"""Where a record leads, for the application's links: the capture record that carried a file (its HTTP exchange,
FTP command or mail), that record's flow, the DNS lookup that named its server before it, and the time of any
record, for "Show in timeline".

Every read is a few rows on an index (a flow's records, the DNS table walked back in time from the transfer):
quick enough for a click on the GUI thread on any case.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from .timeline_sources import FINDING_TIME, FINDINGS_FROM, key_sql, sort_key

# a carried object's path starts with the table of the record that carried it: /http/<server>/…, /ftp/…, /smtp/…
CARRIER_TABLES = ("http", "ftp", "smtp")
MAX_NESTING = 32  # archives in archives: a member this deep is not followed up to the object carried
# the SHA-256 columns naming what a record carried (SMTP attachments are named by the mail, not by a hash)
CARRIED_SHA256 = {"http": ("body_sha256", "request_body_sha256"), "ftp": ("file_sha256",), "smtp": ()}
# each kind of record the application links to: its table and the time it stands at on the timeline
TIMES = {"file": ("files", "coalesce(mtime, crtime, ctime, atime)"), "flow": ("flows", "first_seen"),
         "host": ("hosts", "first_seen"), "dns": ("dns", "ts"), "http": ("http", "ts"), "tls": ("tls", "ts"),
         "smtp": ("smtp", "ts"), "ftp": ("ftp", "ts"), "credentials": ("credentials", "ts"),
         "artifact": ("artifacts", "ts")}


@dataclass(frozen=True)
class Carrier:
    """The capture record a carried file came out of, with its flow and the lookup of its server before it."""

    table: str  # http | ftp | smtp
    record_id: int
    evidence_id: int
    ts: str | None
    server: str | None  # the flow's responder
    flow_record_id: int | None  # the flows table's row of the record's flow


def carrier_of(conn: sqlite3.Connection, file_id: int) -> Carrier | None:
    """The HTTP exchange, FTP command or mail that carried this file (None for a file a capture did not carry):
    the record of its table on the file's flow at the file's time (the transfer's), its body's SHA-256 deciding
    between records of the same moment."""
    file = _carried_file(conn, file_id)
    if file is None:
        return None
    evidence_id, flow_id, path, moment, sha256 = file
    table = path.lstrip("/").split("/", 1)[0]
    if table not in CARRIER_TABLES or not _has_table(conn, table):
        return None
    same_body = " OR ".join(f"{column} = ?" for column in CARRIED_SHA256[table]) or "0"
    row = conn.execute(
        f"SELECT id, ts, dst FROM [{table}] WHERE evidence_id = ? AND flow_id = ? "
        f"ORDER BY ts IS NOT ? , NOT ({same_body}), id LIMIT 1",
        [evidence_id, flow_id, moment, *[sha256] * len(CARRIED_SHA256[table])]).fetchone()
    if row is None:
        return None
    flow = conn.execute("SELECT id FROM flows WHERE evidence_id = ? AND flow_id = ?", [evidence_id, flow_id]).fetchone()
    return Carrier(table, row[0], evidence_id, row[1], row[2], flow[0] if flow else None)


def _carried_file(conn: sqlite3.Connection, file_id: int) -> tuple[int, int, str, str, str] | None:
    """The file's evidence, flow, path, time and SHA-256, or its container's (an archive member has no flow of its
    own: the archive a capture carried has), None for a file no capture carried."""
    for _ in range(MAX_NESTING):
        row = conn.execute("SELECT evidence_id, flow_id, path, mtime, sha256, parent_id FROM files WHERE id = ?",
                           [file_id]).fetchone()
        if row is None or (row[1] is None and row[5] is None):
            return None
        if row[1] is not None:
            return row[0], row[1], row[2] or "", row[3], row[4]
        file_id = row[5]
    return None


def lookup_before(conn: sqlite3.Connection, evidence_id: int, address: str | None, ts: str | None) -> int | None:
    """The last DNS answer in the capture, at or before `ts`, that gave `address` (None if there is none): the
    lookup that named the server before the transfer. Walked back in time on the DNS table's time index."""
    if not address or not ts or not _has_table(conn, "dns"):
        return None
    key = key_sql("ts")
    row = conn.execute(
        f"SELECT id FROM dns WHERE {key} <= ? AND evidence_id = ? AND answers LIKE ? "
        f"AND EXISTS (SELECT 1 FROM json_each(answers) a WHERE a.value = ?) ORDER BY {key} DESC, id DESC LIMIT 1",
        [sort_key(ts), evidence_id, f"%{address}%", address]).fetchone()
    return row[0] if row else None


def time_of(conn: sqlite3.Connection, kind: str, record_id: int) -> str | None:
    """The time a record stands at on the timeline (a file: its last modification, else its other times; a
    finding: the time of what it is about), None for a record without one."""
    if kind == "finding":
        row = conn.execute(f"SELECT {FINDING_TIME} {FINDINGS_FROM} WHERE g.id = ?", [record_id]).fetchone()
        return row[0] if row else None
    if kind not in TIMES or not _has_table(conn, TIMES[kind][0]):
        return None
    table, column = TIMES[kind]
    row = conn.execute(f"SELECT {column} FROM [{table}] WHERE id = ?", [record_id]).fetchone()
    return row[0] if row else None


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]).fetchone() is not None


@dataclass
class AboutFile:
    """What the case says about one file, for its details pane: its findings, worst first, and the artefacts read
    from it, in time order (the first `limit` of each, with how many there are)."""

    findings: list[tuple[int, str, str]]  # id, severity, title
    finding_count: int
    artefacts: list[tuple[int, str, str | None, str | None]]  # id, type, time, summary
    artefact_count: int


def about_file(conn: sqlite3.Connection, file_id: int, limit: int = 50) -> AboutFile:
    """The findings about a file and the artefacts read from it (on the findings' object index and the artefacts'
    file index)."""
    findings = [(row[0], row[1], row[2]) for row in conn.execute(
        "SELECT id, severity, title FROM findings WHERE object_kind = 'file' AND object_id = ? "
        "ORDER BY severity_rank DESC, id LIMIT ?", [file_id, limit])]
    finding_count = conn.execute("SELECT count(*) FROM findings WHERE object_kind = 'file' AND object_id = ?",
                                 [file_id]).fetchone()[0]
    artefacts: list[tuple[int, str, str | None, str | None]] = []
    artefact_count = 0
    if _has_table(conn, "artifacts"):
        artefacts = [(row[0], row[1], row[2], row[3]) for row in conn.execute(
            "SELECT id, type, ts, summary FROM artifacts WHERE file_id = ? ORDER BY ts, id LIMIT ?", [file_id, limit])]
        artefact_count = conn.execute("SELECT count(*) FROM artifacts WHERE file_id = ?", [file_id]).fetchone()[0]
    return AboutFile(findings, finding_count, artefacts, artefact_count)
