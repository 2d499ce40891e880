"""Read-only questions the views, exports and reports ask of a case."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Iterator
from typing import Any

import sqlite_utils

from ..severity import SEVERITIES_WORST_FIRST
from . import browse
from .columns import ARTIFACTS, FILES, FINDINGS, KEYWORD_HITS, NETWORK, TAGS, Kind

FILE_FIELDS = FILES.export_names
FINDING_FIELDS = FINDINGS.export_names
TAG_FIELDS = TAGS.export_names
ARTIFACT_FIELDS = ARTIFACTS.export_names
NETWORK_TABLES = {table.name: table for table in NETWORK}
# network records, with the field names DESIGN.md fixes first and every other column after them
NETWORK_FIELDS = {name: table.export_names for name, table in NETWORK_TABLES.items()}


@contextlib.contextmanager
def one_snapshot(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """Every query inside reads the case as it was at the first one, even while a scan writes (a read transaction)."""
    db.execute("BEGIN")
    yield db
    db.execute("COMMIT")


def files(db: sqlite_utils.Database) -> Iterator[dict[str, Any]]:
    """Every file, directory and stream, in evidence then path order."""
    rows = db.query(
        """SELECT f.*, e.path AS evidence FROM files f JOIN evidence e ON e.id = f.evidence_id
           ORDER BY f.evidence_id, f.partition_offset, f.path, f.id""")
    for row in rows:
        yield FILES.export_row(row)


def findings(db: sqlite_utils.Database) -> Iterator[dict[str, Any]]:
    """Every finding, worst first: by severity, then by its object's triage score."""
    rows = db.query(
        """SELECT g.*, e.path AS evidence, f.score AS score FROM findings g
           JOIN evidence e ON e.id = g.evidence_id
           LEFT JOIN files f ON g.object_kind = 'file' AND f.id = g.object_id
           ORDER BY g.severity_rank DESC, f.score DESC, g.id""")
    for row in rows:
        yield FINDINGS.export_row(row)


def network(db: sqlite_utils.Database, table: str) -> Iterator[dict[str, Any]]:
    """Rows of one network table (flows, dns, http, tls) in capture order, lists decoded."""
    if table not in db.table_names():
        return
    rows = db.query(f"SELECT t.*, e.path AS evidence FROM [{table}] t JOIN evidence e ON e.id = t.evidence_id "
                    "ORDER BY t.evidence_id, t.id")
    described = NETWORK_TABLES[table]
    for row in rows:
        yield described.export_row(row)


def tags(db: sqlite_utils.Database) -> Iterator[dict[str, Any]]:
    """Examiner tags, oldest first, each with what it is on (path, and the finding's title)."""
    if "tags" not in db.table_names():
        return
    rows = db.query(
        """SELECT t.*, coalesce(f.path, g.object) AS object, g.title AS title, e.path AS evidence FROM tags t
           LEFT JOIN files f ON t.object_kind = 'file' AND f.id = t.object_id
           LEFT JOIN findings g ON t.object_kind = 'finding' AND g.id = t.object_id
           LEFT JOIN evidence e ON e.id = coalesce(f.evidence_id, g.evidence_id)
           ORDER BY t.id""")
    for row in rows:
        yield TAGS.export_row(row)


def artifacts(db: sqlite_utils.Database, types: Iterable[str] = (), limit: int = -1,
              newest_first: bool = False) -> Iterator[dict[str, Any]]:
    """Windows and user-activity artefacts in the order they were read (or newest first, those without a time
    last), each with its parsed fields; `types` keeps those whose dotted type is one of them or under one
    (`registry` keeps `registry.run`); at most `limit` (-1: all)."""
    if "artifacts" not in db.table_names():
        return
    wanted = list(types)
    where = " OR ".join("a.type = ? OR a.type LIKE ? ESCAPE '\\'" for _ in wanted)
    parameters = [value for kind in wanted for value in (kind, kind.replace("_", "\\_").replace("%", "\\%") + ".%")]
    rows = db.query(f"""SELECT a.*, e.path AS evidence FROM artifacts a JOIN evidence e ON e.id = a.evidence_id
                        {'WHERE ' + where if wanted else ''}
                        ORDER BY {'a.ts IS NULL, a.ts DESC, a.id' if newest_first else 'a.evidence_id, a.id'}
                        LIMIT ?""", [*parameters, limit])
    for row in rows:
        yield ARTIFACTS.export_row(row)


def artifacts_of_category(db: sqlite_utils.Database, categories: Iterable[str], limit: int) -> list[dict[str, Any]]:
    """Event log records of these named kinds (values.category: logon, rdp, log_cleared …), newest first."""
    if "artifacts" not in db.table_names():
        return []
    wanted = list(categories)
    rows = db.query(f"""SELECT a.*, e.path AS evidence FROM artifacts a JOIN evidence e ON e.id = a.evidence_id
                        WHERE a.type IN ('evtx.event', 'evt.event')
                        AND json_extract(a."values", '$.category') IN ({', '.join('?' * len(wanted))})
                        ORDER BY a.ts IS NULL, a.ts DESC, a.id LIMIT ?""", [*wanted, limit])
    return [{**row, "values": Kind.JSON_OBJECT.exported(row["values"])} for row in rows]


EMAIL_FIELDS = ["id", "evidence", "ts", "from", "to", "cc", "subject", "message_id", "received", "attachments",
                "source"]


def emails(db: sqlite_utils.Database) -> Iterator[dict[str, Any]]:
    """Every e-mail message read (the `email.message` artefacts of EML, MBOX, PST/OST and MSG), in the order read:
    its headers, Received chain and attachments (name and size), and the message's place (`source`)."""
    if "artifacts" not in db.table_names():
        return
    rows = db.query("""SELECT a.id, e.path AS evidence, a.ts, a.source, a."values" FROM artifacts a
                       JOIN evidence e ON e.id = a.evidence_id WHERE a.type = 'email.message'
                       ORDER BY a.evidence_id, a.id""")
    for row in rows:
        values = Kind.JSON_OBJECT.exported(row["values"]) or {}
        yield {"id": row["id"], "evidence": row["evidence"], "ts": row["ts"],
               **{name: values.get(name) for name in EMAIL_FIELDS[3:-1]}, "source": row["source"]}


def artifact_counts(db: sqlite_utils.Database, evidence_id: int | None = None) -> dict[str, int]:
    """How many artefacts of each type, most first (of one evidence item, or of the case)."""
    counts = browse.artifact_types(db.conn, evidence_id)
    return dict(sorted(counts, key=lambda pair: (-pair[1], pair[0])))


GPS_FIELDS = ["id", "path", "evidence", "taken", "taken_local", "latitude", "longitude", "altitude", "make", "model",
              "serial"]


def gps(db: sqlite_utils.Database) -> Iterator[dict[str, Any]]:
    """Every picture whose EXIF places it (latitude and longitude), in evidence then path order, with its time and
    camera: the rows of `export --what gps` (CSV, KML, GeoJSON) and of the report's table of places."""
    if "exif" not in db["files"].columns_dict:
        return
    for row in browse.gps_pictures(db.conn):
        exif = row["exif"]
        yield {"id": row["id"], "path": row["path"], "evidence": row["evidence"], "taken": exif.get("taken"),
               "taken_local": bool(exif.get("taken_local")), **{name: exif.get(name) for name in GPS_FIELDS[5:]}}


def keyword_hits(db: sqlite_utils.Database) -> Iterator[dict[str, Any]]:
    """Every keyword hit by list, term and object, with its object's path: `export --what keyword-hits`."""
    if "keyword_hits" not in db.table_names():
        return
    for row in db.query("""SELECT k.*, f.path, e.path AS evidence FROM keyword_hits k JOIN files f ON f.id = k.file_id
                           JOIN evidence e ON e.id = k.evidence_id ORDER BY k.list, k.term, k.file_id, k.offset"""):
        yield KEYWORD_HITS.export_row(row)


EXPORTS = {"files": (FILE_FIELDS, files), "findings": (FINDING_FIELDS, findings), "tags": (TAG_FIELDS, tags),
           "artifacts": (ARTIFACT_FIELDS, artifacts), "emails": (EMAIL_FIELDS, emails),
           "keyword-hits": (KEYWORD_HITS.export_names, keyword_hits), "gps": (GPS_FIELDS, gps),
           **{table: (fields, functools.partial(network, table=table)) for table, fields in NETWORK_FIELDS.items()}}


def evidence_summary(db: sqlite_utils.Database, evidence_id: int | None = None) -> list[dict[str, Any]]:
    """Each evidence item (or the one numbered `evidence_id`) with its counts of files, deleted files and findings
    per severity."""
    items = list(db.query("SELECT * FROM evidence WHERE ? IS NULL OR id = ? ORDER BY id", [evidence_id, evidence_id]))
    for item in items:
        counts = db.execute(
            "SELECT count(*), coalesce(sum(deleted), 0) FROM files WHERE evidence_id = ?", [item["id"]]).fetchone()
        item["files"], item["deleted"] = counts
        item["findings"] = dict(db.execute(
            "SELECT severity, count(*) FROM findings WHERE evidence_id = ? GROUP BY severity", [item["id"]]).fetchall())
        item["partitions"] = list(db.query("SELECT * FROM partitions WHERE evidence_id = ? ORDER BY offset", [item["id"]]))
        item["ledger"] = list(db.query(
            """SELECT stage, attempted, processed, skipped, reasons FROM ledger WHERE evidence_id = ?
               AND run_id = (SELECT max(run_id) FROM ledger WHERE evidence_id = ?)""", [item["id"], item["id"]]))
        item["problems"] = db.execute("SELECT count(*) FROM problems WHERE evidence_id = ?", [item["id"]]).fetchone()[0]
        item["network"] = browse.network_counts(db.conn, item["id"])
    return items


# -- for reports ----------------------------------------------------------------------

FILE_TIMES = ("mtime", "atime", "ctime", "crtime")


def has_known(db: sqlite_utils.Database) -> bool:
    """Whether the case marks known files (schema 8; a report reads older cases without migrating them)."""
    return "known" in db["files"].columns_dict


def known_good_count(db: sqlite_utils.Database, evidence_id: int | None = None) -> int:
    """How many files (of one evidence item, or of the case) are in a known-good hash set."""
    if not has_known(db):
        return 0
    if evidence_id is None:
        return db.execute("SELECT count(*) FROM files WHERE known = 'good'").fetchone()[0]
    return db.execute("SELECT count(*) FROM files WHERE evidence_id = ? AND known = 'good'", [evidence_id]).fetchone()[0]


def not_known_good(db: sqlite_utils.Database, hide_known_good: bool) -> str:
    """A WHERE term (`AND …`, findings aliased g) leaving out findings on known-good files, or nothing.
    IOC hits stay: the examiner's own intelligence outweighs a file being known."""
    if not hide_known_good or not has_known(db):
        return ""
    return ("AND NOT (g.object_kind = 'file' AND g.analyzer != 'ioc' "
            "AND coalesce((SELECT known FROM files WHERE id = g.object_id), '') = 'good')")


def severity_counts(db: sqlite_utils.Database, hide_known_good: bool = False) -> dict[str, int]:
    """How many findings of each severity the case holds (every severity present, zero or not),
    without those on known-good files if asked."""
    counts = dict.fromkeys(SEVERITIES_WORST_FIRST, 0)
    counts.update(db.execute(f"SELECT severity, count(*) FROM findings g WHERE 1 {not_known_good(db, hide_known_good)} "
                             "GROUP BY severity").fetchall())
    return counts


def findings_worst_first(db: sqlite_utils.Database, limit: int | None = None,
                         hide_known_good: bool = False) -> Iterator[dict[str, Any]]:
    """Findings by severity, worst first, then by their object's triage score (cases older than
    schema 2 have none), then by id; each with its evidence path and, for a file, the file's size,
    type and hashes (file_md5, file_sha1, file_sha256; None for other objects). `hide_known_good`
    leaves out findings on files in a known-good hash set."""
    by_score = "f.score DESC, " if "score" in db["files"].columns_dict else ""
    rows = db.query(
        f"""SELECT g.*, e.path AS evidence, {"f.score AS score, " if by_score else ""}f.size AS file_size,
                  f.mime AS file_mime, f.md5 AS file_md5,
                  f.sha1 AS file_sha1, f.sha256 AS file_sha256, f.deleted AS file_deleted
           FROM findings g JOIN evidence e ON e.id = g.evidence_id
           LEFT JOIN files f ON g.object_kind = 'file' AND f.id = g.object_id
           WHERE 1 {not_known_good(db, hide_known_good)}
           ORDER BY g.severity_rank DESC, {by_score}g.id LIMIT ?""", [-1 if limit is None else limit])
    for row in rows:
        row["detail"] = Kind.JSON_OBJECT.exported(row["detail"])
        yield row


def files_by_id(db: sqlite_utils.Database, ids: list[int]) -> dict[int, dict[str, Any]]:
    """Full file rows (every column the case's schema has) for these ids."""
    found: dict[int, dict[str, Any]] = {}
    unique = sorted(set(ids))
    for start in range(0, len(unique), 500):
        chunk = unique[start:start + 500]
        marks = ", ".join("?" * len(chunk))
        for row in db.query(f"SELECT * FROM files WHERE id IN ({marks})", chunk):
            found[row["id"]] = row
    return found


def audit_entries(db: sqlite_utils.Database, limit: int | None = None) -> list[dict[str, Any]]:
    """The chain-of-custody log, oldest first (the first `limit` entries)."""
    return list(db.query("SELECT * FROM audit_log ORDER BY id LIMIT ?", [-1 if limit is None else limit]))


def problems(db: sqlite_utils.Database, evidence_id: int, limit: int) -> list[dict[str, Any]]:
    """The first `limit` problems recorded on one evidence item (stage, object, message), oldest first."""
    return list(db.query("SELECT stage, object, message FROM problems WHERE evidence_id = ? ORDER BY id LIMIT ?",
                         [evidence_id, limit]))


def runs(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every scan run, oldest first, as stored (options and summary still JSON text)."""
    return list(db.query("SELECT * FROM runs ORDER BY id"))


def table_names(db: sqlite_utils.Database) -> set[str]:
    """The tables the case has (an older case lacks the newer ones: its report leaves their sections out)."""
    return set(db.table_names())


def has_columns(db: sqlite_utils.Database, table: str, columns: Iterable[str]) -> bool:
    """Whether the case's `table` exists and has all these columns."""
    return table in db.table_names() and set(columns) <= set(db[table].columns_dict)


def columns(db: sqlite_utils.Database, table: str) -> list[str]:
    """The columns of one of the case's tables, in table order."""
    return list(db[table].columns_dict)


def row_count(db: sqlite_utils.Database, table: str) -> int:
    """How many rows one of the case's tables holds."""
    return db[table].count


def capture_count(db: sqlite_utils.Database) -> int:
    """How many evidence items are packet captures."""
    return db.execute("SELECT count(*) FROM evidence WHERE kind = 'capture'").fetchone()[0]


def pe_files(db: sqlite_utils.Database, limit: int, hide_known_good: bool) -> tuple[list[dict[str, Any]], int]:
    """Executables the PE analyser described (highest score first, `pe` still JSON text), and how many there are."""
    if not has_columns(db, "files", ["pe"]):
        return [], 0
    known = " AND coalesce(f.known, '') != 'good'" if hide_known_good and has_known(db) else ""
    total = db.execute(f"SELECT count(*) FROM files f WHERE f.pe IS NOT NULL AND f.pe != ''{known}").fetchone()[0]
    order = "score DESC, " if has_columns(db, "files", ["score"]) else ""
    rows = list(db.query(
        f"""SELECT f.id, f.path, f.size, f.sha256, f.pe, e.path AS evidence FROM files f
            JOIN evidence e ON e.id = f.evidence_id WHERE f.pe IS NOT NULL AND f.pe != ''{known}
            ORDER BY {order}f.id LIMIT ?""", [limit]))
    return rows, total


# -- network summaries (a report's network section) ----------------------------------------

def busiest_hosts(db: sqlite_utils.Database, limit: int) -> list[dict[str, Any]]:
    """Hosts that sent and received the most bytes."""
    return list(db.query("SELECT * FROM hosts ORDER BY bytes_out + bytes_in DESC, address LIMIT ?", [limit]))


TALKER_PAIRS = """SELECT CASE WHEN src <= dst THEN src ELSE dst END AS a, CASE WHEN src <= dst THEN dst ELSE src END AS b,
                         count(*) AS flows, sum(packets) AS packets, sum(bytes) AS bytes, min(first_seen) AS first_seen,
                         max(last_seen) AS last_seen, group_concat(DISTINCT app) AS apps
                  FROM flows GROUP BY a, b"""
DNS_NAMES = """SELECT query, qtype, count(*) AS lookups, min(ts) AS first_seen,
                      group_concat(answers, char(10)) AS answers, group_concat(DISTINCT rcode) AS rcodes
               FROM dns GROUP BY query, qtype"""
TLS_SERVERS = """SELECT sni, ja3, ja3s, cert_subject, cert_issuer, cert_not_before, cert_not_after, count(*) AS handshakes,
                        min(ts) AS first_seen, group_concat(DISTINCT dst || ':' || dport) AS servers
                 FROM tls GROUP BY sni, ja3, ja3s, cert_subject, cert_issuer, cert_not_before, cert_not_after"""


def _grouped(db: sqlite_utils.Database, grouped: str, order: str, limit: int) -> tuple[list[dict[str, Any]], int]:
    total = db.execute(f"SELECT count(*) FROM ({grouped})").fetchone()[0]
    return list(db.query(f"{grouped} ORDER BY {order} LIMIT ?", [limit])), total


def top_talkers(db: sqlite_utils.Database, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Pairs of endpoints (either direction) with their flows, packets, bytes, times and apps, most bytes first;
    and how many pairs there are."""
    return _grouped(db, TALKER_PAIRS, "bytes DESC, packets DESC, a, b", limit)


def dns_names(db: sqlite_utils.Database, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Distinct (query, type) pairs with their lookups, answers (one JSON list a line) and rcodes, most looked up
    first; and how many pairs there are."""
    return _grouped(db, DNS_NAMES, "lookups DESC, first_seen, query", limit)


def tls_servers(db: sqlite_utils.Database, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Distinct server names with their fingerprints and certificate, most handshakes first; and how many."""
    return _grouped(db, TLS_SERVERS, "handshakes DESC, first_seen, sni", limit)


def http_downloads_first(db: sqlite_utils.Database, limit: int) -> list[dict[str, Any]]:
    """HTTP requests, those with a response body first, then by time."""
    return list(db.query("SELECT * FROM http ORDER BY (body_sha256 IS NULL OR body_sha256 = ''), ts, id LIMIT ?",
                         [limit]))


def carried_file(db: sqlite_utils.Database, sha256: str, evidence_id: int) -> dict[str, Any] | None:
    """The file a network transfer carried (id, path): one with its content and an origin, the same capture's first."""
    return next(iter(db.query(
        """SELECT id, path FROM files WHERE sha256 = ? AND origin IS NOT NULL AND origin != ''
           ORDER BY evidence_id = ? DESC, id LIMIT 1""", [sha256, evidence_id])), None)


def credentials_in_order(db: sqlite_utils.Database, limit: int) -> list[dict[str, Any]]:
    """The first `limit` credentials, in the order seen."""
    order = "ts, rowid" if "ts" in db["credentials"].columns_dict else "rowid"
    return list(db.query(f"SELECT * FROM credentials ORDER BY {order} LIMIT ?", [limit]))


# -- findings a report dwells on -----------------------------------------------------------

def timeline_anchors(db: sqlite_utils.Database, min_rank: int, limit: int,
                     hide_known_good: bool) -> list[dict[str, Any]]:
    """Findings of at least `min_rank` severity and correlations, worst first, with the time the finding
    records (`ts`) and its file's MACB times: where a report's timeline windows are centred."""
    return list(db.query(
        f"""SELECT g.id, g.severity, g.title, g.object, g.object_id, g.object_kind, g.evidence_id,
                  json_extract(g.detail, '$.ts') AS ts, f.mtime, f.atime, f.ctime, f.crtime
           FROM findings g LEFT JOIN files f ON g.object_kind = 'file' AND f.id = g.object_id
           WHERE (g.severity_rank >= ? OR g.analyzer = 'correlation') {not_known_good(db, hide_known_good)}
           ORDER BY g.severity_rank DESC, g.id LIMIT ?""", [min_rank, limit]))


def correlation_findings(db: sqlite_utils.Database, limit: int) -> list[dict[str, Any]]:
    """The correlation pass's findings (id, severity, rule, title, detail decoded), worst first."""
    rows = list(db.query("""SELECT id, severity, rule, title, detail FROM findings WHERE analyzer = 'correlation'
                            ORDER BY severity_rank DESC, id LIMIT ?""", [limit]))
    for row in rows:
        row["detail"] = Kind.JSON_OBJECT.exported(row["detail"])
    return rows


APPENDIX_COLUMNS = ["id", "severity", "evidence", "analyzer", "rule", "title", "object_kind", "object_id", "object",
                    "file_size", "file_md5", "file_sha1", "file_sha256", "detail", "created_at"]


def findings_for_appendix(db: sqlite_utils.Database, batch: int = 5000) -> Iterator[list[tuple[Any, ...]]]:
    """Every finding as a tuple of APPENDIX_COLUMNS (with its file's size and hashes), worst first, `batch` at a time."""
    cursor = db.execute(
        """SELECT g.id, g.severity, e.path, g.analyzer, g.rule, g.title, g.object_kind, g.object_id, g.object,
                  f.size, f.md5, f.sha1, f.sha256, g.detail, g.created_at
           FROM findings g JOIN evidence e ON e.id = g.evidence_id
           LEFT JOIN files f ON g.object_kind = 'file' AND f.id = g.object_id
           ORDER BY g.severity_rank DESC, g.id""")
    while rows := cursor.fetchmany(batch):
        yield rows
