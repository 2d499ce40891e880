"""One ordered stream of what happened, across every evidence item in a case: file MACB times,
network events (flows, DNS, HTTP, TLS, SMTP, FTP), artefacts (events, runs, visits) and findings, in UTC.

Each kind of event is read in time order from its time index (timeline_sources.py) and the streams
are merged here. How many events a range holds, its histogram and where a deep page starts are read
from the events counted per hour (timeline_counts.py), with index counts only for the part of an
hour at either end of a range: a million-file case has millions of events, and counting them on the
indexes took seconds.
"""

from __future__ import annotations

import bisect
import datetime as dt
import heapq
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import timeline_counts as counted
from . import timeline_sources
from .columns import TIMELINE
from .search import INDEXED, SHIFT
from .search import SOURCES as INDEX_SOURCES
from .timeline_sources import (
    FINDING_TIME,
    FINDINGS_FROM,
    HIGHEST,
    KINDS,
    LOWEST,
    SOURCES,
    Database,
    Source,
    drop_indexes,
    iso,
    key_sql,
    sort_key,
    tables,
)

__all__ = ["FIELDS", "KINDS", "TimelineEvent", "body_lines", "count", "create_indexes", "drop_indexes", "events",
           "histogram", "histogram_over", "iter_events", "key_sql", "kinds_present", "nice_edges", "rows", "sort_key",
           "time_range"]

HOUR_REST = ":00:00.000000000"  # what follows 'YYYY-MM-DDTHH' in the sort key of the hour's first moment
SEEK = 2_000  # a page further in than this starts from the hour it falls in, not from the range's start
_FINDINGS_JOIN = f"FROM [{counted.FINDING_TIMES}] t JOIN findings g ON g.id = t.id " \
                 "LEFT JOIN files f ON g.object_kind = 'file' AND f.id = g.object_id"
Kinds = Sequence[str] | None
Evidence = Sequence[int] | None


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


def create_indexes(db: Database) -> None:
    """Index every time column (timeline_sources.create_indexes) and count the events not counted yet: a
    scan calls this at its end, stopped or not, so the counts cover what it wrote."""
    timeline_sources.create_indexes(db)
    counted.count_new_events(db)


@dataclass(frozen=True)
class _Scope:
    """What one question reads: each source with its whole SQL condition, whether findings are in, and
    whether the hourly counts answer for it (not when known-good files are left out)."""

    sources: list[tuple[Source, str]]
    findings: str | None  # the findings' extra condition, None when findings are not asked for
    kinds: list[str]
    evidence: list[int] | None
    counted: bool
    text: bool  # only rows whose text matches words: read by the text indexes' row ids, not in time order
    own: dict[Source, str] = field(default_factory=dict)  # each source's own part of its condition
    common: dict[str, str] = field(default_factory=dict)  # each table's part: the words, the evidence items


def _scope(db: Database, kinds: Kinds, hide_known_good: bool, evidence: Evidence = None, match: str | None = None) -> _Scope:
    """The sources of these kinds that the case has, for these evidence items (None: all); without files
    in known-good hash sets (and findings on them) if asked and the case marks them (files.known); with
    `match` (an FTS5 query: browse.fts_query makes one of the words an examiner typed), only the events
    whose own text (path, artefact, request, query, mail, finding title) matches it: events of kinds
    without a text index (flows, TLS, FTP) drop out."""
    present = tables(db)
    wanted = [kind for kind in KINDS if kinds is None or kind in kinds]
    known = hide_known_good and "known" in {row[1] for row in db.execute("PRAGMA table_info(files)")}
    chosen = None if evidence is None else [int(number) for number in evidence]
    # unary +: the time index drives every read, never an evidence_id index that would take all of an item's rows
    among = "" if chosen is None else f" AND +evidence_id IN ({', '.join(map(str, chosen)) or 'NULL'})"
    words = match or None
    sources, own, common = [], {}, {}
    for source in SOURCES:
        if source.kind in wanted and source.table in present:
            terms = [source.extra] if source.extra else []
            if known and source.table == "files":
                terms.append("coalesce(known, '') != 'good'")
            matching = _matching(source.table, words, present) if words is not None else None
            if matching != "":
                own[source] = "".join(f" AND {term}" for term in terms)
                common[source.table] = (f" AND {matching}" if matching else "") + among
                sources.append((source, own[source] + common[source.table]))
    findings = None
    if "finding" in wanted and "findings" in present:
        findings = (" AND coalesce(f.known, '') != 'good'" if known else "") + among.replace("+evidence_id", "+g.evidence_id")
        if words is not None:
            findings += f" AND g.id IN (SELECT rowid FROM findings_fts WHERE findings_fts MATCH {_literal(words)})"
    return _Scope(sources, findings, wanted, chosen, not known and words is None, words is not None, own, common)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _matching(table: str, words: str, present: set[str]) -> str:
    """The SQL condition that a row of `table` has the words in the case's text indexes ('' when its rows
    are not indexed)."""
    if table == "files" and "files_fts" in present:
        return f"id IN (SELECT rowid FROM files_fts WHERE files_fts MATCH {_literal(words)})"
    if table not in INDEXED or "content_fts" not in present:
        return ""
    base = INDEX_SOURCES[INDEXED[table][0]] << SHIFT
    return (f"id IN (SELECT rowid - {base} FROM content_fts WHERE content_fts MATCH {_literal(words)} "
            f"AND rowid >= {base} AND rowid < {base + (1 << SHIFT)})")


def _from(source: Source, scope: _Scope) -> str:
    """A source's table, NOT INDEXED when only rows matching words are read: those few are looked up by
    their ids, never found by walking the time index over the range."""
    return f"[{source.table}]" + (" NOT INDEXED" if scope.text else "")


def _bounds(start: str | None, end: str | None) -> tuple[str, str]:
    return (sort_key(start) if start else LOWEST, sort_key(end) if end else HIGHEST)


def _rank(kind: str) -> int:
    return KINDS.index(kind)


# -- reading events in order --------------------------------------------------------------------------


def _stream(db: Database, source: Source, table: str, extra: str, low: str, high: str, index: int) -> Iterator[tuple]:
    """(key, kind rank, id, source index, row) in key order, straight from the source's index."""
    rank = _rank(source.kind)
    cursor = db.execute(
        f"""SELECT {source.key}, id, {source.column}, {source.action}, evidence_id, {source.description}
            FROM {table} WHERE {source.key} >= ? AND {source.key} < ?{extra}
            ORDER BY {source.key}, id""", [low, high])
    for row in cursor:
        yield row[0], rank, row[1], index, source.kind, row


def _findings(db: Database, extra: str, low: str, high: str, index: int) -> Iterator[tuple]:
    """Findings in key order: those counted from finding_times' index, those not counted yet sorted here."""
    rank = _rank("finding")
    columns = f"g.id, {FINDING_TIME}, g.severity, g.evidence_id, g.title"
    parts = []
    if counted.present(db):
        parts.append(db.execute(f"SELECT t.key, {columns} {_FINDINGS_JOIN} WHERE t.key >= ? AND t.key < ?{extra} "
                                "ORDER BY t.key, t.id", [low, high]))
    key = key_sql(FINDING_TIME)
    parts.append(db.execute(f"SELECT {key} AS k, {columns} {FINDINGS_FROM} WHERE g.id > ? AND k >= ? AND k < ?{extra} "
                            "ORDER BY k, g.id", [counted.pending_mark(db, "findings"), low, high]))
    for row in heapq.merge(*parts, key=lambda row: (row[0], row[1])):
        yield row[0], rank, row[1], index, "finding", row


def _merged(db: Database, low: str, high: str, scope: _Scope) -> Iterator[tuple]:
    spans = _spans(db, scope)
    streams: list[Iterator[tuple]] = []
    if scope.text:
        streams += [_matched_stream(db, scope, list(group), low, high)
                    for _, group in itertools.groupby(enumerate(scope.sources), key=lambda entry: entry[1][0].table)]
    for i, (source, extra) in enumerate([] if scope.text else scope.sources):
        first, last = _within(spans, source.kind, low, high)
        if first < last:
            streams.append(_stream(db, source, f"[{source.table}]", extra, first, last, i))
    first, last = _within(spans, "finding", low, high)
    if scope.findings is not None and first < last:
        streams.append(_findings(db, scope.findings, first, last, len(scope.sources)))
    return heapq.merge(*streams, key=lambda entry: entry[:4])


def _matched_sql(scope: _Scope, group: list[tuple[int, tuple[Source, str]]], columns: str) -> str:
    """One statement over a table's rows that match words, for all its sources: the rows are looked up once
    (a materialized CTE), not once per time column; `columns` is what each source's part selects ({key},
    {id}...: formatted per source), and each part keeps its keys in [?, ?)."""
    table = group[0][1][0].table
    parts = [f"SELECT {columns.format(key=source.key, index=i, source=source)} FROM matched "
             f"WHERE {source.key} >= ? AND {source.key} < ?{scope.own[source]}" for i, (source, _) in group]
    return (f"WITH matched AS MATERIALIZED (SELECT * FROM [{table}] NOT INDEXED WHERE 1{scope.common[table]}) "
            + " UNION ALL ".join(parts))


def _matched_stream(db: Database, scope: _Scope, group: list[tuple[int, tuple[Source, str]]], low: str,
                    high: str) -> Iterator[tuple]:
    """The events of one table's rows that match words, in key order (one table's sources share a kind)."""
    rank = _rank(group[0][1][0].kind)
    columns = ("{key}, id, {source.column}, {source.action}, evidence_id, {source.description}, {index}, "
               "'{source.kind}'")
    cursor = db.execute(_matched_sql(scope, group, columns) + " ORDER BY 1, 2", [low, high] * len(group))
    for row in cursor:
        yield row[0], rank, row[1], row[6], row[7], row[:6]


def _spans(db: Database, scope: _Scope) -> dict[str, tuple[str, str]] | None:
    """Per kind, the keys from the first hour to the end of the last that hold events of the chosen evidence
    items, by the hourly counts: where reading them need look (a time index holds every item's events, and
    walking it for an item with none there would walk it all). None when no item is chosen, or when rows
    are not all counted yet."""
    if scope.evidence is None or scope.text or not counted.present(db):
        return None
    tables = {source.table for source, _ in scope.sources} | ({"findings"} if scope.findings is not None else set())
    if any(counted.pending_mark(db, table) < counted.highest(db, table) for table in tables):
        return None
    return {kind: (first + HOUR_REST, _next_hour(last) + HOUR_REST)
            for kind, (first, last) in counted.hour_span(db, scope.kinds, scope.evidence).items()}


def _within(spans: dict[str, tuple[str, str]] | None, kind: str, low: str, high: str) -> tuple[str, str]:
    """[low, high) cut to where the kind's events of the chosen evidence items lie (empty: none there)."""
    if spans is None:
        return low, high
    if kind not in spans:
        return high, high
    return max(low, spans[kind][0]), min(high, spans[kind][1])


def _event(entry: tuple) -> TimelineEvent:
    kind, (_, object_id, ts, action, evidence_id, description) = entry[4], entry[5]
    return TimelineEvent(ts, kind, action, evidence_id, kind, object_id, description)


def events(db: Database, start: str | None = None, end: str | None = None, kinds: Kinds = None,
           limit: int | None = None, offset: int = 0, hide_known_good: bool = False,
           evidence: Evidence = None, match: str | None = None) -> list[TimelineEvent]:
    """Events with start <= time < end (ISO 8601; None for open), of these kinds and evidence items (None:
    all), matching `match` (see _scope), in time order — ties by kind (files first), then object id —
    skipping `offset` and returning at most `limit`. A deep offset costs the hourly counts and a few index
    counts, not a walk to it."""
    scope = _scope(db, kinds, hide_known_good, evidence, match)
    low, high = _bounds(start, end)
    if offset > SEEK:
        low, offset = _seek(db, scope, low, high, offset)
    stop = None if limit is None else offset + limit
    return [_event(entry) for entry in itertools.islice(_merged(db, low, high, scope), offset, stop)]


def iter_events(db: Database, start: str | None = None, end: str | None = None, kinds: Kinds = None,
                hide_known_good: bool = False, evidence: Evidence = None) -> Iterator[TimelineEvent]:
    """The same events, one at a time, for an export of the whole timeline."""
    low, high = _bounds(start, end)
    return (_event(entry) for entry in _merged(db, low, high, _scope(db, kinds, hide_known_good, evidence)))


# -- counting -------------------------------------------------------------------------------------------


def _on_hour(key: str) -> bool:
    return key[13:] == HOUR_REST


def _next_hour(key: str) -> str:
    """The hour after the one `key` falls in ('YYYY-MM-DDTHH')."""
    try:
        moment = dt.datetime.strptime(key[:13], "%Y-%m-%dT%H") + dt.timedelta(hours=1)
    except (ValueError, OverflowError):  # past the last hour a datetime holds
        return HIGHEST[:13]
    return f"{moment:%Y-%m-%dT%H}"


def _split(low: str, high: str) -> tuple[list[tuple[str, str]], tuple[str, str] | None]:
    """[low, high) as the whole hours in it ([first, last) of 'YYYY-MM-DDTHH', counted per hour) and the
    stretches of an hour before and after them (counted on the indexes)."""
    first = low[:13] if _on_hour(low) else _next_hour(low)
    last = high[:13]
    if first >= last:
        return [(low, high)] if low < high else [], None
    pieces = [] if _on_hour(low) else [(low, first + HOUR_REST)]
    if not _on_hour(high):
        pieces.append((last + HOUR_REST, high))
    return pieces, (first, last)


def _index_count(db: Database, scope: _Scope, low: str, high: str) -> int:
    """Events in [low, high) counted on the time indexes: for stretches within an hour."""
    total = 0
    for source, extra in scope.sources:
        total += db.execute(f"SELECT count(*) FROM {_from(source, scope)} WHERE {source.key} >= ? AND {source.key} < ?{extra}",
                            [low, high]).fetchone()[0]
    if scope.findings is not None:
        if counted.present(db):
            total += db.execute(f"SELECT count(*) {_FINDINGS_JOIN} WHERE t.key >= ? AND t.key < ?{scope.findings}",
                                [low, high]).fetchone()[0]
        key = key_sql(FINDING_TIME)
        total += db.execute(f"SELECT count(*) {FINDINGS_FROM} WHERE g.id > ? AND {key} >= ? AND {key} < ?{scope.findings}",
                            [counted.pending_mark(db, "findings"), low, high]).fetchone()[0]
    return total


def _hours(db: Database, scope: _Scope, first: str, last: str) -> list[tuple[str, int]]:
    """Events per hour from hour `first` to before `last`, in hour order: those counted, and those of
    rows not counted yet."""
    totals = dict(counted.hours(db, first, last, scope.kinds, scope.evidence))
    for hour, number in _pending_hours(db, scope, first, last):
        totals[hour] = totals.get(hour, 0) + number
    return sorted(totals.items())


def _pending_hours(db: Database, scope: _Scope, first: str, last: str) -> list[tuple[str, int]]:
    """Events per hour of the rows not counted yet (those above each table's mark: none once a scan has
    ended), in no order."""
    marks: dict[str, int] = {}
    found: list[tuple[str, int]] = []
    for source, extra in scope.sources:
        mark = marks.setdefault(source.table, counted.pending_mark(db, source.table))
        found += db.execute(f"""SELECT substr({source.key}, 1, 13) AS hour, count(*) FROM [{source.table}] NOT INDEXED
                                WHERE id > ? AND {source.key} >= ? AND {source.key} < ?{extra} AND hour >= ? AND hour < ?
                                GROUP BY hour""", [mark, LOWEST, HIGHEST, first, last]).fetchall()
    if scope.findings is not None:
        key = key_sql(FINDING_TIME)
        found += db.execute(f"""SELECT substr({key}, 1, 13) AS hour, count(*) {FINDINGS_FROM}
                                WHERE g.id > ? AND {key} >= ? AND {key} < ?{scope.findings} AND hour >= ? AND hour < ?
                                GROUP BY hour""", [counted.pending_mark(db, "findings"), LOWEST, HIGHEST, first, last]).fetchall()
    return found


def _counts(db: Database, scope: _Scope, edges: list[str]) -> list[int]:
    """Events in each [edges[i], edges[i+1]) range: whole hours summed by SQLite from the hourly counts (a
    few rows come back, not one per hour: thousands of short-lived rows in a worker thread bring the
    garbage collector, which holds up the window), the stretches of an hour at their ends on the indexes."""
    if scope.text:
        return _keyed_counts(db, scope, edges)
    if not scope.counted:
        return [_index_count(db, scope, edges[i], edges[i + 1]) for i in range(len(edges) - 1)]
    splits = [_split(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]
    totals = counted.sums(db, [span for _, span in splits], scope.kinds, scope.evidence)
    spans = [span for _, span in splits if span]
    if spans:
        pending = sorted(_pending_hours(db, scope, spans[0][0], spans[-1][1]))
        names = [hour for hour, _ in pending]
        running = [0, *itertools.accumulate(number for _, number in pending)]
        for i, (_, span) in enumerate(splits):
            if span:
                totals[i] += running[bisect.bisect_left(names, span[1])] - running[bisect.bisect_left(names, span[0])]
    for i, (pieces, _) in enumerate(splits):
        totals[i] += sum(_index_count(db, scope, low, high) for low, high in pieces)
    return totals


def _keyed_counts(db: Database, scope: _Scope, edges: list[str]) -> list[int]:
    """Events in each range, for the events matching words: their keys read once, put in their ranges."""
    totals = [0] * (len(edges) - 1)
    low, high = edges[0], edges[-1]
    for _, entries in itertools.groupby(enumerate(scope.sources), key=lambda entry: entry[1][0].table):
        group = list(entries)
        for (key,) in db.execute(_matched_sql(scope, group, "{key}"), [low, high] * len(group)):  # one row alive at a time
            totals[bisect.bisect_right(edges, key) - 1] += 1
    if scope.findings is not None:
        for entry in _findings(db, scope.findings, low, high, 0):
            totals[bisect.bisect_right(edges, entry[0]) - 1] += 1
    return totals


def _seek(db: Database, scope: _Scope, low: str, high: str, offset: int) -> tuple[str, int]:
    """A later start for the page at `offset` of [low, high), and the offset from it: the hour the page
    falls in (by the hourly counts), then halves of it (by index counts) down to a second."""
    pieces, span = _split(low, high)
    if not scope.counted or span is None:
        return _narrow(db, scope, low, high, offset)
    head = 0 if _on_hour(low) else _index_count(db, scope, low, span[0] + HOUR_REST)
    if offset < head:
        return _narrow(db, scope, low, span[0] + HOUR_REST, offset)
    offset -= head
    for hour, number in _hours(db, scope, *span):
        if offset < number:
            return _narrow(db, scope, hour + HOUR_REST, min(high, _next_hour(hour) + HOUR_REST), offset)
        offset -= number
    return span[1] + HOUR_REST, offset


def _narrow(db: Database, scope: _Scope, low: str, high: str, offset: int) -> tuple[str, int]:
    """Halve [low, high) while the page at `offset` is deep in it and it spans more than a second."""
    while offset > SEEK:
        try:
            first, last = (dt.datetime.strptime(key[:19], "%Y-%m-%dT%H:%M:%S") for key in (low, high))
        except ValueError:
            break
        if (last - first).total_seconds() < 2:
            break
        middle = first + (last - first) // 2
        middle_key = f"{middle:%Y-%m-%dT%H:%M:%S}.000000000"
        before = _index_count(db, scope, low, middle_key)
        if offset >= before:
            low, offset = middle_key, offset - before
        else:
            high = middle_key
    return low, offset


def count(db: Database, start: str | None = None, end: str | None = None, kinds: Kinds = None,
          hide_known_good: bool = False, evidence: Evidence = None, match: str | None = None) -> int:
    """How many events events() would return without a limit."""
    low, high = _bounds(start, end)
    return _counts(db, _scope(db, kinds, hide_known_good, evidence, match), [low, high])[0]


def histogram(db: Database, start: str, end: str, buckets: int, kinds: Kinds = None,
              hide_known_good: bool = False, evidence: Evidence = None) -> list[tuple[str, int]]:
    """Event counts in `buckets` equal slices of [start, end): (slice start, count) for each slice."""
    if buckets < 1:
        raise ValueError("a histogram needs at least one bucket")
    first = dt.datetime.fromisoformat(iso(sort_key(start)).replace("Z", "+00:00"))
    last = dt.datetime.fromisoformat(iso(sort_key(end)).replace("Z", "+00:00"))
    width = (last - first) / buckets
    moments = [first + width * i for i in range(buckets)] + [last]
    edges = [f"{m:%Y-%m-%dT%H:%M:%S}.{m.microsecond:06d}000" for m in moments]
    edges[0], edges[-1] = sort_key(start), sort_key(end)
    counts = _counts(db, _scope(db, kinds, hide_known_good, evidence), edges)
    return [(iso(edges[i]), n) for i, n in enumerate(counts)]


def histogram_over(db: Database, edges: Sequence[str], kinds: Kinds = None, hide_known_good: bool = False,
                   evidence: Evidence = None, match: str | None = None) -> list[int]:
    """Event counts in each [edges[i], edges[i+1]) (ISO 8601 UTC, ascending), as nice_edges gives them."""
    return _counts(db, _scope(db, kinds, hide_known_good, evidence, match), [sort_key(edge) for edge in edges])


# Bar widths a histogram is made of, in seconds: every bar starts at a whole multiple of its width since the
# epoch (a day's bars at midnight UTC), so that a bar one hour wide or more is counted from the hourly counts
# alone, and a click on a bar gives a range a person would type.
STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 2 * 86400,
         7 * 86400, 14 * 86400, 30 * 86400, 60 * 86400, 91 * 86400, 182 * 86400, 365 * 86400, 730 * 86400,
         1825 * 86400, 3650 * 86400)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def nice_edges(start: str, end: str, about: int = 60) -> list[str]:
    """Bar edges for [start, end) (ISO 8601 UTC): the range's own ends, and between them the multiples of
    the smallest STEPS width that makes at most `about` bars."""
    first, last = (_moment(ts) for ts in (start, end))
    seconds = (last - first).total_seconds()
    step = next((width for width in STEPS if seconds / width <= about), STEPS[-1])
    edges = [start]
    moment = EPOCH + dt.timedelta(seconds=((first - EPOCH).total_seconds() // step + 1) * step)
    while moment < last:
        edges.append(f"{moment:%Y-%m-%dT%H:%M:%S}Z")
        moment += dt.timedelta(seconds=step)
    return [*edges, end] if last > first else [start, end]


def _moment(ts: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso(sort_key(ts)).replace("Z", "+00:00"))


def kinds_present(db: Database, evidence: Evidence = None) -> list[str]:
    """The kinds of event the case has at least one of (for these evidence items), in KINDS order."""
    scope = _scope(db, None, False, evidence)
    found = counted.kinds_present(db, scope.evidence) if counted.present(db) else set()
    marks: dict[str, int] = {}
    for source, extra in scope.sources:
        if source.kind in found:
            continue
        mark = marks.setdefault(source.table, counted.pending_mark(db, source.table))
        if db.execute(f"SELECT 1 FROM [{source.table}] NOT INDEXED WHERE id > ? AND {source.key} >= ? "
                      f"AND {source.key} < ?{extra} LIMIT 1", [mark, LOWEST, HIGHEST]).fetchone():
            found.add(source.kind)
    if scope.findings is not None and "finding" not in found and _findings_range(db, scope.findings, False):
        found.add("finding")
    return [kind for kind in KINDS if kind in found]


def time_range(db: Database, kinds: Kinds = None, hide_known_good: bool = False,
               evidence: Evidence = None, match: str | None = None) -> tuple[str, str] | None:
    """The times of the earliest and the latest event, or None when there is none: the first and last
    entries of each time index (for one evidence item, looked for where the hourly counts say its events
    are), and of the rows not counted yet; with `match`, the first and last of the rows matching it."""
    scope = _scope(db, kinds, hide_known_good, evidence, match)
    spans = _spans(db, scope)
    marks: dict[str, int] = {}
    keys: list[str] = []
    if scope.text:
        for _, entries in itertools.groupby(enumerate(scope.sources), key=lambda entry: entry[1][0].table):
            group = list(entries)
            row = db.execute(f"SELECT min(k), max(k) FROM ({_matched_sql(scope, group, '{key} AS k')})",
                             [LOWEST, HIGHEST] * len(group)).fetchone()
            keys += [key for key in row if key]
    for source, extra in [] if scope.text else scope.sources:
        low, high = _within(spans, source.kind, LOWEST, HIGHEST)
        if low >= high:
            continue
        for direction in ("", " DESC"):
            row = db.execute(f"""SELECT {source.key} FROM [{source.table}] WHERE {source.key} >= ? AND {source.key} < ?
                                 {extra} ORDER BY {source.key}{direction} LIMIT 1""", [low, high]).fetchone()
            keys += [row[0]] if row else []
        if spans is None:  # rows may not all be counted: those above the marks too
            keys += _first_last(db, source, extra, marks.setdefault(source.table, counted.pending_mark(db, source.table)))
    if scope.findings is not None and (spans is None or "finding" in spans):
        keys += _findings_range(db, scope.findings, True)
    return (iso(min(keys)), iso(max(keys))) if keys else None


def _first_last(db: Database, source: Source, extra: str, mark: int) -> list[str]:
    """The first and last keys of a source's rows above `mark`, found by their ids."""
    row = db.execute(f"""SELECT min({source.key}), max({source.key}) FROM [{source.table}] NOT INDEXED
                         WHERE id > ? AND {source.key} >= ? AND {source.key} < ?{extra}""",
                     [mark, LOWEST, HIGHEST]).fetchone()
    return [key for key in row if key]


def _findings_range(db: Database, extra: str, both: bool) -> list[str]:
    """The first and last findings' keys (only the first when not `both`): from finding_times' index,
    and from the findings not counted yet."""
    keys = []
    if counted.present(db):
        for direction in ("", " DESC") if both else ("",):
            row = db.execute(f"SELECT t.key {_FINDINGS_JOIN} WHERE 1{extra} ORDER BY t.key{direction} LIMIT 1").fetchone()
            keys += [row[0]] if row else []
    key = key_sql(FINDING_TIME)
    row = db.execute(f"SELECT min({key}), max({key}) {FINDINGS_FROM} WHERE g.id > ? AND {key} >= ? AND {key} < ?{extra}",
                     [counted.pending_mark(db, "findings"), LOWEST, HIGHEST]).fetchone()
    return keys + [key for key in row if key]


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
