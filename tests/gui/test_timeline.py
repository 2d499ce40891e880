"""The Timeline tab: its rows are the core timeline's events for the range and kinds chosen, the histogram narrows the range."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlite_utils
from PySide6.QtCore import QPoint, Qt

from cybertriage.case import timeline
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
    centre = histogram._rect(fullest).center()
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
