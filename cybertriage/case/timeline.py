"""One ordered stream of what happened, across every evidence item in a case: file MACB times,
network events (flows, DNS, HTTP, TLS, SMTP, FTP), artefacts (events, runs, visits) and findings, in UTC.

Times are stored as ISO 8601 text with as many fractional digits as the source gave, so
"…05.5Z" sorts before "…05Z" as text. Every source column is ordered by a fixed-width key
(seconds, then nine fractional digits) that schema 9 indexes as an expression; each kind of
event is read in key order from its index, and the streams are merged here. So a page of the
timeline, a count or a histogram costs index range scans, not a sort of the whole case.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from .columns import TIMELINE

Database = sqlite_utils.Database | sqlite3.Connection  # what the core and the application read cases with

KINDS = ("file", "flow", "dns", "http", "tls", "smtp", "ftp", "artifact", "finding")
LOWEST, HIGHEST = "0000-00-00T00:00:00.000000000", "9999-99-99T99:99:99.999999999"
_CANONICAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(\d{1,9}))?Z")


def key_sql(column: str) -> str:
    """The SQL expression of a time column's sort key; schema 9's indexes are on exactly this text."""
    return (f"(substr({column}, 1, 19) || '.' || CASE WHEN substr({column}, 20, 1) = '.' "
            f"THEN substr(substr({column}, 21, length({column}) - 21) || '000000000', 1, 9) ELSE '000000000' END)")


def sort_key(ts: str) -> str:
    """The sort key of an ISO 8601 time, as key_sql computes it; other offsets are turned into UTC."""
    match = _CANONICAL.fullmatch(ts)
    if match:
        return f"{ts[:19]}.{(match.group(1) or '').ljust(9, '0')}"
    moment = dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    moment = moment.astimezone(dt.timezone.utc)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}000"


def _iso(key: str) -> str:
    """The ISO 8601 UTC text of a sort key, without trailing fractional zeros."""
    fraction = key[20:].rstrip("0")
    return f"{key[:19]}{'.' + fraction if fraction else ''}Z"


@dataclass
class TimelineEvent:
    ts: str  # ISO 8601 UTC
    kind: str  # file | flow | dns | http | tls | smtp | ftp | artifact | finding
    action: str  # files: MACB letters ("m", "mac", "b"...); network: start | query | request | hello | mail | command;
    # artefacts: their type; findings: the severity
    evidence_id: int
    object_kind: str  # what the event comes from: file | flow | dns | http | tls | smtp | ftp | artifact | finding
    object_id: int
    description: str


@dataclass(frozen=True)
class _Source:
    """One stream of events: rows of one table ordered by one time column."""

    kind: str
    table: str
    column: str
    action: str  # SQL expression
    description: str  # SQL expression
    extra: str = ""  # SQL condition (files: a time equal to an earlier letter's is that event, not another)

    @property
    def key(self) -> str:
        return key_sql(self.column)


def _same(column: str, letter: str, other: str) -> str:
    return f"CASE WHEN {other} = {column} THEN '{letter}' ELSE '' END"


def _file_source(letter: str, column: str, earlier: list[str]) -> _Source:
    later = [("a", "atime"), ("c", "ctime"), ("b", "crtime")][["m", "a", "c", "b"].index(letter):]
    action = " || ".join(["'" + letter + "'"] + [_same(column, lt, col) for lt, col in later if col != column])
    extra = " AND ".join(f"{column} IS NOT {col}" for col in earlier)
    return _Source("file", "files", column, action,
                   "path || CASE WHEN deleted THEN ' (deleted)' ELSE '' END", extra)


def _text(column: str) -> str:
    return f"ifnull({column}, '')"


_SOURCES = [
    _file_source("m", "mtime", []),
    _file_source("a", "atime", ["mtime"]),
    _file_source("c", "ctime", ["mtime", "atime"]),
    _file_source("b", "crtime", ["mtime", "atime", "ctime"]),
    _Source("flow", "flows", "first_seen", "'start'",
            f"upper({_text('proto')}) || ' ' || {_text('src')} || ':' || ifnull(sport, '') || ' → ' || {_text('dst')}"
            f" || ':' || ifnull(dport, '') || CASE WHEN app IS NOT NULL THEN ' (' || app || ')' ELSE '' END"),
    _Source("dns", "dns", "ts", "'query'",
            f"{_text('query')} || ' ' || {_text('qtype')} || CASE WHEN answers IS NOT NULL AND answers != '[]' "
            f"THEN ' → ' || answers ELSE '' END"),
    _Source("http", "http", "ts", "'request'",
            f"{_text('method')} || ' http://' || {_text('host')} || {_text('uri')}"
            f" || CASE WHEN status IS NOT NULL THEN ' → ' || status ELSE '' END"),
    _Source("tls", "tls", "ts", "'hello'",
            "'TLS ' || coalesce(sni, dst, '') || CASE WHEN version IS NOT NULL THEN ' (' || version || ')' ELSE '' END"),
    _Source("smtp", "smtp", "ts", "'mail'",
            f"{_text('mail_from')} || ' → ' || {_text('rcpt_to')} || CASE WHEN subject IS NOT NULL "
            f"THEN ': ' || subject ELSE '' END"),
    _Source("ftp", "ftp", "ts", "'command'",
            f"{_text('command')} || ' ' || {_text('arg')} || ' (' || {_text('user')} || '@' || {_text('dst')} || ')'"),
    _Source("artifact", "artifacts", "ts", "type", _text("summary")),
]
# Findings have no time of their own but when they were recorded; on the timeline they stand at the
# time of what they are about: the network event a finding names (detail.ts), else the file's
# creation (its arrival on that disk), else its last modification. Findings are few (thousands):
# they are sorted here, not indexed.
_FINDING_TIME = ("coalesce(json_extract(g.detail, '$.ts'), f.crtime, f.mtime, f.ctime)")


def create_indexes(db: Database) -> None:
    """Index every time column on its sort key (a file time equal to an earlier MACB letter's is that
    letter's event, so its index leaves those rows out). Schema 9 makes them; a scan drops them while it
    inserts rows and makes them again at its end, because kept up row by row they cost the case writer
    more than sorting them once (200,000 files: 37 s without, 88 s with; 1M files: 11 s to build)."""
    present = _tables(db)
    for source in _SOURCES:
        if source.table in present:
            db.execute(f"CREATE INDEX IF NOT EXISTS [{source.table}_{source.column}_key] ON [{source.table}] "
                       f"({source.key})" + (f" WHERE {source.extra}" if source.extra else ""))


def drop_indexes(db: Database) -> None:
    """Drop the time indexes while a scan inserts rows (see create_indexes); queries stay right, only slower."""
    for source in _SOURCES:
        db.execute(f"DROP INDEX IF EXISTS [{source.table}_{source.column}_key]")


def _tables(db: Database) -> set[str]:
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


@dataclass(frozen=True)
class _Scope:
    """What one question reads: each source with its whole SQL condition, and whether findings are in."""

    sources: list[tuple[_Source, str]]
    findings: str | None  # the findings' extra condition, None when findings are not asked for


def _scope(db: Database, kinds: Any, hide_known_good: bool) -> _Scope:
    """The sources of these kinds that the case has; without files in known-good hash sets (and
    findings on them) if asked and the case marks them (files.known)."""
    present = _tables(db)
    wanted = set(KINDS if kinds is None else kinds)
    known = hide_known_good and "known" in {row[1] for row in db.execute("PRAGMA table_info(files)")}
    sources = []
    for source in _SOURCES:
        if source.kind in wanted and source.table in present:
            terms = [source.extra] if source.extra else []
            if known and source.table == "files":
                terms.append("coalesce(known, '') != 'good'")
            sources.append((source, "".join(f" AND {term}" for term in terms)))
    findings = None
    if "finding" in wanted:
        findings = " AND coalesce(f.known, '') != 'good'" if known else ""
    return _Scope(sources, findings)


def _bounds(start: str | None, end: str | None) -> tuple[str, str]:
    return (sort_key(start) if start else LOWEST, sort_key(end) if end else HIGHEST)


def _rank(kind: str) -> int:
    return KINDS.index(kind)


def _stream(db: Database, source: _Source, extra: str, low: str, high: str, index: int) -> Iterator[tuple]:
    """(key, kind rank, id, source index, row) in key order, straight from the source's index."""
    rank = _rank(source.kind)
    cursor = db.execute(
        f"""SELECT {source.key}, id, {source.column}, {source.action}, evidence_id, {source.description}
            FROM [{source.table}] WHERE {source.key} >= ? AND {source.key} < ?{extra}
            ORDER BY {source.key}, id""", [low, high])
    for row in cursor:
        yield row[0], rank, row[1], index, source.kind, row


_FINDINGS_FROM = "FROM findings g LEFT JOIN files f ON g.object_kind = 'file' AND f.id = g.object_id"


def _findings(db: Database, extra: str, low: str, high: str, index: int) -> Iterator[tuple]:
    rank = _rank("finding")
    key = key_sql(_FINDING_TIME)
    cursor = db.execute(
        f"""SELECT {key} AS k, g.id, {_FINDING_TIME}, g.severity, g.evidence_id, g.title {_FINDINGS_FROM}
            WHERE k >= ? AND k < ?{extra} ORDER BY k, g.id""", [low, high])
    for row in cursor:
        yield row[0], rank, row[1], index, "finding", row


def _merged(db: Database, start: str | None, end: str | None, scope: _Scope) -> Iterator[tuple]:
    low, high = _bounds(start, end)
    streams = [_stream(db, source, extra, low, high, i) for i, (source, extra) in enumerate(scope.sources)]
    if scope.findings is not None:
        streams.append(_findings(db, scope.findings, low, high, len(streams)))
    return heapq.merge(*streams, key=lambda entry: entry[:4])


def _event(entry: tuple) -> TimelineEvent:
    kind, (_, object_id, ts, action, evidence_id, description) = entry[4], entry[5]
    return TimelineEvent(ts, kind, action, evidence_id, kind, object_id, description)


def events(db: Database, start: str | None = None, end: str | None = None,
           kinds: list[str] | tuple[str, ...] | None = None, limit: int | None = None,
           offset: int = 0, hide_known_good: bool = False) -> list[TimelineEvent]:
    """Events with start <= time < end (ISO 8601; None for open), of these kinds (None: all), in time
    order — ties by kind (files first), then object id — skipping `offset` and returning at most `limit`."""
    stop = None if limit is None else offset + limit
    merged = _merged(db, start, end, _scope(db, kinds, hide_known_good))
    return [_event(entry) for entry in itertools.islice(merged, offset, stop)]


def iter_events(db: Database, start: str | None = None, end: str | None = None,
                kinds: list[str] | tuple[str, ...] | None = None, hide_known_good: bool = False) -> Iterator[TimelineEvent]:
    """The same events, one at a time, for an export of the whole timeline."""
    return (_event(entry) for entry in _merged(db, start, end, _scope(db, kinds, hide_known_good)))


def count(db: Database, start: str | None = None, end: str | None = None,
          kinds: list[str] | tuple[str, ...] | None = None, hide_known_good: bool = False) -> int:
    """How many events events() would return without a limit."""
    low, high = _bounds(start, end)
    return _counts(db, _scope(db, kinds, hide_known_good), [low, high])[0]


def _counts(db: Database, scope: _Scope, edges: list[str]) -> list[int]:
    """Events in each [edges[i], edges[i+1]) range, counted on the indexes."""
    totals = [0] * (len(edges) - 1)
    for source, extra in scope.sources:
        sql = f"SELECT count(*) FROM [{source.table}] WHERE {source.key} >= ? AND {source.key} < ?{extra}"
        for i in range(len(totals)):
            totals[i] += db.execute(sql, [edges[i], edges[i + 1]]).fetchone()[0]
    if scope.findings is not None:
        key = key_sql(_FINDING_TIME)
        keys = [row[0] for row in db.execute(
            f"SELECT {key} AS k {_FINDINGS_FROM} WHERE k >= ? AND k < ?{scope.findings}", [edges[0], edges[-1]])]
        for k in keys:
            totals[_bucket_of(edges, k)] += 1
    return totals


def _bucket_of(edges: list[str], key: str) -> int:
    low, high = 0, len(edges) - 2
    while low < high:
        middle = (low + high + 1) // 2
        if edges[middle] <= key:
            low = middle
        else:
            high = middle - 1
    return low


def histogram(db: Database, start: str, end: str, buckets: int,
              kinds: list[str] | tuple[str, ...] | None = None, hide_known_good: bool = False) -> list[tuple[str, int]]:
    """Event counts in `buckets` equal slices of [start, end): (slice start, count) for each slice."""
    if buckets < 1:
        raise ValueError("a histogram needs at least one bucket")
    first = dt.datetime.fromisoformat(_iso(sort_key(start)).replace("Z", "+00:00"))
    last = dt.datetime.fromisoformat(_iso(sort_key(end)).replace("Z", "+00:00"))
    width = (last - first) / buckets
    moments = [first + width * i for i in range(buckets)] + [last]
    edges = [f"{m:%Y-%m-%dT%H:%M:%S}.{m.microsecond:06d}000" for m in moments]
    edges[0], edges[-1] = sort_key(start), sort_key(end)
    counts = _counts(db, _scope(db, kinds, hide_known_good), edges)
    return [(_iso(edges[i]), n) for i, n in enumerate(counts)]


def time_range(db: Database, kinds: list[str] | tuple[str, ...] | None = None,
               hide_known_good: bool = False) -> tuple[str, str] | None:
    """The times of the earliest and the latest event, or None when there is none."""
    scope = _scope(db, kinds, hide_known_good)
    keys: list[str] = []
    for source, extra in scope.sources:
        for direction in ("", " DESC"):
            row = db.execute(f"""SELECT {source.key} FROM [{source.table}] WHERE {source.key} >= ? AND {source.key} < ?
                                 {extra} ORDER BY {source.key}{direction} LIMIT 1""", [LOWEST, HIGHEST]).fetchone()
            if row:
                keys.append(row[0])
    if scope.findings is not None:
        key = key_sql(_FINDING_TIME)
        row = db.execute(f"SELECT min({key}), max({key}) {_FINDINGS_FROM} WHERE 1{scope.findings}").fetchone()
        keys += [k for k in row if k]
    return (_iso(min(keys)), _iso(max(keys))) if keys else None


# -- export -------------------------------------------------------------------------------

FIELDS = TIMELINE.export_names


def rows(db: Database) -> Iterator[dict[str, Any]]:
    """The whole timeline as export rows (jsonl, csv)."""
    for event in iter_events(db):
        yield {name: getattr(event, name) for name in FIELDS}


def _epoch(ts: str | None) -> int:
    """Whole seconds since the epoch, as the body format has them; 0 for no time (as fls -m writes)."""
    if not ts:
        return 0
    return int(dt.datetime.fromisoformat(ts[:19]).replace(tzinfo=dt.timezone.utc).timestamp())


def body_lines(db: Database) -> Iterator[str]:
    """Every entry of the file systems (and the archive members in them), as a line of The Sleuth
    Kit's body format (what `fls -m` writes and `mactime -b` reads):
    MD5|name|inode|mode_as_string|UID|GID|size|atime|mtime|ctime|crtime, 0 for a time not known.
    The name is the evidence file's name, the partition's offset and the path; cybertriage keeps
    neither mode nor owner, so the mode gives only the entry type and UID and GID are 0. Objects
    carried in captures have no file system times and are left out."""
    cursor = db.execute(
        """SELECT f.md5, e.path, f.partition_offset, f.path, f.deleted, f.inode, f.kind, f.size,
                  f.atime, f.mtime, f.ctime, f.crtime
           FROM files f JOIN evidence e ON e.id = f.evidence_id
           WHERE f.origin IS NULL ORDER BY f.id""")
    for md5, evidence, offset, path, deleted, inode, kind, size, *times in cursor:
        where = evidence.rsplit("/", 1)[-1] + (f"@{offset}" if offset else "")
        name = f"{where}:{path}{' (deleted)' if deleted else ''}".replace("|", "%7C")
        mode = {"directory": "d/d---------", "link": "l/l---------"}.get(kind, "r/r---------")
        yield "|".join(str(v) for v in (md5 or 0, name, inode or 0, mode, 0, 0, size or 0, *map(_epoch, times)))
