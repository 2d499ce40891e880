"""Tag and note: bookmarks the examiner puts on findings and files, kept in the case and its audit log.

Tagging is offered on the findings and files tables (context menu, Edit menu,
Ctrl+T); the dialog (ui/tag_dialog.ui) offers the tags already used in the
case. The tag is written by the core's `add_tag` on the thread pool, since the
scan's writer may hold the database for a moment; the tables then show it in
their Tags column, and "Tagged only" narrows them to what has been tagged.
Tags other examiners write into the same case (others_tags.py) show the same way.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QWidget,
)

from ..case import browse, open_case
from ..case.store import add_tag
from ..case.tag_news import TagAdded
from .case_window import CaseWindow, box_layout, child, named
from .files_view import FilesView
from .findings_view import FindingsView
from .forms import icon, load_dialog
from .others_tags import OthersTags
from .workers import FunctionWorker


class TagDialog:
    """One tag (an existing one or a new one) and an optional note for one finding or file."""

    def __init__(self, parent: QWidget | None, target: str, tags: list[str]) -> None:
        self.dialog = load_dialog("tag_dialog.ui", parent)
        child(self.dialog, QLabel, "targetLabel").setText(target)
        self.tag: QComboBox = child(self.dialog, QComboBox, "tagCombo")
        self.tag.addItems(tags)
        self.tag.setCurrentIndex(-1)
        self.tag.setEditText("")
        self.note: QPlainTextEdit = child(self.dialog, QPlainTextEdit, "noteEdit")
        self.error: QLabel = child(self.dialog, QLabel, "errorLabel")
        self.error.setObjectName("errorLabel")
        buttons = child(self.dialog, QDialogButtonBox, "buttons")
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.dialog.reject)
        self.tag.setFocus()

    def values(self) -> tuple[str, str | None]:
        return self.tag.currentText().strip(), self.note.toPlainText().strip() or None

    def _accept(self) -> None:
        if not self.values()[0]:
            self.error.setText("Give a tag: choose one used before or type a new one.")
            return
        self.dialog.accept()


def write_tag(case_dir: Path, object_kind: str, object_id: int, tag: str, note: str | None, examiner: str | None, *,
              cancel: Any = None) -> int:
    """`add_tag` on a connection of the calling thread's own (it writes the audit log entry too)."""
    db = open_case(case_dir)
    try:
        return add_tag(db, object_kind, object_id, tag, note, examiner)
    finally:
        db.close()


class Tagging(QObject):
    """Tag and note on the findings and files tables of the main window, and their "Tagged only" filters."""

    tagged = Signal(str, int)  # object kind and id, once the tag is in the case
    failed = Signal(str)

    def __init__(self, main: CaseWindow, findings: FindingsView, files: FilesView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.main, self.findings, self.files = main, findings, files
        self.dialog: TagDialog | None = None
        self._worker: FunctionWorker | None = None
        self.action = QAction(icon("tag"), "&Tag and note…", main.window)
        self.action.setShortcut(QKeySequence("Ctrl+T"))
        self.action.setToolTip("Tag the selected finding or file and add a note; recorded in the audit log")
        self.action.triggered.connect(self.tag_current)
        for view in (findings.view, files.view):
            view.addAction(self.action)
            view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        files.view.addAction(main.actions["ExportFiles"])

        self.findings_tagged = named(QCheckBox("Tagged only"), "findingsTagged")
        self.findings_tagged.setToolTip("Only findings that carry a tag")
        filters: QHBoxLayout = child(main.window, QHBoxLayout, "findingsFilters")
        filters.insertWidget(filters.indexOf(findings.count_label), self.findings_tagged)
        self.findings_tagged.toggled.connect(lambda _: findings.apply_filter())

        self.files_tagged = named(QCheckBox("Tagged files only"), "filesTagged")
        self.files_tagged.setToolTip("Every tagged file of the case, whichever folder it is in")
        box_layout(files.heading).insertWidget(1, self.files_tagged)  # after the folder's name
        self.files_tagged.toggled.connect(self._files_tagged_toggled)
        self.others = OthersTags(main, self.show_others, parent=self)

    def filter_tagged(self) -> bool:
        return self.findings_tagged.isChecked()

    # tagging ------------------------------------------------------------------------------------------

    def current_target(self) -> tuple[str, int, str] | None:
        """(kind, id, what it is in words) of the finding or file selected on the current tab."""
        findings, files = self.findings, self.files
        page = self.main.tabs.currentWidget().objectName()
        if page == "findingsTab" and findings.model is not None:
            row = findings.model.finding(findings.view.currentIndex().row())
            if row is not None:
                return "finding", row["id"], f"Finding: {row['title']}\n{row['object']}"
        if page == "filesTab" and files.model is not None:
            row = files.model.row(files.view.currentIndex().row())
            if row is not None and row.get("id") is not None:
                return "file", row["id"], f"File: {row['path']}"
        return None

    def tag_current(self) -> TagDialog | None:
        """Open the tag dialog on the selected finding or file (window-modal); returns it, or None."""
        main = self.main
        target = self.current_target()
        if main.case_dir is None or main.conn is None or target is None:
            main.say("Select a finding or a file to tag.")
            return None
        if self.dialog is not None or self._worker is not None:
            return self.dialog
        kind, object_id, words = target
        dialog = TagDialog(main.window, words, browse.tag_names(main.conn))
        case_dir = main.case_dir
        dialog.dialog.accepted.connect(lambda: self.write(case_dir, kind, object_id, *dialog.values()))
        dialog.dialog.finished.connect(lambda _: self._closed(dialog))
        self.dialog = dialog
        dialog.dialog.open()
        return dialog

    def _closed(self, dialog: TagDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None
        dialog.dialog.deleteLater()

    def write(self, case_dir: Path, kind: str, object_id: int, tag: str, note: str | None) -> None:
        examiner = self.main.info.get("examiner") or _user()
        worker = FunctionWorker(write_tag, case_dir, kind, object_id, tag, note, examiner)
        worker.signals.finished.connect(lambda tag_id: self._written(worker, case_dir, kind, object_id, tag, tag_id))
        worker.signals.errored.connect(lambda error: self._failed(worker, error))
        self._worker = worker
        worker.start()

    def _written(self, worker: FunctionWorker, case_dir: Path, kind: str, object_id: int, tag: str,
                 tag_id: int) -> None:
        main = self.main
        self._worker = None
        self.others.written(tag_id)
        if main.disposed or main.case_dir != case_dir or main.conn is None:
            return
        if kind == "finding" and self.findings.model is not None:
            self.findings.model.forget_rows()
        if kind == "file" and self.files.model is not None:
            self.files.model.set_tags(object_id, *browse.object_tags(main.conn, "file", object_id))
        if self.findings_tagged.isChecked() and kind == "finding":
            main.refresh_views()
        main.say(f"Tagged {kind} {object_id} as “{tag}”; recorded in the audit log.")
        self.tagged.emit(kind, object_id)

    def _failed(self, worker: FunctionWorker, error: Exception) -> None:
        self._worker = None
        if self.main.disposed:
            return
        self.main.say(f"Tag not written: {error}", error=True)
        self.failed.emit(str(error))

    def show_others(self, added: list[TagAdded]) -> None:
        """Tags another examiner wrote into the case: the Tags columns and the tagged filters show them, the
        selection and the scroll position stay where the examiner left them."""
        main = self.main
        if main.conn is None:
            return
        kinds = {tag.object_kind for tag in added}
        if "finding" in kinds and self.findings.model is not None:
            self.findings.model.forget_rows()
            if self.findings_tagged.isChecked():
                main.refresh_views()
        if "file" in kinds and self.files.model is not None:
            if self.files_tagged.isChecked():
                self._files_tagged_toggled(True)
            for tag in added:
                if tag.object_kind == "file":
                    self.files.model.set_tags(tag.object_id, tag.tags, tag.notes)
        last = added[-1]
        more = f" (and {len(added) - 1} more)" if len(added) > 1 else ""
        main.say(f"{last.by} tagged {last.object_kind} {last.object_id} as “{last.tag}”{more}.")
        for tag in added:
            self.tagged.emit(tag.object_kind, tag.object_id)

    # the files table's "Tagged files only" --------------------------------------------------------

    def _files_tagged_toggled(self, checked: bool) -> None:
        files, conn = self.files, self.main.conn
        if files.model is None or conn is None:
            return
        if checked:
            rows = browse.tagged_files(conn)
            files.model.show_rows(rows)
            files.folder_label.setText(f"<b>{len(rows):,} tagged files</b>")
        else:
            files.folder_selected(files.tree.currentIndex(), files.tree.currentIndex())

    def folder_chosen(self) -> None:
        """A folder was chosen in the tree: the table lists it, no longer the tagged files."""
        self.files_tagged.blockSignals(True)
        self.files_tagged.setChecked(False)
        self.files_tagged.blockSignals(False)

    def case_opened(self) -> None:
        """A case was opened: others' tags are watched from where its audit log ends now."""
        self.others.case_opened()

    def case_changed(self) -> None:
        """A case was opened or closed: the filters start off."""
        for box in (self.findings_tagged, self.files_tagged):
            box.blockSignals(True)
            box.setChecked(False)
            box.blockSignals(False)


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None

