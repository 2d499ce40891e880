"""The Findings tab: the table (sortable, paged from the case), its filters and search box, and the details
of the finding selected."""

from __future__ import annotations

import json
from collections.abc import Callable

from PySide6.QtCore import QModelIndex, QObject, Qt, QTimer
from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QTableView, QTextBrowser

from ..case import browse
from ..case.browse import FindingFilter
from ..correlate import chain
from .case_window import CaseWindow, child
from .details import finding_html, href
from .models import FINDING_COLUMNS, FindingsModel

SEVERITY_CHOICES = [
    ("All severities", 0, 4), ("Critical", 4, 4), ("High and above", 3, 4), ("High", 3, 3),
    ("Medium and above", 2, 4), ("Medium", 2, 2), ("Low", 1, 1), ("Info", 0, 0),
]
SEARCH_PAUSE_MS = 250  # the search runs once the examiner stops typing for this long


class FindingsView(QObject):
    """Lists the open case's findings as the filters ask, and shows the one selected."""

    def __init__(self, main: CaseWindow, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.main = main
        self.model: FindingsModel | None = None
        self.total = 0  # findings in the case, as the last snapshot counted them
        self.tagged_only: Callable[[], bool] = lambda: False  # "Tagged only", given by the tagging
        self.view = child(main.window, QTableView, "findingsView")
        self.details = child(main.window, QTextBrowser, "findingDetails")
        self.severity_filter = child(main.window, QComboBox, "severityFilter")
        self.analyzer_filter = child(main.window, QComboBox, "analyzerFilter")
        self.search = child(main.window, QLineEdit, "findingsSearch")
        self.count_label = child(main.window, QLabel, "findingsCountLabel")
        for label, low, high in SEVERITY_CHOICES:
            self.severity_filter.addItem(label, (low, high))
        self.analyzer_filter.addItem("All analyzers", None)
        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_PAUSE_MS)
        self._search_timer.timeout.connect(self.apply_filter)
        self.severity_filter.currentIndexChanged.connect(self.apply_filter)
        self.analyzer_filter.currentIndexChanged.connect(self.apply_filter)
        self.search.textChanged.connect(lambda _: self._search_timer.start())

    def open(self) -> None:
        """A case was opened: an empty table, filled by the first snapshot; later sorts and filters are read on
        the thread pool too."""
        assert self.main.conn is not None
        self.model = FindingsModel(self.main.conn, self, load=False, loader=self.main.refresh_views)
        self.view.setModel(self.model)
        header = self.view.horizontalHeader()
        header.setSortIndicator(0, Qt.SortOrder.DescendingOrder)  # the model's own order: worst first
        self.view.setSortingEnabled(True)
        for number, column in enumerate(FINDING_COLUMNS):
            if column.width:
                header.resizeSection(number, column.width)
        header.setStretchLastSection(True)
        self.view.selectionModel().currentRowChanged.connect(self._selected)
        self.view.doubleClicked.connect(self._activated)

    def close(self) -> None:
        self.view.setModel(None)
        if self.model is not None:
            self.model.deleteLater()
        self.model = None
        self.total = 0
        self.details.clear()

    def focus_search(self) -> None:
        """Ctrl+F: the search box, ready to type over."""
        if self.main.case_dir is None:
            return
        self.main.show_tab("findingsTab")
        self.search.setFocus()
        self.search.selectAll()

    # what the snapshots bring ----------------------------------------------------------------------

    def show_snapshot(self, snap: browse.Snapshot) -> None:
        self.total = sum(snap.severity_counts.values())
        if self.model is not None:
            self.model.apply_ids(snap.finding_ids, snap.query)
            self._update_analyzers(snap.analyzers)
            self.show_count()

    def show_first(self, head: browse.FirstFindings) -> None:
        """The first rows, shown while the rest of the snapshot is read."""
        if self.model is None or self.model.rowCount():
            return
        self.model.apply_ids(head.ids, head.query)
        if self.model.rowCount():
            self.show_count(head.matching, head.total)

    def show_count(self, shown: int | None = None, total: int | None = None) -> None:
        """'N of M findings' under the table: by default the rows listed and the snapshot's count."""
        total = self.total if total is None else total
        if shown is None:
            shown = self.model.rowCount() if self.model is not None else 0
        self.count_label.setText(f"{shown:,} of {total:,} findings" if shown != total else f"{total:,} findings")

    def _update_analyzers(self, names: list[str]) -> None:
        box = self.analyzer_filter
        if names == [box.itemData(i) for i in range(1, box.count())]:
            return
        current = box.currentData()
        box.blockSignals(True)
        box.clear()
        box.addItem("All analyzers", None)
        for name in names:
            box.addItem(name, name)
        box.setCurrentIndex(max(box.findData(current), 0))
        box.blockSignals(False)

    # the examiner's choices ------------------------------------------------------------------------

    def apply_filter(self) -> None:
        """Narrow the table to what the filters above it ask."""
        if self.model is None:
            return
        low, high = self.severity_filter.currentData()
        self.model.set_filter(FindingFilter(low, high, self.analyzer_filter.currentData(), self.search.text(),
                                            self.tagged_only()))
        self.details.clear()
        self.show_count()

    def _selected(self, current: QModelIndex, previous: QModelIndex) -> None:
        conn = self.main.conn
        if self.model is None or conn is None or not current.isValid():
            return
        row = self.model.finding(current.row())
        finding = browse.finding_row(conn, row["id"]) if row is not None else None
        if finding is None:
            return
        file = browse.file_row(conn, finding["object_id"]) if finding["object_kind"] == "file" else None
        links = json.loads(finding["detail"] or "{}").get("links") if finding["analyzer"] == "correlation" else None
        steps = [(step, href(link["kind"], link["id"])) for link in links or [] for step in chain(conn, [link])]
        self.details.setHtml(finding_html(finding, file, [step for step, _ in steps] or None,
                                          [address for _, address in steps]))  # each step a link to its record

    def _activated(self, index: QModelIndex) -> None:
        """Double-click: the finding's file in the Files tab, with its bytes."""
        row = self.model.finding(index.row()) if self.model else None
        if row is not None and row["object_kind"] == "file":
            self.main.show_file(row["object_id"])
