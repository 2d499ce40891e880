"""Where the timeline's events come from: each source is one time column of one table, read in the
order of a fixed-width sort key that the time indexes hold.

Times are stored as ISO 8601 text with as many fractional digits as the source gave, so
"…05.5Z" sorts before "…05Z" as text. Every source column is ordered by a fixed-width key
(seconds, then nine fractional digits) that schema 9 indexes as an expression. Findings have no
time column: theirs is computed through a join (FINDING_TIME), and schema 20 keeps it in a table.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from dataclasses import dataclass

import sqlite_utils

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


def iso(key: str) -> str:
    """The ISO 8601 UTC text of a sort key, without trailing fractional zeros."""
    fraction = key[20:].rstrip("0")
    return f"{key[:19]}{'.' + fraction if fraction else ''}Z"


@dataclass(frozen=True)
class Source:
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


def _file_source(letter: str, column: str, earlier: list[str]) -> Source:
    later = [("a", "atime"), ("c", "ctime"), ("b", "crtime")][["m", "a", "c", "b"].index(letter):]
    action = " || ".join(["'" + letter + "'"] + [_same(column, lt, col) for lt, col in later if col != column])
    extra = " AND ".join(f"{column} IS DISTINCT FROM {col}" for col in earlier)
    return Source("file", "files", column, action,
                  "path || CASE WHEN deleted THEN ' (deleted)' ELSE '' END", extra)


def _text(column: str) -> str:
    return f"ifnull({column}, '')"


SOURCES = [
    _file_source("m", "mtime", []),
    _file_source("a", "atime", ["mtime"]),
    _file_source("c", "ctime", ["mtime", "atime"]),
    _file_source("b", "crtime", ["mtime", "atime", "ctime"]),
    Source("flow", "flows", "first_seen", "'start'",
           f"upper({_text('proto')}) || ' ' || {_text('src')} || ':' || ifnull(sport, '') || ' → ' || {_text('dst')}"
           f" || ':' || ifnull(dport, '') || CASE WHEN app IS NOT NULL THEN ' (' || app || ')' ELSE '' END"),
    Source("dns", "dns", "ts", "'query'",
           f"{_text('query')} || ' ' || {_text('qtype')} || CASE WHEN answers IS NOT NULL AND answers != '[]' "
           f"THEN ' → ' || answers ELSE '' END"),
    Source("http", "http", "ts", "'request'",
           f"{_text('method')} || ' http://' || {_text('host')} || {_text('uri')}"
           f" || CASE WHEN status IS NOT NULL THEN ' → ' || status ELSE '' END"),
    Source("tls", "tls", "ts", "'hello'",
            "'TLS ' || coalesce(sni, dst, '') || CASE WHEN version IS NOT NULL THEN ' (' || version || ')' ELSE '' END"),
    Source("smtp", "smtp", "ts", "'mail'",
           f"{_text('mail_from')} || ' → ' || {_text('rcpt_to')} || CASE WHEN subject IS NOT NULL "
           f"THEN ': ' || subject ELSE '' END"),
    Source("ftp", "ftp", "ts", "'command'",
           f"{_text('command')} || ' ' || {_text('arg')} || ' (' || {_text('user')} || '@' || {_text('dst')} || ')'"),
    Source("artifact", "artifacts", "ts", "type", _text("summary")),
]
# Findings have no time of their own but when they were recorded; on the timeline they stand at the
# time of what they are about: the network event a finding names (detail.ts), else the file's
# creation (its arrival on that disk), else its last modification. No index can hold a time taken
# through a join: schema 20's finding_times table (case/timeline_counts.py) keeps it, indexed.
FINDING_TIME = "coalesce(json_extract(g.detail, '$.ts'), f.crtime, f.mtime, f.ctime)"
FINDINGS_FROM = "FROM findings g LEFT JOIN files f ON g.object_kind = 'file' AND f.id = g.object_id"


def create_indexes(db: Database) -> None:
    """Index every time column on its sort key (a file time equal to an earlier MACB letter's is that
    letter's event, so its index leaves those rows out). Schema 9 makes them; a scan drops them while it
    inserts rows and makes them again at its end, because kept up row by row they cost the case writer
    more than sorting them once (200,000 files: 37 s without, 88 s with; 1M files: 11 s to build)."""
    present = tables(db)
    for source in SOURCES:
        if source.table in present:
            db.execute(f"CREATE INDEX IF NOT EXISTS [{source.table}_{source.column}_key] ON [{source.table}] "
                       f"({source.key})" + (f" WHERE {source.extra}" if source.extra else ""))


def drop_indexes(db: Database) -> None:
    """Drop the time indexes while a scan inserts rows (see create_indexes); queries stay right, only slower."""
    for source in SOURCES:
        db.execute(f"DROP INDEX IF EXISTS [{source.table}_{source.column}_key]")


def tables(db: Database) -> set[str]:
    """The case's tables: a source whose table an older case lacks has no events."""
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

