"""The Files tab's table driven as an examiner drives it: header clicks sort, the filter bar finds files across the
case, the header's menu chooses the columns. Expected answers come from the sqlite3 command-line tool over the case
the command line made from the demo image."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication, QLineEdit, QMenu

from cybertriage.gui.models import FILE_COLUMNS
from tests.gui.conftest import IGNORED_QT_MESSAGES
from tests.gui.test_window import open_case

FAT16 = 1048576  # the demo image's first volume (resources/demo/README.md)
NAMES = [column.name for column in FILE_COLUMNS]

pytestmark = pytest.mark.skipif(shutil.which("sqlite3") is None, reason="the sqlite3 command-line tool is needed")


def sqlite(case: Path, sql: str) -> list[str]:
    """The sqlite3 CLI's answer, one line a row."""
    result = subprocess.run(["sqlite3", "-readonly", str(case / "case.db"), sql], capture_output=True, text=True,
                            check=True)
    return result.stdout.splitlines()


@pytest.fixture
def files(qtbot, main_window, case):
    open_case(qtbot, main_window, case)
    main_window.show_tab("filesTab")
    return main_window.files


def choose_folder(qtbot, files, folder: str) -> None:
    index = files.tree_index_for(1, FAT16, folder)
    assert files.tree_model.row_node(index).path == folder
    files.tree.setCurrentIndex(index)
    if files.model.query is None:  # the folder in path order: the first page, as the view asks for it when painted
        files.model.fetchMore()
    qtbot.waitUntil(lambda: files.model.rowCount() > 0, timeout=5_000)


def click_header(qtbot, files, name: str) -> None:
    """A left click in the middle of the column's header, as the examiner clicks it; waits for the rows."""
    header = files.view.horizontalHeader()
    section = NAMES.index(name)
    before = files.model.query
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(header.sectionViewportPosition(section) + header.sectionSize(section) // 2, 5))
    qtbot.waitUntil(lambda: files.model.query is not None and files.model.query is not before
                    and files.model.complete and files.model.rowCount() == len(files.model.ids), timeout=10_000)


def type_filter(qtbot, files, field: QLineEdit, text: str) -> None:
    """Type into a filter field and press Enter; waits until every match is listed."""
    field.setFocus()
    qtbot.keyClicks(field, text)
    qtbot.keyClick(field, Qt.Key.Key_Return)
    wait_for_matches(qtbot, files)


def wait_for_matches(qtbot, files) -> None:
    model = files.model
    qtbot.waitUntil(lambda: model.query is not None and model.query.filter.active and model.complete, timeout=10_000)
    while model.canFetchMore():
        model.fetchMore()
        qtbot.waitUntil(lambda: model._page_worker is None, timeout=10_000)


def listed(files, key: str = "path") -> list:
    return [row[key] for row in files.model.rows]


def test_a_click_on_size_sorts_the_folder_and_a_second_click_reverses_it(qtbot, qtmodeltester, files, case):
    choose_folder(qtbot, files, "/Documents")
    in_folder = "partition_offset = 1048576 AND path GLOB '/Documents/*' AND path NOT GLOB '/Documents/*/*'"
    click_header(qtbot, files, "size")
    assert files.view.horizontalHeader().sortIndicatorSection() == NAMES.index("size")
    expected = [int(size) for size in sqlite(case, f"SELECT size FROM files WHERE {in_folder} ORDER BY size")]
    assert listed(files, "size") == expected and len(expected) == 6
    qtmodeltester.check(files.model)
    assert sorted(listed(files)) == sorted(sqlite(case, f"SELECT path FROM files WHERE {in_folder}"))
    shown = [files.model.data(files.model.index(row, NAMES.index("name"))) for row in range(files.model.rowCount())]
    assert shown[0] == sqlite(case, f"SELECT name FROM files WHERE {in_folder} ORDER BY size LIMIT 1")[0]

    click_header(qtbot, files, "size")
    assert files.view.horizontalHeader().sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
    assert listed(files, "size") == expected[::-1]

    choose_folder(qtbot, files, "/Pictures")  # the sort stays as another folder is chosen
    qtbot.waitUntil(lambda: files.model.complete and files.model.rowCount() == len(files.model.ids), timeout=10_000)
    assert listed(files, "size") == [int(s) for s in sqlite(
        case, "SELECT size FROM files WHERE path GLOB '/Pictures/*' AND path NOT GLOB '/Pictures/*/*' "
        "AND partition_offset = 1048576 ORDER BY size DESC")]


def test_a_name_glob_finds_files_across_the_case_in_any_case(qtbot, files, case):
    choose_folder(qtbot, files, "/Pictures")  # the filter looks in the whole case, not in the folder chosen
    type_filter(qtbot, files, files.filter_bar.name, "*.TXT")
    expected = sqlite(case, "SELECT path FROM files WHERE name LIKE '%.txt'")
    assert len(expected) >= 5 and sorted(listed(files)) == sorted(expected)
    assert files.folder_label.text() == f"<b>{len(expected)} files match</b> in the whole case"
    assert {row["partition_offset"] for row in files.model.rows} == {1048576, 4194304}  # both volumes

    files.filter_bar.name.clear()
    type_filter(qtbot, files, files.filter_bar.name, "*.ps1")  # an archive member is found too
    assert listed(files) == sqlite(case, "SELECT path FROM files WHERE path LIKE '%.ps1'")
    assert files.folder_label.text() == "<b>1 file matches</b> in the whole case"

    files.filter_bar.clear_button.click()  # back to the folder, in path order
    qtbot.waitUntil(lambda: files.model.query is None and files.model.rowCount() > 0, timeout=5_000)
    assert files.folder_label.text() == "<b>/Pictures</b>"


def test_a_hash_prefix_finds_the_file_whichever_hash_it_starts(qtbot, files, case):
    sha256, md5, path = sqlite(case, "SELECT sha256, md5, path FROM files WHERE path = '/Downloads/eicar.com'")[0].split("|")
    type_filter(qtbot, files, files.filter_bar.hash, sha256[:12].upper())
    assert listed(files) == sqlite(case, f"SELECT path FROM files WHERE sha256 LIKE '{sha256[:12]}%' OR "
                                         f"md5 LIKE '{sha256[:12]}%' OR sha1 LIKE '{sha256[:12]}%'")
    assert path in listed(files)

    files.filter_bar.hash.clear()
    type_filter(qtbot, files, files.filter_bar.hash, md5)  # 32 digits: an MD5
    assert sorted(listed(files)) == sorted(sqlite(case, f"SELECT path FROM files WHERE md5 = '{md5}'"))

    files.filter_bar.hash.clear()
    qtbot.keyClicks(files.filter_bar.hash, "not-hex")
    qtbot.keyClick(files.filter_bar.hash, Qt.Key.Key_Return)
    assert files.filter_bar.hash.property("invalid") is True
    assert "not the start of a hash" in files.folder_label.text()


def test_deleted_only_and_a_size_range_combine(qtbot, files, case):
    files.filter_bar.deleted.click()
    wait_for_matches(qtbot, files)
    assert listed(files) == sqlite(case, "SELECT path FROM files WHERE deleted = 1")
    assert all(files.model.data(files.model.index(r, 0), Qt.ItemDataRole.FontRole).strikeOut()
               for r in range(files.model.rowCount()))

    files.filter_bar.deleted.click()
    type_filter(qtbot, files, files.filter_bar.min_size, "1k")
    assert sorted(listed(files)) == sorted(sqlite(case, "SELECT path FROM files WHERE size >= 1024"))
    type_filter(qtbot, files, files.filter_bar.max_size, "4k")
    assert sorted(listed(files)) == sorted(sqlite(case, "SELECT path FROM files WHERE size BETWEEN 1024 AND 4096"))

    files.filter_bar.max_size.clear()
    qtbot.keyClicks(files.filter_bar.max_size, "4 lots")
    qtbot.keyClick(files.filter_bar.max_size, Qt.Key.Key_Return)
    assert files.filter_bar.max_size.property("invalid") is True
    assert "not a size" in files.folder_label.text()


def test_tagged_files_only_combines_with_the_filter_and_the_scope_narrows_it(qtbot, files, case, main_window):
    ids = sqlite(case, "SELECT id FROM files WHERE name LIKE '%.txt' ORDER BY id")
    sqlite_write = ["sqlite3", str(case / "case.db"),
                    f"INSERT INTO tags (object_kind, object_id, tag, created_at) VALUES ('file', {ids[0]}, 'exhibit', "
                    f"'2026-01-01T00:00:00Z'), ('file', {ids[-1]}, 'exhibit', '2026-01-01T00:00:00Z')"]
    subprocess.run(sqlite_write, check=True)
    type_filter(qtbot, files, files.filter_bar.name, "*.txt")
    main_window.tagging.files_tagged.click()
    wait_for_matches(qtbot, files)
    assert sorted(str(row["id"]) for row in files.model.rows) == sorted([ids[0], ids[-1]])

    main_window.tagging.files_tagged.click()
    wait_for_matches(qtbot, files)
    choose_folder(qtbot, files, "/Documents")
    files.filter_bar.scope.setCurrentIndex(files.filter_bar.scope.findData("folder"))
    wait_for_matches(qtbot, files)
    assert sorted(listed(files)) == sorted(sqlite(
        case, "SELECT path FROM files WHERE name LIKE '%.txt' AND path LIKE '/Documents/%' AND partition_offset = 1048576"))
    assert files.folder_label.text().endswith("under /Documents")


# a menu shown on the offscreen platform: it cannot raise it nor give it the keyboard
@pytest.mark.qt_log_ignore(*IGNORED_QT_MESSAGES, r"This plugin does not support (raise|grabbing the keyboard)")
def test_columns_are_chosen_from_the_header_and_remembered(qtbot, files, main_window, settings):
    header = files.view.horizontalHeader()
    assert [n for n in NAMES if not header.isSectionHidden(NAMES.index(n))] == [
        "name", "size", "mime", "ext_mismatch", "score", "mtime", "tags", "md5", "sha256"]
    choose = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, QPoint(20, 5), header.viewport().mapToGlobal(QPoint(20, 5)))
    QApplication.sendEvent(header.viewport(), choose)
    menu = files.view.findChild(QMenu, "filesColumnsMenu")
    assert menu is not None
    actions = {action.text(): action for action in menu.actions()}
    assert actions["MD5"].isChecked() and not actions["SHA-1"].isChecked()
    for title in ("SHA-1", "MD5"):
        qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(actions[title]).center())
        if not menu.isVisible():  # a click on an item closes the menu: open it again
            QApplication.sendEvent(header.viewport(), choose)
            menu = files.view.findChild(QMenu, "filesColumnsMenu")
            actions = {action.text(): action for action in menu.actions()}
    assert not header.isSectionHidden(NAMES.index("sha1")) and header.isSectionHidden(NAMES.index("md5"))
    assert header.sectionSize(NAMES.index("sha1")) > 100
    assert "sha1" in settings.value("fileColumns/shown") and "md5" not in settings.value("fileColumns/shown")

    from cybertriage.gui.main_window import MainWindow  # a window started later shows the same columns

    again = MainWindow(settings)
    try:
        again.open_case(main_window.case_dir)
        qtbot.waitUntil(lambda: again.files.model is not None, timeout=10_000)
        shown = again.files.view.horizontalHeader()
        assert not shown.isSectionHidden(NAMES.index("sha1")) and shown.isSectionHidden(NAMES.index("md5"))
    finally:
        again.dispose()
