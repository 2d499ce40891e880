"""The Keyword Hits tab: the hits of the keyword lists, grouped by list, then term, then object, then place.

The tree is read as the examiner opens it (a term's objects when the term is expanded, an object's places when the
object is), so a case with a million hits opens at once. Choosing an object or a place shows the object's text — the
text the keyword analyzer searched, as the case keeps it — with the hit highlighted and scrolled to; "Show in Files"
opens the object in the Files tab, beside its Hex, Text and Media views.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTextEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..case import browse
from ..case.search import content_text
from .case_window import named

HIT = QColor("#ffd54f")
OBJECTS_SHOWN = 1000  # objects listed under one term; the export has them all
ROLE = Qt.ItemDataRole.UserRole
PLACEHOLDER = "…"


class KeywordsView(QObject):
    """The Keyword Hits tab: the tree of lists, terms, objects and places, and the chosen object's text."""

    def __init__(self, show_file: Callable[[int], None]) -> None:
        super().__init__()
        self.show_file = show_file
        self.conn: sqlite3.Connection | None = None
        self.stale = True
        self.shown_text: tuple[int, str] | None = None  # (file_id, text) in the text pane
        self.widget = named(QWidget(), "keywordsTab")
        layout = QVBoxLayout(self.widget)
        self.count_label = named(QLabel(), "keywordsCount")
        layout.addWidget(self.count_label)
        splitter = named(QSplitter(), "keywordsSplitter")
        self.tree = named(QTreeWidget(), "keywordTree")
        self.tree.setHeaderLabels(["List / term / object / place", "Hits", "Objects"])
        self.tree.setColumnWidth(0, 420)
        self.tree.setUniformRowHeights(True)
        self.tree.itemExpanded.connect(self._expanded)
        self.tree.currentItemChanged.connect(lambda current, _: self._chosen(current))
        self.tree.itemDoubleClicked.connect(lambda item, _: self._open(item))
        splitter.addWidget(self.tree)
        side = QWidget()
        box = QVBoxLayout(side)
        box.setContentsMargins(0, 0, 0, 0)
        self.where_label = named(QLabel(), "keywordWhere")
        self.where_label.setWordWrap(True)
        box.addWidget(self.where_label)
        self.text = named(QPlainTextEdit(), "keywordText")
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        box.addWidget(self.text, 1)
        row = QHBoxLayout()
        self.file_button = named(QPushButton("Show in Files"), "keywordShowFile")
        self.file_button.clicked.connect(lambda: self._open(self.tree.currentItem()))
        row.addWidget(self.file_button)
        row.addStretch(1)
        box.addLayout(row)
        splitter.addWidget(side)
        splitter.setSizes([620, 620])
        layout.addWidget(splitter, 1)
        self._chosen(None)

    def open(self, conn: sqlite3.Connection | None) -> None:
        """Show a case's keyword hits (or none), read when the tab is shown."""
        self.conn, self.stale, self.shown_text = conn, True, None
        self.tree.clear()
        self.text.clear()
        self.count_label.clear()
        self._chosen(None)

    def mark_stale(self) -> None:
        """The case changed (a scan wrote): read again when the tab is next shown."""
        self.stale = True

    def tab_shown(self) -> None:
        if self.stale:
            self.reload()

    def reload(self) -> None:
        """Read the lists and their terms with their counts; the objects are read as terms are opened."""
        self.stale = False
        self.tree.clear()
        if self.conn is None:
            return
        terms = browse.keyword_terms(self.conn)
        lists: dict[str, QTreeWidgetItem] = {}
        for row in terms:
            parent = lists.get(row["list"])
            if parent is None:
                parent = lists[row["list"]] = QTreeWidgetItem(self.tree, [row["list"], "0", "0"])
                parent.setData(0, ROLE, ("list", row["list"]))
            item = QTreeWidgetItem(parent, [row["term"], f"{row['hits']:,}", f"{row['objects']:,}"])
            item.setData(0, ROLE, ("term", row["list"], row["term"]))
            QTreeWidgetItem(item, [PLACEHOLDER])
            parent.setText(1, f"{int(parent.text(1).replace(',', '')) + row['hits']:,}")
        for parent in lists.values():
            parent.setText(2, f"{parent.childCount():,} terms")
        hits = sum(row["hits"] for row in terms)
        self.count_label.setText(f"{len(lists):,} lists, {len(terms):,} terms, {hits:,} hits" if terms else
                                 "No keyword hits: scan with --keywords FILE, or the built-in lists on.")

    def _expanded(self, item: QTreeWidgetItem) -> None:
        """Read a term's objects, or an object's places, the first time it is opened."""
        first = item.child(0) if item.childCount() == 1 else None
        if self.conn is None or first is None or first.text(0) != PLACEHOLDER:
            return
        item.takeChild(0)
        data = item.data(0, ROLE)
        if data[0] == "term":
            _, list_name, term = data
            for row in browse.keyword_objects(self.conn, list_name, term, OBJECTS_SHOWN):
                child = QTreeWidgetItem(item, [row["path"], f"{row['hits']:,}", row["evidence"]])
                child.setData(0, ROLE, ("object", list_name, term, row["file_id"], row["sha256"], row["offset"],
                                        row["length"]))
                child.setToolTip(0, row["snippet"])
                QTreeWidgetItem(child, [PLACEHOLDER])
        elif data[0] == "object":
            _, list_name, term, file_id, sha256, _, _ = data
            for row in browse.keyword_places(self.conn, file_id, list_name, term):
                child = QTreeWidgetItem(item, [row["snippet"], f"@{row['offset']:,}", ""])
                child.setData(0, ROLE, ("place", list_name, term, file_id, sha256, row["offset"], row["length"]))

    def _chosen(self, item: QTreeWidgetItem | None) -> None:
        data: Any = item.data(0, ROLE) if item is not None else None
        self.file_button.setEnabled(bool(data) and data[0] in ("object", "place"))
        if not data or data[0] not in ("object", "place"):
            self.where_label.setText("Choose an object or a place to see its text with the hit highlighted.")
            return
        _, list_name, term, file_id, sha256, offset, length = data
        self.show_hit(file_id, sha256, offset, length)
        self.where_label.setText(f"{list_name} · {term} · offset {offset:,} in the object's text")

    def show_hit(self, file_id: int, sha256: str | None, offset: int, length: int) -> bool:
        """The object's text with [offset, offset + length) highlighted and in view; False if no text is kept."""
        if self.shown_text is None or self.shown_text[0] != file_id:
            found = content_text(self.conn, sha256) if self.conn is not None and sha256 else None
            if found is None:
                self.shown_text = None
                self.text.setPlainText("No extracted text is kept for this object (its raw content was searched): "
                                       "open it in the Files tab's Text view.")
                return False
            self.shown_text = (file_id, found[0])
            self.text.setPlainText(found[0])
        cursor = QTextCursor(self.text.document())
        cursor.setPosition(min(offset, self.text.document().characterCount() - 1))
        cursor.setPosition(min(offset + length, self.text.document().characterCount() - 1),
                           QTextCursor.MoveMode.KeepAnchor)
        selection = QTextEdit.ExtraSelection()
        selection.cursor = cursor
        highlight = QTextCharFormat()
        highlight.setBackground(HIT)
        selection.format = highlight
        self.text.setExtraSelections([selection])
        self.text.setTextCursor(cursor)
        self.text.centerCursor()
        return True

    def highlighted(self) -> str:
        """The text highlighted now (what the tests read)."""
        selections = self.text.extraSelections()
        return selections[0].cursor.selectedText() if selections else ""

    def _open(self, item: QTreeWidgetItem | None) -> None:
        data: Any = item.data(0, ROLE) if item is not None else None
        if data and data[0] in ("object", "place"):
            self.show_file(data[3])
