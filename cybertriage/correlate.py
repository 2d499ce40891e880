"""Links between the evidence items of a case: disks and captures answer "how did this file get
here, and what did it talk to?" together.

Run over the whole case at the end of every scan, as the correlation pass of `cybertriage.passes` (and
safe to run again: each link is one finding, known by a key in its detail, and a link already recorded
is not recorded twice):

- a file on a disk whose sha256 equals a body a capture carried (an HTTP response, an FTP
  download, an e-mail attachment) arrived over the network: the finding names the download's
  time, server, host and URL and the DNS lookup that resolved the host, and the file's score rises
  (by the scoring pass, as for a contacted indicator);
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
from .case import lookups, queries, writes
from .case.timeline import sort_key
from .formatting import utc_now
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

    @property
    def scored(self) -> bool:
        """Whether the link raises its file's score: what arrived or what was contacted, not who (a profile
        folder or a host name file)."""
        return bool(self.arrival) or self.rule == "contacted-indicator"


def record_new_links(db: sqlite_utils.Database) -> list[Link]:
    """Record every link the case shows that is not recorded yet; the new ones, whose scores the scoring
    pass raises."""
    if not {"http", "dns", "indicators"} <= queries.table_names(db):
        return []
    kinds = lookups.evidence_kinds(db)
    if "capture" not in kinds or not kinds - {"capture"}:
        return []  # every link joins a capture to a disk (or folder)
    known = lookups.finding_keys(db, ANALYZER, "key")
    added = []
    for link in [*_arrivals(db), *_contacted(db), *_names(db)]:
        if link.key in known:
            continue
        known.add(link.key)
        _record(db, link)
        added.append(link)
    return added


def correlate(db: sqlite_utils.Database) -> int:
    """How many links were new: the correlation on its own, scoring nothing (a look at a case)."""
    return len(record_new_links(db))


def _record(db: sqlite_utils.Database, link: Link) -> None:
    own = [{"kind": "finding", "id": finding_id} for finding_id in lookups.file_findings(db, link.file_id, ANALYZER)]
    detail = {"key": link.key, **link.detail, "links": [*link.links, *own]}
    writes.add_findings(db, [{
        "evidence_id": link.evidence_id, "object_kind": "file", "object_id": link.file_id, "object": link.object_text,
        "analyzer": ANALYZER, "rule": link.rule, "severity": link.severity, "severity_rank": SEVERITY_RANK[link.severity],
        "title": link.title, "detail": json.dumps(detail, ensure_ascii=False), "created_at": utc_now()}])


# -- arrived over the network --------------------------------------------------------------

def _arrivals(db: sqlite_utils.Database) -> Iterator[Link]:
    """Disk files with the content of a body a capture carried."""
    for row in lookups.http_arrivals(db, EMPTY_SHA256):
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
    for row in lookups.ftp_arrivals(db, EMPTY_SHA256):
        url = row["url"] or f"ftp://{row['dst']}/{row['arg'] or ''}"
        links = [{"kind": "ftp", "id": row["ftp_id"]}]
        links += [{"kind": "file", "id": i} for i in _carried(db, row["capture_id"], row["data_flow_id"], row["sha256"])]
        links.append({"kind": "file", "id": row["file_id"]})
        detail = {"ts": row["ts"], "server": row["dst"], "port": row["dport"], "url": url, "user": row["user"],
                  "client": row["src"], "sha256": row["sha256"], "capture": row["capture"],
                  "capture_evidence_id": row["capture_id"], "ftp_id": row["ftp_id"], "dns": None}
        yield _arrival_link(row, f"ftp:{row['ftp_id']}", url, row["dst"], detail, links)
    for row in lookups.attachment_arrivals(db, EMPTY_SHA256):
        mail = lookups.mail_of_flow(db, row["capture_id"], row["flow_id"])
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
    return lookups.carried_copies(db, capture_id, flow_id, sha256)


def _lookup(db: sqlite_utils.Database, capture_id: int, host: str | None, address: str, ts: str) -> dict[str, Any] | None:
    """The last DNS answer before `ts` in the same capture that resolved `host` to `address`."""
    if not host:
        return None
    best = None
    for row in lookups.answered_lookups(db, capture_id, host):
        answers = json.loads(row["answers"]) if row["answers"] else []
        if address in answers and sort_key(row["ts"]) <= sort_key(ts):
            if best is None or sort_key(row["ts"]) > sort_key(best["ts"]):
                best = {"id": row["id"], "ts": row["ts"], "query": row["query"], "qtype": row["qtype"],
                        "answers": answers, "resolver": row["dst"], "client": row["src"]}
    return best


# -- a contacted name or address written in a file -------------------------------------------

def _contacted(db: sqlite_utils.Database) -> Iterator[Link]:
    """Indicators in files on disks or in folders (not objects a capture carried, archive members of those
    included) that a capture shows contacted: one finding per file and value."""
    seen: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for link_kind, kind, (record_id, capture_id, ts, value) in lookups.contacted(db):
        records = seen.setdefault((kind, value), [])
        if len(records) < 20:
            records.append({"kind": link_kind, "id": record_id, "evidence_id": capture_id, "ts": ts})
    for (kind, value), records in seen.items():
        for row in lookups.disk_files_holding(db, kind, value, MAX_FILES_PER_INDICATOR):
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
    network: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for kind, name, table, record_id, ts, how in lookups.login_names(db):
        if name and name.strip() and name.strip().lower() not in NOT_USERS:
            entries = network.setdefault((kind, name.strip().lower()), [])
            if len(entries) < 20:
                entries.append({"kind": table, "id": record_id, "ts": ts, "how": how})
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
        for file_id, evidence_id, path, disk in lookups.profile_folders(db, root):
            name = path.rsplit("/", 1)[-1]
            if name.lower() not in NOT_USERS:
                yield "user", name, file_id, evidence_id, path, disk
    for file_id, evidence_id, path, disk, value in lookups.host_name_files(db):
        yield "host", value, file_id, evidence_id, path, disk


# -- reading a chain back ------------------------------------------------------------------

def chain(db: sqlite_utils.Database | sqlite3.Connection, links: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """A finding's links (detail["links"]) as readable steps, in the order of the chain: (what, time or '',
    description). For the report's Correlations part and the application's details pane; the text
    comes from evidence and is for the caller to escape."""
    return [step for link in links if (step := lookups.link_step(db, link.get("kind"), link.get("id"))) is not None]


def _name(path: str | None) -> str:
    return (path or "?").rstrip("/").rsplit("/", 1)[-1]
