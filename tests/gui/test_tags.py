"""Tag and note in the application: a finding and a file tagged, in the case, in its audit log, and in the views."""

from __future__ import annotations

import json
import sqlite3

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from cybertriage.gui.models import FILE_COLUMNS, FINDING_COLUMNS
from tests.gui.conftest import count
from tests.gui.test_window import open_case

TAGS_COLUMN = [column.name for column in FINDING_COLUMNS].index("tags")
FILE_TAGS_COLUMN = [column.name for column in FILE_COLUMNS].index("tags")
NOTE = "Ransom note on the desktop; ask the victim when it appeared."


def tag(qtbot, window, text: str, note: str | None = None):
    """Ctrl+T on the current tab's selection, fill the dialog, press OK, wait for the tag to be in the case."""
    window.window.activateWindow()  # the offscreen platform does not give it back when a dialog closes
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window.window, timeout=5_000)
    qtbot.keyClick(window.tabs.currentWidget(), Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    dialog = window.tagging.dialog
    assert dialog is not None, "Ctrl+T opened no dialog"
    dialog.tag.setEditText(text)
    if note:
        dialog.note.setPlainText(note)
    with qtbot.waitSignal(window.tagging.tagged, timeout=10_000) as written:
        dialog.dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
    return written.args


def test_tag_a_finding_and_a_file(qtbot, main_window, case):
    open_case(qtbot, main_window, case)
    main_window.tabs.setCurrentWidget(main_window.findings.view.parentWidget().parentWidget())
    main_window.findings.view.setFocus()
    main_window.findings.view.selectRow(0)
    finding = main_window.findings.model.finding(0)
    assert tag(qtbot, main_window, "ransomware", NOTE) == ["finding", finding["id"]]

    with sqlite3.connect(case / "case.db") as db:
        rows = db.execute("SELECT object_kind, object_id, tag, note FROM tags").fetchall()
        assert rows == [("finding", finding["id"], "ransomware", NOTE)]
        action, detail = db.execute("SELECT action, detail FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    assert action == "tag added"
    assert {k: json.loads(detail)[k] for k in ("object_kind", "object_id", "tag", "note")} == {
        "object_kind": "finding", "object_id": finding["id"], "tag": "ransomware", "note": NOTE}
    model = main_window.findings.model
    assert model.data(model.index(0, TAGS_COLUMN)) == "ransomware"
    assert NOTE in model.data(model.index(0, TAGS_COLUMN), Qt.ItemDataRole.ToolTipRole)

    # the file behind the finding, from the Files tab
    main_window.show_file(finding["object_id"])
    main_window.files.view.setFocus()
    assert tag(qtbot, main_window, "evidence") == ["file", finding["object_id"]]
    assert count(case, "SELECT count(*) FROM tags WHERE object_kind = 'file' AND object_id = ?", finding["object_id"]) == 1
    assert count(case, "SELECT count(*) FROM audit_log WHERE action = 'tag added'") == 2
    files = main_window.files.model
    row = files.index(main_window.files.view.currentIndex().row(), FILE_TAGS_COLUMN)
    assert files.data(row) == "evidence"


def test_tagged_filters_show_only_tagged_findings_and_files(qtbot, main_window, case):
    open_case(qtbot, main_window, case)
    main_window.tabs.setCurrentWidget(main_window.findings.view.parentWidget().parentWidget())
    main_window.findings.view.setFocus()
    for row in (1, 3):
        main_window.findings.view.selectRow(row)
        tag(qtbot, main_window, "check later")
    dialog = main_window.tagging.tag_current()
    assert [dialog.tag.itemText(i) for i in range(dialog.tag.count())] == ["check later"]  # offered again
    dialog.dialog.reject()

    with qtbot.waitSignal(main_window.refreshed, timeout=10_000):
        main_window.tagging.findings_tagged.setChecked(True)
    tagged = count(case, "SELECT count(DISTINCT object_id) FROM tags WHERE object_kind = 'finding'")
    assert main_window.findings.model.rowCount() == tagged == 2
    assert main_window.findings.count_label.text().startswith(f"2 of {count(case, 'SELECT count(*) FROM findings')}")

    file_id = count(case, "SELECT id FROM files WHERE kind = 'file' ORDER BY id DESC LIMIT 1")
    main_window.show_file(file_id)
    main_window.files.view.setFocus()
    tag(qtbot, main_window, "exhibit 1")
    main_window.tagging.files_tagged.setChecked(True)
    assert [r["id"] for r in main_window.files.model.rows] == [file_id]
    main_window.tagging.files_tagged.setChecked(False)
    assert main_window.files.model.folder is not None  # back to the folder
    qtbot.waitUntil(lambda: file_id in [r["id"] for r in main_window.files.model.rows], timeout=5_000)


def test_a_tag_needs_a_name(qtbot, main_window, case):
    open_case(qtbot, main_window, case)
    main_window.tabs.setCurrentWidget(main_window.findings.view.parentWidget().parentWidget())
    main_window.findings.view.selectRow(0)
    dialog = main_window.tagging.tag_current()
    dialog.dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
    assert dialog.dialog.isVisible() and "Give a tag" in dialog.error.text()
    dialog.dialog.reject()
    assert count(case, "SELECT count(*) FROM tags") == 0
