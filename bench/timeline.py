"""Timeline queries on a synthetic big case: how long a page, a count, a histogram and the time
range take with 1M files (4 MACB times each, some with fractional seconds) and network records.

    .venv/bin/python bench/timeline.py [--files 1000000] [--dns 200000] [--case DIR]

The case is built once with SQL (recursive CTEs, seeded pseudo-random times over one year) and
reused; figures go to stdout.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cybertriage.case import open_case, timeline  # noqa: E402

WORK = Path(__file__).resolve().parent / "work"
YEAR = 365 * 86400
BASE = 1_672_531_200  # 2023-01-01T00:00:00Z


def _iso(expr: str) -> str:
    """SQL: an ISO time from epoch seconds `expr`, a third of them with a fractional part."""
    return (f"strftime('%Y-%m-%dT%H:%M:%S', {expr}, 'unixepoch') || "
            f"CASE WHEN ({expr}) % 3 = 0 THEN '.' || (({expr}) % 997 + 1) ELSE '' END || 'Z'")


def build(case: Path, files: int, dns: int) -> None:
    shutil.rmtree(case, ignore_errors=True)
    db = open_case(case, create=True)
    db.execute("PRAGMA journal_mode = OFF")
    started = time.perf_counter()
    with db.conn:
        db["evidence"].insert({"id": 1, "path": "synthetic", "status": "done"})
        db["evidence"].insert({"id": 2, "path": "synthetic.pcap", "status": "done"})
        t = f"({BASE} + (abs(random()) % {YEAR}))"
        db.execute(f"""WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {files})
            INSERT INTO files (id, evidence_id, path, name, kind, deleted, size, mtime, atime, ctime, crtime)
            SELECT i, 1, '/data/' || (i % 1000) || '/file' || i || '.bin', 'file' || i || '.bin', 'file', i % 50 = 0,
                   i % 65536, m, CASE WHEN i % 4 = 0 THEN m ELSE {_iso(t)} END, {_iso(t)},
                   CASE WHEN i % 5 = 0 THEN NULL ELSE {_iso(t)} END
            FROM (SELECT i, {_iso(t)} AS m FROM n)""")
        db.execute(f"""WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {dns})
            INSERT INTO dns (evidence_id, flow_id, ts, src, dst, query, qtype, answers)
            SELECT 2, i, strftime('%Y-%m-%dT%H:%M:%S', {t}, 'unixepoch') || '.' || printf('%06d', i % 1000000) || 'Z',
                   '10.0.0.2', '10.0.0.1', 'host' || (i % 5000) || '.example.com', 'A', '["192.0.2.1"]' FROM n""")
        db.execute(f"""WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {dns // 4})
            INSERT INTO http (evidence_id, flow_id, ts, src, dst, method, host, uri, status)
            SELECT 2, i, strftime('%Y-%m-%dT%H:%M:%S', {t}, 'unixepoch') || '.' || printf('%06d', i % 1000000) || 'Z',
                   '10.0.0.2', '192.0.2.1', 'GET', 'host' || (i % 5000) || '.example.com', '/x' || i, 200 FROM n""")
        db.execute(f"""WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {files // 100})
            INSERT INTO findings (evidence_id, object_kind, object_id, object, analyzer, rule, severity, severity_rank,
                                  title, detail)
            SELECT 1, 'file', i * 97 % {files} + 1, '', 'yara', 'r', 'high', 3, 'match ' || i, '{{}}' FROM n""")
    print(f"built {case} in {time.perf_counter() - started:.1f} s "
          f"({files:,} files, {dns:,} DNS, {dns // 4:,} HTTP, {files // 100:,} findings)")
    db.close()


def timed(label: str, work) -> object:
    started = time.perf_counter()
    result = work()
    print(f"{label:<52} {time.perf_counter() - started:8.3f} s")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--dns", type=int, default=200_000)
    parser.add_argument("--case", type=Path, default=None)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    case = args.case or WORK / f"timeline-{args.files}f-{args.dns}d"
    if args.rebuild or not (case / "case.db").exists():
        build(case, args.files, args.dns)
    db = open_case(case)
    first, last = timed("time_range", lambda: timeline.time_range(db))
    total = timed("count (all)", lambda: timeline.count(db))
    print(f"  {total:,} events from {first} to {last}")
    timed("events: first page (limit 500)", lambda: timeline.events(db, limit=500))
    timed("events: page at offset 100,000 (limit 500)", lambda: timeline.events(db, limit=500, offset=100_000))
    middle = "2023-07-01T00:00:00Z"
    timed("events: 500 from mid-year (start=...)", lambda: timeline.events(db, start=middle, limit=500))
    timed("events: one day (2023-07-01), all", lambda: timeline.events(db, start=middle, end="2023-07-02T00:00:00Z"))
    timed("count: one day", lambda: timeline.count(db, start=middle, end="2023-07-02T00:00:00Z"))
    timed("events: dns only, 500 from mid-year", lambda: timeline.events(db, start=middle, kinds=["dns"], limit=500))
    timed("histogram: whole range, 100 buckets", lambda: timeline.histogram(db, first, last, 100))
    timed("histogram: one day, 96 buckets", lambda: timeline.histogram(db, middle, "2023-07-02T00:00:00Z", 96))
    return 0


if __name__ == "__main__":
    sys.exit(main())
