"""The timeline's hourly counts (schema 20): they equal the sqlite3 CLI's own GROUP BY over the source
tables after a scan's end, after rows are added, after an evidence item is forgotten and examined again,
and in an older case brought up to date; counts, histograms, deep pages and the words filter read through
them give the events worked out here from the rows the test wrote."""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from cybertriage.case import open_case, writes
from cybertriage.case import timeline as tl
from cybertriage.case.schema import SCHEMA_VERSION
from cybertriage.case.timeline_counts import count_new_events
from tests import images
from tests.conftest import run_cli

START = dt.datetime(2024, 3, 1, 6, tzinfo=dt.timezone.utc)
RANK = {kind: number for number, kind in enumerate(tl.KINDS)}
WORDS = ("invoice", "holiday", "report", "backup")

# The CLI's own statement of which rows are events and which hour each falls in: every distinct time of a
# file once (MACB letters at the same time are one event), a flow at its first packet, a DNS query, an HTTP
# request, a TLS hello, a mail, an FTP command and an artefact at their ts, a finding at the time its detail
# names, else its file's creation, modification or change time.
CLI_GROUP_BY = """
SELECT hour, kind, evidence_id, count(*) FROM (
  SELECT substr(mtime, 1, 13) AS hour, 'file' AS kind, evidence_id FROM files WHERE mtime IS NOT NULL
  UNION ALL SELECT substr(atime, 1, 13), 'file', evidence_id FROM files WHERE atime IS NOT NULL AND atime IS NOT mtime
  UNION ALL SELECT substr(ctime, 1, 13), 'file', evidence_id FROM files
            WHERE ctime IS NOT NULL AND ctime IS NOT mtime AND ctime IS NOT atime
  UNION ALL SELECT substr(crtime, 1, 13), 'file', evidence_id FROM files
            WHERE crtime IS NOT NULL AND crtime IS NOT mtime AND crtime IS NOT atime AND crtime IS NOT ctime
  UNION ALL SELECT substr(first_seen, 1, 13), 'flow', evidence_id FROM flows WHERE first_seen IS NOT NULL
  UNION ALL SELECT substr(ts, 1, 13), 'dns', evidence_id FROM dns WHERE ts IS NOT NULL
  UNION ALL SELECT substr(ts, 1, 13), 'http', evidence_id FROM http WHERE ts IS NOT NULL
  UNION ALL SELECT substr(ts, 1, 13), 'tls', evidence_id FROM tls WHERE ts IS NOT NULL
  UNION ALL SELECT substr(ts, 1, 13), 'smtp', evidence_id FROM smtp WHERE ts IS NOT NULL
  UNION ALL SELECT substr(ts, 1, 13), 'ftp', evidence_id FROM ftp WHERE ts IS NOT NULL
  UNION ALL SELECT substr(ts, 1, 13), 'artifact', evidence_id FROM artifacts WHERE ts IS NOT NULL
  UNION ALL SELECT substr(coalesce(json_extract(g.detail, '$.ts'), f.crtime, f.mtime, f.ctime), 1, 13), 'finding',
                   g.evidence_id
            FROM findings g LEFT JOIN files f ON g.object_kind = 'file' AND f.id = g.object_id
            WHERE coalesce(json_extract(g.detail, '$.ts'), f.crtime, f.mtime, f.ctime) IS NOT NULL
) GROUP BY hour, kind, evidence_id ORDER BY hour, kind, evidence_id
"""
STORED = "SELECT hour, kind, evidence_id, events FROM timeline_counts WHERE events > 0 ORDER BY hour, kind, evidence_id"


def cli(case: Path, sql: str) -> str:
    return subprocess.run(["sqlite3", str(case / "case.db"), sql], capture_output=True, text=True, check=True).stdout


def _ts(moment: dt.datetime, fraction: str) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}{fraction}Z"


def _rows(seed: int, files: int, first_id: int, evidence_id: int) -> tuple[list[dict], list[dict], list[dict]]:
    """Files with four times (some equal, some missing, some with fractions), DNS and HTTP records, over two days."""
    rng = random.Random(seed)

    def moment() -> str:
        at = START + dt.timedelta(seconds=rng.randrange(2 * 86400))
        return _ts(at, rng.choice(["", "", ".5", ".25", ".123456789", ".000001"]))

    file_rows = []
    for number in range(first_id, first_id + files):
        mtime = moment()
        times = [mtime, rng.choice([mtime, moment()]), rng.choice([mtime, moment(), None]), rng.choice([moment(), None])]
        file_rows.append({"id": number, "evidence_id": evidence_id, "path": f"/docs/{rng.choice(WORDS)}-{number}.txt",
                          "name": f"{number}.txt", "kind": "file", "deleted": 0,
                          **dict(zip(("mtime", "atime", "ctime", "crtime"), times))})
    dns = [{"evidence_id": evidence_id, "flow_id": i, "ts": moment(), "query": f"{rng.choice(WORDS)}{i}.example.com",
            "qtype": "A"} for i in range(files // 2)]
    http = [{"evidence_id": evidence_id, "flow_id": i, "ts": moment(), "method": "GET", "host": "example.com",
             "uri": f"/{i}"} for i in range(files // 4)]
    return file_rows, dns, http


def _write(db, seed: int, files: int, first_id: int, evidence_id: int) -> None:
    file_rows, dns, http = _rows(seed, files, first_id, evidence_id)
    with db.conn:
        db["files"].insert_all(file_rows)
        db["dns"].insert_all(dns)
        db["http"].insert_all(http)
        db["findings"].insert_all(
            [{"evidence_id": evidence_id, "object_kind": "file", "object_id": row["id"], "object": row["path"],
              "analyzer": "yara", "rule": "r", "severity": "high", "severity_rank": 3, "title": f"rule on {row['path']}",
              "detail": "{}"} for row in file_rows[::7]]
            + [{"evidence_id": evidence_id, "object_kind": "flow", "object_id": 1, "object": "flow 1",
                "analyzer": "network", "rule": "x", "severity": "medium", "severity_rank": 2, "title": "beacon",
                "detail": json.dumps({"ts": dns[0]["ts"]})}])


@pytest.fixture(scope="module")
def counted_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two evidence items written directly, then indexed and counted as a scan's end does."""
    case = tmp_path_factory.mktemp("counts") / "case"
    db = open_case(case, create=True)
    with db.conn:
        db["evidence"].insert_all([{"id": 1, "path": "/evidence/disk.raw", "status": "done"},
                                   {"id": 2, "path": "/evidence/laptop.E01", "status": "done"}])
    _write(db, 1, 1500, 1, 1)
    _write(db, 2, 700, 1501, 2)
    with db.conn:
        tl.create_indexes(db)
    db.close()
    return case


def _copy(case: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "case"
    shutil.copytree(case, copy)
    return copy


def _expected(case: Path) -> list[tuple[int, int, int, str, int]]:
    """(nanoseconds, kind rank, object id, kind, evidence id) of every event, from the rows the sqlite3 CLI lists,
    in timeline order, times parsed here."""
    out = []
    for line in cli(case, "SELECT id, evidence_id, mtime, atime, ctime, crtime FROM files").splitlines():
        number, evidence, *times = line.split("|")
        for ts in dict.fromkeys(t for t in times if t):
            out.append((_nanoseconds(ts), RANK["file"], int(number), "file", int(evidence)))
    for table in ("dns", "http"):
        for line in cli(case, f"SELECT id, evidence_id, ts FROM {table}").splitlines():
            number, evidence, ts = line.split("|")
            out.append((_nanoseconds(ts), RANK[table], int(number), table, int(evidence)))
    for line in cli(case, "SELECT g.id, g.evidence_id, coalesce(json_extract(g.detail, '$.ts'), f.crtime, f.mtime, f.ctime) "
                          "FROM findings g LEFT JOIN files f ON g.object_kind = 'file' AND f.id = g.object_id").splitlines():
        number, evidence, ts = line.split("|")
        out.append((_nanoseconds(ts), RANK["finding"], int(number), "finding", int(evidence)))
    return sorted(out)


def _nanoseconds(ts: str) -> int:
    head, _, fraction = ts.rstrip("Z").partition(".")
    seconds = int(dt.datetime.fromisoformat(head).replace(tzinfo=dt.timezone.utc).timestamp())
    return seconds * 10**9 + int((fraction or "0").ljust(9, "0"))


def _seen(events: list[tl.TimelineEvent]) -> list[tuple[int, int, int, str, int]]:
    return [(_nanoseconds(e.ts), RANK[e.kind], e.object_id, e.kind, e.evidence_id) for e in events]


def test_counts_equal_the_cli_group_by(counted_case: Path) -> None:
    stored = cli(counted_case, STORED)
    assert stored == cli(counted_case, CLI_GROUP_BY)
    assert len(stored.splitlines()) > 100  # two days of hours, four kinds, two evidence items
    assert cli(counted_case, "SELECT count(*) FROM finding_times") == cli(counted_case, "SELECT count(*) FROM findings")


def test_a_scans_counts_equal_the_cli_group_by(tmp_path: Path) -> None:
    """A scan of a disk and two captures counts its rows at its end, and the passes' findings after it."""
    case = tmp_path / "case"
    result = run_cli("scan", images.REPO / "resources" / "demo" / "demo-disk.img", images.CORPUS / "pcap" / "http_get.pcap",
                     images.CORPUS / "pcap" / "smtp.pcap", "--case", case, "--quiet")
    assert result.code == 0, result.stderr
    stored = cli(case, STORED)
    assert stored == cli(case, CLI_GROUP_BY)
    assert {line.split("|")[1] for line in stored.splitlines()} >= {"file", "flow", "dns", "http", "tls", "smtp", "finding"}
    assert "timeline events counted" in cli(case, "SELECT action FROM audit_log")  # the pass ran too


def test_an_older_case_is_counted_when_opened(counted_case: Path, tmp_path: Path) -> None:
    case = _copy(counted_case, tmp_path)
    cli(case, "DROP TABLE timeline_counts; DROP TABLE finding_times; DROP TABLE timeline_marks; PRAGMA user_version = 19")
    open_case(case).close()
    assert cli(case, "PRAGMA user_version").strip() == str(SCHEMA_VERSION)
    assert cli(case, STORED) == cli(case, CLI_GROUP_BY)


def test_rows_added_later_are_read_before_and_after_they_are_counted(counted_case: Path, tmp_path: Path) -> None:
    case = _copy(counted_case, tmp_path)
    before = cli(case, STORED)
    cli(case, "INSERT INTO dns (evidence_id, flow_id, ts, query, qtype) VALUES (2, 99, '2024-03-03T23:59:59.5Z', 'late', 'A');"
              "INSERT INTO findings (evidence_id, object_kind, object_id, object, analyzer, rule, severity, severity_rank,"
              " title, detail) VALUES (1, 'file', 3, '', 'hashes', 'bad', 'critical', 4, 'late finding', '{}')")
    db = open_case(case)
    assert cli(case, STORED) == before  # nothing counted yet: both rows are pending
    expected = _expected(case)
    assert tl.count(db) == len(expected)
    assert _seen(tl.events(db, start="2024-03-03T23:00:00Z")) == [e for e in expected if e[0] >= _nanoseconds("2024-03-03T23:00:00Z")]
    with db.conn:
        assert count_new_events(db) == 2
    assert cli(case, STORED) == cli(case, CLI_GROUP_BY)
    assert tl.count(db) == len(expected)


def test_an_evidence_item_forgotten_and_examined_again(counted_case: Path, tmp_path: Path) -> None:
    """Evidence 2's rows have the highest ids: forgotten, its new rows take ids at or below the old marks."""
    case = _copy(counted_case, tmp_path)
    db = open_case(case)
    highest = int(cli(case, "SELECT max(id) FROM files"))
    with db.conn:
        writes.forget_evidence(db, 2)
    assert cli(case, "SELECT count(*) FROM timeline_counts WHERE evidence_id = 2").strip() == "0"
    _write(db, 3, 300, 1501, 2)  # ids 1501.. again, below the old mark
    assert int(cli(case, "SELECT max(id) FROM files")) < highest
    expected = _expected(case)
    assert tl.count(db) == len(expected)
    assert tl.count(db, evidence=[2]) == sum(1 for e in expected if e[4] == 2)
    with db.conn:
        count_new_events(db)
    assert cli(case, STORED) == cli(case, CLI_GROUP_BY)
    assert tl.count(db, evidence=[2]) == sum(1 for e in expected if e[4] == 2)


RANGES = [
    (None, None),
    ("2024-03-01T09:00:00Z", "2024-03-02T18:00:00Z"),  # whole hours
    ("2024-03-01T09:17:33.25Z", "2024-03-02T18:04:00.000001Z"),  # parts of an hour at both ends
    ("2024-03-01T10:05:00Z", "2024-03-01T10:55:00Z"),  # within one hour
    ("2024-03-02T00:00:00Z", "2024-03-01T00:00:00Z"),  # reversed: nothing
]


@pytest.mark.parametrize(("start", "end"), RANGES)
def test_counts_of_ranges(counted_case: Path, start: str | None, end: str | None) -> None:
    db = open_case(counted_case)
    low = _nanoseconds(start) if start else 0
    high = _nanoseconds(end) if end else 10**30
    expected = [e for e in _expected(counted_case) if low <= e[0] < high]
    assert tl.count(db, start, end) == len(expected)
    assert tl.count(db, start, end, kinds=["dns", "finding"]) == sum(1 for e in expected if e[3] in ("dns", "finding"))
    assert tl.count(db, start, end, evidence=[1]) == sum(1 for e in expected if e[4] == 1)


def test_histogram_over_whole_steps(counted_case: Path) -> None:
    db = open_case(counted_case)
    start, end = "2024-03-01T10:17:00Z", "2024-03-02T09:00:00Z"
    edges = tl.nice_edges(start, end, 60)  # 22 h 43 min: half-hour bars (quarter hours would make 91)
    assert edges == [start, *(f"{m:%Y-%m-%dT%H:%M:%S}Z" for m in (dt.datetime(2024, 3, 1, 10, 30) + dt.timedelta(minutes=30 * i)
                                                                   for i in range(45))), end]
    counts = tl.histogram_over(db, edges)
    events = _expected(counted_case)
    bounds = [_nanoseconds(edge) for edge in edges]
    assert counts == [sum(1 for e in events if bounds[i] <= e[0] < bounds[i + 1]) for i in range(len(counts))]
    assert sum(counts) == tl.count(db, start, end) > 0


@pytest.mark.parametrize("query", [{}, {"kinds": ["file"]}, {"evidence": [2]},
                                   {"start": "2024-03-01T12:34:56.5Z", "end": "2024-03-02T20:00:00Z"}])
def test_deep_pages(counted_case: Path, monkeypatch: pytest.MonkeyPatch, query: dict) -> None:
    """A page far in starts from the hour it falls in and halves of it (SEEK made small to use that on this case)."""
    monkeypatch.setattr(tl, "SEEK", 3)
    db = open_case(counted_case)
    low = _nanoseconds(query["start"]) if "start" in query else 0
    high = _nanoseconds(query["end"]) if "end" in query else 10**30
    expected = [e for e in _expected(counted_case) if low <= e[0] < high and e[3] in query.get("kinds", tl.KINDS)
                and e[4] in query.get("evidence", (1, 2))]
    for offset in (0, 4, 777, len(expected) // 2, len(expected) - 3):
        assert _seen(tl.events(db, limit=10, offset=offset, **query)) == expected[offset : offset + 10], offset


def test_words_filter(counted_case: Path) -> None:
    db = open_case(counted_case)
    invoices = {int(line) for line in cli(counted_case, "SELECT id FROM files WHERE path LIKE '/docs/invoice-%'").splitlines()}
    queries = {int(line) for line in cli(counted_case, "SELECT id FROM dns WHERE query LIKE 'invoice%'").splitlines()}
    findings = {int(line) for line in cli(counted_case, "SELECT id FROM findings WHERE title LIKE '%/docs/invoice-%'").splitlines()}
    expected = [e for e in _expected(counted_case)
                if (e[3], e[2]) in {*(("file", n) for n in invoices), *(("dns", n) for n in queries),
                                    *(("finding", n) for n in findings)}]
    assert invoices and queries and findings
    assert tl.count(db, match='"invoice"*') == len(expected)
    assert _seen(tl.events(db, match='"invoice"*')) == expected
    first, last = tl.time_range(db, match='"invoice"*')
    assert (_nanoseconds(first), _nanoseconds(last)) == (expected[0][0], expected[-1][0])
    edges = tl.nice_edges(first, "2024-03-04T00:00:00Z")
    assert sum(tl.histogram_over(db, edges, match='"invoice"*')) == len(expected)
    assert tl.count(db, "2024-03-01T12:00:00Z", "2024-03-01T18:30:00Z", match='"invoice"*') == sum(
        1 for e in expected if _nanoseconds("2024-03-01T12:00:00Z") <= e[0] < _nanoseconds("2024-03-01T18:30:00Z"))


def test_time_range_and_kinds(counted_case: Path) -> None:
    db = open_case(counted_case)
    expected = _expected(counted_case)
    first, last = tl.time_range(db)
    assert (_nanoseconds(first), _nanoseconds(last)) == (expected[0][0], expected[-1][0])
    second = [e for e in expected if e[4] == 2]
    first, last = tl.time_range(db, evidence=[2])
    assert (_nanoseconds(first), _nanoseconds(last)) == (second[0][0], second[-1][0])
    assert tl.kinds_present(db) == ["file", "dns", "http", "finding"]
