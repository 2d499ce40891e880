"""The Timeline tab: file MACB times, network events, artefacts and findings on one time axis, with a
histogram over it (timeline_chart.py).

Every question goes to the core's `cybertriage.case.timeline` module (the histogram and its count, pages
of events) on the thread pool, each on a connection of its own; the core answers from the events counted
per hour, so neither the first open nor a deep page of a million-file case holds the window up. The table
pages rows in as the view asks for them; clicking a bar narrows the range to that bar, the wheel zooms,
and a double-click on a row opens what the event is about.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlite_utils
from PySide6.QtCore import (
    QAbstractTableModel,
    QDate,
    QDateTime,
    QModelIndex,
    QObject,
    Qt,
    QTime,
    QTimeZone,
    Signal,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..case import browse, columns
from ..case.columns import Kind
from ..formatting import utc_iso
from ..text_safety import visible
from .case_window import named
from .models import Index
from .timeline_chart import Histogram, short
from .workers import FunctionWorker

BUCKETS = 60
COLUMNS = columns.TIMELINE.shown
KIND_COLORS = {"file": "#1f6fb2", "flow": "#2e7d32", "dns": "#8e44ad", "http": "#e8590c", "tls": "#00838f",
               "smtp": "#c2185b", "ftp": "#6d4c41", "artifact": "#5e35b1", "finding": "#b3261e"}
QT_FORMAT = "yyyy-MM-dd HH:mm:ss"


def _timeline() -> Any:
    """The core's timeline queries, imported when first needed."""
    from ..case import timeline

    return timeline


@dataclass(frozen=True)
class TimelineQuery:
    """A range [start, end) in ISO 8601 UTC (None: open), the kinds of event and the evidence items shown
    (None: all), and words every event shown has in its description (None: any)."""

    start: str | None = None
    end: str | None = None
    kinds: tuple[str, ...] | None = None
    evidence: tuple[int, ...] | None = None
    text: str | None = None

    def but(self, **changes: Any) -> TimelineQuery:
        """The same query with these fields changed."""
        return replace(self, **changes)


@dataclass
class Overview:
    """What the histogram and the table header need for one query, read in one go off the GUI thread."""

    query: TimelineQuery
    count: int
    first: str | None
    last: str | None
    bars: list[tuple[str, int]]
    evidence: dict[int, str]  # evidence id → file name


def _with_connection(case_dir: Path, read: Any) -> Any:
    """`read(db)` on a read-only connection of the calling thread's own, as the core's sqlite-utils Database."""
    conn = browse.connect(case_dir)
    try:
        return read(sqlite_utils.Database(conn))
    finally:
        conn.close()


def after(ts: str) -> str:
    """The first whole second after `ts`: an end that takes the event at `ts` in (the timeline's ends are exclusive)."""
    return utc_iso(datetime.fromisoformat(ts[:19]).replace(tzinfo=timezone.utc) + timedelta(seconds=1))


def read_overview(case_dir: Path, query: TimelineQuery, buckets: int = BUCKETS, *, cancel: Any = None) -> Overview:
    """The range the query spans (an open end: the first or last event's time), a histogram of it in
    about `buckets` bars on whole steps of time, and the number of events: the bars' total."""
    tl = _timeline()

    match = browse.fts_query(query.text or "")

    def read(db: sqlite_utils.Database) -> Overview:
        first, last = query.start, query.end
        if first is None or last is None:
            whole = tl.time_range(db, query.kinds, evidence=query.evidence, match=match)
            if whole:
                first, last = first or whole[0], last or after(whole[1])
        bars: list[tuple[str, int]] = []
        if first and last:
            edges = tl.nice_edges(first, last, buckets)
            bars = list(zip(edges, tl.histogram_over(db, edges, query.kinds, evidence=query.evidence, match=match)))
        count = sum(number for _, number in bars)
        return Overview(query, count, first, last, bars if count else [], browse.evidence_names(db.conn))

    return _with_connection(case_dir, read)


def read_page(case_dir: Path, query: TimelineQuery, offset: int, limit: int, *, cancel: Any = None) -> list[Any]:
    tl = _timeline()
    match = browse.fts_query(query.text or "")
    return _with_connection(case_dir, lambda db: list(tl.events(db, query.start, query.end, query.kinds, limit, offset,
                                                                 evidence=query.evidence, match=match)))


def read_kinds(case_dir: Path, *, cancel: Any = None) -> tuple[list[str], dict[int, str]]:
    """The kinds of event the case has at least one of (from the hourly counts), and its evidence items' names."""
    tl = _timeline()
    return _with_connection(case_dir, lambda db: (tl.kinds_present(db), browse.evidence_names(db.conn)))


def parse_ts(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# -- the table ---------------------------------------------------------------------------------


class TimelineModel(QAbstractTableModel):
    """The events of one query in time order; pages are read on the pool and shown when they arrive."""

    PAGE = 500
    CACHED_PAGES = 20
    page_loaded = Signal(int)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.case_dir: Path | None = None
        self.query = TimelineQuery()
        self.evidence: dict[int, str] = {}
        self._count = 0
        self._pages: OrderedDict[int, list[Any]] = OrderedDict()
        self._pending: dict[int, FunctionWorker] = {}
        self._wanted: int | None = None  # the page asked for while another was being read

    def show(self, case_dir: Path | None, query: TimelineQuery, count: int, evidence: dict[int, str]) -> None:
        self.beginResetModel()
        for worker in self._pending.values():
            worker.quit()
        self.case_dir, self.query, self._count, self.evidence = case_dir, query, count, evidence
        self._pages, self._pending, self._wanted = OrderedDict(), {}, None
        self.endResetModel()

    def event_at(self, row: int) -> Any | None:
        page = self._pages.get(row // self.PAGE)
        if page is None:
            self._request(row // self.PAGE)
            return None
        offset = row % self.PAGE
        return page[offset] if offset < len(page) else None

    def _request(self, number: int) -> None:
        """One page read at a time, the latest asked for next: dragging the scroll bar through millions of
        events must not queue a slow deep read for every page it passes (and fill the thread pool)."""
        if number in self._pending or self.case_dir is None:
            return
        if self._pending:
            self._wanted = number
            return
        query = self.query
        worker = FunctionWorker(read_page, self.case_dir, query, number * self.PAGE, self.PAGE)
        worker.signals.finished.connect(lambda rows: self._loaded(worker, query, number, rows))
        worker.signals.errored.connect(lambda error: self._pending.pop(number, None) if self._pending.get(number) is worker else None)
        self._pending[number] = worker
        worker.start()

    def _loaded(self, worker: FunctionWorker, query: TimelineQuery, number: int, rows: list[Any]) -> None:
        if query != self.query or self._pending.get(number) is not worker:
            return
        del self._pending[number]
        wanted, self._wanted = self._wanted, None
        if wanted is not None and wanted not in self._pages and wanted != number:
            self._request(wanted)
        self._pages[number] = rows
        while len(self._pages) > self.CACHED_PAGES:
            self._pages.popitem(last=False)
        first, last = number * self.PAGE, min(self._count, (number + 1) * self.PAGE) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(COLUMNS) - 1))
        self.page_loaded.emit(number)

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else self._count

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(COLUMNS):
            return COLUMNS[section].title
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole,
                                               Qt.ItemDataRole.ForegroundRole):
            return None
        event = self.event_at(index.row())
        if event is None:
            return "…" if role == Qt.ItemDataRole.DisplayRole and index.column() == 0 else None
        column = COLUMNS[index.column()]
        key = column.name
        if role == Qt.ItemDataRole.ForegroundRole:
            return QColor(KIND_COLORS[event.kind]) if key == "kind" and event.kind in KIND_COLORS else None
        if column.kind is Kind.EVIDENCE:
            return visible(self.evidence.get(event.evidence_id, str(event.evidence_id)))
        if role == Qt.ItemDataRole.ToolTipRole and key != "description":
            return None
        return visible(str(getattr(event, key) or ""))


# -- the tab ---------------------------------------------------------------------------------------


class TimelineView(QObject):
    """The Timeline tab of the main window: range, kind and evidence filters, histogram, table."""

    shown = Signal(object)  # the Overview now on screen
    record_opened = Signal(str, int)  # a row was double-clicked: what its event is about (object kind, id)

    def __init__(self, say: Any, show_file: Any = None) -> None:
        super().__init__()
        self.say = say
        self.show_file = show_file  # opens a file's record in the Files tab
        self.stale = False
        self.case_dir: Path | None = None
        self.query = TimelineQuery()
        self.history: list[TimelineQuery] = []
        self._worker: FunctionWorker | None = None
        self._kinds_worker: FunctionWorker | None = None
        self.kind_boxes: dict[str, QCheckBox] = {}

        self.widget = named(QWidget(), "timelineTab")
        layout = QVBoxLayout(self.widget)
        # rows are widgets of their own, never bare layouts added to layouts (see Tagging in tags.py)
        top = named(QWidget(), "timelineFilters")  # two rows: the range, then the evidence and words (a narrow window)
        rows = QVBoxLayout(top)
        rows.setContentsMargins(0, 0, 0, 0)
        bar, narrow = QHBoxLayout(), QHBoxLayout()
        rows.addLayout(bar)
        rows.addLayout(narrow)
        self.start_edit = self._time_edit("timelineStart")
        self.end_edit = self._time_edit("timelineEnd")
        bar.addWidget(QLabel("From"))
        bar.addWidget(self.start_edit)
        bar.addWidget(QLabel("to"))
        bar.addWidget(self.end_edit)
        self.apply_button = named(QPushButton("Show"), "timelineApply")
        self.apply_button.clicked.connect(self._apply_edits)
        self.back_button = named(QPushButton("Back"), "timelineBack")
        self.back_button.setToolTip("The range shown before this one")
        self.back_button.clicked.connect(self.back)
        self.whole_button = named(QPushButton("Whole case"), "timelineWhole")
        self.whole_button.clicked.connect(lambda: self.set_query(self.query.but(start=None, end=None)))
        for button in (self.apply_button, self.back_button):
            bar.addWidget(button)
        bar.addStretch(1)
        narrow.addWidget(self.whole_button)
        self.evidence_box = named(QComboBox(), "timelineEvidence")
        self.evidence_box.setToolTip("The evidence item whose events are shown")
        self.evidence_box.setMinimumContentsLength(18)
        self.evidence_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.evidence_box.activated.connect(self._evidence_changed)
        narrow.addWidget(self.evidence_box)
        self.text_edit = named(QLineEdit(), "timelineText")
        self.text_edit.setPlaceholderText("Words in the description")
        self.text_edit.setToolTip("Only events whose path, artefact, request, query, mail or finding title has every "
                                  "word (as the start of a word); flows, TLS and FTP events have no text index. Enter to apply")
        self.text_edit.setClearButtonEnabled(True)
        self.text_edit.returnPressed.connect(self._text_changed)
        narrow.addWidget(self.text_edit, 1)
        layout.addWidget(top)
        kinds = named(QWidget(), "timelineKinds")  # a row of its own: eight kinds would make the window too wide
        self.kinds_row = QHBoxLayout(kinds)
        self.kinds_row.setContentsMargins(0, 0, 0, 0)
        self.kinds_row.addWidget(QLabel("Show"))
        self.count_label = named(QLabel(), "timelineCount")
        self.count_label.setWordWrap(True)  # "N events from … to …" wraps rather than widen the window
        self.count_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.kinds_row.addStretch(1)
        self.kinds_row.addWidget(self.count_label)
        layout.addWidget(kinds)

        splitter = named(QSplitter(Qt.Orientation.Vertical), "timelineSplitter")
        self.histogram = Histogram()
        self.histogram.bar_clicked.connect(lambda start, end: self.set_query(self.query.but(start=start, end=end)))
        self.histogram.zoom_requested.connect(lambda start, end: self.set_query(self.query.but(start=start, end=end)))
        self.model = TimelineModel(self)
        self.view = named(QTableView(), "timelineView")
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(24)
        self.view.setToolTip("Double-click an event to open what it is about")
        self.view.doubleClicked.connect(lambda index: self.open_event(index.row()))
        header = self.view.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for number, column in enumerate(COLUMNS):
            header.resizeSection(number, column.width)
        header.setStretchLastSection(True)
        splitter.addWidget(self.histogram)
        splitter.addWidget(self.view)
        splitter.setSizes([170, 600])
        layout.addWidget(splitter, 1)
        self._enable(False)

    def _time_edit(self, name: str) -> QDateTimeEdit:
        edit = named(QDateTimeEdit(), name)
        edit.setTimeZone(QTimeZone.utc())
        edit.setDisplayFormat(QT_FORMAT)
        edit.setCalendarPopup(True)
        edit.setMinimumWidth(170)
        return edit

    def _enable(self, enabled: bool) -> None:
        for widget in (self.start_edit, self.end_edit, self.apply_button, self.whole_button, self.evidence_box,
                       self.text_edit, *self.kind_boxes.values()):
            widget.setEnabled(enabled)
        self.back_button.setEnabled(enabled and bool(self.history))

    # what is shown ------------------------------------------------------------------------------------

    def open(self, case_dir: Path | None) -> None:
        """A case was opened (or closed): start again from the whole case, every kind."""
        self.case_dir, self.query, self.history = case_dir, TimelineQuery(), []
        self.stale = case_dir is not None
        for box in self.kind_boxes.values():
            box.deleteLater()
        self.kind_boxes = {}
        self.evidence_box.clear()
        self.text_edit.clear()
        self.model.show(None, self.query, 0, {})
        self.histogram.set_bars([], None)
        self.count_label.clear()
        self._enable(False)

    def mark_stale(self) -> None:
        """The case changed (a scan ended, F5): read it again, now if the tab is on screen, else when it is shown."""
        self.stale = True
        if self.widget.isVisible():
            self.refresh()

    def tab_shown(self) -> None:
        if self.stale:
            self.refresh()

    def refresh(self) -> None:
        """Read the case again: kinds, then the current query."""
        if self.case_dir is None:
            return
        self.stale = False
        worker = FunctionWorker(read_kinds, self.case_dir)
        case = self.case_dir
        worker.signals.finished.connect(lambda found: self._kinds_read(case, *found))
        worker.signals.errored.connect(lambda error: self.say(f"Timeline kinds not read: {error}", error=True))
        self._kinds_worker = worker
        worker.start()
        self._read(self.query)

    def _kinds_read(self, case: Path, kinds: list[str], evidence: dict[int, str]) -> None:
        if case != self.case_dir:
            return
        self.evidence_box.clear()
        self.evidence_box.addItem("All evidence items", None)
        for number, name in sorted(evidence.items()):
            self.evidence_box.addItem(visible(name), number)
        chosen = self.query.evidence
        self.evidence_box.setCurrentIndex(max(0, self.evidence_box.findData(chosen[0])) if chosen else 0)
        for kind in kinds:
            if kind not in self.kind_boxes:
                box = named(QCheckBox(kind), f"timelineKind_{kind}")
                box.setChecked(self.query.kinds is None or kind in self.query.kinds)
                box.toggled.connect(self._kinds_changed)
                self.kind_boxes[kind] = box
                self.kinds_row.insertWidget(len(self.kind_boxes), box)

    def _kinds_changed(self) -> None:
        chosen = tuple(kind for kind, box in self.kind_boxes.items() if box.isChecked())
        self.set_query(self.query.but(kinds=None if len(chosen) == len(self.kind_boxes) else chosen))

    def _evidence_changed(self) -> None:
        number = self.evidence_box.currentData()
        self.set_query(self.query.but(evidence=None if number is None else (int(number),)))

    def _text_changed(self) -> None:
        self.set_query(self.query.but(text=self.text_edit.text().strip() or None))

    def open_event(self, row: int) -> None:
        """Open what the event on this row is about: a file in the Files tab; every kind is announced by
        record_opened for the views that open it."""
        event = self.model.event_at(row)
        if event is None:
            return
        self.record_opened.emit(event.object_kind, event.object_id)
        if event.object_kind == "file" and self.show_file is not None:
            self.show_file(event.object_id)

    def _apply_edits(self) -> None:
        start, end = (edit.dateTime().toUTC().toString("yyyy-MM-ddTHH:mm:ssZ") for edit in (self.start_edit, self.end_edit))
        self.set_query(self.query.but(start=start, end=end))

    def set_query(self, query: TimelineQuery) -> None:
        """Show the events of `query` (the range and kinds it names); Back returns to the one before."""
        if query == self.query:
            return
        self.history.append(self.query)
        self._read(query)

    def back(self) -> None:
        if self.history:
            self._read(self.history.pop())

    def _read(self, query: TimelineQuery) -> None:
        if self.case_dir is None:
            return
        if self._worker is not None:
            self._worker.quit()
        self.query = query
        case = self.case_dir
        worker = FunctionWorker(read_overview, case, query)
        worker.signals.finished.connect(lambda overview: self._overview_read(worker, case, overview))
        worker.signals.errored.connect(lambda error: self._failed(error))
        self._worker = worker
        self.count_label.setText("Reading…")
        worker.start()

    def _overview_read(self, worker: FunctionWorker, case: Path, overview: Overview) -> None:
        if worker is not self._worker or case != self.case_dir or overview.query != self.query:
            return
        self._worker = None
        self.model.show(case, overview.query, overview.count, overview.evidence)
        self.histogram.set_bars(overview.bars, overview.last)
        for edit, value in ((self.start_edit, overview.first), (self.end_edit, overview.last)):
            moment = parse_ts(value)
            if moment is not None:
                edit.setDateTime(QDateTime(QDate(moment.year, moment.month, moment.day),
                                           QTime(moment.hour, moment.minute, moment.second), QTimeZone.utc()))
        span = f" from {short(overview.first)} to {short(overview.last)}" if overview.first and overview.last else ""
        self.count_label.setText(f"{overview.count:,} events{span}")
        self._show_filters(overview.query)
        self._enable(True)
        self.shown.emit(overview)

    def _show_filters(self, query: TimelineQuery) -> None:
        """The filters as the query shown has them (Back returns to an earlier one)."""
        for kind, box in self.kind_boxes.items():
            box.blockSignals(True)
            box.setChecked(query.kinds is None or kind in query.kinds)
            box.blockSignals(False)
        self.evidence_box.setCurrentIndex(max(0, self.evidence_box.findData(query.evidence[0])) if query.evidence else 0)
        self.text_edit.setText(query.text or "")

    def _failed(self, error: Exception) -> None:
        self._worker = None
        self.count_label.setText("Timeline not read")
        self.say(f"Timeline not read: {error}", error=True)
