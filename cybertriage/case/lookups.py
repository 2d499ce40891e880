"""What the post-scan passes (hash sets, IOCs, correlation) look up in a case.

Each function answers one question on the pass's own connection and returns plain rows (tuples or
dicts, as named); the passes decide what a match means and write through `case.writes`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import sqlite_utils

HashedFile = tuple[int, int, str, str | None, str | None, str | None, str | None, str | None, int | None, str | None]


def hashed_files(db: sqlite_utils.Database) -> Iterator[HashedFile]:
    """Every file with a hash: (id, evidence_id, path, md5, sha1, sha256, known, known_set, score, reasons JSON)."""
    return db.execute("SELECT id, evidence_id, path, md5, sha1, sha256, known, known_set, score, reasons FROM files "
                      "WHERE md5 IS NOT NULL OR sha1 IS NOT NULL OR sha256 IS NOT NULL")


def finding_keys(db: sqlite_utils.Database, analyzer: str, key: str) -> set[Any]:
    """The value of one field of the detail of every finding an analyzer (a pass) recorded: what it has done."""
    return {row[0] for row in db.execute(f"SELECT json_extract(detail, '$.{key}') FROM findings WHERE analyzer = ?",
                                         [analyzer])}


def file_rules(db: sqlite_utils.Database, analyzer: str) -> set[tuple[int, str]]:
    """(file id, rule) of every finding an analyzer recorded on a file."""
    return {(row[0], row[1]) for row in db.execute(
        "SELECT object_id, rule FROM findings WHERE analyzer = ? AND object_kind = 'file'", [analyzer])}


def file_findings(db: sqlite_utils.Database, file_id: int, except_analyzer: str) -> list[int]:
    """The ids of a file's findings but those of one analyzer, oldest first."""
    return [row[0] for row in db.execute(
        "SELECT id FROM findings WHERE object_kind = 'file' AND object_id = ? AND analyzer != ? ORDER BY id",
        [file_id, except_analyzer])]


def file_score(db: sqlite_utils.Database, file_id: int) -> tuple[int, list[str], str, str | None] | None:
    """A file's recorded score (0 if none), its reasons, its path and its type; None for no such file."""
    row = db.execute("SELECT score, reasons, path, mime FROM files WHERE id = ?", [file_id]).fetchone()
    if row is None:
        return None
    return row[0] or 0, json.loads(row[1]) if row[1] else [], row[2], row[3]


def evidence_kinds(db: sqlite_utils.Database) -> set[str]:
    """The kinds of evidence the case holds (disk, folder, file, capture …)."""
    return {kind for (kind,) in db.execute("SELECT DISTINCT kind FROM evidence")}


# -- network values, grouped per evidence item: (evidence_id, value, count, first, last, peers) -----------

def dns_queries(db: sqlite_utils.Database) -> list[tuple[Any, ...]]:
    """Names looked up (lower case), with the clients that asked."""
    return db.execute(
        "SELECT evidence_id, lower(query) AS q, count(*), min(ts), max(ts), group_concat(DISTINCT src) FROM dns "
        "WHERE query IS NOT NULL AND query != '' GROUP BY evidence_id, q").fetchall()


def dns_answer_lists(db: sqlite_utils.Database) -> list[tuple[Any, ...]]:
    """Answer lists (JSON text) as given, with the names they answered."""
    return db.execute(
        "SELECT evidence_id, answers, count(*), min(ts), max(ts), group_concat(DISTINCT query) FROM dns "
        "WHERE answers IS NOT NULL AND answers NOT IN ('', '[]') GROUP BY evidence_id, answers").fetchall()


def http_hosts(db: sqlite_utils.Database) -> list[tuple[Any, ...]]:
    """HTTP Host names (lower case), with the servers that answered."""
    return db.execute(
        "SELECT evidence_id, lower(host) AS h, count(*), min(ts), max(ts), group_concat(DISTINCT dst) FROM http "
        "WHERE host IS NOT NULL AND host != '' GROUP BY evidence_id, h").fetchall()


def http_requests(db: sqlite_utils.Database) -> list[tuple[Any, ...]]:
    """(evidence_id, host, uri, count, first, last) of every distinct HTTP request target."""
    return db.execute("SELECT evidence_id, host, uri, count(*), min(ts), max(ts) FROM http "
                      "WHERE host IS NOT NULL AND host != '' GROUP BY evidence_id, host, uri").fetchall()


def tls_names(db: sqlite_utils.Database) -> list[tuple[Any, ...]]:
    """TLS server names (lower case), with the servers that answered."""
    return db.execute(
        "SELECT evidence_id, lower(sni) AS s, count(*), min(ts), max(ts), group_concat(DISTINCT dst) FROM tls "
        "WHERE sni IS NOT NULL AND sni != '' GROUP BY evidence_id, s").fetchall()


def flow_addresses(db: sqlite_utils.Database, end: str) -> list[tuple[Any, ...]]:
    """Addresses at one end of the flows ('src' or 'dst'), with the addresses at the other end."""
    other = {"src": "dst", "dst": "src"}[end]
    return db.execute(
        f"SELECT evidence_id, {end}, count(*), min(first_seen), max(last_seen), group_concat(DISTINCT {other}) "
        f"FROM flows WHERE {end} IS NOT NULL GROUP BY evidence_id, {end}").fetchall()


# -- indicators (strings found in files) ------------------------------------------------------------

def indicator_values(db: sqlite_utils.Database) -> list[tuple[str, str]]:
    """Every distinct (kind, value) the indicators analyzer found in a file."""
    return db.execute("SELECT DISTINCT kind, value FROM indicators").fetchall()


def files_holding(db: sqlite_utils.Database, kind: str, value: str) -> list[tuple[int, int, str, int, int]]:
    """(evidence_id, file id, path, times, first offset) of every file whose content holds the indicator."""
    return db.execute(
        "SELECT f.evidence_id, f.id, f.path, count(*), min(i.offset) FROM indicators i "
        "JOIN files f ON f.sha256 = i.sha256 WHERE i.kind = ? AND i.value = ? GROUP BY f.id ORDER BY f.id",
        [kind, value]).fetchall()


# -- correlation: disks and captures ----------------------------------------------------------------

_DISK_FILES = "WITH disk(id) AS (SELECT id FROM evidence WHERE kind != 'capture')"


def http_arrivals(db: sqlite_utils.Database, empty_sha256: str) -> Iterator[dict[str, Any]]:
    """Files on disks (not captures) whose content an HTTP response carried: one row per file and capture,
    with the first such request."""
    return db.query(f"""{_DISK_FILES},
            first(file_id, capture_id, http_id, times) AS (
                SELECT d.id, h.evidence_id, min(h.id), count(*)
                FROM http h JOIN files d ON d.sha256 = h.body_sha256 AND d.evidence_id IN disk AND d.size > 0
                WHERE h.body_sha256 IS NOT NULL AND h.body_sha256 != ? GROUP BY d.id, h.evidence_id)
            SELECT d.id AS file_id, d.evidence_id AS file_evidence, d.path, d.mime, e.path AS disk,
                   f.http_id, f.times, h.evidence_id AS capture_id, h.ts, h.src, h.dst, h.dport,
                   h.method, h.host, h.uri, h.flow_id, h.body_sha256 AS sha256, c.path AS capture
            FROM first f JOIN files d ON d.id = f.file_id JOIN http h ON h.id = f.http_id
            JOIN evidence e ON e.id = d.evidence_id JOIN evidence c ON c.id = h.evidence_id
            ORDER BY f.http_id, d.id""", [empty_sha256])


def ftp_arrivals(db: sqlite_utils.Database, empty_sha256: str) -> Iterator[dict[str, Any]]:
    """Files on disks whose content an FTP download (RETR) carried: one row per download and file."""
    if "ftp" not in db.table_names():
        return iter(())
    return db.query(f"""{_DISK_FILES}
            SELECT d.id AS file_id, d.evidence_id AS file_evidence, d.path, d.mime, e.path AS disk,
                   t.id AS ftp_id, t.evidence_id AS capture_id, t.ts, t.src, t.dst, t.dport, t.command, t.url, t.arg,
                   t.user, t.data_flow_id, t.file_sha256 AS sha256, c.path AS capture
            FROM ftp t JOIN files d ON d.sha256 = t.file_sha256 AND d.evidence_id IN disk AND d.size > 0
            JOIN evidence e ON e.id = d.evidence_id JOIN evidence c ON c.id = t.evidence_id
            WHERE t.file_sha256 IS NOT NULL AND t.file_sha256 != ? AND upper(t.command) = 'RETR'
            ORDER BY t.id, d.id""", [empty_sha256])


def attachment_arrivals(db: sqlite_utils.Database, empty_sha256: str) -> Iterator[dict[str, Any]]:
    """Files on disks whose content an e-mail attachment in a capture carried: one row per attachment and file."""
    return db.query(f"""{_DISK_FILES}
            SELECT d.id AS file_id, d.evidence_id AS file_evidence, d.path, d.mime, e.path AS disk,
                   a.id AS carried_id, a.evidence_id AS capture_id, a.flow_id, a.mtime AS ts, a.origin, a.name,
                   a.sha256, c.path AS capture
            FROM files a JOIN files d ON d.sha256 = a.sha256 AND d.evidence_id IN disk AND d.size > 0
            JOIN evidence e ON e.id = d.evidence_id JOIN evidence c ON c.id = a.evidence_id
            WHERE a.origin LIKE 'SMTP %' AND a.sha256 IS NOT NULL AND a.sha256 != ?
            ORDER BY a.id, d.id""", [empty_sha256])


def mail_of_flow(db: sqlite_utils.Database, capture_id: int, flow_id: int | None) -> tuple[Any, ...] | None:
    """(id, server, port, sender) of the first e-mail a capture's flow carried, if the case has e-mail records."""
    if "smtp" not in db.table_names():
        return None
    return db.execute("SELECT id, dst, dport, mail_from FROM smtp WHERE evidence_id = ? AND flow_id = ? ORDER BY id",
                      [capture_id, flow_id]).fetchone()


def carried_copies(db: sqlite_utils.Database, capture_id: int, flow_id: int | None, sha256: str) -> list[int]:
    """The ids of a capture's own copies of a body its flow carried, as the scan extracted them."""
    return [r[0] for r in db.execute("SELECT id FROM files WHERE evidence_id = ? AND flow_id IS ? AND sha256 = ? "
                                     "AND origin IS NOT NULL ORDER BY id", [capture_id, flow_id, sha256])]


def answered_lookups(db: sqlite_utils.Database, capture_id: int, host: str) -> Iterator[dict[str, Any]]:
    """A capture's DNS lookups of `host` (any case) that have answers (answers still JSON text)."""
    return db.query("""SELECT id, ts, src, dst, query, qtype, answers FROM dns
                       WHERE evidence_id = ? AND lower(query) = lower(?) AND answers IS NOT NULL""", [capture_id, host])


CONTACTS = {  # table: (link kind, indicator kind, what the capture contacted: (id, evidence_id, time, value))
    "dns": ("dns", "domain", "SELECT id, evidence_id, ts, lower(query) FROM dns WHERE query IS NOT NULL"),
    "http": ("http", "domain", "SELECT id, evidence_id, ts, lower(host) FROM http WHERE host IS NOT NULL"),
    "tls": ("tls", "domain", "SELECT id, evidence_id, ts, lower(sni) FROM tls WHERE sni IS NOT NULL"),
    "flows": ("flow", "ip", "SELECT id, evidence_id, first_seen, dst FROM flows WHERE dst IS NOT NULL"),
}


def contacted(db: sqlite_utils.Database) -> Iterator[tuple[str, str, tuple[int, int, str | None, str]]]:
    """(link kind, indicator kind, (record id, capture id, time, value)) of every name or address a capture
    shows contacted: DNS queries, HTTP hosts, TLS server names, flow destinations."""
    tables = set(db.table_names())
    for table, (link_kind, kind, sql) in CONTACTS.items():
        if table in tables:
            for record in db.execute(sql):
                yield link_kind, kind, record


def disk_files_holding(db: sqlite_utils.Database, kind: str, value: str, limit: int) -> list[dict[str, Any]]:
    """Files on disks or in folders (not a capture's) whose content holds the indicator, with its first offset."""
    return list(db.query("""SELECT f.id AS file_id, min(i.offset) AS offset, f.evidence_id, f.path, e.path AS disk
                            FROM indicators i JOIN files f ON f.sha256 = i.sha256
                            JOIN evidence e ON e.id = f.evidence_id
                            WHERE i.kind = ? AND i.value = ? AND e.kind != 'capture'
                            GROUP BY f.id ORDER BY f.id LIMIT ?""", [kind, value, limit]))


def login_names(db: sqlite_utils.Database) -> Iterator[tuple[str, str | None, str, int, str | None, str]]:
    """(user | host, name, table, record id, time, how seen) of the user and host names a capture shows:
    credentials, FTP logins, SMTP senders and HELO names, and single-label or .local DNS names."""
    tables = set(db.table_names())
    if "credentials" in tables:
        for rid, ts, user, protocol in db.execute("SELECT id, ts, username, protocol FROM credentials"):
            yield "user", (user or "").split("@")[0], "credentials", rid, ts, f"{protocol} login"
    if "ftp" in tables:
        for rid, ts, user in db.execute("SELECT id, ts, user FROM ftp WHERE user IS NOT NULL GROUP BY user, evidence_id"):
            yield "user", user, "ftp", rid, ts, "FTP login"
    if "smtp" in tables:
        for rid, ts, sender, helo in db.execute("SELECT id, ts, mail_from, helo FROM smtp"):
            yield "user", (sender or "").split("@")[0], "smtp", rid, ts, "SMTP sender"
            yield "host", helo, "smtp", rid, ts, "SMTP HELO"
    for rid, ts, query in db.execute("SELECT id, ts, query FROM dns WHERE query LIKE '%.local' OR query NOT LIKE '%.%'"):
        yield "host", query.rsplit(".local", 1)[0] if query.endswith(".local") else query, "dns", rid, ts, "DNS name"


def profile_folders(db: sqlite_utils.Database, root: str) -> Iterator[tuple[int, int, str, str]]:
    """(file id, evidence id, path, evidence path) of live folders directly under a profile root (/home/ …)
    on disks, not carried over the network."""
    return db.execute(
        """SELECT f.id, f.evidence_id, f.path, e.path FROM files f JOIN evidence e ON e.id = f.evidence_id
           WHERE f.kind = 'directory' AND f.origin IS NULL AND f.deleted = 0
           AND f.path LIKE ? AND f.path NOT LIKE ?""", [f"%{root}%", f"%{root}%/%"])


def host_name_files(db: sqlite_utils.Database) -> Iterator[tuple[int, int, str, str, str]]:
    """(file id, evidence id, path, evidence path, host name) of files naming their host (/etc/hostname)."""
    return db.execute(
        """SELECT DISTINCT f.id, f.evidence_id, f.path, e.path, i.value FROM indicators i
           JOIN files f ON f.sha256 = i.sha256 JOIN evidence e ON e.id = f.evidence_id WHERE i.kind = 'hostname'""")


# -- a correlation's chain, read back ---------------------------------------------------------------

_STEPS = {
    "dns": ("DNS lookup", "SELECT ts, query || ' ' || ifnull(qtype, '') || ' → ' || ifnull(answers, '') || "
                          "' (resolver ' || ifnull(dst, '?') || ')' FROM dns WHERE id = ?"),
    "http": ("HTTP download", "SELECT ts, ifnull(method, '?') || ' http://' || coalesce(host, dst, '') || ifnull(uri, '') "
                              "|| ' from ' || ifnull(dst, '?') || ' → ' || ifnull(status, '?') FROM http WHERE id = ?"),
    "ftp": ("FTP transfer", "SELECT ts, ifnull(command, '') || ' ' || coalesce(url, arg, '') || ' from ' || "
                            "ifnull(dst, '?') FROM ftp WHERE id = ?"),
    "smtp": ("E-mail", "SELECT ts, ifnull(mail_from, '?') || ' → ' || ifnull(rcpt_to, '?') || ' via ' || "
                       "ifnull(dst, '?') FROM smtp WHERE id = ?"),
    "tls": ("TLS handshake", "SELECT ts, coalesce(sni, dst, '') || ' (' || ifnull(dst, '?') || ')' FROM tls WHERE id = ?"),
    "flow": ("Flow", "SELECT first_seen, ifnull(src, '') || ' → ' || ifnull(dst, '') || ':' || ifnull(dport, '') "
                     "FROM flows WHERE id = ?"),
    "credentials": ("Login", "SELECT ts, ifnull(protocol, '') || ' ' || ifnull(username, '?') || ' to ' || "
                             "ifnull(dst, '?') FROM credentials WHERE id = ?"),
    "file": ("File", "SELECT coalesce(f.crtime, f.mtime), CASE WHEN f.origin IS NOT NULL THEN 'carried in ' "
                     "ELSE 'on ' END || e.path || ': ' || f.path FROM files f JOIN evidence e ON e.id = f.evidence_id "
                     "WHERE f.id = ?"),
    "finding": ("Finding", "SELECT NULL, severity || ': ' || title FROM findings WHERE id = ?"),
    "artifact": ("Artefact", "SELECT ts, type || ': ' || ifnull(summary, '') || ' (' || ifnull(source, '') || ')' "
                             "FROM artifacts WHERE id = ?"),
}


def link_step(db: sqlite_utils.Database | sqlite3.Connection, kind: str | None,
              record_id: Any) -> tuple[str, str, str] | None:
    """One link of a correlation (a DNS lookup, a download, a file …) as (what, time or '', description);
    None for a kind not known, a table this case does not have, or a record no longer there."""
    known = _STEPS.get(kind or "")
    if known is None:
        return None
    label, sql = known
    try:
        row = db.execute(sql, [record_id]).fetchone()
    except sqlite3.OperationalError:  # a table this case does not have
        return None
    return (label, row[0] or "", row[1] or "") if row else None


# -- artefacts linked to files and captures (passes/artefact_links.py) ----------------------------------------

EXECUTION_TYPES = ("prefetch", "registry.amcache", "registry.shimcache", "registry.userassist", "registry.bam")


def _artefact_rows(db: sqlite_utils.Database, where: str, parameters: list[Any]) -> Iterator[dict[str, Any]]:
    if "artifacts" not in db.table_names():
        return
    for row in db.query(f"""SELECT id, evidence_id, file_id, type, ts, source, summary, "values" FROM artifacts
                            WHERE {where} ORDER BY id""", parameters):
        row["values"] = json.loads(row["values"]) if row["values"] else {}
        yield row


def execution_artefacts(db: sqlite_utils.Database) -> Iterator[dict[str, Any]]:
    """Artefacts that say a program ran (prefetch, Amcache, ShimCache, UserAssist, BAM), with their values."""
    yield from _artefact_rows(db, f"type IN ({', '.join('?' * len(EXECUTION_TYPES))})", list(EXECUTION_TYPES))


def flagged_files(db: sqlite_utils.Database, analyzers_not: tuple[str, ...]) -> list[dict[str, Any]]:
    """Files with findings of at least medium severity from analyzers other than these (YARA, PE, hash sets,
    IOCs): id, evidence_id, path, name, sha1, worst severity rank, and the findings' ids and titles, the worst
    first (then by title: a group's rows come in no set order, and the first title names the file's flag)."""
    rows = db.query(
        f"""SELECT f.id, f.evidence_id, f.path, f.name, f.sha1, max(g.severity_rank) AS rank,
                   json_group_array(g.id) AS finding_ids, json_group_array(g.title) AS titles,
                   json_group_array(g.severity_rank) AS ranks
            FROM findings g JOIN files f ON g.object_kind = 'file' AND f.id = g.object_id
            WHERE g.severity_rank >= 2 AND g.analyzer NOT IN ({', '.join('?' * len(analyzers_not))})
            GROUP BY f.id ORDER BY f.id""", list(analyzers_not))
    flagged = []
    for row in rows:
        findings = sorted(zip(json.loads(row.pop("ranks")), json.loads(row["titles"]), json.loads(row["finding_ids"])),
                          key=lambda finding: (-finding[0], finding[1], finding[2]))
        flagged.append({**row, "finding_ids": [finding[2] for finding in findings],
                        "titles": [finding[1] for finding in findings]})
    return flagged


def logon_artefacts(db: sqlite_utils.Database) -> Iterator[dict[str, Any]]:
    """Logon and RDP events that name a source address."""
    yield from _artefact_rows(
        db, """type IN ('evtx.event', 'evt.event') AND json_extract("values", '$.category') IN ('logon', 'rdp',
               'logon_failed') AND ifnull(json_extract("values", '$.source_address'), '') NOT IN ('', '-', '::1',
               '127.0.0.1')""", [])


def address_flows(db: sqlite_utils.Database, address: str) -> tuple[int, int | None, str | None, int | None]:
    """(flows, first flow's id, its time, its capture's evidence id) of captures where an address took part."""
    if "flows" not in db.table_names():
        return 0, None, None, None
    row = db.execute("""SELECT count(*), min(id) FROM flows WHERE src = ? OR dst = ?""", [address, address]).fetchone()
    if not row[0]:
        return 0, None, None, None
    first = db.execute("SELECT first_seen, evidence_id FROM flows WHERE id = ?", [row[1]]).fetchone()
    return row[0], row[1], first[0], first[1]


def download_artefacts(db: sqlite_utils.Database) -> Iterator[dict[str, Any]]:
    """Browser downloads, with their values."""
    yield from _artefact_rows(db, "type = 'browser.download'", [])


def files_named(db: sqlite_utils.Database, name: str) -> list[dict[str, Any]]:
    """Files (not carried over the network) with this name, any case: id, evidence_id, path, size, sha256, mime."""
    return list(db.query("""SELECT id, evidence_id, path, size, sha256, mime FROM files
                            WHERE lower(name) = lower(?) AND origin IS NULL AND kind = 'file'""", [name]))


def http_for_url(db: sqlite_utils.Database, host: str, uri: str) -> list[dict[str, Any]]:
    """HTTP requests of captures for this host and path: id, ts, evidence_id, body_sha256."""
    if "http" not in db.table_names():
        return []
    return list(db.query("""SELECT id, ts, evidence_id, body_sha256 FROM http WHERE lower(host) = lower(?) AND uri = ?
                            ORDER BY id LIMIT 20""", [host, uri]))
