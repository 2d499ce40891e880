"""The Search tab: an ad-hoc query over the case's content index (the text of every file, paths, artefacts,
network text), as `cybertriage search` runs it, listing each matching object with a snippet. Opening a hit shows
the object in the Files tab with the matched terms highlighted in its Text view (in the extracted text when the
case keeps one: a term inside a DOCX or a PDF is not in its raw bytes).

The highlighting helpers the Text view uses (gui/content.py) live here, beside the search that gives the terms.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTextEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..case.search import count_matches, describe_hits, search
from ..errors import UsageError
from ..text_safety import visible
from .case_window import named

TERM = QColor("#9be89b")  # a searched term in the Text view
MAX_TERM_MARKS = 5000  # places of the terms marked in one text
HITS_SHOWN = 500
ROLE = Qt.ItemDataRole.UserRole
START, END = "\ue000", "\ue001"  # snippet marks no evidence text is likely to hold (private use)


def term_selections(edit: QPlainTextEdit, terms: list[str]) -> list[QTextEdit.ExtraSelection]:
    """A highlight for each place of the terms (any case) in the text the editor shows."""
    if not terms:
        return []
    pattern = re.compile("|".join(re.escape(term) for term in terms), re.IGNORECASE)
    text = edit.toPlainText()
    marks = []
    done, position = 0, 0  # characters of `text` counted, and their length in UTF-16 units (Qt's positions)
    for found in pattern.finditer(text):
        position += len(text[done:found.start()].encode("utf-16-le")) // 2
        length = len(found.group().encode("utf-16-le")) // 2
        done = found.end()
        selection = QTextEdit.ExtraSelection()
        selection.format = QTextCharFormat()
        selection.format.setBackground(TERM)
        cursor = QTextCursor(edit.document())
        cursor.setPosition(position)
        cursor.setPosition(position + length, QTextCursor.MoveMode.KeepAnchor)
        selection.cursor = cursor
        marks.append(selection)
        position += length
        if len(marks) >= MAX_TERM_MARKS:
            break
    return marks


def marked_terms(edit: QPlainTextEdit) -> list[str]:
    """The text of each highlighted term, in order."""
    return [mark.cursor.selectedText() for mark in edit.extraSelections() if mark.format.background().color() == TERM]


def go_to_first_term(edit: QPlainTextEdit) -> None:
    marks = edit.extraSelections()  # held while its cursors are copied: each is owned by its selection
    for mark in marks:
        if mark.format.background().color() == TERM:
            edit.setTextCursor(QTextCursor(mark.cursor))
            edit.centerCursor()
            return


class SearchView(QObject):
    """The Search tab: a query box, the hits best first, and a hit opened in the Files tab's Text view."""

    def __init__(self, open_hit: Callable[[int, list[str]], None], say: Callable[[str], None]) -> None:
        super().__init__()
        self.open_hit = open_hit
        self.say = say
        self.conn: sqlite3.Connection | None = None
        self.widget = named(QWidget(), "searchTab")
        layout = QVBoxLayout(self.widget)
        row = QHBoxLayout()
        self.query = named(QLineEdit(), "searchQuery")
        self.query.setPlaceholderText('Words, "a phrase", OR, NOT, prefix* — over file text, paths, artefacts and '
                                      'network records')
        self.query.returnPressed.connect(self.run)
        self.button = named(QPushButton("Search"), "searchButton")
        self.button.clicked.connect(self.run)
        row.addWidget(self.query, 1)
        row.addWidget(self.button)
        layout.addLayout(row)
        self.count_label = named(QLabel(), "searchCount")
        layout.addWidget(self.count_label)
        self.results = named(QTreeWidget(), "searchResults")
        self.results.setRootIsDecorated(False)
        self.results.setUniformRowHeights(True)
        self.results.setHeaderLabels(["Found in", "Object", "Evidence", "Snippet"])
        for column, width in enumerate((110, 380, 200)):
            self.results.setColumnWidth(column, width)
        self.results.itemActivated.connect(lambda item, _: self._open(item))
        self.results.itemDoubleClicked.connect(lambda item, _: self._open(item))
        layout.addWidget(self.results, 1)
        self.open(None)

    def open(self, conn: sqlite3.Connection | None) -> None:
        """Search this case (None: no case open)."""
        self.conn = conn
        self.results.clear()
        self.count_label.setText("Search the case: the text of every file, its paths, artefacts and network text."
                                 if conn is not None else "")
        self.query.setEnabled(conn is not None)
        self.button.setEnabled(conn is not None)

    def run(self) -> None:
        """Run the query in the box and list its hits (tens of milliseconds over a million documents: on this thread)."""
        self.results.clear()
        if self.conn is None:
            return
        try:
            hits = search(self.conn, self.query.text(), HITS_SHOWN, marks=(START, END))
        except (UsageError, sqlite3.Error) as error:
            self.count_label.setText(f"Not searched: {error}")
            return
        for hit in hits:
            terms = sorted({term.strip().lower() for term in re.findall(f"{START}(.*?){END}", hit.snippet, re.S)})
            snippet = "]".join("[".join(map(visible, part.split(START))) for part in " ".join(hit.snippet.split()).split(END))
            item = QTreeWidgetItem(self.results, [hit.kind, visible(hit.path), visible(hit.evidence or ""), snippet])
            item.setToolTip(3, snippet)
            item.setData(0, ROLE, (hit.file_id, terms))
        self.count_label.setText(f"{describe_hits(len(hits), count_matches(self.conn, self.query.text()))}. Open a "
                                 "hit to see it in the Files tab with the terms highlighted.")

    def _open(self, item: QTreeWidgetItem | None) -> None:
        data = item.data(0, ROLE) if item is not None else None
        if not data:
            return
        file_id, terms = data
        if file_id is None:
            self.say("A network record: it is in the Network tab, not a file.")
            return
        self.open_hit(file_id, terms)
