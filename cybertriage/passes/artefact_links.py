"""Artefacts linked to the rest of the case: the questions a seized Windows computer answers only together
with its files and the captures beside it.

- **It ran, not only was present**: a program that prefetch, Amcache, ShimCache, UserAssist or BAM say ran, and
  that a YARA, PE, hash-set or IOC finding flags on the disk. Matched by the Amcache SHA-1 when there is one, else by
  the path as recorded (drive letter and volume prefix dropped), else — for prefetch, which may name only the
  program — by the file name, which the finding says.
- **A logon from an address a capture shows**: a network or RDP logon event whose source address takes part in
  flows of a capture in the same case.
- **A download on the disk**: a browser download whose target file is on a disk (same path, and the same size when
  the browser recorded one), and the HTTP request of a capture that fetched it: visit → download → file → findings.

Each link is one finding of the correlation analyzer, known by a key in its detail, so running the pass again adds
nothing; its detail's "links" let the report and the application follow the chain.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import sqlite_utils

from ..case import lookups, writes
from ..formatting import utc_now
from ..severity import SEVERITIES, SEVERITY_RANK
from .base import Pass, PassContext, PassResult, ScoreRaise

ANALYZER = "correlation"
MAX_RUNS_LISTED = 20
_VOLUME_PREFIX = re.compile(r"^(\\\\\?\\|\\\?\?\\)?(\\?volume\{[^}]*\}|[a-z]:|\\device\\harddiskvolume\d+)", re.I)


def windows_path(path: str | None) -> str:
    """A Windows path as a comparable key: lower case, '/' separators, no drive letter or volume prefix, no leading
    separator ('C:\\Users\\Bob\\x.exe' and '/Users/bob/x.exe' both give 'users/bob/x.exe')."""
    if not path:
        return ""
    return _VOLUME_PREFIX.sub("", path.strip().strip('"')).replace("\\", "/").strip("/").lower()


class ArtefactLinkPass(Pass):
    NAME = "artefact-links"
    ACTION = "artefact links"
    STAGE = "linking artefacts"

    def wanted(self, context: PassContext) -> bool:
        return True

    def run(self, db: sqlite_utils.Database, context: PassContext) -> PassResult:
        known = lookups.finding_keys(db, ANALYZER, "key")
        added: list[dict[str, Any]] = []
        raises: list[ScoreRaise] = []
        for finding in [*_ran(db), *_logons(db), *_downloads(db)]:
            key = json.loads(finding["detail"])["key"]
            if key in known:
                continue
            known.add(key)
            added.append(finding)
            if finding["object_kind"] == "file" and finding["rule"] in ("ran-flagged", "download-on-disk"):
                raises.append(ScoreRaise(finding["object_id"], finding["severity"], finding["title"]))
        writes.add_findings(db, added)
        rules: dict[str, int] = {}
        for finding in added:
            rules[finding["rule"]] = rules.get(finding["rule"], 0) + 1
        summary = f"{len(added)} new links" + (": " + ", ".join(f"{n} {rule}" for rule, n in rules.items())
                                               if added else "")
        return PassResult(len(added), summary, {"new_links": len(added), **rules}, raises)


def _finding(evidence_id: int, kind: str, object_id: int, text: str, rule: str, severity: str, title: str,
             detail: dict[str, Any]) -> dict[str, Any]:
    return {"evidence_id": evidence_id, "object_kind": kind, "object_id": object_id, "object": text,
            "analyzer": ANALYZER, "rule": rule, "severity": severity, "severity_rank": SEVERITY_RANK[severity],
            "title": title, "detail": json.dumps(detail, ensure_ascii=False), "created_at": utc_now()}


# -- it ran --------------------------------------------------------------------------------------------------

def _ran(db: sqlite_utils.Database) -> Iterator[dict[str, Any]]:
    flagged = lookups.flagged_files(db, (ANALYZER,))
    if not flagged:
        return
    by_sha1 = {row["sha1"].lower(): row for row in flagged if row["sha1"]}
    runs: dict[int, list[tuple[dict[str, Any], str]]] = {}  # flagged file id → (artefact, how it matched)
    for artefact in lookups.execution_artefacts(db):
        for row, how in _matches(artefact, flagged, by_sha1):
            if row["evidence_id"] == artefact["evidence_id"] or how == "SHA-1":
                runs.setdefault(row["id"], []).append((artefact, how))
    rows = {row["id"]: row for row in flagged}
    for file_id, matched in runs.items():
        row = rows[file_id]
        kinds = sorted({artefact["type"] for artefact, _ in matched})
        hows = sorted({how for _, how in matched})
        last = max((artefact["ts"] for artefact, _ in matched if artefact["ts"]), default=None)
        severity = SEVERITIES[min(max(row["rank"] + 1, SEVERITY_RANK["high"]), len(SEVERITIES) - 1)]
        title = (f"Ran, not only present: {row['name']} ({', '.join(kinds)}"
                 + (f", last {last}" if last else "") + f") is flagged: {row['titles'][0]}")
        links = ([{"kind": "artifact", "id": artefact["id"]} for artefact, _ in matched[:MAX_RUNS_LISTED]]
                 + [{"kind": "file", "id": file_id}] + [{"kind": "finding", "id": i} for i in row["finding_ids"]])
        detail = {"key": f"ran:file:{file_id}", "ts": last, "evidence_of_running": kinds, "matched_by": hows,
                  "runs": len(matched), "program": row["path"], "links": links}
        yield _finding(row["evidence_id"], "file", file_id, row["path"], "ran-flagged", severity, title, detail)


def _matches(artefact: dict[str, Any], flagged: list[dict[str, Any]],
             by_sha1: dict[str, dict[str, Any]]) -> Iterator[tuple[dict[str, Any], str]]:
    values = artefact["values"]
    sha1 = str(values.get("sha1") or "").lower()
    if sha1 in by_sha1:
        yield by_sha1[sha1], "SHA-1"
        return
    path = windows_path(values.get("path"))
    if "/" in path:
        for row in flagged:
            file_path = windows_path(row["path"])
            if file_path == path or file_path.endswith("/" + path) or path.endswith("/" + file_path):
                yield row, "path"
        return
    name = (path or str(values.get("executable") or "")).lower()
    if name:
        for row in flagged:
            if (row["name"] or "").lower() == name:
                yield row, "file name only"


# -- logons from an address a capture shows --------------------------------------------------------------

def _logons(db: sqlite_utils.Database) -> Iterator[dict[str, Any]]:
    events: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for artefact in lookups.logon_artefacts(db):
        address = str(artefact["values"].get("source_address"))
        events.setdefault((artefact["file_id"], address), []).append(artefact)
    for (file_id, address), logons in events.items():
        flows, flow_id, flow_ts, capture_id = lookups.address_flows(db, address)
        if not flows:
            continue
        first = logons[0]
        categories = sorted({str(event["values"].get("category")) for event in logons})
        users = sorted({str(event["values"].get("user")) for event in logons if event["values"].get("user")})
        what = "RDP" if "rdp" in categories else ("failed logons" if categories == ["logon_failed"] else "logons")
        title = (f"{what.capitalize()} from {address} ({len(logons)} events"
                 + (f", {', '.join(users[:3])}" if users else "") + f"), an address a capture shows in {flows} flows")
        links = [{"kind": "artifact", "id": event["id"]} for event in logons[:MAX_RUNS_LISTED]]
        links.append({"kind": "flow", "id": flow_id})
        detail = {"key": f"logon:{address}:file:{file_id}", "ts": first["ts"], "address": address,
                  "events": len(logons), "categories": categories, "users": users, "flows": flows,
                  "first_flow": flow_ts, "capture_evidence_id": capture_id, "links": links}
        yield _finding(first["evidence_id"], "file", file_id, first["source"], "logon-from-capture-address",
                       "medium", title, detail)


# -- a browser download on the disk, and in a capture -------------------------------------------------------

def _downloads(db: sqlite_utils.Database) -> Iterator[dict[str, Any]]:
    for artefact in lookups.download_artefacts(db):
        values = artefact["values"]
        target = windows_path(values.get("target_path") or values.get("path"))
        if not target:
            continue
        size = values.get("total_bytes") or values.get("received_bytes")
        name = target.rsplit("/", 1)[-1]
        for row in lookups.files_named(db, name):
            file_path = windows_path(row["path"])
            if not (file_path == target or file_path.endswith("/" + target) or target.endswith("/" + file_path)):
                continue
            if size and row["size"] is not None and int(size) != row["size"]:
                continue
            yield _download_finding(db, artefact, row)


def _download_finding(db: sqlite_utils.Database, artefact: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    url = str(artefact["values"].get("url") or "")
    parts = urlsplit(url)
    uri = parts.path + (f"?{parts.query}" if parts.query else "")
    requests = lookups.http_for_url(db, parts.hostname or "", uri or "/") if parts.scheme == "http" else []
    fetched = [request for request in requests if not request["body_sha256"] or request["body_sha256"] == row["sha256"]]
    links = [{"kind": "artifact", "id": artefact["id"]}, *({"kind": "http", "id": r["id"]} for r in fetched),
             {"kind": "file", "id": row["id"]}]
    from_capture = f"; a capture holds the download ({len(fetched)} HTTP request(s))" if fetched else ""
    title = f"Downloaded with a browser and on the disk: {row['path']} from {url or '?'}{from_capture}"
    detail = {"key": f"download:{artefact['id']}:file:{row['id']}", "ts": artefact["ts"], "url": url,
              "file": row["path"], "size": row["size"], "http_ids": [r["id"] for r in fetched], "links": links}
    severity = "medium" if fetched or (row["mime"] or "").startswith("application/x-dosexec") else "low"
    return _finding(row["evidence_id"], "file", row["id"], row["path"], "download-on-disk", severity, title, detail)
