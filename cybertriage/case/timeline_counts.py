"""Timeline events counted per hour, kind and evidence item, kept in the case.

A million-file case has millions of timeline events: counting them for the histogram, the number
shown above the table or the place of a deep page took seconds even on the time indexes. These
tables hold the counts instead, so a question costs a few thousand rows of `timeline_counts` plus,
at the edges of a range that does not start or end on the hour, an index count within one hour.

- `timeline_counts` (hour 'YYYY-MM-DDTHH', kind, evidence_id, events): an hour holds the events
  whose sort key starts with it.
- `finding_times` (id of the finding, evidence_id, key): a finding's time comes from a join (the
  network event it names, else its file's times), which no index can hold; this table is its index.
- `timeline_marks` (evidence_id, source table, last_id): the highest row id counted per evidence item.

Rows are only added to the source tables, or removed an evidence item at a time (`forget_evidence`
deletes every row with that evidence_id, these tables' rows too). So every row counted has an id at
most the highest mark of its table, and the rows above it are not counted yet: `count_new_events`
adds them (at the end of a scan, by the timeline pass, by the migration for an older case), and
readers add those still pending to what they read (see `pending_mark`).
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from typing import Any

from . import timeline_sources

COUNTS, FINDING_TIMES, MARKS = "timeline_counts", "finding_times", "timeline_marks"


def create_tables(db: Any) -> None:
    """The three tables, empty (schema 20)."""
    db.execute(f"""CREATE TABLE IF NOT EXISTS [{COUNTS}] (hour TEXT NOT NULL, kind TEXT NOT NULL,
                   evidence_id INTEGER NOT NULL, events INTEGER NOT NULL, PRIMARY KEY (hour, kind, evidence_id))""")
    db.execute(f"""CREATE TABLE IF NOT EXISTS [{FINDING_TIMES}] (id INTEGER PRIMARY KEY, evidence_id INTEGER,
                   key TEXT NOT NULL)""")
    db.execute(f"CREATE INDEX IF NOT EXISTS [{FINDING_TIMES}_key] ON [{FINDING_TIMES}] (key)")
    db.execute(f"""CREATE TABLE IF NOT EXISTS [{MARKS}] (evidence_id INTEGER NOT NULL, source TEXT NOT NULL,
                   last_id INTEGER NOT NULL, PRIMARY KEY (evidence_id, source))""")


def present(db: Any) -> bool:
    """Whether the case has the tables (a case not yet migrated, opened read-only, has not)."""
    return db.execute(f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '{MARKS}'").fetchone()[0] > 0


def pending_mark(db: Any, table: str) -> int:
    """The highest row id of `table` counted: rows above it are pending (0 without the tables)."""
    if not present(db):
        return 0
    row = db.execute(f"SELECT max(last_id) FROM [{MARKS}] WHERE source = ?", [table]).fetchone()
    return row[0] or 0


def highest(db: Any, table: str) -> int:
    """The highest row id of `table` (0 when empty)."""
    return db.execute(f"SELECT max(id) FROM [{table}]").fetchone()[0] or 0


def count_new_events(db: Any) -> int:
    """Count the events of rows not counted yet into the tables; the number of events added. Cheap when
    nothing is new (one probe per table); the first time over a million files it takes seconds."""
    if not present(db):
        return 0
    tables = timeline_sources.tables(db)
    added = 0
    # one transaction (a savepoint of the caller's): a table's counts never stand without its mark
    with db.atomic() if hasattr(db, "atomic") else contextlib.nullcontext():
        for table, sources in itertools.groupby(timeline_sources.SOURCES, key=lambda source: source.table):
            if table not in tables:
                continue
            mark = pending_mark(db, table)
            if highest(db, table) <= mark:
                continue
            for source in sources:
                added += _count_source(db, source, mark)
            _mark(db, table, mark)
        if "findings" in tables:
            added += _count_findings(db)
    return added


def _count_source(db: Any, source: Any, mark: int) -> int:
    # NOT INDEXED: the rows above the mark are a range of rowids, never a walk of the time index
    rows = db.execute(
        f"""SELECT substr({source.key}, 1, 13) AS hour, coalesce(evidence_id, 0), count(*)
            FROM [{source.table}] NOT INDEXED WHERE id > ? AND {source.key} >= ? AND {source.key} < ?
            {' AND ' + source.extra if source.extra else ''} GROUP BY hour, evidence_id""",
        [mark, timeline_sources.LOWEST, timeline_sources.HIGHEST]).fetchall()
    _add(db, source.kind, rows)
    return sum(row[2] for row in rows)


def _add(db: Any, kind: str, rows: list[tuple[str, int, int]]) -> None:
    getattr(db, "conn", db).executemany(f"""INSERT INTO [{COUNTS}] (hour, kind, evidence_id, events) VALUES (?, '{kind}', ?, ?)
                       ON CONFLICT (hour, kind, evidence_id) DO UPDATE SET events = events + excluded.events""", rows)


def _mark(db: Any, table: str, mark: int) -> None:
    db.execute(f"""INSERT INTO [{MARKS}] (evidence_id, source, last_id)
                   SELECT coalesce(evidence_id, 0), '{table}', max(id) FROM [{table}] NOT INDEXED WHERE id > ?
                   GROUP BY coalesce(evidence_id, 0)
                   ON CONFLICT (evidence_id, source) DO UPDATE SET last_id = max(last_id, excluded.last_id)""", [mark])


def _count_findings(db: Any) -> int:
    mark = pending_mark(db, "findings")
    if highest(db, "findings") <= mark:
        return 0
    key = timeline_sources.key_sql(timeline_sources.FINDING_TIME)
    db.execute(f"""INSERT OR REPLACE INTO [{FINDING_TIMES}] (id, evidence_id, key)
                   SELECT g.id, g.evidence_id, {key} AS k {timeline_sources.FINDINGS_FROM}
                   WHERE g.id > ? AND k >= ? AND k < ?""", [mark, timeline_sources.LOWEST, timeline_sources.HIGHEST])
    rows = db.execute(f"""SELECT substr(key, 1, 13) AS hour, coalesce(evidence_id, 0), count(*) FROM [{FINDING_TIMES}]
                          WHERE id > ? GROUP BY hour, evidence_id""", [mark]).fetchall()
    _add(db, "finding", rows)
    _mark(db, "findings", mark)
    return sum(row[2] for row in rows)


def hours(db: Any, first: str, last: str, kinds: list[str], evidence: list[int] | None) -> list[tuple[str, int]]:
    """The counted events of these kinds (and evidence items, None: all) per hour, for the hours from
    `first` to before `last` ('YYYY-MM-DDTHH'), in hour order; hours with none are left out."""
    if not kinds:
        return []
    terms, params = _filter(kinds, evidence)
    try:
        rows = db.execute(f"""SELECT hour, sum(events) FROM [{COUNTS}] WHERE hour >= ? AND hour < ?{terms}
                              GROUP BY hour ORDER BY hour""", [first, last, *params]).fetchall()
    except sqlite3.OperationalError:  # a case not migrated yet: everything is pending
        rows = []
    return [(hour, events) for hour, events in rows if events]


def sums(db: Any, spans: list[tuple[str, str] | None], kinds: list[str], evidence: list[int] | None) -> list[int]:
    """For each span of hours [first, last) (None: none), the counted events of these kinds and evidence items
    in it, summed by SQLite: one row back per span."""
    totals = [0] * len(spans)
    chosen = [(i, span) for i, span in enumerate(spans) if span]
    if not kinds or not chosen or not present(db):
        return totals
    terms, params = _filter(kinds, evidence, "c.")
    values = ", ".join("(?, ?, ?)" for _ in chosen)
    rows = db.execute(f"""WITH spans (i, first, last) AS (VALUES {values})
                          SELECT spans.i, sum(c.events) FROM spans JOIN [{COUNTS}] c ON c.hour >= spans.first
                          AND c.hour < spans.last{terms}
                          GROUP BY spans.i""",
                      [value for i, (first, last) in chosen for value in (i, first, last)] + params)
    for i, events in rows:
        totals[i] = events or 0
    return totals


def kinds_present(db: Any, evidence: list[int] | None = None) -> set[str]:
    """The kinds of event the counts hold (for these evidence items)."""
    if not present(db):
        return set()
    terms, params = _filter(None, evidence)
    return {row[0] for row in db.execute(f"SELECT DISTINCT kind FROM [{COUNTS}] WHERE events > 0{terms}", params)}


def hour_span(db: Any, kinds: list[str], evidence: list[int] | None) -> dict[str, tuple[str, str]]:
    """Per kind, the first and the last hour the counts hold events in."""
    if not present(db) or not kinds:
        return {}
    terms, params = _filter(kinds, evidence)
    return {kind: (first, last) for kind, first, last in db.execute(
        f"SELECT kind, min(hour), max(hour) FROM [{COUNTS}] WHERE events > 0{terms} GROUP BY kind", params)}


def _filter(kinds: list[str] | None, evidence: list[int] | None, table: str = "") -> tuple[str, list[Any]]:
    """SQL terms (and their parameters) keeping these kinds and evidence items (None: all) of `table` ("c.")."""
    terms, params = "", list[Any]()
    if kinds is not None:
        terms += f" AND {table}kind IN ({', '.join('?' * len(kinds))})"
        params += list(kinds)
    if evidence is not None:
        terms += f" AND {table}evidence_id IN ({', '.join('?' * len(evidence)) or 'NULL'})"
        params += list(evidence)
    return terms, params
