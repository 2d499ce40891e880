"""The Network tab: flows, hosts, DNS, HTTP, TLS, SMTP, FTP and credentials, one paged and sortable table each,
with a filter box above and the selected record's details below.

Each table is a `RecordsModel`: the ids the filter keeps in the chosen order (a few bytes a row,
filtered and sorted in SQL, on the thread pool once a case is open) and the rows of the pages the view has shown.
The filter takes addresses, `:443`, `host:`, `uri:` and any text (case/network_views.py). Cleartext
passwords stay masked until the examiner asks to see them, and that request is
written to the case's audit log before they are shown.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..case import audit, browse, columns, open_case
from ..case import network_views as nv
from ..case.columns import Kind, Table
from .case_window import box_layout, named
from .conversation import ConversationDialog
from .models import ALIGN_RIGHT, Index
from .network_details import CARRIES, MASK, ObjectDialog, RecordDetails
from .workers import FunctionWorker

FILTER_HINT = "Filter: 10.0.0.5   :443   host:example.com   uri:/login   or any text"
FILTER_DELAY_MS = 250  # typing pauses this long before the filter is read
# the Network tab's sub-tabs, in order
TABLES = (columns.FLOWS, columns.HOSTS, columns.DNS, columns.HTTP, columns.TLS, columns.SMTP, columns.FTP,
          columns.CREDENTIALS)
TABLES_BY_NAME = {table.name: table for table in TABLES}


class RecordsModel(QAbstractTableModel):
    """One network table, sorted by any of its columns in SQL, read a page at a time.

    `masked` columns show a fixed mask until `set_revealed(True)`.
    """

    PAGE = 200
    CACHED_PAGES = 40

    def __init__(self, conn: sqlite3.Connection, table: Table, parent: Any = None,
                 loader: Callable[[RecordsModel], None] | None = None) -> None:
        super().__init__(parent)
        self.conn, self.table = conn, table
        self.columns = table.shown
        self.names = [column.name for column in self.columns]
        self.order: tuple[str, bool] = ("id", False)
        self.filter_text = ""
        # With a loader, a new filter or sort is read off the GUI thread: the loader calls `apply_ids` with the
        # ids of `key()`; until then the old rows stay.
        self.loader = loader
        self.revealed = False
        self._ids: list[int] = []
        self.evidence: dict[int, str] = {}  # evidence id → file name, shown instead of the id
        self._pages: OrderedDict[int, dict[int, sqlite3.Row]] = OrderedDict()
        self.refresh()

    def key(self) -> tuple[str, str, bool]:
        """What the rows shown are: the filter and the order."""
        return self.filter_text, *self.order

    def _read_ids(self) -> list[int]:
        column, descending = self.order
        if not self.filter_text:
            return browse.record_ids(self.conn, self.table.name, column, descending)
        return nv.filtered_ids(self.conn, self.table, self.filter_text, column, descending)

    def refresh(self) -> None:
        """Read the order again (new rows from a running scan, a new sort or a new filter)."""
        self.evidence = browse.evidence_names(self.conn)
        if self.loader is not None:
            self.loader(self)
            return
        self.apply_ids(self._read_ids(), self.key())

    def apply_ids(self, ids: list[int], key: tuple[str, str, bool]) -> None:
        """Take the ids read for `key` (ignored when the filter or order has changed since)."""
        if key != self.key() or ids == self._ids:
            return
        self.beginResetModel()
        self._ids, self._pages = ids, OrderedDict()
        self.endResetModel()

    def set_filter(self, text: str) -> None:
        if text.strip() != self.filter_text:
            self.filter_text = text.strip()
            self.refresh()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self.names):
            return
        wanted = (self.names[column], order == Qt.SortOrder.DescendingOrder)
        if wanted != self.order:
            self.order = wanted
            self.refresh()

    def set_revealed(self, revealed: bool) -> None:
        self.revealed = revealed
        if self._ids:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._ids) - 1, len(self.names) - 1))

    def record(self, row: int) -> sqlite3.Row | None:
        if not 0 <= row < len(self._ids):
            return None
        number = row // self.PAGE
        page = self._pages.get(number)
        if page is None:
            ids = self._ids[number * self.PAGE : (number + 1) * self.PAGE]
            page = browse.records_by_id(self.conn, self.table.name, ["id", *self.names], ids)
            self._pages[number] = page
            while len(self._pages) > self.CACHED_PAGES:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(number)
        return page.get(self._ids[row])

    def row_of(self, record_id: int) -> int:
        """The row listing this record, -1 when the filter leaves it out (a link opens it selected)."""
        return self._ids.index(record_id) if record_id in self._ids else -1

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.names)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(self.names):
            return self.columns[section].title
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole,
                                               Qt.ItemDataRole.TextAlignmentRole, Qt.ItemDataRole.UserRole):
            return None
        row = self.record(index.row())
        if row is None:
            return None
        if role == Qt.ItemDataRole.UserRole:
            return row["id"]
        column = self.columns[index.column()]
        value = row[column.name]
        if role == Qt.ItemDataRole.TextAlignmentRole:  # numbers on the right, whatever the column
            numeric = isinstance(value, (int, float)) and column.kind not in (Kind.YES_NO, Kind.EVIDENCE)
            return ALIGN_RIGHT if numeric else None
        if value is not None and column.name in self.table.masked and not self.revealed:
            return MASK
        if value is not None and column.kind is Kind.EVIDENCE:
            value = self.evidence.get(value, str(value))
        return column.kind.shown(value)


def record_in_audit_log(case_dir: Path, action: str, detail: dict[str, Any], *, cancel: Any = None) -> None:
    """One entry in the case's audit log, on a connection of the calling thread's own."""
    db = open_case(case_dir)
    try:
        with db.conn:
            audit(db, action, detail)
    finally:
        db.close()


class NetworkViews(QObject):
    """The Network tab's sub-tabs, filled from the case's network tables; "no capture" when it has none."""

    revealed_changed = Signal(bool)  # the credentials are shown (True, after the audit entry is written) or masked

    def __init__(self, tab: QWidget, label: QLabel, flows_view: QTableView, say: Callable[..., None]) -> None:
        super().__init__(tab)
        self.label, self.say = label, say
        self.conn: sqlite3.Connection | None = None
        self.case_dir: Path | None = None
        self.models: dict[str, RecordsModel] = {}
        self.stale: set[str] = set()  # tables with rows their model has not read yet
        self.tabs = named(QTabWidget(), "networkTabs")
        self.tabs.setDocumentMode(True)
        layout = box_layout(tab)
        layout.removeWidget(flows_view)
        layout.addWidget(self.tabs)
        self.views: dict[str, QTableView] = {}
        self.filters: dict[str, QLineEdit] = {}
        self.counts: dict[str, QLabel] = {}  # "N of M shown" beside each filter
        self.details: dict[str, RecordDetails] = {}
        self.show_file: Callable[[int], None] | None = None  # the main window's "file in the Files tab", if given
        self._audit_worker: FunctionWorker | None = None
        self._readers: dict[str, FunctionWorker] = {}  # a table's filter or sort being read on the pool
        self._totals: dict[str, int] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(FILTER_DELAY_MS)
        self._timer.timeout.connect(self._apply_filter)
        for table in TABLES:
            view = flows_view if table.name == "flows" else named(QTableView(), f"{table.name}View")
            view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
            view.setAlternatingRowColors(True)
            view.setWordWrap(False)
            view.verticalHeader().hide()
            view.verticalHeader().setDefaultSectionSize(24)
            view.horizontalHeader().setHighlightSections(False)
            view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
            view.horizontalHeader().setStretchLastSection(True)
            view.doubleClicked.connect(lambda _, name=table.name: self._double_clicked(name))
            self.views[table.name] = view
            self.tabs.addTab(self._page(table, view), table.title)
        # a method of this QObject (a child of the tab, destroyed before the tabs): Qt disconnects it then
        self.tabs.currentChanged.connect(self._refresh_shown)
        self.tabs.hide()

    def _page(self, table: Table, view: QTableView) -> QWidget:
        """One sub-tab: the filter box, the table, and the details under it."""
        page = named(QWidget(), f"{table.name}Page")
        box = QVBoxLayout(page)
        box.setContentsMargins(0, 4, 0, 0)
        if table.masked:
            self.reveal_box = named(QCheckBox("Show credentials"), "showCredentials")
            self.reveal_box.setToolTip("Passwords are masked; showing them is recorded in the case's audit log")
            self.reveal_box.toggled.connect(self._reveal_toggled)
            box.addWidget(self.reveal_box)
        bar = QHBoxLayout()
        line = named(QLineEdit(), f"{table.name}Filter")
        line.setPlaceholderText(FILTER_HINT)
        line.setClearButtonEnabled(True)
        line.setToolTip("Every word must match: an IP address (either end), :PORT or port:PORT (either port), "
                        "host:NAME or name:NAME (host, server name, query, certificate, a host's names), uri:TEXT, "
                        "ip:ADDRESS, or any text of the table's columns (case ignored)")
        line.textChanged.connect(lambda _: self._timer.start())
        line.returnPressed.connect(self._apply_filter)
        count = named(QLabel(""), f"{table.name}FilterCount")
        bar.addWidget(line, 1)
        bar.addWidget(count)
        box.addLayout(bar)
        details = RecordDetails(table, self.open_object, self.follow, self.show_flows)
        split = named(QSplitter(Qt.Orientation.Vertical), f"{table.name}Split")
        split.addWidget(view)
        split.addWidget(details)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        box.addWidget(split)
        self.filters[table.name], self.counts[table.name], self.details[table.name] = line, count, details
        return page

    def open(self, conn: sqlite3.Connection | None, case_dir: Path | None) -> None:
        """Show a case (or none): models are made when its first capture rows appear."""
        for view in self.views.values():
            view.setModel(None)
        for model in self.models.values():
            model.deleteLater()
        self.models, self.stale, self._readers, self._totals = {}, set(), {}, {}
        self.conn, self.case_dir = conn, case_dir
        for name, line in self.filters.items():
            line.blockSignals(True)
            line.clear()
            line.blockSignals(False)
            self.counts[name].clear()
            self.details[name].show_record(None, None)
        self.reveal_box.blockSignals(True)
        self.reveal_box.setChecked(False)
        self.reveal_box.blockSignals(False)

    def show_counts(self, counts: dict[str, int], after_models: Callable[[QTableView], None] | None = None) -> None:
        """Update the tab from the row counts a snapshot read (`case.browse.network_counts`)."""
        if not counts.get("flows") or self.conn is None:
            self.label.setText(
                "<p style='font-size:13pt'>No packet capture in this case.</p>"
                "<p>Network flows, DNS, HTTP, TLS, mail, FTP and credential records appear here once a capture "
                "(.pcap, .pcapng) has been added as evidence.</p>")
            self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.tabs.hide()
            return
        self.label.setText(" · ".join(f"{counts.get(t.name, 0):,} {t.title if t.name != 'flows' else 'flows'}"
                                      for t in TABLES))
        self.label.setAlignment(Qt.AlignmentFlag.AlignLeft)
        self.tabs.show()
        for number, table in enumerate(TABLES):
            self.tabs.setTabText(number, f"{table.title} ({counts.get(table.name, 0):,})")
            if table.name not in counts:
                continue
            model = self.models.get(table.name)
            self._totals[table.name] = counts[table.name]
            if model is None:
                model = RecordsModel(self.conn, table, self, loader=self._read_ids if self.case_dir else None)
                model.filter_text = self.filters[table.name].text().strip()
                if model.filter_text:
                    model.refresh()
                model.set_revealed(self.reveal_box.isChecked())
                self.models[table.name] = model
                view = self.views[table.name]
                view.setModel(model)
                view.selectionModel().selectionChanged.connect(
                    lambda *_, name=table.name: self._selection_changed(name))
                model.modelReset.connect(lambda name=table.name: self._reset(name))
                header = view.horizontalHeader()
                for number, column in enumerate(table.shown):
                    if column.width:
                        header.resizeSection(number, column.width)
                header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # capture order until a header is clicked
                view.setSortingEnabled(True)
                if after_models is not None:
                    after_models(view)
            elif model.rowCount() != counts[table.name] or model.filter_text:
                self.stale.add(table.name)
            self._say_count(table.name)
        self._refresh_shown()

    # filters, details, conversations ---------------------------------------------------------------

    def _apply_filter(self) -> None:
        """The filter typed in the tab on screen, read on the pool (the other tabs keep theirs)."""
        self._timer.stop()
        for name, line in self.filters.items():
            model = self.models.get(name)
            if model is not None and line.text().strip() != model.filter_text:
                model.set_filter(line.text())

    def _read_ids(self, model: RecordsModel) -> None:
        """Read a model's ids for its filter and order on the thread pool; the newest read wins."""
        if self.case_dir is None:
            return
        name, key = model.table.name, model.key()
        worker = FunctionWorker(nv.filtered_ids_of_case, self.case_dir, name, *key)
        worker.signals.finished.connect(lambda ids: self._ids_read(worker, model, ids, key))
        worker.signals.errored.connect(lambda error: self._ids_failed(worker, model, error))
        self._readers[name] = worker
        self.counts[name].setText("reading…")
        worker.start()

    def _ids_read(self, worker: FunctionWorker, model: RecordsModel, ids: list[int], key: tuple[str, str, bool]) -> None:
        name = model.table.name
        if self._readers.get(name) is not worker or self.models.get(name) is not model:
            return  # a newer filter, or another case
        del self._readers[name]
        model.apply_ids(ids, key)
        self._say_count(name)

    def _ids_failed(self, worker: FunctionWorker, model: RecordsModel, error: Exception) -> None:
        name = model.table.name
        if self._readers.get(name) is worker:
            del self._readers[name]
            self.counts[name].setText(f"<span style='color:#b3261e'>{error}</span>")

    def _say_count(self, name: str) -> None:
        model = self.models.get(name)
        if model is None or name in self._readers:
            return
        total = self._totals.get(name, model.rowCount())
        self.counts[name].setText(f"{model.rowCount():,} of {total:,}" if model.filter_text else "")

    def _reset(self, name: str) -> None:
        self.details[name].show_record(None, None)

    def _selection_changed(self, name: str) -> None:
        view = self.views[name]
        selection = view.selectionModel()
        rows = selection.selectedRows() if selection is not None else []
        record_id = view.model().data(rows[0], Qt.ItemDataRole.UserRole) if rows else None
        revealed = name == "credentials" and self.reveal_box.isChecked() and self._audit_worker is None
        self.details[name].show_record(self.conn, record_id, revealed)

    def _double_clicked(self, name: str) -> None:
        """A row opened: what an HTTP exchange or an FTP command carried, if anything, else the flow's conversation."""
        details = self.details[name]
        if name in CARRIES and details.body_button.isEnabled():
            details.body_button.click()
        elif details.follow_button.isEnabled():
            details.follow_button.click()

    def show_table(self, name: str) -> None:
        """Bring one table's sub-tab to the front."""
        self.tabs.setCurrentIndex([table.name for table in TABLES].index(name))

    def show_flows(self, address: str) -> None:
        """The Flows tab filtered on one address (a host's flows)."""
        self.show_table("flows")
        self.filters["flows"].setText(address)
        self._apply_filter()

    def open_object(self, file_id: int) -> None:
        """A carried object: in the Files tab when the window offers it, else in a content viewer of its own."""
        if self.show_file is not None:
            self.show_file(file_id)
        elif self.case_dir is not None and self.conn is not None:
            ObjectDialog(self.case_dir, self.conn, file_id, self.tabs).show()

    def follow(self, evidence_id: int, flow_id: int) -> None:
        """One flow's conversation, in a window of its own."""
        if self.case_dir is not None:
            ConversationDialog(self.case_dir, evidence_id, flow_id, self.open_object, self.tabs).show()

    def _refresh_shown(self, *_: Any) -> None:
        """Re-read the order of the table on screen only; the others when their tab is chosen (a running
        capture scan changes every count each second, and a sorted order is a sort of the whole table)."""
        shown = TABLES[self.tabs.currentIndex()].name if self.tabs.currentIndex() >= 0 else None
        if shown in self.stale and shown in self.models:
            self.stale.discard(shown)
            self.models[shown].refresh()

    # credentials ------------------------------------------------------------------------------------

    def _reveal_toggled(self, checked: bool) -> None:
        model = self.models.get("credentials")
        if not checked:
            if model is not None:
                model.set_revealed(False)
            self._selection_changed("credentials")
            self.revealed_changed.emit(False)
            return
        if self.case_dir is None or self._audit_worker is not None:
            self._set_box(False)
            return
        shown = model.rowCount() if model is not None else 0
        worker = FunctionWorker(record_in_audit_log, self.case_dir, "credentials shown",
                                {"view": "network/credentials", "records": shown})
        worker.signals.finished.connect(lambda _: self._audit_written(worker))
        worker.signals.errored.connect(lambda error: self._audit_failed(worker, error))
        self._audit_worker = worker
        worker.start()

    def _audit_written(self, worker: FunctionWorker) -> None:
        self._audit_worker = None
        if not self.reveal_box.isChecked():
            return
        model = self.models.get("credentials")
        if model is not None:
            model.set_revealed(True)
        self._selection_changed("credentials")
        self.say("Credentials shown; recorded in the case's audit log.")
        self.revealed_changed.emit(True)

    def _audit_failed(self, worker: FunctionWorker, error: Exception) -> None:
        self._audit_worker = None
        self._set_box(False)
        self.say(f"Credentials stay masked: the audit log could not be written ({error})", error=True)
        self.revealed_changed.emit(False)

    def _set_box(self, checked: bool) -> None:
        self.reveal_box.blockSignals(True)
        self.reveal_box.setChecked(checked)
        self.reveal_box.blockSignals(False)
