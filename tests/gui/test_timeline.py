"""The Timeline tab: its rows are the events for the range, kinds, evidence item and words chosen (as the sqlite3 CLI
lists them from the case), a bar click and the wheel narrow the range, a double-click opens the event's record."""

from __future__ import annotations

import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlite_utils
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from cybertriage.case import timeline
from cybertriage.gui.timeline_chart import seconds, tick_label
from tests.conftest import run_cli
from tests.gui.conftest import DEMO_IMAGE
from tests.gui.test_window import open_case


@pytest.fixture(scope="session")
def mixed_case(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> Path:
    """The demo disk and two captures: file times and network events years apart."""
    case = tmp_path_factory.mktemp("timeline") / "case"
    result = run_cli("scan", DEMO_IMAGE, corpus_dir / "pcap" / "http_get.pcap", corpus_dir / "pcap" / "smtp.pcap",
                     "--case", case, "--quiet")
    assert result.code == 0, result.stderr
    return case


def core(case: Path) -> sqlite_utils.Database:
    return sqlite_utils.Database(case / "case.db")


def show_timeline(qtbot, window, case: Path):
    open_case(qtbot, window, case)
    with qtbot.waitSignal(window.timeline.shown, timeout=20_000) as shown:
        window.tabs.setCurrentWidget(window.timeline.widget)
    return shown.args[0]


def wait_rows(qtbot, view) -> None:
    """Pages are read on the pool: wait until the first row has arrived."""
    qtbot.waitUntil(lambda: view.model.event_at(0) is not None, timeout=10_000)


def test_whole_case_rows_are_the_timeline_events(qtbot, main_window, mixed_case):
    overview = show_timeline(qtbot, main_window, mixed_case)
    view = main_window.timeline
    db = core(mixed_case)
    assert view.model.rowCount() == overview.count == timeline.count(db) > 0
    assert sum(n for _, n in overview.bars) == overview.count  # the histogram spans every event
    wait_rows(qtbot, view)
    first = timeline.events(db, limit=3)
    assert [view.model.data(view.model.index(row, 0)) for row in range(3)] == [e.ts for e in first]
    assert [view.model.data(view.model.index(row, 1)) for row in range(3)] == [e.kind for e in first]
    kinds = set(view.kind_boxes)
    assert {"file", "flow", "http", "smtp"} <= kinds


def test_range_and_kinds_filter_the_rows(qtbot, main_window, mixed_case):
    overview = show_timeline(qtbot, main_window, mixed_case)
    view = main_window.timeline
    db = core(mixed_case)
    start, end = overview.bars[0][0], overview.bars[len(overview.bars) // 2][0]
    from cybertriage.gui.timeline import TimelineQuery

    with qtbot.waitSignal(view.shown, timeout=10_000):
        view.set_query(TimelineQuery(start, end, None))
    assert view.model.rowCount() == timeline.count(db, start, end)
    with qtbot.waitSignal(view.shown, timeout=10_000):
        view.kind_boxes["file"].setChecked(False)
    assert "file" not in view.query.kinds
    assert view.model.rowCount() == timeline.count(db, start, end, list(view.query.kinds))
    with qtbot.waitSignal(view.shown, timeout=10_000):
        view.back()
    assert view.model.rowCount() == timeline.count(db, start, end)


def test_clicking_a_bar_narrows_the_range_to_it(qtbot, main_window, mixed_case):
    overview = show_timeline(qtbot, main_window, mixed_case)
    view = main_window.timeline
    histogram = view.histogram
    fullest = max(range(len(overview.bars)), key=lambda n: overview.bars[n][1])
    centre = histogram.bar_rect(fullest).center()
    for number in range(len(histogram.bars)):  # the hit test finds each bar at every column it is drawn over
        drawn = histogram.bar_rect(number)
        assert all(histogram.bar_at(QPoint(x, drawn.center().y())) == number for x in range(drawn.left(), drawn.right()))
    with qtbot.waitSignal(view.shown, timeout=10_000) as shown:
        qtbot.mouseClick(histogram, Qt.MouseButton.LeftButton, pos=QPoint(centre.x(), centre.y()))
    narrowed = shown.args[0]
    start, end = histogram_bucket(overview, fullest)
    assert (narrowed.query.start, narrowed.query.end) == (start, end)
    assert view.model.rowCount() == timeline.count(core(mixed_case), start, end) == overview.bars[fullest][1]
    wait_rows(qtbot, view)
    assert start <= view.model.data(view.model.index(0, 0))


def histogram_bucket(overview, number: int) -> tuple[str, str]:
    end = overview.bars[number + 1][0] if number + 1 < len(overview.bars) else overview.last
    return overview.bars[number][0], end


def test_pages_are_read_one_at_a_time_the_latest_asked_for_next(qtbot, mixed_case, monkeypatch):
    from cybertriage.gui import timeline as view

    reads: list[int] = []
    real = view.read_page

    def counted(case, query, offset, limit, *, cancel=None):
        reads.append(offset)
        return real(case, query, offset, limit, cancel=cancel)

    monkeypatch.setattr(view, "read_page", counted)
    model = view.TimelineModel()
    model.PAGE = 10
    total = timeline.count(core(mixed_case))
    assert total > 60
    model.show(mixed_case, view.TimelineQuery(), total, {})
    for row in (0, 25, 45, 65):  # scrolling past pages 2 and 4 while page 0 is read
        assert model.event_at(row) is None
    qtbot.waitUntil(lambda: model.event_at(65) is not None, timeout=10_000)
    assert reads == [0, 60]
    assert model.event_at(65).ts == timeline.events(core(mixed_case), limit=1, offset=65)[0].ts


# -- expected events from the sqlite3 CLI over the case -----------------------------------------------------

RANKS = {kind: number for number, kind in enumerate(timeline.KINDS)}
CLI_SOURCES = {  # kind: SQL giving (id, evidence_id, time) of each event of that kind, as the examiner reads them
    "file": "SELECT id, evidence_id, mtime FROM files WHERE mtime IS NOT NULL "
            "UNION ALL SELECT id, evidence_id, atime FROM files WHERE atime IS NOT NULL AND atime IS NOT mtime "
            "UNION ALL SELECT id, evidence_id, ctime FROM files WHERE ctime IS NOT NULL AND ctime IS NOT mtime "
            "AND ctime IS NOT atime UNION ALL SELECT id, evidence_id, crtime FROM files WHERE crtime IS NOT NULL "
            "AND crtime IS NOT mtime AND crtime IS NOT atime AND crtime IS NOT ctime",
    "flow": "SELECT id, evidence_id, first_seen FROM flows WHERE first_seen IS NOT NULL",
    "dns": "SELECT id, evidence_id, ts FROM dns WHERE ts IS NOT NULL",
    "http": "SELECT id, evidence_id, ts FROM http WHERE ts IS NOT NULL",
    "tls": "SELECT id, evidence_id, ts FROM tls WHERE ts IS NOT NULL",
    "smtp": "SELECT id, evidence_id, ts FROM smtp WHERE ts IS NOT NULL",
    "finding": "SELECT g.id, g.evidence_id, coalesce(json_extract(g.detail, '$.ts'), f.crtime, f.mtime, f.ctime) AS t "
               "FROM findings g LEFT JOIN files f ON g.object_kind = 'file' AND f.id = g.object_id WHERE t IS NOT NULL",
}


def cli(case: Path, sql: str) -> list[list[str]]:
    out = subprocess.run(["sqlite3", str(case / "case.db"), sql], capture_output=True, text=True, check=True).stdout
    return [line.split("|") for line in out.splitlines()]


def nanoseconds(ts: str) -> int:
    head, _, fraction = ts.rstrip("Z").partition(".")
    seconds = int(datetime.fromisoformat(head).replace(tzinfo=timezone.utc).timestamp())
    return seconds * 10**9 + int((fraction or "0").ljust(9, "0"))


def cli_events(case: Path, start: str | None = None, end: str | None = None) -> list[tuple[int, int, int, str, int]]:
    """(time, kind rank, id, kind, evidence id) of the events in [start, end), in timeline order."""
    low, high = nanoseconds(start) if start else 0, nanoseconds(end) if end else 10**30
    found = [(nanoseconds(ts), RANKS[kind], int(number), kind, int(evidence))
             for kind, sql in CLI_SOURCES.items() for number, evidence, ts in cli(case, sql)]
    return sorted(event for event in found if low <= event[0] < high)


def shown_events(view, rows: int) -> list[tuple[int, int, int, str, int]]:
    events = [view.model.event_at(row) for row in range(rows)]
    return [(nanoseconds(e.ts), RANKS[e.kind], e.object_id, e.kind, e.evidence_id) for e in events]


def wait_all_rows(qtbot, view, rows: int) -> None:
    for row in range(0, rows, view.model.PAGE):
        view.model.event_at(row)
        qtbot.waitUntil(lambda r=row: view.model.event_at(r) is not None, timeout=10_000)


def test_a_bar_click_lists_the_events_the_cli_finds_in_it(qtbot, main_window, mixed_case):
    overview = show_timeline(qtbot, main_window, mixed_case)
    view = main_window.timeline
    every = cli_events(mixed_case)
    assert overview.count == len(every) == sum(n for _, n in overview.bars)
    fullest = max(range(len(overview.bars)), key=lambda n: overview.bars[n][1])
    centre = view.histogram.bar_rect(fullest).center()
    with qtbot.waitSignal(view.shown, timeout=10_000) as shown:
        qtbot.mouseClick(view.histogram, Qt.MouseButton.LeftButton, pos=QPoint(centre.x(), centre.y()))
    start, end = histogram_bucket(overview, fullest)
    assert (shown.args[0].query.start, shown.args[0].query.end) == (start, end)
    expected = cli_events(mixed_case, start, end)
    assert 0 < len(expected) < len(every)
    assert view.model.rowCount() == len(expected) == overview.bars[fullest][1]
    wait_all_rows(qtbot, view, len(expected))
    assert shown_events(view, len(expected)) == expected
    assert "UTC" in view.histogram.toolTip()


def test_ticks_are_dated_whole_steps(qtbot, main_window, mixed_case):
    show_timeline(qtbot, main_window, mixed_case)
    histogram = main_window.timeline.histogram
    step, ticks = histogram.ticks()
    assert len(ticks) >= 2 and all(value % step == 0 for value in ticks)
    first, last = histogram.span
    assert all(first < value < last for value in ticks)
    label = tick_label(ticks[0], step)
    assert label == datetime.fromtimestamp(ticks[0], timezone.utc).strftime("%Y-%m-%d" if step >= 86400 else
                                                                             "%Y-%m-%d %H:%M" if step >= 60 else "%H:%M:%S")


def test_the_wheel_zooms_around_the_pointer(qtbot, main_window, mixed_case):
    overview = show_timeline(qtbot, main_window, mixed_case)
    view = main_window.timeline
    histogram = view.histogram
    first, last = histogram.span
    point = QPointF(histogram.width() / 2, histogram.height() / 2)
    pointed = histogram._time(point.x())
    wheel = QWheelEvent(point, histogram.mapToGlobal(point), QPoint(0, 0), QPoint(0, 120), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    with qtbot.waitSignal(view.shown, timeout=10_000) as shown:
        QApplication.sendEvent(histogram, wheel)
    zoomed = shown.args[0].query
    start, end = seconds(zoomed.start), seconds(zoomed.end)
    assert first <= start < pointed < end <= last
    assert abs((end - start) - (last - first) / 2) <= 2  # one step in keeps half the range, to the second
    assert abs((pointed - start) / (end - start) - (pointed - first) / (last - first)) < 0.01  # the pointer's time stays put
    expected = cli_events(mixed_case, zoomed.start, zoomed.end)
    assert view.model.rowCount() == len(expected) < overview.count
    with qtbot.waitSignal(view.shown, timeout=10_000):
        view.back()
    assert view.model.rowCount() == overview.count


def test_a_double_click_opens_the_events_record(qtbot, main_window, mixed_case):
    show_timeline(qtbot, main_window, mixed_case)
    view = main_window.timeline
    with qtbot.waitSignal(view.shown, timeout=10_000):
        view.kind_boxes["http"].setChecked(False)  # any kind but files first: no file is opened for them
    wait_rows(qtbot, view)
    rows = view.model.rowCount()
    wait_all_rows(qtbot, view, rows)
    kinds = [view.model.event_at(row).kind for row in range(rows)]
    for kind in ("smtp", "file"):
        row = kinds.index(kind)
        event = view.model.event_at(row)
        view.view.scrollTo(view.model.index(row, 0))
        rect = view.view.visualRect(view.model.index(row, 2))
        qtbot.mouseClick(view.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # a double click begins with a click
        with qtbot.waitSignal(view.record_opened, timeout=5_000) as opened:
            qtbot.mouseDClick(view.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        assert opened.args == [kind, event.object_id]
        assert [[str(event.object_id)]] == cli(mixed_case, f"SELECT id FROM {kind}s WHERE id = {event.object_id}"
                                               if kind == "file" else f"SELECT id FROM smtp WHERE id = {event.object_id}")
    assert main_window.tabs.currentWidget().objectName() == "filesTab"
    viewer = main_window.files.content_viewer
    qtbot.waitUntil(lambda: viewer.row is not None and viewer.row.get("id") == event.object_id, timeout=10_000)


def test_evidence_and_words_filters(qtbot, main_window, mixed_case):
    show_timeline(qtbot, main_window, mixed_case)
    view = main_window.timeline
    qtbot.waitUntil(lambda: view.evidence_box.count() == 4, timeout=10_000)  # every item, then the three
    assert view.evidence_box.itemText(3) == "smtp.pcap"
    view.evidence_box.setFocus()
    with qtbot.waitSignal(view.shown, timeout=10_000) as shown:
        for _ in range(3):
            qtbot.keyClick(view.evidence_box, Qt.Key.Key_Down)
    qtbot.waitUntil(lambda: view.query.evidence == (3,) and view._worker is None, timeout=10_000)
    expected = [e for e in cli_events(mixed_case) if e[4] == 3]
    assert view.model.rowCount() == len(expected) > 0
    wait_all_rows(qtbot, view, len(expected))
    assert shown_events(view, len(expected)) == expected
    assert shown.args[0].query.evidence is not None

    view.evidence_box.setCurrentIndex(0)
    view.evidence_box.activated.emit(0)
    qtbot.waitUntil(lambda: view.query.evidence is None and view._worker is None, timeout=10_000)
    words = cli(mixed_case, "SELECT path FROM files WHERE kind = 'file' AND path LIKE '%.jpg' LIMIT 1")[0][0]
    word = Path(words).stem.split("_")[0].split("-")[0]
    match = f"MATCH '\"{word}\"*'"  # every word as the start of a word, as the sqlite3 CLI's FTS5 reads it
    matched = {("file", int(n)) for (n,) in cli(mixed_case, f"SELECT rowid FROM files_fts WHERE files_fts {match}")}
    matched |= {("finding", int(n)) for (n,) in cli(mixed_case, f"SELECT rowid FROM findings_fts WHERE findings_fts {match}")}
    base = {kind: code << 40 for kind, code in (("dns", 5), ("http", 4), ("smtp", 6))}  # content_fts: source << 40 | id
    for kind, low in base.items():
        matched |= {(kind, int(n) - low) for (n,) in cli(mixed_case, f"SELECT rowid FROM content_fts WHERE content_fts {match} "
                                                                     f"AND rowid >= {low} AND rowid < {low + (1 << 40)}")}
    expected = [e for e in cli_events(mixed_case) if (e[3], e[2]) in matched]
    qtbot.keyClicks(view.text_edit, word)
    with qtbot.waitSignal(view.shown, timeout=10_000):
        qtbot.keyClick(view.text_edit, Qt.Key.Key_Return)
    assert view.query.text == word
    assert view.model.rowCount() == len(expected) > 0
    wait_all_rows(qtbot, view, len(expected))
    assert shown_events(view, len(expected)) == expected
