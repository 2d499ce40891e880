"""The results tree beside the tabs, clicked as an examiner clicks it: its counts against the sqlite3 command line's
over the case the command line made from the demo image, and what each kind of node shows in its tab."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QDate, QModelIndex, Qt

from cybertriage.gui.results_tree import KEY, MINIMUM_WIDTH
from tests.gui.test_files_table import wait_for_matches
from tests.gui.test_window import open_case

pytestmark = pytest.mark.skipif(shutil.which("sqlite3") is None, reason="the sqlite3 command-line tool is needed")
SCREENSHOTS = Path("/tmp")


def sqlite(case: Path, sql: str) -> list[list[str]]:
    """The sqlite3 CLI's answer: a row a line, its values split on tabs."""
    result = subprocess.run(["sqlite3", "-readonly", "-separator", "\t", str(case / "case.db"), sql],
                            capture_output=True, text=True, check=True)
    return [line.split("\t") for line in result.stdout.splitlines()]


@pytest.fixture
def tree(qtbot, main_window, case):
    results = main_window.results_tree  # the window installs its tree
    open_case(qtbot, main_window, case)
    wait_counted(qtbot, results)
    return results


def wait_counted(qtbot, results) -> None:
    qtbot.waitUntil(lambda: results._worker is None and results.model.rowCount() == 4, timeout=10_000)


def node(results, key: str) -> QModelIndex:
    """The node with this key, its branch opened so that it can be seen and clicked."""
    found = results.model.match(results.model.index(0, 0), KEY, key, 1,
                                Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)
    assert found, key
    index = found[0]
    parent = index.parent()
    while parent.isValid():
        results.view.expand(parent)
        parent = parent.parent()
    return index


def count_of(results, key: str) -> int:
    match = re.search(r"\(([\d,]+)\)$", results.model.data(node(results, key)))
    assert match is not None
    return int(match.group(1).replace(",", ""))


def click(qtbot, results, index: QModelIndex) -> None:
    results.view.scrollTo(index)
    rect = results.view.visualRect(index)
    assert rect.isValid()
    qtbot.mouseClick(results.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def one(case: Path, sql: str) -> int:
    return int(sqlite(case, sql)[0][0])


def test_every_node_counts_as_the_command_line(qtbot, tree, case):
    assert count_of(tree, "evidence") == one(case, "SELECT count(*) FROM files")
    assert count_of(tree, "views/deleted") == one(case, "SELECT count(*) FROM files WHERE deleted = 1") > 0
    assert count_of(tree, "views/types/Text") == one(case, "SELECT count(*) FROM files WHERE mime LIKE 'text/%'")
    assert count_of(tree, "views/types/Images") == one(case, "SELECT count(*) FROM files WHERE mime LIKE 'image/%'")
    names = [row[0] for row in sqlite(case, "SELECT name FROM files")]
    assert count_of(tree, "views/extensions/txt") == sum(name.lower().endswith(".txt") for name in names) > 1
    for analyzer, rule, n in sqlite(case, "SELECT analyzer, rule, count(*) FROM findings GROUP BY 1, 2"):
        assert count_of(tree, f"results/Findings/{analyzer}/{rule}") == int(n)
    assert count_of(tree, "results/Findings") == one(case, "SELECT count(*) FROM findings")
    for name, term, n in sqlite(case, "SELECT list, term, count(*) FROM keyword_hits GROUP BY 1, 2"):
        assert count_of(tree, f"results/keywords/{name}/{term}") == int(n)
    latest = sqlite(case, "SELECT max(substr(mtime, 1, 10)) FROM files")[0][0]
    assert tree.around.date().toString("yyyy-MM-dd") == latest
    assert count_of(tree, "views/modified/90") == one(
        case, f"SELECT count(*) FROM files WHERE julianday('{latest}') - julianday(substr(mtime, 1, 10)) BETWEEN 0 AND 89")


def test_a_click_on_an_extension_lists_its_files_in_the_files_tab(qtbot, tree, case, main_window):
    click(qtbot, tree, node(tree, "views/extensions/txt"))
    files = main_window.files
    assert main_window.tabs.currentWidget().objectName() == "filesTab"
    assert files.filter_bar.extension.text() == "txt"
    wait_for_matches(qtbot, files)
    expected = sorted(int(row[0]) for row in sqlite(case, "SELECT id, name FROM files") if row[1].lower().endswith(".txt"))
    assert sorted(row["id"] for row in files.model.rows) == expected
    assert f"{len(expected)} files match" in files.folder_label.text()


def test_a_click_on_a_mime_group_lists_its_files(qtbot, tree, case, main_window):
    click(qtbot, tree, node(tree, "views/types/Text"))
    files = main_window.files
    wait_for_matches(qtbot, files)
    expected = sorted(int(row[0]) for row in sqlite(case, "SELECT id FROM files WHERE mime LIKE 'text/%'"))
    assert sorted(row["id"] for row in files.model.rows) == expected


def test_a_click_on_a_rule_shows_only_its_findings(qtbot, tree, case, main_window):
    analyzer, rule = "yara", "Tor_Onion_Address_V3"
    expected = sorted(int(row[0]) for row in sqlite(case, f"SELECT id FROM findings WHERE analyzer = '{analyzer}' "
                                                          f"AND rule = '{rule}'"))
    total = one(case, "SELECT count(*) FROM findings")
    assert 0 < len(expected) < total
    click(qtbot, tree, node(tree, f"results/Findings/{analyzer}/{rule}"))
    findings = main_window.findings
    assert main_window.tabs.currentWidget().objectName() == "findingsTab"
    assert findings.analyzer_filter.currentData() == analyzer
    qtbot.waitUntil(lambda: findings.model.rowCount() == len(expected), timeout=10_000)
    assert sorted(findings.model.finding(row)["id"] for row in range(len(expected))) == expected
    click(qtbot, tree, node(tree, f"results/Findings/{analyzer}"))  # the analyzer: every rule of it
    every = one(case, f"SELECT count(*) FROM findings WHERE analyzer = '{analyzer}'")
    assert every > len(expected)
    qtbot.waitUntil(lambda: findings.model.rowCount() == every, timeout=10_000)


def test_a_click_on_a_folder_opens_it_in_the_files_tab(qtbot, tree, case, main_window):
    volume = node(tree, "place/1/1048576//")
    tree.view.expand(volume)
    item = tree.model.itemFromIndex(volume)
    qtbot.waitUntil(lambda: item.rowCount() > 0 and item.child(0).data(KEY) is not None, timeout=10_000)
    folders = [item.child(row).data(KEY).split("/", 3)[3] for row in range(item.rowCount())]
    paths = [row[0] for row in sqlite(case, "SELECT path FROM files WHERE evidence_id = 1 AND partition_offset = 1048576 "
                                            "AND kind = 'directory'")]
    assert sorted(folders) == sorted(path for path in paths if path.count("/") == 1)
    folder = "/Downloads"
    held = [row[0] for row in sqlite(case, "SELECT path FROM files WHERE evidence_id = 1 AND partition_offset = 1048576")
            if row[0].rsplit("/", 1)[0] == folder]
    assert count_of(tree, f"place/1/1048576/{folder}") == len(held) > 0
    click(qtbot, tree, node(tree, f"place/1/1048576/{folder}"))
    files = main_window.files
    assert files.tree_model.row_node(files.tree.currentIndex()).path == folder
    files.model.fetchMore()
    qtbot.waitUntil(lambda: files.model.rowCount() == len(held), timeout=10_000)
    assert sorted(row["path"] for row in files.model.rows) == sorted(held)


def test_a_tag_written_is_counted_and_lists_the_objects_with_that_tag(qtbot, tree, case, main_window):
    file_id = int(sqlite(case, "SELECT id FROM files WHERE name = 'eicar.com'")[0][0])
    other = int(sqlite(case, "SELECT id FROM files WHERE name = 'holiday.jpg'")[0][0])
    finding_id = int(sqlite(case, "SELECT id FROM findings ORDER BY id LIMIT 1")[0][0])
    for kind, object_id, tag in (("file", file_id, "malware sample"), ("file", other, "exhibit 2"),
                                 ("finding", finding_id, "malware sample")):
        with qtbot.waitSignal(main_window.tagging.tagged, timeout=10_000):
            main_window.tagging.write(case, kind, object_id, tag, None)
    qtbot.waitUntil(lambda: tree.model.match(tree.model.index(0, 0), KEY, "tags/exhibit 2", 1,
                                             Qt.MatchFlag.MatchRecursive) != [], timeout=10_000)
    qtbot.waitUntil(lambda: count_of(tree, "tags") == 3, timeout=10_000)
    assert count_of(tree, "tags") == one(case, "SELECT count(*) FROM tags") == 3
    click(qtbot, tree, node(tree, "tags/malware sample/file"))
    files = main_window.files
    wanted = [int(row[0]) for row in sqlite(case, "SELECT object_id FROM tags WHERE tag = 'malware sample' "
                                                  "AND object_kind = 'file'")]
    qtbot.waitUntil(lambda: [row["id"] for row in files.model.rows] == wanted, timeout=10_000)
    assert wanted == [file_id]  # not the file tagged "exhibit 2"
    click(qtbot, tree, node(tree, "tags/malware sample/finding"))
    findings = main_window.findings.model
    qtbot.waitUntil(lambda: findings.rowCount() == 1, timeout=10_000)
    assert findings.finding(0)["id"] == finding_id


def test_the_tree_is_narrow_hidden_from_the_view_menu_and_looked_at(qtbot, tree, main_window):
    window = main_window.window
    toggle = main_window.window.findChild(type(main_window.actions["Refresh"]), "actionResultsTree")
    assert toggle is not None and toggle.isChecked()
    with_tree = window.minimumSizeHint().width()
    toggle.trigger()
    qtbot.waitUntil(lambda: not tree.dock.isVisible(), timeout=2_000)
    without = window.minimumSizeHint().width()
    assert with_tree - without <= MINIMUM_WIDTH + 30  # the tree asks for little room; the tabs need the rest
    toggle.trigger()
    qtbot.waitUntil(tree.dock.isVisible, timeout=2_000)
    for key in ("evidence", "views/types", "results/Findings", "results/keywords"):
        tree.view.expand(node(tree, key))
    for width, height in ((800, 600), (1400, 900)):
        window.resize(width, height)
        qtbot.wait(50)
        assert window.grab().save(str(SCREENSHOTS / f"results-tree-{width}x{height}.png"))
    assert tree.dock.width() >= MINIMUM_WIDTH


def test_a_click_on_a_keyword_term_chooses_it_in_the_keyword_hits_tab(qtbot, tree, case, main_window):
    name, term, hits = sqlite(case, "SELECT list, term, count(*) FROM keyword_hits GROUP BY 1, 2 LIMIT 1")[0]
    click(qtbot, tree, node(tree, f"results/keywords/{name}/{term}"))
    keywords = main_window.keywords
    assert main_window.tabs.currentWidget() is keywords.widget
    chosen = keywords.tree.currentItem()
    assert chosen is not None and (chosen.text(0), chosen.text(1)) == (term, hits)
    assert chosen.parent().text(0) == name


def test_another_date_counts_the_modified_windows_again_and_a_window_lists_its_files(qtbot, tree, case, main_window):
    def modified(first: str, last: str) -> list[int]:
        return sorted(int(row[0]) for row in sqlite(
            case, f"SELECT id FROM files WHERE substr(mtime, 1, 10) BETWEEN '{first}' AND '{last}'"))

    latest = sqlite(case, "SELECT max(substr(mtime, 1, 10)) FROM files")[0][0]
    before = count_of(tree, "views/modified/7")
    assert before == len(modified(str(date.fromisoformat(latest) - timedelta(days=6)), latest))
    earlier = sqlite(case, f"SELECT min(substr(mtime, 1, 10)) FROM files WHERE substr(mtime, 1, 10) < "
                           f"'{date.fromisoformat(latest) - timedelta(days=6)}'")[0][0]
    assert earlier, "the demo image has files modified on more than one week"
    tree.around.setDate(QDate.fromString(earlier, "yyyy-MM-dd"))
    first = str(date.fromisoformat(earlier) - timedelta(days=6))
    expected = modified(first, earlier)
    qtbot.waitUntil(lambda: "modified" not in tree._part_workers, timeout=10_000)
    assert count_of(tree, "views/modified/7") == len(expected) > 0
    click(qtbot, tree, node(tree, "views/modified/7"))
    files = main_window.files
    assert (files.filter_bar.modified_from.text(), files.filter_bar.modified_to.text()) == (first, earlier)
    wait_for_matches(qtbot, files)
    assert sorted(row["id"] for row in files.model.rows) == expected
