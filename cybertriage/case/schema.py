"""The case database: one SQLite file per case, created and migrated here.

The schema version lives in PRAGMA user_version; each migration brings a
database from one version to the next, so old cases keep opening.
"""

from __future__ import annotations

import sqlite_utils

from ..errors import UsageError
from .custody import AUDIT_TRIGGERS, GENESIS, link, start_sidecar


def _version_1(db: sqlite_utils.Database) -> None:
    db.table("case_info").create({"key": str, "value": str}, pk="key")
    db.table("evidence").create(
        {
            "id": int, "path": str, "segments": str, "kind": str, "format": str, "size": int,
            "sha256": str, "stored_md5": str, "stored_sha1": str, "computed_md5": str, "computed_sha1": str,
            "verified": str, "status": str, "error": str, "added_at": str, "processed_at": str,
        },
        pk="id",
    )
    db.table("partitions").create(
        {"id": int, "evidence_id": int, "offset": int, "length": int, "description": str,
         "filesystem": str, "status": str, "note": str},
        pk="id", foreign_keys=[("evidence_id", "evidence", "id")],
    )
    db.table("files").create(
        {
            "id": int, "evidence_id": int, "parent_id": int, "partition_offset": int, "path": str,
            "name": str, "extension": str, "inode": str, "kind": str, "deleted": int, "size": int,
            "md5": str, "sha1": str, "sha256": str, "mime": str, "description": str, "ext_mismatch": int,
            "mtime": str, "atime": str, "ctime": str, "crtime": str, "note": str,
        },
        pk="id", foreign_keys=[("evidence_id", "evidence", "id")],
    )
    db.table("findings").create(
        {
            "id": int, "evidence_id": int, "object_kind": str, "object_id": int, "object": str,
            "analyzer": str, "rule": str, "severity": str, "severity_rank": int, "title": str,
            "detail": str, "created_at": str,
        },
        pk="id", foreign_keys=[("evidence_id", "evidence", "id")],
    )
    db.table("runs").create(
        {"id": int, "started": str, "finished": str, "status": str, "tool_version": str,
         "rules_sha256": str, "options": str, "summary": str},
        pk="id",
    )
    db.table("ledger").create(
        {"evidence_id": int, "run_id": int, "stage": str, "attempted": int, "processed": int,
         "skipped": int, "reasons": str},
        pk=("evidence_id", "run_id", "stage"),
        foreign_keys=[("evidence_id", "evidence", "id"), ("run_id", "runs", "id")],
    )
    db.table("problems").create(
        {"id": int, "evidence_id": int, "run_id": int, "stage": str, "object": str, "message": str},
        pk="id", foreign_keys=[("evidence_id", "evidence", "id")],
    )
    db.table("audit_log").create({"id": int, "ts": str, "user": str, "host": str, "action": str, "detail": str}, pk="id")
    db.table("files").create_index(["evidence_id", "path"])
    db.table("files").create_index(["sha256"])
    db.table("files").create_index(["parent_id"])
    db.table("findings").create_index(["evidence_id"])
    db.table("findings").create_index(["severity_rank"])
    db.table("findings").create_index(["object_kind", "object_id"])
    db.table("files").enable_fts(["path"], fts_version="FTS5", create_triggers=True)
    db.table("findings").enable_fts(["title"], fts_version="FTS5", create_triggers=True)


def _version_2(db: sqlite_utils.Database) -> None:
    """Triage score with its reasons, and PE details, on every file."""
    files = db.table("files")
    files.add_column("score", int, not_null_default=0)
    files.add_column("reasons", str)
    files.add_column("pe", str)
    files.create_index(["score"])


def _version_3(db: sqlite_utils.Database) -> None:
    """Packet captures: flows and protocol records, and where a carried object came from."""
    records = {"flows": _FLOW, "dns": _DNS, "http": _HTTP, "tls": _TLS}
    for table, columns in records.items():
        db.table(table).create({"id": int, "evidence_id": int, **columns}, pk="id",
                         foreign_keys=[("evidence_id", "evidence", "id")])
        db.table(table).create_index(["evidence_id", "flow_id"])
    db.table("dns").create_index(["query"])
    db.table("http").create_index(["host"])
    db.table("http").create_index(["body_sha256"])
    db.table("tls").create_index(["sni"])
    db.table("files").add_column("origin", str)
    db.table("files").add_column("flow_id", int)


# Columns of the network tables, as the capture analysis (analyzers/net/records.py) names them;
# lists are stored as JSON text.
_ENDPOINTS = {"src": str, "sport": int, "dst": str, "dport": int, "proto": str}
_FLOW = {"flow_id": int, **_ENDPOINTS, "first_seen": str, "last_seen": str, "duration": float,
         "orig_packets": int, "resp_packets": int, "orig_bytes": int, "resp_bytes": int, "orig_payload": int,
         "resp_payload": int, "packets": int, "bytes": int, "app": str, "state": str, "history": str,
         "missing_bytes": int, "gaps": int, "ended": str, "vlan": int, "ip_version": int}
_DNS = {"flow_id": int, "ts": str, **_ENDPOINTS, "trans_id": int, "query": str, "qtype": str, "qclass": int,
        "answers": str, "ttls": str, "rcode": str, "rtt": float}
_HTTP = {"flow_id": int, "ts": str, "src": str, "sport": int, "dst": str, "dport": int, "method": str, "host": str,
         "uri": str, "version": str, "user_agent": str, "referrer": str, "status": int, "reason": str,
         "content_type": str, "body_size": int, "body_sha256": str, "request_content_type": str,
         "request_body_size": int, "request_body_sha256": str, "info_code": int, "content_encoding": str,
         "body_complete": int, "trans_depth": int}
_TLS = {"flow_id": int, "ts": str, "src": str, "sport": int, "dst": str, "dport": int, "sni": str, "version": str,
        "client_version": str, "offered_versions": str, "cipher_suites": str, "cipher": str, "alpn": str,
        "ja3": str, "ja3_string": str, "ja3s": str, "ja3s_string": str, "cert_subject": str, "cert_issuer": str,
        "cert_not_before": str, "cert_not_after": str, "cert_serial": str, "cert_san_dns": str,
        "cert_chain_sha256": str, "cert_chain_subjects": str, "established": int}

def _version_4(db: sqlite_utils.Database) -> None:
    """Mail, file transfers and cleartext credentials from captures; files listed per partition."""
    for table, columns in {"smtp": _SMTP, "ftp": _FTP, "credentials": _CREDENTIALS}.items():
        db.table(table).create({"id": int, "evidence_id": int, **columns}, pk="id",
                         foreign_keys=[("evidence_id", "evidence", "id")])
        db.table(table).create_index(["evidence_id", "flow_id"])
    db.table("files").create_index(["evidence_id", "partition_offset", "path"])


_SMTP = {"flow_id": int, "ts": str, "src": str, "sport": int, "dst": str, "dport": int, "helo": str, "mail_from": str,
         "rcpt_to": str, "subject": str, "header_from": str, "header_to": str, "cc": str, "reply_to": str, "date": str,
         "message_id": str, "in_reply_to": str, "user_agent": str, "starttls": int, "attachments": str,
         "message_size": int, "message_complete": int, "trans_depth": int}
_FTP = {"flow_id": int, "ts": str, "src": str, "sport": int, "dst": str, "dport": int, "user": str, "command": str,
        "arg": str, "reply_code": int, "reply_msg": str, "url": str, "data_passive": int, "data_orig_h": str,
        "data_resp_h": str, "data_resp_p": int, "data_flow_id": int, "file_size": int, "file_sha256": str,
        "file_complete": int}
_CREDENTIALS = {"flow_id": int, "ts": str, "src": str, "sport": int, "dst": str, "dport": int, "protocol": str,
                "username": str, "password": str, "where": str, "accepted": int}

def _version_5(db: sqlite_utils.Database) -> None:
    """Examiner tags and notes on files and findings."""
    db.table("tags").create({"id": int, "object_kind": str, "object_id": int, "tag": str, "note": str, "examiner": str,
                       "created_at": str}, pk="id")
    db.table("tags").create_index(["object_kind", "object_id"])


def _version_6(db: sqlite_utils.Database) -> None:
    """Indicators (domains, IP addresses, URLs, e-mail addresses) found as strings inside files' content,
    for IOC matching and for linking a file to what a capture shows it talked to."""
    db.table("indicators").create({"id": int, "evidence_id": int, "file_id": int, "kind": str, "value": str, "offset": int},
                            pk="id", foreign_keys=[("evidence_id", "evidence", "id"), ("file_id", "files", "id")])
    db.table("indicators").create_index(["kind", "value"])
    db.table("indicators").create_index(["file_id"])


def _version_7(db: sqlite_utils.Database) -> None:
    """Chain of custody: the audit log becomes append-only, so an entry cannot be changed or removed
    afterwards, not even by a tool that writes the database directly. Tags remember what they were on
    (tags.object_key) while an interrupted evidence item is examined again and its files get new ids."""
    _append_only_audit_log(db)
    db.table("tags").add_column("object_key", str)


def _append_only_audit_log(db: sqlite_utils.Database) -> None:
    for name, statement in AUDIT_TRIGGERS.items():
        db.execute(f"CREATE TRIGGER {name} BEFORE {statement} ON audit_log "
                   f"BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: {statement} refused'); END")


def _version_8(db: sqlite_utils.Database) -> None:
    """Known files: a file whose hash is in a known-good hash set (NSRL) is marked so that views and
    reports can hide it, a known-bad one too (its finding says why); `known_set` names the set."""
    db.table("files").add_column("known", str)
    db.table("files").add_column("known_set", str)
    db.table("files").create_index(["known"])


def _version_9(db: sqlite_utils.Database) -> None:
    """The case timeline reads every time column in time order: ISO text sorts "…05.5Z" before
    "…05Z", so each column gets an index on a fixed-width key (case/timeline.py)."""
    from .timeline import create_indexes

    create_indexes(db)


def _version_10(db: sqlite_utils.Database) -> None:
    """Hosts summary of packet captures: each IP address with its link addresses, names, open ports and traffic,
    so an examiner sees who is who before reading flows."""
    db.table("hosts").create({"id": int, "evidence_id": int, **_HOST}, pk="id", foreign_keys=[("evidence_id", "evidence", "id")])
    db.table("hosts").create_index(["evidence_id", "address"])
    db.table("hosts").create_index(["address"])


def _version_11(db: sqlite_utils.Database) -> None:
    """Indicators belong to content, not to a file: one set of rows per sha256, however many files (or
    bodies carried over the network) hold that content. A web page fetched a thousand times cost a
    thousand copies of its URLs before; now the files are found by their sha256."""
    for index in ("idx_indicators_kind_value", "idx_indicators_file_id"):
        db.execute(f"DROP INDEX IF EXISTS {index}")
    db.execute("ALTER TABLE indicators RENAME TO indicators_by_file")
    db.table("indicators").create({"id": int, "sha256": str, "kind": str, "value": str, "offset": int}, pk="id")
    db.table("indicators").create_index(["sha256", "kind", "value", "offset"], unique=True)
    db.table("indicators").create_index(["kind", "value"])
    db.execute("""INSERT OR IGNORE INTO indicators (sha256, kind, value, offset)
                  SELECT f.sha256, i.kind, i.value, i.offset FROM indicators_by_file i JOIN files f ON f.id = i.file_id
                  WHERE f.sha256 IS NOT NULL ORDER BY i.id""")
    db.execute("DROP TABLE indicators_by_file")


def _version_12(db: sqlite_utils.Database) -> None:
    """DNS responses' authority and additional sections (an MX answer's addresses come in the additional one),
    as JSON lists of "name TYPE value" lines."""
    for column in ("authority", "additional"):
        db.table("dns").add_column(column, str)


def _version_13(db: sqlite_utils.Database) -> None:
    """A tamper-evident chain of custody (case/custody.py): each audit entry stores the link of the chain, the
    entries already recorded are linked in order, and custody.log beside the database starts with their head.
    The append-only triggers are lifted only inside this one transaction, to write the links."""
    if "hash" not in db["audit_log"].columns_dict:
        db.execute("ALTER TABLE audit_log ADD COLUMN hash TEXT")
    with db.atomic():
        for name in AUDIT_TRIGGERS:
            db.execute(f"DROP TRIGGER IF EXISTS {name}")
        previous = GENESIS
        for entry in list(db.query("SELECT id, ts, user, host, action, detail FROM audit_log ORDER BY id")):
            previous = link(previous, entry)
            db.execute("UPDATE audit_log SET hash = ? WHERE id = ?", [previous, entry["id"]])
        _append_only_audit_log(db)
    start_sidecar(db)


def _version_14(db: sqlite_utils.Database) -> None:
    """Windows and user-activity artefacts (registry keys, events, prefetch, shortcuts, visits...): one row each,
    tied to the file it was read from, its parsed fields as a JSON object; those with a time are on the timeline."""
    from .timeline import create_indexes

    # if_not_exists: a case taken back to an older version by hand (or by a test) keeps its table and comes through
    db.table("artifacts").create({"id": int, "evidence_id": int, "file_id": int, "type": str, "ts": str,
                                  "source": str, "summary": str, "values": str},
                                 pk="id", foreign_keys=[("evidence_id", "evidence", "id")], if_not_exists=True)
    db.table("artifacts").create_index(["type"], if_not_exists=True)
    db.table("artifacts").create_index(["file_id"], if_not_exists=True)
    create_indexes(db)


def _version_15(db: sqlite_utils.Database) -> None:
    """Pictures' EXIF (camera, serial, original time, GPS position) on their files rows, as a JSON object: the
    gallery's filters, the GPS export and the report's table of places read it."""
    if "exif" not in db["files"].columns_dict:
        db.table("files").add_column("exif", str)


def _version_17(db: sqlite_utils.Database) -> None:
    """Keyword hits (analyzers/keywords.py): one row per place a term of a keyword list matched an object's text
    (offset and length in characters of that text), tied to the object; `term` is a built-in list's value found
    (the card number, the address)."""
    db.table("keyword_hits").create({"id": int, "evidence_id": int, "file_id": int, "list": str, "term": str,
                                     "offset": int, "length": int, "snippet": str},
                                    pk="id", foreign_keys=[("evidence_id", "evidence", "id")], if_not_exists=True)
    db.table("keyword_hits").create_index(["list", "term"], if_not_exists=True)
    db.table("keyword_hits").create_index(["file_id"], if_not_exists=True)


def _version_16(db: sqlite_utils.Database) -> None:
    """The text extracted from each content (compressed, once per sha256) and the content index over it, file paths,
    artefacts and network text (case/search.py), kept up to date by triggers as the writer inserts rows."""
    from .search import create_index

    create_index(db)


def _version_18(db: sqlite_utils.Database) -> None:
    """What the application's network details show: each HTTP message's header lines as written (JSON lists of
    [name, value]) and each TLS certificate's issuer and validity, beside the subjects and fingerprints kept before."""
    for table, names in {"http": ("request_headers", "response_headers"),
                         "tls": ("cert_chain_issuers", "cert_chain_not_before", "cert_chain_not_after")}.items():
        for name in names:
            if name not in db[table].columns_dict:
                db.table(table).add_column(name, str)


def _version_19(db: sqlite_utils.Database) -> None:
    """The Files tab sorts a folder and filters the whole case on indexes: a file's folder with its size, its name's
    last suffix (a `*.ps1` glob), its size, and the deleted files (case/files_query.py)."""
    from .files_query import create_indexes

    create_indexes(db)


def _version_20(db: sqlite_utils.Database) -> None:
    """Timeline events counted per hour, kind and evidence item, and findings' times indexed
    (case/timeline_counts.py): the timeline of a million-file case opens without counting millions of events.
    An older case's events are counted now."""
    from .timeline_counts import count_new_events, create_tables

    create_tables(db)
    count_new_events(db)


def _version_21(db: sqlite_utils.Database) -> None:
    """The results tree (case/results_tree.py) counts files by MIME type, findings by analyzer and rule, and tags
    by name on indexes."""
    db.execute("CREATE INDEX IF NOT EXISTS [files_mime] ON files (mime)")
    db.execute("CREATE INDEX IF NOT EXISTS [findings_analyzer_rule] ON findings (analyzer, rule)")
    db.execute("CREATE INDEX IF NOT EXISTS [tags_tag] ON tags (tag, object_kind)")


def _version_22(db: sqlite_utils.Database) -> None:
    """Units of work of a scan spread over several workstations (case/units.py): which evidence item, which
    worker took it, how often it was sent and taken, its heartbeat, and how it ended."""
    db.table("units").create(
        {"id": int, "run_id": int, "evidence_id": int, "path": str, "key": str, "status": str, "worker": str,
         "sends": int, "claims": int, "beat": int, "objects_done": int, "bytes_done": int, "message": str,
         "started": str, "finished": str},
        pk="id", foreign_keys=[("evidence_id", "evidence", "id"), ("run_id", "runs", "id")], if_not_exists=True)
    db.table("units").create_index(["run_id", "status"], if_not_exists=True)


def _version_23(db: sqlite_utils.Database) -> None:
    """A disk image's files handed to several workers in parts (case/units.py): the unit a part was listed by and
    its number there, the part's files, what each unit found of its evidence's completeness (merged once the
    evidence's last unit ends), and the file-id blocks each examination took (what to forget when it is redone)."""
    units = db.table("units")
    for column, kind in (("parent_id", int), ("part", int), ("objects", str), ("account", str), ("blocks", str)):
        if column not in units.columns_dict:
            units.add_column(column, kind)
    units.create_index(["parent_id", "part"], unique=True, if_not_exists=True)


_HOST = {"address": str, "ip_version": int, "macs": str, "names": str, "dns_names": str, "http_hosts": str,
         "tls_names": str, "open_ports": str, "flows": int, "packets_out": int, "packets_in": int, "bytes_out": int,
         "bytes_in": int, "first_seen": str, "last_seen": str}


# One line per schema version; a database is brought through the versions it lacks, in order.
MIGRATIONS = {
    1: _version_1,
    2: _version_2,
    3: _version_3,
    4: _version_4,
    5: _version_5,
    6: _version_6,
    7: _version_7,
    8: _version_8,
    9: _version_9,
    10: _version_10,
    11: _version_11,
    12: _version_12,
    13: _version_13,
    14: _version_14,
    15: _version_15,
    16: _version_16,
    17: _version_17,
    18: _version_18,
    19: _version_19,
    20: _version_20,
    21: _version_21,
    22: _version_22,
    23: _version_23,
}
SCHEMA_VERSION = max(MIGRATIONS)


def migrate(db: sqlite_utils.Database) -> None:
    """Bring the database to SCHEMA_VERSION; refuse a case written by a newer cybertriage."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise UsageError(f"case database is schema {version}; this cybertriage reads up to {SCHEMA_VERSION}")
    for step in sorted(step for step in MIGRATIONS if step > version):
        with db.conn:
            MIGRATIONS[step](db)
            db.execute(f"PRAGMA user_version = {step}")
