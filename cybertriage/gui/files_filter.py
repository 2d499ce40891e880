"""The Files tab's filter bar: name glob, path, extension, hash, size and time ranges, deleted only, and where to look.

It only reads what the examiner typed into a `FileFilter` (case/files_query.py): the table runs the query. A
field that cannot be read (a size like "10q") is marked and named in `problem`, and the rest is not applied until
it is fixed, so the table never shows an answer to a question that was not asked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QGridLayout, QLineEdit, QPushButton, QWidget

from ..case.files_query import FileFilter, parse_size, parse_time
from ..errors import UsageError
from .case_window import named, restyle

T = TypeVar("T")
TYPING_PAUSE_MS = 300  # the filter applies once the examiner stops typing for this long

# where a filter looks, as the scope box offers it
WHOLE_CASE, EVIDENCE, FOLDER = "case", "evidence", "folder"
SCOPES = ((WHOLE_CASE, "in the whole case"), (EVIDENCE, "in the selected evidence"),
          (FOLDER, "in the selected folder and below"))
SCOPE_TIP = ("Where a filter looks. The whole case by default, as “where is every *.ps1” asks; or only the "
             "evidence item, or the folder and everything below it, selected in the tree on the left. "
             "With no filter set, the table lists the selected folder.")


class FilterBar(QWidget):
    """The fields above the files table; `changed` when what they ask has changed (after a pause in typing)."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("filesFilterBar")
        self.setStyleSheet('QLineEdit[invalid="true"] { border: 1px solid #b3261e; }')  # a field it cannot read
        self.problem = ""  # why the fields cannot be read, '' when they can
        self.name = self._field("filesFilterName", "Name: *.ps1", "A name glob, any case: * any text, ? one "
                                "character, [abc] one of them. With a '/' it matches the whole path (*/Temp/*.exe).")
        self.path = self._field("filesFilterPath", "Path starts with", "The start of the path, as the file system "
                                "writes it (case matters): /Users/alex/")
        self.extension = self._field("filesFilterExtension", "Extension: exe, dll", "What follows the name's last "
                                     "dot, any case; several separated by commas.")
        self.hash = self._field("filesFilterHash", "MD5 / SHA-1 / SHA-256 starts with", "The start of a hash in "
                                "hexadecimal: up to 32 digits any of MD5, SHA-1 and SHA-256 is searched, up to 40 "
                                "SHA-1 and SHA-256, longer SHA-256.")
        self.min_size = self._field("filesFilterMinSize", "Size ≥ 10k", "At least this size: 2048, 10k, 5M, 1G "
                                    "(binary units: k is 1,024 bytes).")
        self.max_size = self._field("filesFilterMaxSize", "Size ≤ 5M", "At most this size: 2048, 10k, 5M, 1G "
                                    "(binary units: k is 1,024 bytes).")
        self.modified_from = self._field("filesFilterModifiedFrom", "Modified from 2024-01-01",
                                         "Modified on or after this UTC date (or date and time: 2024-01-01T14:30).")
        self.modified_to = self._field("filesFilterModifiedTo", "Modified to 2024-12-31",
                                       "Modified on or before this UTC date; the whole day is included.")
        self.deleted = named(QCheckBox("Deleted only"), "filesFilterDeleted")
        self.deleted.setToolTip("Only files the file system marks as deleted")
        self.deleted.toggled.connect(lambda _: self.changed.emit())
        self.scope = named(QComboBox(), "filesFilterScope")
        for key, label in SCOPES:
            self.scope.addItem(label, key)
        self.scope.setToolTip(SCOPE_TIP)
        self.scope.currentIndexChanged.connect(lambda _: self.changed.emit())
        self.clear_button = named(QPushButton("Clear"), "filesFilterClear")
        self.clear_button.setToolTip("Clear every filter: the table lists the selected folder again")
        self.clear_button.clicked.connect(self.clear)

        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        for column, widget in enumerate((self.name, self.path, self.extension, self.hash)):
            grid.addWidget(widget, 0, column)
        for column, widget in enumerate((self.min_size, self.max_size, self.modified_from, self.modified_to)):
            grid.addWidget(widget, 1, column)
        grid.addWidget(self.deleted, 0, 4)
        grid.addWidget(self.clear_button, 0, 5)
        grid.addWidget(self.scope, 1, 4, 1, 2)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 3)
        grid.setColumnStretch(3, 3)

        self._timer = QTimer(self, singleShot=True, interval=TYPING_PAUSE_MS)
        self._timer.timeout.connect(self.changed)

    def _field(self, name: str, placeholder: str, tip: str) -> QLineEdit:
        field = named(QLineEdit(), name)
        field.setPlaceholderText(placeholder)
        field.setToolTip(tip)
        field.setClearButtonEnabled(True)
        field.setProperty("tip", tip)
        field.textChanged.connect(lambda _: self._timer.start())
        field.returnPressed.connect(self._apply_now)
        return field

    def _apply_now(self) -> None:
        self._timer.stop()
        self.changed.emit()

    def fields(self) -> tuple[QLineEdit, ...]:
        return (self.name, self.path, self.extension, self.hash, self.min_size, self.max_size, self.modified_from,
                self.modified_to)

    def clear(self) -> None:
        """Every field emptied, deleted only off; one `changed`."""
        for widget in (*self.fields(), self.deleted):
            widget.blockSignals(True)
        for field in self.fields():
            field.clear()
        self.deleted.setChecked(False)
        for widget in (*self.fields(), self.deleted):
            widget.blockSignals(False)
        self._apply_now()

    def scope_key(self) -> str:
        return str(self.scope.currentData())

    def read(self, tagged: bool = False) -> FileFilter | None:
        """What the fields ask (with `tagged` from the "Tagged files only" box); None, with `problem` set and the
        field marked, when one cannot be read."""
        self.problem = ""
        candidate = FileFilter(
            name=self.name.text().strip(), path=self.path.text().strip(),
            extensions=tuple(part.strip() for part in self.extension.text().split(",") if part.strip()),
            hash=self.hash.text().strip(), min_size=self._read(self.min_size, parse_size),
            max_size=self._read(self.max_size, parse_size), modified_from=self._read(self.modified_from, parse_time),
            modified_to=self._read(self.modified_to, parse_time), deleted=self.deleted.isChecked(), tagged=tagged)
        self._read(self.hash, lambda _: candidate.clauses())  # a hash that is not hex is refused there
        return None if self.problem else candidate

    def _read(self, field: QLineEdit, parse: Callable[[str], T]) -> T | None:
        try:
            value = parse(field.text())
        except UsageError as error:
            self._mark(field, str(error))
            return None
        self._mark(field, "")
        return value

    def _mark(self, field: QLineEdit, problem: str) -> None:
        """Show (or take away) a field's problem: a red frame and the reason as its tooltip."""
        if problem and not self.problem:
            self.problem = problem
        if bool(field.property("invalid")) != bool(problem):
            field.setProperty("invalid", bool(problem))
            restyle(field)
        field.setToolTip(problem or str(field.property("tip")))
