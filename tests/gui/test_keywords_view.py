"""The Keyword Hits tab, offscreen: lists → terms → objects → places read as they are opened, a place shows the
object's text with the hit highlighted, and "Show in Files" asks for the object. The case is scanned from a UTF-16
text file whose terms the test counts itself (the file is its own text)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QTreeWidgetItem

from cybertriage.case import browse
from cybertriage.gui.keywords_view import ROLE, KeywordsView
from tests.conftest import run_cli
from tests.gui.test_window import open_case

TEXT = "Ledger handed over at the docks.\nThe LEDGER copy stays; no other ledger.\n"


def _scan(tmp_path: Path) -> Path:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "note.txt").write_bytes(TEXT.encode("utf-16"))
    terms = tmp_path / "case-terms.txt"
    terms.write_text("ledger\ndocks\n", encoding="utf-8")
    result = run_cli("scan", evidence, "--case", tmp_path / "case", "--keywords", terms, "--no-yara", "--quiet",
                     "--builtin-keywords", "none")
    assert result.code == 0, result.stderr
    return tmp_path / "case"


@pytest.fixture
def keyword_view(qtbot, tmp_path: Path):
    _scan(tmp_path)
    opened: list[int] = []
    view = KeywordsView(opened.append)
    qtbot.addWidget(view.widget)
    conn = browse.connect(tmp_path / "case")
    view.open(conn)
    view.tab_shown()
    yield view, opened
    view.open(None)
    conn.close()


def _child(item: QTreeWidgetItem, text: str) -> QTreeWidgetItem:
    for number in range(item.childCount()):
        child = item.child(number)
        if child is not None and child.text(0) == text:
            return child
    raise AssertionError(f"no {text!r} under {item.text(0)!r}")


def test_tree_groups_hits_and_a_place_is_highlighted_in_the_text(qtbot, keyword_view) -> None:
    view, opened = keyword_view
    tree = view.tree
    assert tree.topLevelItemCount() == 1
    case_list = tree.topLevelItem(0)
    assert case_list is not None and case_list.text(0) == "case-terms"
    ledger = _child(case_list, "ledger")
    assert ledger.text(1) == str(TEXT.lower().count("ledger")) and ledger.text(2) == "1"
    ledger.setExpanded(True)
    note = _child(ledger, "/note.txt")
    note.setExpanded(True)
    places = [note.child(number) for number in range(note.childCount())]
    assert len(places) == 3
    offsets = [place.data(0, ROLE)[5] for place in places if place is not None]
    expected, start = [], 0
    while (found := TEXT.lower().find("ledger", start)) >= 0:
        expected.append(found)
        start = found + 1
    assert offsets == expected
    tree.setCurrentItem(places[1])
    assert view.highlighted() == "LEDGER"
    assert view.text.textCursor().selectionStart() == expected[1]
    view.file_button.click()
    assert len(opened) == 1 and opened[0] == places[1].data(0, ROLE)[3]
    assert "3 hits" not in view.count_label.text() and "4 hits" in view.count_label.text()


def test_the_window_has_the_tab_and_reads_the_case_when_it_is_shown(qtbot, main_window, tmp_path: Path) -> None:
    case = _scan(tmp_path)
    open_case(qtbot, main_window, case)
    view = main_window.keywords
    assert view.tree.topLevelItemCount() == 0  # read when the tab is shown, not before
    main_window.tabs.setCurrentWidget(view.widget)
    assert main_window.tabs.tabText(main_window.tabs.currentIndex()) == "Keyword Hits"
    assert view.tree.topLevelItemCount() == 1 and "4 hits" in view.count_label.text()
