"""Links everywhere, driven as an examiner would (clicks and keys through QTest) on the demo Windows computer and the
demo capture scanned together: a carried file's origin, flow and DNS lookup, a correlation's steps, a finding's
object, a timeline event's record, "Show in timeline", and Back and Forward over all of them. The records each link
must open are read with the sqlite3 CLI."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QAction
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QTableView, QTextBrowser, QToolBar

from cybertriage.gui.network import TABLES
from tests.demo.conftest import WindowsDemo, windows_demo  # noqa: F401  # the session's scanned demo case
from tests.gui.test_window import open_case


def sql(case: Path, query: str) -> list[list[str]]:
    out = subprocess.run(["sqlite3", "-readonly", str(case / "case.db"), query], check=True, capture_output=True,
                         text=True).stdout
    return [line.split("|") for line in out.splitlines()]


def one(case: Path, query: str) -> int:
    [[value]] = sql(case, query)
    return int(value)


@pytest.fixture
def window(qtbot, main_window, windows_demo: WindowsDemo):  # noqa: F811  # the fixture imported above
    open_case(qtbot, main_window, windows_demo.case)
    qtbot.waitUntil(lambda: bool(main_window.network.models) and not main_window.network._readers, timeout=10_000)
    main_window.window.activateWindow()
    return main_window


def click_link(qtbot, browser: QTextBrowser, address: str) -> None:
    """Click the link to `address` where the pane shows it."""
    block = browser.document().begin()
    while block.isValid():
        fragments = block.begin()
        while not fragments.atEnd():
            fragment = fragments.fragment()
            if fragment.charFormat().anchorHref() == address:
                cursor = browser.textCursor()
                cursor.setPosition(fragment.position() + fragment.length() // 2)
                browser.setTextCursor(cursor)
                browser.ensureCursorVisible()
                with qtbot.waitSignal(browser.anchorClicked, timeout=2_000):
                    QTest.mouseClick(browser.viewport(), Qt.MouseButton.LeftButton, pos=browser.cursorRect(cursor).center())
                return
            fragments += 1
        block = block.next()
    raise AssertionError(f"no link to {address} in {browser.objectName()}: {browser.toHtml()[:2000]}")


def selected_record(window) -> tuple[str, int] | None:
    """The Network tab's table on screen and the record selected in it."""
    if window.tabs.currentWidget().objectName() != "networkTab":
        return None
    table = TABLES[window.network.tabs.currentIndex()].name
    view = window.network.views[table]
    rows = view.selectionModel().selectedRows()
    return (table, view.model().data(rows[0], Qt.ItemDataRole.UserRole)) if rows else (table, -1)


def selected_file(window) -> int | None:
    if window.tabs.currentWidget().objectName() != "filesTab":
        return None
    rows = window.files.view.selectionModel().selectedRows()
    return window.files.model.row(rows[0].row())["id"] if rows else -1


def selected_finding(window) -> int | None:
    if window.tabs.currentWidget().objectName() != "findingsTab":
        return None
    rows = window.findings.view.selectionModel().selectedRows()
    return window.findings.model.finding(rows[0].row())["id"] if rows else -1


def key(qtbot, window, which: Qt.Key) -> None:
    QTest.keyClick(window.window, which, Qt.KeyboardModifier.AltModifier)


def click_row(view: QTableView, row: int, double: bool = False) -> None:
    view.scrollTo(view.model().index(row, 0))
    where = view.visualRect(view.model().index(row, 0)).center()
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=where)
    if double:  # a double click begins with a click
        QTest.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=where)


def file_info(window) -> QTextBrowser:
    window.files.detail_tabs.setCurrentIndex(0)  # the Information tab, beside Hex and Text
    return window.files.info


def test_a_carried_files_origin_flow_and_dns_lookup_open_their_records(qtbot, window, windows_demo):  # noqa: F811
    case = windows_demo.case
    carried = one(case, "SELECT id FROM files WHERE path LIKE '/http/invoice-portal.example/%' AND parent_id IS NULL")
    http = one(case, f"SELECT h.id FROM http h JOIN files f ON f.evidence_id = h.evidence_id AND f.flow_id = h.flow_id "
                     f"AND f.sha256 = h.body_sha256 WHERE f.id = {carried}")
    flow = one(case, f"SELECT l.id FROM flows l JOIN files f ON f.evidence_id = l.evidence_id AND f.flow_id = l.flow_id "
                     f"WHERE f.id = {carried}")
    lookup = one(case, f"SELECT d.id FROM dns d, json_each(d.answers) a JOIN http h ON h.id = {http} "
                       "WHERE d.evidence_id = h.evidence_id AND a.value = h.dst AND d.ts <= h.ts ORDER BY d.ts DESC LIMIT 1")
    window.show_file(carried)
    assert selected_file(window) == carried
    click_link(qtbot, file_info(window), f"cybertriage://carrier/{carried}")
    assert selected_record(window) == ("http", http)
    key(qtbot, window, Qt.Key.Key_Left)
    assert selected_file(window) == carried
    click_link(qtbot, file_info(window), f"cybertriage://flow-of/{carried}")
    assert selected_record(window) == ("flows", flow)
    key(qtbot, window, Qt.Key.Key_Left)
    click_link(qtbot, file_info(window), f"cybertriage://lookup-before/{carried}")
    assert selected_record(window) == ("dns", lookup)
    key(qtbot, window, Qt.Key.Key_Left)
    assert selected_file(window) == carried
    key(qtbot, window, Qt.Key.Key_Right)
    assert selected_record(window) == ("dns", lookup)
    assert not window.actions["Forward"].isEnabled() and window.actions["Back"].isEnabled()


def test_a_network_filter_hiding_the_record_is_cleared(qtbot, window, windows_demo):  # noqa: F811
    case = windows_demo.case
    carried = one(case, "SELECT id FROM files WHERE path LIKE '/http/203.0.113.7/%' AND parent_id IS NULL")
    http = one(case, f"SELECT h.id FROM http h JOIN files f ON f.evidence_id = h.evidence_id AND f.flow_id = h.flow_id "
                     f"AND f.sha256 = h.body_sha256 WHERE f.id = {carried}")
    window.network.filters["http"].setText("host:nothing-is-called-this.example")
    qtbot.waitUntil(lambda: window.network.models["http"].rowCount() == 0, timeout=5_000)
    window.show_file(carried)
    click_link(qtbot, file_info(window), f"cybertriage://carrier/{carried}")
    qtbot.waitUntil(lambda: selected_record(window) == ("http", http), timeout=5_000)
    assert window.network.filters["http"].text() == ""


def finding_links(case: Path, finding: int) -> list[tuple[str, int]]:
    return [(kind, int(ident)) for kind, ident in sql(
        case, f"SELECT json_extract(l.value, '$.kind'), json_extract(l.value, '$.id') FROM findings g, "
              f"json_each(json_extract(g.detail, '$.links')) l WHERE g.id = {finding}")]


def show_finding(qtbot, window, finding: int) -> QTextBrowser:
    """Click the finding's row in the Findings tab: its details."""
    window.show_tab("findingsTab")
    click_row(window.findings.view, window.findings.model.row_of(finding))
    assert selected_finding(window) == finding
    return window.findings.details


def test_a_correlations_steps_open_their_records_and_back_returns_to_the_finding(qtbot, window, windows_demo):  # noqa: F811
    case = windows_demo.case
    finding = one(case, "SELECT id FROM findings WHERE rule = 'download-on-disk' ORDER BY id LIMIT 1")
    links = finding_links(case, finding)
    assert {kind for kind, _ in links} >= {"artifact", "http", "file"}
    for kind, ident in links:
        click_link(qtbot, show_finding(qtbot, window, finding), f"cybertriage://{kind}/{ident}")
        if kind == "file":
            assert selected_file(window) == ident
        elif kind == "artifact":
            assert window.tabs.currentWidget() is window.artefacts.widget
            current = window.artefacts.view.currentIndex()
            assert window.artefacts.model.record(current.row())["id"] == ident
        else:
            assert selected_record(window) == (kind, ident)
        key(qtbot, window, Qt.Key.Key_Left)
        assert selected_finding(window) == finding


def test_a_findings_object_and_a_linked_finding_open_the_filters_hiding_it_cleared(qtbot, window, windows_demo):  # noqa: F811
    case = windows_demo.case
    finding, severity, linked = sql(
        case, "SELECT g.id, g.severity, json_extract(l.value, '$.id') FROM findings g, "
              "json_each(json_extract(g.detail, '$.links')) l JOIN findings o ON o.id = json_extract(l.value, '$.id') "
              "WHERE g.rule = 'contacted-indicator' AND json_extract(l.value, '$.kind') = 'finding' "
              "AND o.severity != g.severity ORDER BY g.id, l.key LIMIT 1")[0]
    finding, linked = int(finding), int(linked)
    subject = one(case, f"SELECT object_id FROM findings WHERE id = {finding}")
    severities = window.findings.severity_filter
    severities.setCurrentIndex(severities.findText(severity.capitalize()))  # the linked finding is not listed
    qtbot.waitUntil(lambda: window.findings.model.row_of(linked) < 0 <= window.findings.model.row_of(finding),
                    timeout=5_000)
    click_link(qtbot, show_finding(qtbot, window, finding), f"cybertriage://file/{subject}")
    assert selected_file(window) == subject
    key(qtbot, window, Qt.Key.Key_Left)
    click_link(qtbot, window.findings.details, f"cybertriage://finding/{linked}")
    qtbot.waitUntil(lambda: selected_finding(window) == linked, timeout=5_000)
    assert severities.currentIndex() == 0
    key(qtbot, window, Qt.Key.Key_Left)
    assert selected_finding(window) == finding


def test_an_artefact_link_clears_the_artefacts_filter(qtbot, window, windows_demo):  # noqa: F811
    case = windows_demo.case
    [[finding, artefact]] = sql(case, "SELECT g.id, json_extract(l.value, '$.id') FROM findings g, "
                                      "json_each(json_extract(g.detail, '$.links')) l "
                                      "WHERE json_extract(l.value, '$.kind') = 'artifact' ORDER BY g.id LIMIT 1")
    artefacts = window.artefacts
    window.tabs.setCurrentWidget(artefacts.widget)
    QTest.keyClicks(artefacts.text_edit, "no artefact says this")
    qtbot.waitUntil(lambda: artefacts.model.rowCount() == 0, timeout=5_000)
    click_link(qtbot, show_finding(qtbot, window, int(finding)), f"cybertriage://artifact/{artefact}")
    qtbot.waitUntil(lambda: artefacts.view.currentIndex().isValid()
                    and artefacts.model.record(artefacts.view.currentIndex().row())["id"] == int(artefact), timeout=5_000)
    assert artefacts.text_edit.text() == ""


def around(ts: str) -> tuple[str, str]:
    moment = datetime.fromisoformat(ts[:19]).replace(tzinfo=timezone.utc)
    return tuple(f"{m:%Y-%m-%dT%H:%M:%SZ}" for m in (moment - timedelta(minutes=30), moment + timedelta(minutes=30)))


def show_in_timeline(qtbot, window, view: QTableView) -> None:
    [action] = [a for a in view.actions() if isinstance(a, QAction) and a.objectName().endswith("ShowInTimeline")]
    with qtbot.waitSignal(window.timeline.shown, timeout=10_000):
        action.trigger()
    assert window.tabs.currentWidget() is window.timeline.widget


def test_show_in_timeline_centres_the_timeline_on_each_rows_time(qtbot, window, windows_demo):  # noqa: F811
    case = windows_demo.case
    # a network record, an artefact, a file and a finding, each with its time as the sqlite3 CLI reads it
    [[http, http_ts]] = sql(case, "SELECT id, ts FROM http ORDER BY id LIMIT 1")
    [[artefact, artefact_ts]] = sql(case, "SELECT id, ts FROM artifacts WHERE ts IS NOT NULL ORDER BY id LIMIT 1")
    [[file, file_ts]] = sql(case, "SELECT id, mtime FROM files WHERE mtime IS NOT NULL AND origin IS NULL "
                                  "AND path LIKE '/Users/%' ORDER BY id LIMIT 1")
    [[finding, finding_ts]] = sql(case, "SELECT id, json_extract(detail, '$.ts') FROM findings "
                                        "WHERE json_extract(detail, '$.ts') IS NOT NULL ORDER BY id LIMIT 1")

    window.network.show_table("http")
    window.show_tab("networkTab")
    click_row(window.network.views["http"], window.network.models["http"].row_of(int(http)))
    show_in_timeline(qtbot, window, window.network.views["http"])
    assert (window.timeline.query.start, window.timeline.query.end) == around(http_ts)
    key(qtbot, window, Qt.Key.Key_Left)
    assert selected_record(window) == ("http", int(http))

    window.tabs.setCurrentWidget(window.artefacts.widget)
    click_row(window.artefacts.view, window.artefacts.model.row_of(int(artefact)))
    show_in_timeline(qtbot, window, window.artefacts.view)
    assert (window.timeline.query.start, window.timeline.query.end) == around(artefact_ts)

    window.show_file(int(file))
    show_in_timeline(qtbot, window, window.files.view)
    assert (window.timeline.query.start, window.timeline.query.end) == around(file_ts)

    show_finding(qtbot, window, int(finding))
    show_in_timeline(qtbot, window, window.findings.view)
    assert (window.timeline.query.start, window.timeline.query.end) == around(finding_ts)
    key(qtbot, window, Qt.Key.Key_Left)
    assert selected_finding(window) == int(finding)


def test_a_timeline_events_double_click_opens_its_record_and_back_returns(qtbot, window, windows_demo):  # noqa: F811
    case = windows_demo.case
    [[dns, ts]] = sql(case, "SELECT id, ts FROM dns ORDER BY ts, id LIMIT 1")
    from cybertriage.gui.timeline import TimelineQuery

    window.show_in_timeline(*around(ts))
    with qtbot.waitSignal(window.timeline.shown, timeout=10_000):
        window.timeline.set_query(window.timeline.query.but(kinds=("dns",)))
    assert isinstance(window.timeline.query, TimelineQuery)
    qtbot.waitUntil(lambda: window.timeline.model.event_at(0) is not None, timeout=10_000)
    click_row(window.timeline.view, 0, double=True)
    assert selected_record(window) == ("dns", int(dns))
    key(qtbot, window, Qt.Key.Key_Left)
    assert window.tabs.currentWidget() is window.timeline.widget
    assert window.timeline.query.kinds == ("dns",)


def test_the_mouse_side_buttons_and_the_toolbar_walk_the_history(qtbot, window, windows_demo):  # noqa: F811
    case = windows_demo.case
    first, second = (int(row[0]) for row in sql(case, "SELECT id FROM files WHERE kind = 'file' AND path LIKE '/Users/%' "
                                                      "ORDER BY id LIMIT 2"))
    window.show_file(first)
    window.show_file(second)
    handle = window.window.windowHandle()
    centre = QPoint(window.window.width() // 2, window.window.height() // 2)
    QTest.mouseClick(handle, Qt.MouseButton.BackButton, Qt.KeyboardModifier.NoModifier, centre)
    assert selected_file(window) == first
    QTest.mouseClick(handle, Qt.MouseButton.ForwardButton, Qt.KeyboardModifier.NoModifier, centre)
    assert selected_file(window) == second
    toolbar = window.window.findChild(QToolBar, "mainToolBar")
    button = toolbar.widgetForAction(window.actions["Back"])
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)
    assert selected_file(window) == first
    window.tabs.setCurrentWidget(window.timeline.widget)  # a tab chosen by hand is a place too
    key(qtbot, window, Qt.Key.Key_Left)
    assert selected_file(window) == first
    key(qtbot, window, Qt.Key.Key_Right)
    assert window.tabs.currentWidget() is window.timeline.widget


def test_an_archive_members_origin_is_its_archives(qtbot, window, windows_demo):  # noqa: F811
    case = windows_demo.case
    [[member, archive]] = sql(case, "SELECT m.id, m.parent_id FROM files m JOIN files a ON a.id = m.parent_id "
                                    "WHERE a.flow_id IS NOT NULL AND m.flow_id IS NULL ORDER BY m.id LIMIT 1")
    http = one(case, f"SELECT h.id FROM http h JOIN files f ON f.evidence_id = h.evidence_id AND f.flow_id = h.flow_id "
                     f"AND f.sha256 = h.body_sha256 WHERE f.id = {archive}")
    window.show_file(int(member))
    assert selected_file(window) == int(member)
    click_link(qtbot, file_info(window), f"cybertriage://carrier/{member}")
    assert selected_record(window) == ("http", http)


def test_a_files_findings_and_artefacts_are_links(qtbot, window, windows_demo):  # noqa: F811
    case = windows_demo.case
    [[file, finding]] = sql(case, "SELECT g.object_id, g.id FROM findings g JOIN artifacts a ON a.file_id = g.object_id "
                                  "WHERE g.object_kind = 'file' ORDER BY g.severity_rank DESC, g.id LIMIT 1")
    artefact = one(case, f"SELECT id FROM artifacts WHERE file_id = {file} ORDER BY ts, id LIMIT 1")
    window.show_file(int(file))
    click_link(qtbot, file_info(window), f"cybertriage://finding/{finding}")
    assert selected_finding(window) == int(finding)
    key(qtbot, window, Qt.Key.Key_Left)
    assert selected_file(window) == int(file)
    click_link(qtbot, file_info(window), f"cybertriage://artifact/{artefact}")
    assert window.tabs.currentWidget() is window.artefacts.widget
    assert window.artefacts.model.record(window.artefacts.view.currentIndex().row())["id"] == artefact


class Recorder:
    """An opener that notes what the history asked it to show, and is then where it went."""

    def __init__(self) -> None:
        self.shown: list[object] = []
        self.where = None

    def show_tab(self, name: str) -> None:
        self.shown.append(("tab", name))

    def show_timeline(self, query) -> None:
        self.shown.append(("timeline", query))

    def show_record(self, kind: str, ident: int) -> None:
        self.shown.append((kind, ident))


def test_the_history_notes_where_the_examiner_left_and_forgets_the_forward_places():
    from cybertriage.gui.history import MAX_PLACES, History, Place

    opener = Recorder()
    here = {"place": Place("tab", tab="dashboardTab")}
    history = History(opener, lambda: here["place"])
    assert not history.can_go_back() and not history.can_go_forward()
    history.go(Place("file", 7))
    assert opener.shown == [("file", 7)] and history.can_go_back()
    here["place"] = Place("file", 8)  # another file chosen in the same table before going on
    history.go(Place("http", 3))
    here["place"] = Place("http", 3)
    history.back()
    assert opener.shown[-1] == ("file", 8)  # where the examiner left, not where the link first went
    here["place"] = Place("file", 8)
    history.back()
    assert opener.shown[-1] == ("tab", "dashboardTab") and not history.can_go_back()
    here["place"] = Place("tab", tab="dashboardTab")
    history.forward()
    assert opener.shown[-1] == ("file", 8)
    here["place"] = Place("file", 8)
    history.go(Place("dns", 1))  # a new way from here: the forward places are dropped
    assert not history.can_go_forward() and [p.kind for p in history.places] == ["tab", "file", "dns"]
    history.walking = True  # a place opened by the history is not visited again
    history.visit(Place("flow", 2))
    history.walking = False
    assert len(history.places) == 3
    for number in range(MAX_PLACES + 10):
        history.visit(Place("file", number))
    assert len(history.places) == MAX_PLACES and history.places[-1] == Place("file", MAX_PLACES + 9)
