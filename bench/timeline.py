"""Timeline queries on a synthetic big case: how long the core's questions take with 1M files (4 MACB
times each, some with fractional seconds), network records and findings, and what the Timeline tab
costs through the real widget, offscreen.

    .venv/bin/python bench/timeline.py [--files 1000000] [--dns 200000] [--findings 100000] [--case DIR]
    .venv/bin/python bench/timeline.py --gui [--code DIR] [--json OUT]

The case is built once with SQL (recursive CTEs, seeded pseudo-random times over one year) and
reused; figures go to stdout. --gui measures the tab in a fresh process: the first open (the case
opened to its histogram and first rows on screen), a click on the fullest bar, a page from the middle
of that bar's rows, one step of the mouse wheel, the evidence and the words filters, the longest the
GUI thread did not answer a 50 ms timer, and the peak RSS. --code imports cybertriage from another
checkout (a `git worktree` of an older commit) to measure before and after on the same case.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = Path(__file__).resolve().parent / "work"
YEAR = 365 * 86400
BASE = 1_672_531_200  # 2023-01-01T00:00:00Z


def _iso(expr: str) -> str:
    """SQL: an ISO time from epoch seconds `expr`, a third of them with a fractional part."""
    return (f"strftime('%Y-%m-%dT%H:%M:%S', {expr}, 'unixepoch') || "
            f"CASE WHEN ({expr}) % 3 = 0 THEN '.' || (({expr}) % 997 + 1) ELSE '' END || 'Z'")


def build(case: Path, files: int, dns: int, findings: int) -> None:
    from cybertriage.case import open_case, timeline

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
        db.execute(f"""WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {findings})
            INSERT INTO findings (evidence_id, object_kind, object_id, object, analyzer, rule, severity, severity_rank,
                                  title, detail)
            SELECT 1, 'file', i * 97 % {files} + 1, '', 'yara', 'r', 'high', 3, 'match ' || i, '{{}}' FROM n""")
        timeline.create_indexes(db)  # and the hourly counts, as a scan's end makes them
    print(f"built {case} in {time.perf_counter() - started:.1f} s "
          f"({files:,} files, {dns:,} DNS, {dns // 4:,} HTTP, {findings:,} findings)")
    db.close()


def timed(label: str, work) -> object:
    started = time.perf_counter()
    result = work()
    print(f"{label:<56} {time.perf_counter() - started:8.3f} s")
    return result


def core(case: Path) -> None:
    """The core's questions, each timed once on a warm page cache."""
    from cybertriage.case import open_case, timeline
    from cybertriage.case.timeline_counts import count_new_events

    db = open_case(case)
    first, last = timed("time_range", lambda: timeline.time_range(db))
    total = timed("count (all)", lambda: timeline.count(db))
    print(f"  {total:,} events from {first} to {last}")
    edges = timeline.nice_edges(first, last)
    timed(f"histogram: whole range, {len(edges) - 1} bars on whole steps", lambda: timeline.histogram_over(db, edges))
    timed("histogram: whole range, 100 equal buckets", lambda: timeline.histogram(db, first, last, 100))
    middle = "2023-07-01T00:00:00Z"
    timed("histogram: one day, 96 buckets", lambda: timeline.histogram(db, middle, "2023-07-02T00:00:00Z", 96))
    timed("count: one day", lambda: timeline.count(db, start=middle, end="2023-07-02T00:00:00Z"))
    timed("count: 2023-03-05 10:17:33.5 to 2023-09-01 00:00:01", lambda: timeline.count(
        db, start="2023-03-05T10:17:33.5Z", end="2023-09-01T00:00:01Z"))
    timed("count: evidence 2 only", lambda: timeline.count(db, evidence=[2]))
    timed("events: first page (limit 500)", lambda: timeline.events(db, limit=500))
    timed("events: page at offset 100,000 (limit 500)", lambda: timeline.events(db, limit=500, offset=100_000))
    timed(f"events: page at offset {total // 2:,} (limit 500)", lambda: timeline.events(db, limit=500, offset=total // 2))
    timed("events: 500 from mid-year (start=...)", lambda: timeline.events(db, start=middle, limit=500))
    timed("events: one day (2023-07-01), all", lambda: timeline.events(db, start=middle, end="2023-07-02T00:00:00Z"))
    timed("events: dns only, 500 from mid-year", lambda: timeline.events(db, start=middle, kinds=["dns"], limit=500))
    for word in ("host17", "file29"):
        found = timed(f"words '{word}': count", lambda w=word: timeline.count(db, match=f'"{w}"*'))
        print(f"  {found:,} events")

    def recount() -> int:  # what the migration of an older case does, undone after
        db.execute("BEGIN")
        try:
            for table in ("timeline_counts", "finding_times", "timeline_marks"):
                db.execute(f"DELETE FROM {table}")
            return count_new_events(db)
        finally:
            db.conn.rollback()

    events = timed("counting every event anew (an older case's migration)", recount)
    print(f"  {events:,} events counted")


def gui_child(case: Path, out: Path, words: str) -> None:
    """The Timeline tab alone, offscreen: each step timed from the action to its rows on screen."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QPoint, QPointF, Qt, QTimer
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    from cybertriage.gui.timeline import TimelineView

    view = TimelineView(lambda text, error=False: print(text, file=sys.stderr))
    view.widget.resize(1200, 800)
    view.widget.show()
    app.processEvents()
    gap = {"last": time.perf_counter(), "max": 0.0}
    gaps: dict[str, float] = {}  # the longest gap in each step
    doing = ["open"]

    def tick() -> None:
        now = time.perf_counter()
        gaps[doing[0]] = max(gaps.get(doing[0], 0.0), (now - gap["last"]) * 1000)
        gap["max"], gap["last"] = max(gap["max"], now - gap["last"]), now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(50)
    shown: list = []
    view.shown.connect(shown.append)

    def until_rows(row: int = 0, limit: float = 600) -> None:
        end = time.perf_counter() + limit
        while not (shown and (view.model.rowCount() <= row or view.model.event_at(row) is not None)):
            if time.perf_counter() > end:
                raise TimeoutError("the timeline did not show its rows")
            app.processEvents()
            time.sleep(0.001)
        app.processEvents()

    def step(name: str, action) -> float:
        doing[0] = name
        shown.clear()
        started = time.perf_counter()
        action()
        until_rows()
        return time.perf_counter() - started

    figures: dict[str, float | int] = {}
    gap["last"] = time.perf_counter()
    figures["timeline_open_s"] = step("open", lambda: (view.open(case), view.tab_shown()))
    overview = shown[-1]
    figures["events"] = overview.count
    fullest = max(range(len(overview.bars)), key=lambda n: overview.bars[n][1])
    centre = view.histogram.bar_rect(fullest).center()
    figures["timeline_range_s"] = step("bar click", lambda: QTest.mouseClick(view.histogram, Qt.MouseButton.LeftButton,
                                                                pos=QPoint(centre.x(), centre.y())))
    figures["bar_events"] = shown[-1].count
    middle = view.model.rowCount() // 2
    doing[0] = "middle page"
    started = time.perf_counter()
    until_rows(middle)
    figures["middle_page_s"] = time.perf_counter() - started
    step("back", view.back)
    if hasattr(view, "evidence_box"):  # an older checkout (--code) has no wheel zoom and no such filters
        point = QPointF(view.histogram.width() / 2, view.histogram.height() / 2)
        wheel = QWheelEvent(point, view.histogram.mapToGlobal(point), QPoint(0, 0), QPoint(0, 120),
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        asked: list[float] = []  # when the wheel stopped and the range was asked for
        view.histogram.zoom_requested.connect(lambda *_: asked.append(time.perf_counter()))
        step("wheel", lambda: QApplication.sendEvent(view.histogram, wheel))
        figures["wheel_zoom_s"] = time.perf_counter() - asked[0]
        last = view.evidence_box.count() - 1  # the last evidence item (the capture), when there are two or more
        if last >= 2:
            view.evidence_box.setCurrentIndex(last)
            figures["evidence_filter_s"] = step("evidence", lambda: view.evidence_box.activated.emit(last))
        view.text_edit.setText(words)
        figures["words_filter_s"] = step("words", view.text_edit.returnPressed.emit)
        figures["words_events"] = shown[-1].count
    figures["max_gui_gap_ms"] = gap["max"] * 1000
    print("longest GUI gap in each step (ms):", {name: round(value) for name, value in gaps.items()}, file=sys.stderr)
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.write_text(json.dumps(figures))


def gui(case: Path, code: Path, out: Path | None, words: str) -> dict:
    result = WORK / "timeline-gui.json"
    subprocess.run([sys.executable, __file__, "--gui-child", str(result), "--case", str(case), "--code", str(code),
                    "--words", words], check=True)
    figures = json.loads(result.read_text())
    for key, value in figures.items():
        print(f"{key:<24} {value:12,.3f}" if isinstance(value, float) else f"{key:<24} {value:12,}")
    if out:
        out.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--dns", type=int, default=200_000)
    parser.add_argument("--findings", type=int, default=100_000)
    parser.add_argument("--case", type=Path, default=None)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--gui", action="store_true", help="measure the Timeline tab offscreen instead of the core")
    parser.add_argument("--code", type=Path, default=REPO, help="the checkout whose cybertriage is measured")
    parser.add_argument("--json", type=Path, default=None, help="write the --gui figures here")
    parser.add_argument("--words", default="host17", help="what --gui types in the words filter")
    parser.add_argument("--gui-child", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(args.code.resolve()))
    case = args.case or WORK / f"timeline-{args.files}f-{args.dns}d-{args.findings}g"
    if args.gui_child:
        gui_child(case, args.gui_child, args.words)
        return 0
    if args.rebuild or not (case / "case.db").exists():
        build(case, args.files, args.dns, args.findings)
    if args.gui:
        gui(case, args.code, args.json, args.words)
    else:
        core(case)
    return 0


if __name__ == "__main__":
    sys.exit(main())
