"""Links between the evidence items of a case: disks and captures answer "how did this file get
here, and what did it talk to?" together.

Run over the whole case at the end of every scan (and safe to run again: each link is one finding,
known by a key in its detail, and a link already recorded is not recorded twice):

- a file on a disk whose sha256 equals a body a capture carried (an HTTP response, an FTP
  download, an e-mail attachment) arrived over the network: the finding names the download's
  time, server, host and URL and the DNS lookup that resolved the host, and the file's score rises;
- a domain or IP address a capture shows contacted (DNS query, HTTP Host, TLS SNI, flow
  destination) that a file on a disk holds as a string (the indicators table);
- a user name or host name seen both on a disk (home folder names, /etc/hostname) and in a
  capture (credentials, FTP and SMTP logins and senders, SMTP HELO, DNS names).

Each finding's detail holds "links": the DNS lookup, the HTTP request, the carried copy, the file
and the file's own findings, so that a report or viewer can follow the chain
DNS lookup → HTTP download → file on disk → YARA/PE finding.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from .analyzers.filetype import EXECUTABLE_MIMES
from .case.timeline import sort_key
from .formatting import utc_now
from .score import with_arrival, with_finding
from .severity import SEVERITY_RANK

ANALYZER = "correlation"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
MAX_FILES_PER_INDICATOR = 100  # a name every Windows binary holds must not bury the case in findings
PROFILE_ROOTS = ("/home/", "/Users/", "/Documents and Settings/")
NOT_USERS = {"public", "default", "default user", "all users", "shared", "guest", "root", "lost+found",
             "anonymous", "ftp", "desktop.ini"}


@dataclass
class Link:
    """One correlation, as the finding that records it."""

    key: str
    rule: str
    severity: str
    title: str
    evidence_id: int
    file_id: int
    object_text: str
    detail: dict[str, Any] = field(default_factory=dict)
    links: list[dict[str, Any]] = field(default_factory=list)
    arrival: str | None = None  # how the file arrived, for its score


def correlate(db: sqlite_utils.Database) -> int:
    """Record every link the case shows that is not recorded yet; how many were new."""
    if not {"http", "dns", "indicators"} <= set(db.table_names()):
        return 0
    kinds = {kind for (kind,) in db.execute("SELECT DISTINCT kind FROM evidence")}
    if "capture" not in kinds or not kinds - {"capture"}:
        return 0  # every link joins a capture to a disk (or folder)
    known = {row[0] for row in db.execute(
        "SELECT json_extract(detail, '$.key') FROM findings WHERE analyzer = ?", [ANALYZER])}
    added = 0
    for link in [*_arrivals(db), *_contacted(db), *_names(db)]:
        if link.key in known:
            continue
        known.add(link.key)
        _record(db, link)
        added += 1
    return added


def _record(db: sqlite_utils.Database, link: Link) -> None:
    own = [{"kind": "finding", "id": row[0]} for row in db.execute(
        "SELECT id FROM findings WHERE object_kind = 'file' AND object_id = ? AND analyzer != ? ORDER BY id",
        [link.file_id, ANALYZER])]
    detail = {"key": link.key, **link.detail, "links": [*link.links, *own]}
    db["findings"].insert({
        "evidence_id": link.evidence_id, "object_kind": "file", "object_id": link.file_id, "object": link.object_text,
        "analyzer": ANALYZER, "rule": link.rule, "severity": link.severity, "severity_rank": SEVERITY_RANK[link.severity],
        "title": link.title, "detail": json.dumps(detail, ensure_ascii=False), "created_at": utc_now()})
    if not link.arrival and link.rule != "contacted-indicator":
        return  # a profile folder or a host name file: who, not what, so no score
    row = db.execute("SELECT score, reasons, path, mime FROM files WHERE id = ?", [link.file_id]).fetchone()
    if row is None:
        return
    recorded, reasons = row[0] or 0, json.loads(row[1]) if row[1] else []
    if link.arrival:
        score = with_arrival(recorded, reasons, row[2], row[3], link.arrival)
    else:
        score = with_finding(recorded, reasons, link.severity, link.title)
    db["files"].update(link.file_id, {"score": score.value, "reasons": json.dumps(score.reasons, ensure_ascii=False)})


def _rows(db: sqlite_utils.Database, sql: str, params: list[Any] | None = None) -> Iterator[dict[str, Any]]:
    return db.query(sql, params or [])


# -- arrived over the network --------------------------------------------------------------

def _arrivals(db: sqlite_utils.Database) -> Iterator[Link]:
    """Disk files with the content of a body a capture carried."""
    for row in _rows(db, """
            WITH disk(id) AS (SELECT id FROM evidence WHERE kind != 'capture')
            SELECT d.id AS file_id, d.evidence_id AS file_evidence, d.path, d.mime, e.path AS disk,
                   min(h.id) AS http_id, count(*) AS times, h.evidence_id AS capture_id, h.ts, h.src, h.dst, h.dport,
                   h.method, h.host, h.uri, h.flow_id, h.body_sha256 AS sha256, c.path AS capture
            FROM http h JOIN files d ON d.sha256 = h.body_sha256 AND d.evidence_id IN disk AND d.size > 0
            JOIN evidence e ON e.id = d.evidence_id JOIN evidence c ON c.id = h.evidence_id
            WHERE h.body_sha256 IS NOT NULL AND h.body_sha256 != ?
            GROUP BY d.id, h.evidence_id ORDER BY http_id, d.id""", [EMPTY_SHA256]):
        url = f"http://{row['host'] or row['dst']}{'' if row['dport'] in (80, None) else ':' + str(row['dport'])}{row['uri'] or ''}"
        dns = _lookup(db, row["capture_id"], row["host"], row["dst"], row["ts"])
        links = ([{"kind": "dns", "id": dns["id"]}] if dns else []) + [{"kind": "http", "id": row["http_id"]}]
        links += [{"kind": "file", "id": i} for i in _carried(db, row["capture_id"], row["flow_id"], row["sha256"])]
        links.append({"kind": "file", "id": row["file_id"]})
        detail = {"ts": row["ts"], "server": row["dst"], "port": row["dport"], "host": row["host"], "url": url,
                  "method": row["method"], "client": row["src"], "sha256": row["sha256"], "capture": row["capture"],
                  "capture_evidence_id": row["capture_id"], "http_id": row["http_id"], "dns": dns,
                  "times": row["times"]}
        yield _arrival_link(row, f"http:{row['http_id']}", url, row["dst"], detail, links)
    for row in _rows(db, """
            WITH disk(id) AS (SELECT id FROM evidence WHERE kind != 'capture')
            SELECT d.id AS file_id, d.evidence_id AS file_evidence, d.path, d.mime, e.path AS disk,
                   t.id AS ftp_id, t.evidence_id AS capture_id, t.ts, t.src, t.dst, t.dport, t.command, t.url, t.arg,
                   t.user, t.data_flow_id, t.file_sha256 AS sha256, c.path AS capture
            FROM ftp t JOIN files d ON d.sha256 = t.file_sha256 AND d.evidence_id IN disk AND d.size > 0
            JOIN evidence e ON e.id = d.evidence_id JOIN evidence c ON c.id = t.evidence_id
            WHERE t.file_sha256 IS NOT NULL AND t.file_sha256 != ? AND upper(t.command) = 'RETR'
            ORDER BY t.id, d.id""", [EMPTY_SHA256]) if "ftp" in db.table_names() else ():
        url = row["url"] or f"ftp://{row['dst']}/{row['arg'] or ''}"
        links = [{"kind": "ftp", "id": row["ftp_id"]}]
        links += [{"kind": "file", "id": i} for i in _carried(db, row["capture_id"], row["data_flow_id"], row["sha256"])]
        links.append({"kind": "file", "id": row["file_id"]})
        detail = {"ts": row["ts"], "server": row["dst"], "port": row["dport"], "url": url, "user": row["user"],
                  "client": row["src"], "sha256": row["sha256"], "capture": row["capture"],
                  "capture_evidence_id": row["capture_id"], "ftp_id": row["ftp_id"], "dns": None}
        yield _arrival_link(row, f"ftp:{row['ftp_id']}", url, row["dst"], detail, links)
    for row in _rows(db, """
            WITH disk(id) AS (SELECT id FROM evidence WHERE kind != 'capture')
            SELECT d.id AS file_id, d.evidence_id AS file_evidence, d.path, d.mime, e.path AS disk,
                   a.id AS carried_id, a.evidence_id AS capture_id, a.flow_id, a.mtime AS ts, a.origin, a.name,
                   a.sha256, c.path AS capture
            FROM files a JOIN files d ON d.sha256 = a.sha256 AND d.evidence_id IN disk AND d.size > 0
            JOIN evidence e ON e.id = d.evidence_id JOIN evidence c ON c.id = a.evidence_id
            WHERE a.origin LIKE 'SMTP %' AND a.sha256 IS NOT NULL AND a.sha256 != ?
            ORDER BY a.id, d.id""", [EMPTY_SHA256]):
        mail = db.execute("SELECT id, dst, dport, mail_from FROM smtp WHERE evidence_id = ? AND flow_id = ? ORDER BY id",
                          [row["capture_id"], row["flow_id"]]).fetchone() if "smtp" in db.table_names() else None
        links = ([{"kind": "smtp", "id": mail[0]}] if mail else []) + [{"kind": "file", "id": row["carried_id"]},
                                                                       {"kind": "file", "id": row["file_id"]}]
        detail = {"ts": row["ts"], "server": mail[1] if mail else None, "port": mail[2] if mail else None,
                  "url": None, "sender": mail[3] if mail else None, "attachment": row["name"], "origin": row["origin"],
                  "sha256": row["sha256"], "capture": row["capture"], "capture_evidence_id": row["capture_id"],
                  "dns": None}
        yield _arrival_link(row, f"smtp-attachment:{row['carried_id']}", f"e-mail attachment {row['name']}",
                            detail["server"] or "?", detail, links)


def _arrival_link(row: dict[str, Any], via: str, what: str, server: str, detail: dict[str, Any],
                  links: list[dict[str, Any]]) -> Link:
    severity = "high" if row["mime"] in EXECUTABLE_MIMES else "medium"
    title = f"Arrived over the network: {what} from {server} at {row['ts']} (capture {_name(row['capture'])})"
    if detail.get("times", 1) > 1:
        title += f"; the capture carries it {detail['times']} times, this is the first"
    return Link(f"arrival:{via}:file:{row['file_id']}", "arrived-over-network", severity, title, row["file_evidence"],
                row["file_id"], row["path"], detail, links, arrival=f"{what} from {server} at {row['ts']}")


def _carried(db: sqlite_utils.Database, capture_id: int, flow_id: int | None, sha256: str) -> list[int]:
    """The capture's own copy of the body, as the pipeline extracted it."""
    return [r[0] for r in db.execute("SELECT id FROM files WHERE evidence_id = ? AND flow_id IS ? AND sha256 = ? "
                                     "AND origin IS NOT NULL ORDER BY id", [capture_id, flow_id, sha256])]


def _lookup(db: sqlite_utils.Database, capture_id: int, host: str | None, address: str, ts: str) -> dict[str, Any] | None:
    """The last DNS answer before `ts` in the same capture that resolved `host` to `address`."""
    if not host:
        return None
    best = None
    for row in _rows(db, """SELECT id, ts, src, dst, query, qtype, answers FROM dns
                            WHERE evidence_id = ? AND lower(query) = lower(?) AND answers IS NOT NULL""",
                     [capture_id, host]):
        answers = json.loads(row["answers"]) if row["answers"] else []
        if address in answers and sort_key(row["ts"]) <= sort_key(ts):
            if best is None or sort_key(row["ts"]) > sort_key(best["ts"]):
                best = {"id": row["id"], "ts": row["ts"], "query": row["query"], "qtype": row["qtype"],
                        "answers": answers, "resolver": row["dst"], "client": row["src"]}
    return best


# -- a contacted name or address written in a file -------------------------------------------

_CONTACTS = {  # table: (link kind, indicator kind, what the capture contacted)
    "dns": ("dns", "domain", "SELECT id, evidence_id, ts, lower(query) FROM dns WHERE query IS NOT NULL"),
    "http": ("http", "domain", "SELECT id, evidence_id, ts, lower(host) FROM http WHERE host IS NOT NULL"),
    "tls": ("tls", "domain", "SELECT id, evidence_id, ts, lower(sni) FROM tls WHERE sni IS NOT NULL"),
    "flows": ("flow", "ip", "SELECT id, evidence_id, first_seen, dst FROM flows WHERE dst IS NOT NULL"),
}


def _contacted(db: sqlite_utils.Database) -> Iterator[Link]:
    """Indicators in files on disks or in folders (not objects a capture carried, archive members of those
    included) that a capture shows contacted: one finding per file and value."""
    seen: dict[tuple[str, str], list[dict[str, Any]]] = {}
    tables = set(db.table_names())
    for table, (link_kind, kind, sql) in _CONTACTS.items():
        if table not in tables:
            continue
        for record_id, capture_id, ts, value in db.execute(sql):
            records = seen.setdefault((kind, value), [])
            if len(records) < 20:
                records.append({"kind": link_kind, "id": record_id, "evidence_id": capture_id, "ts": ts})
    for (kind, value), records in seen.items():
        rows = list(_rows(db, """SELECT f.id AS file_id, min(i.offset) AS offset, f.evidence_id, f.path, e.path AS disk
                                 FROM indicators i JOIN files f ON f.sha256 = i.sha256
                                 JOIN evidence e ON e.id = f.evidence_id
                                 WHERE i.kind = ? AND i.value = ? AND e.kind != 'capture'
                                 GROUP BY f.id ORDER BY f.id LIMIT ?""",
                          [kind, value, MAX_FILES_PER_INDICATOR]))
        for row in rows:
            first = min(records, key=lambda r: sort_key(r["ts"]) if r["ts"] else "~")
            how = ", ".join(sorted({r["kind"].upper() if r["kind"] != "flow" else "a flow" for r in records}))
            title = f"{_name(row['path'])} holds {value}, which a capture shows contacted ({how})"
            detail = {"value": value, "kind": kind, "offset": row["offset"], "ts": first["ts"],
                      "network": records, "file": row["path"], "disk": row["disk"]}
            links = [{"kind": r["kind"], "id": r["id"]} for r in records] + [{"kind": "file", "id": row["file_id"]}]
            yield Link(f"contacted:{kind}:{value}:file:{row['file_id']}", "contacted-indicator", "medium", title,
                       row["evidence_id"], row["file_id"], row["path"], detail, links)


# -- the same user or host on a disk and in a capture -----------------------------------------

def _names(db: sqlite_utils.Database) -> Iterator[Link]:
    tables = set(db.table_names())
    network: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def note(kind: str, name: str | None, table: str, record_id: int, ts: str | None, how: str) -> None:
        if name and name.strip() and name.strip().lower() not in NOT_USERS:
            entries = network.setdefault((kind, name.strip().lower()), [])
            if len(entries) < 20:
                entries.append({"kind": table, "id": record_id, "ts": ts, "how": how})

    if "credentials" in tables:
        for rid, ts, user, protocol in db.execute("SELECT id, ts, username, protocol FROM credentials"):
            note("user", (user or "").split("@")[0], "credentials", rid, ts, f"{protocol} login")
    if "ftp" in tables:
        for rid, ts, user in db.execute("SELECT id, ts, user FROM ftp WHERE user IS NOT NULL GROUP BY user, evidence_id"):
            note("user", user, "ftp", rid, ts, "FTP login")
    if "smtp" in tables:
        for rid, ts, sender, helo in db.execute("SELECT id, ts, mail_from, helo FROM smtp"):
            note("user", (sender or "").split("@")[0], "smtp", rid, ts, "SMTP sender")
            note("host", helo, "smtp", rid, ts, "SMTP HELO")
    for rid, ts, query in db.execute("SELECT id, ts, query FROM dns WHERE query LIKE '%.local' OR query NOT LIKE '%.%'"):
        note("host", query.rsplit(".local", 1)[0] if query.endswith(".local") else query, "dns", rid, ts, "DNS name")
    if not network:
        return
    for kind, name, file_id, evidence_id, path, disk in _disk_names(db):
        records = network.get((kind, name.lower()))
        if not records:
            continue
        how = ", ".join(sorted({r["how"] for r in records}))
        what = "User" if kind == "user" else "Host name"
        title = f"{what} {name} on {_name(disk)} ({path}) and in a capture ({how})"
        detail = {"name": name, "kind": kind, "ts": records[0]["ts"], "network": records, "file": path}
        links = [{"kind": r["kind"], "id": r["id"]} for r in records] + [{"kind": "file", "id": file_id}]
        yield Link(f"name:{kind}:{name.lower()}:file:{file_id}", f"same-{kind}", "low", title, evidence_id, file_id,
                   path, detail, links)


def _disk_names(db: sqlite_utils.Database) -> Iterator[tuple[str, str, int, int, str, str]]:
    """(user | host, name, file id, evidence id, path, evidence path): profile folders, /etc/hostname's content."""
    for root in PROFILE_ROOTS:
        for file_id, evidence_id, path, disk in db.execute(
                """SELECT f.id, f.evidence_id, f.path, e.path FROM files f JOIN evidence e ON e.id = f.evidence_id
                   WHERE f.kind = 'directory' AND f.origin IS NULL AND f.deleted = 0
                   AND f.path LIKE ? AND f.path NOT LIKE ?""", [f"%{root}%", f"%{root}%/%"]):
            name = path.rsplit("/", 1)[-1]
            if name.lower() not in NOT_USERS:
                yield "user", name, file_id, evidence_id, path, disk
    for file_id, evidence_id, path, disk, value in db.execute(
            """SELECT DISTINCT f.id, f.evidence_id, f.path, e.path, i.value FROM indicators i
               JOIN files f ON f.sha256 = i.sha256 JOIN evidence e ON e.id = f.evidence_id WHERE i.kind = 'hostname'"""):
        yield "host", value, file_id, evidence_id, path, disk


# -- reading a chain back ------------------------------------------------------------------

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
}


def chain(db: sqlite_utils.Database | sqlite3.Connection, links: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """A finding's links (detail["links"]) as readable steps, in the order of the chain: (what, time or '',
    description). For the report's Correlations part and the application's details pane; the text
    comes from evidence and is for the caller to escape."""
    steps = []
    for link in links:
        known = _STEPS.get(link.get("kind"))
        if known is None:
            continue
        label, sql = known
        try:
            row = db.execute(sql, [link.get("id")]).fetchone()
        except sqlite3.OperationalError:  # a table this case does not have
            continue
        if row:
            steps.append((label, row[0] or "", row[1] or ""))
    return steps


def _name(path: str | None) -> str:
    return (path or "?").rstrip("/").rsplit("/", 1)[-1]
