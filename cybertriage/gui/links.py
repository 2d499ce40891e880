"""Links everywhere: every reference to another record opens it in its own view, selected, and Back and Forward
walk what was opened.

- The details panes' links (`cybertriage://KIND/ID`, written by details.py) open a file, a finding, an artefact
  or a network record; a carried file's Origin, Flow and DNS lookup open the record that carried it, its flow and
  the lookup of its server before the transfer (case/record_links.py).
- A timeline event's double-click opens its record; "Show in timeline" on a row of the findings, files, network
  and artefacts tables opens the timeline around the row's time.
- Back and Forward (Alt+Left, Alt+Right, the mouse's back and forward buttons, the toolbar) walk the history of
  places (history.py); switching tabs by hand is a visit too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Protocol

import shiboken6
from PySide6.QtCore import QAbstractItemModel, QEvent, QObject, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QKeySequence, QMouseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QMainWindow,
    QMenu,
    QStyle,
    QTableView,
    QTabWidget,
    QTextBrowser,
    QToolBar,
    QToolButton,
    QWidget,
)

from ..case import record_links
from ..formatting import utc_iso
from .artefacts_view import AROUND, ArtefactsView
from .case_window import child
from .details import LINK_SCHEME
from .files_view import FilesView
from .findings_view import FindingsView
from .history import History, Place
from .network import TABLES, NetworkViews
from .timeline import TimelineQuery, TimelineView

# a network record's kind (as links, the timeline and correlations name it) → its table in the Network tab
NETWORK_TABLES = {"flow": "flows", "host": "hosts", **{name: name for name in
                                                        ("dns", "http", "tls", "smtp", "ftp", "credentials")}}
KIND_OF_TABLE = {table: kind for kind, table in NETWORK_TABLES.items()}
RECORD_KINDS = {"file", "finding", "artifact", *NETWORK_TABLES}
# where a carried file leads: the record that carried it, that record's flow, the lookup of its server before it
FILE_LEADS = ("carrier", "flow-of", "lookup-before")
DETAILS_PANES = ("findingDetails", "fileInfo", "galleryDetails")


class LinkedWindow(Protocol):
    """What the links ask of the main window."""

    window: QMainWindow
    tabs: QTabWidget
    actions: dict[str, QAction]
    disposed: bool
    conn: sqlite3.Connection | None
    case_opened: Any  # Signal(object)
    findings: FindingsView
    files: FilesView
    network: NetworkViews
    artefacts: ArtefactsView
    timeline: TimelineView

    def say(self, text: str, error: bool = False) -> None: ...


class Selection(QObject):
    """A record to select in a table once its model lists it (a filter being cleared is read on the pool)."""

    done = Signal()

    def __init__(self, model: QAbstractItemModel, row_of: Callable[[], int], view: QTableView) -> None:
        super().__init__(model)  # goes with its model (another case)
        self.row_of, self.view = row_of, view
        self.cancelled = False
        for signal in (model.modelReset, model.layoutChanged, model.rowsInserted):
            signal.connect(self.attempt)

    def cancel(self) -> None:
        """Another place was opened: this record is no longer wanted."""
        self.cancelled = True
        if shiboken6.isValid(self):
            self.deleteLater()

    def attempt(self, *_: Any) -> bool:
        row = self.row_of()
        if row < 0 or self.cancelled:
            return False
        model = self.view.model()
        self.view.setCurrentIndex(model.index(row, 0))
        self.view.selectRow(row)
        self.view.scrollTo(model.index(row, 0), QAbstractItemView.ScrollHint.PositionAtCenter)
        self.done.emit()
        self.cancel()
        return True


class Links(QObject):
    """The window's links, Back and Forward, and "Show in timeline"."""

    def __init__(self, main: LinkedWindow, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.main = main
        self.history = History(self, self.here, parent=self)
        self.pending: Selection | None = None
        self._tab: QWidget | None = main.tabs.currentWidget()
        self.back_action = self._action("Back", "Alt+Left", QStyle.StandardPixmap.SP_ArrowBack, self.history.back,
                                        "Back to the place opened before this one (Alt+Left, or the mouse's back button)")
        self.forward_action = self._action("Forward", "Alt+Right", QStyle.StandardPixmap.SP_ArrowForward,
                                           self.history.forward, "Forward to the place left by Back (Alt+Right, or the "
                                                                 "mouse's forward button)")
        toolbar = child(main.window, QToolBar, "mainToolBar")
        first = toolbar.actions()[0]  # the form's New case
        toolbar.insertActions(first, [self.back_action, self.forward_action])
        toolbar.insertSeparator(first)
        for action in (self.back_action, self.forward_action):  # arrows alone, as a web browser shows them
            button = toolbar.widgetForAction(action)
            if isinstance(button, QToolButton):
                button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        view_menu = main.window.findChild(QMenu, "menuView")
        if view_menu is not None:
            view_menu.addSeparator()
            view_menu.addActions([self.back_action, self.forward_action])
        self.history.changed.connect(self._enable)
        self._enable()
        main.tabs.currentChanged.connect(self._tab_changed)
        main.case_opened.connect(lambda _: self.clear())
        for name in DETAILS_PANES:
            browser = main.window.findChild(QTextBrowser, name)
            if browser is not None:
                browser.setOpenLinks(False)
                browser.anchorClicked.connect(self.open_address)
        main.timeline.record_opened.connect(self._event_opened)
        self.time_actions = [self._time_action(view) for view in self._record_tables()]
        main.window.winId()  # the native window, whose mouse buttons are watched
        self.native = main.window.windowHandle()
        self.native.installEventFilter(self)

    def _action(self, name: str, keys: str, pixmap: QStyle.StandardPixmap, slot: Callable[[], None],
                tip: str) -> QAction:
        action = QAction(self.main.window.style().standardIcon(pixmap), name, self.main.window)
        action.setObjectName(f"action{name}")
        action.setShortcut(QKeySequence(keys))
        action.setToolTip(tip)
        action.triggered.connect(slot)
        self.main.actions[name] = action
        return action

    def _enable(self) -> None:
        self.back_action.setEnabled(self.history.can_go_back())
        self.forward_action.setEnabled(self.history.can_go_forward())

    def clear(self) -> None:
        """Another case, or none: its own places only."""
        self._cancel_pending()
        self._tab = self.main.tabs.currentWidget()
        self.history.clear()

    def dispose(self) -> None:
        self.native.removeEventFilter(self)
        self.main.tabs.currentChanged.disconnect(self._tab_changed)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.MouseButtonPress and isinstance(event, QMouseEvent):
            if event.button() == Qt.MouseButton.BackButton:
                self.history.back()
                return True
            if event.button() == Qt.MouseButton.ForwardButton:
                self.history.forward()
                return True
        return super().eventFilter(watched, event)

    # going places ------------------------------------------------------------------------------------

    def go(self, place: Place) -> None:
        """Open a place, remembered for Back."""
        self.history.go(place)
        self._tab = self.main.tabs.currentWidget()

    def open_address(self, address: QUrl) -> None:
        """A details pane's link: the record it names, or where a carried file leads."""
        kind, number = address.host(), address.path().strip("/")
        conn = self.main.conn
        if address.scheme() != LINK_SCHEME or not number.isdigit() or conn is None:
            return
        if kind in RECORD_KINDS:
            self.go(Place(kind, int(number)))
        elif kind in FILE_LEADS:
            self._follow_file(conn, kind, int(number))

    def _follow_file(self, conn: sqlite3.Connection, lead: str, file_id: int) -> None:
        carrier = record_links.carrier_of(conn, file_id)
        if carrier is None:
            self.main.say("The capture record that carried this file is not in the case.")
        elif lead == "carrier":
            self.go(Place(carrier.table, carrier.record_id))
        elif lead == "flow-of" and carrier.flow_record_id is not None:
            self.go(Place("flow", carrier.flow_record_id))
        elif lead == "lookup-before":
            lookup = record_links.lookup_before(conn, carrier.evidence_id, carrier.server, carrier.ts)
            if lookup is None:
                self.main.say(f"No DNS answer in the capture gave {carrier.server} before {carrier.ts}.")
            else:
                self.go(Place("dns", lookup))
        else:
            self.main.say("The flow that carried this file is not in the case.")

    def _event_opened(self, kind: str, ident: int) -> None:
        """A timeline event's double-click: its record (the timeline opens a file itself)."""
        if kind != "file" and kind in RECORD_KINDS:
            self.go(Place(kind, ident))

    def show_in_timeline(self, start: str, end: str) -> None:
        self.go(Place("timeline", query=TimelineQuery(start, end, None)))

    # what a place asks to be shown again (history.Opener) --------------------------------------------

    def show_tab(self, name: str) -> None:
        found = self.main.window.findChild(QWidget, name)
        if found is not None:
            self.main.tabs.setCurrentWidget(found)

    def show_timeline(self, query: TimelineQuery) -> None:
        self.main.tabs.setCurrentWidget(self.main.timeline.widget)
        self.main.timeline.set_query(query)

    def show_record(self, kind: str, ident: int) -> None:
        """The record in its own view, selected (a filter hiding it is cleared first)."""
        main = self.main
        if kind == "file":
            main.files.show_file(ident)
        elif kind == "finding" and main.findings.model is not None:
            self.show_tab("findingsTab")
            self._select(main.findings.model, main.findings.view, lambda: main.findings.model.row_of(ident)
                         if main.findings.model is not None else -1, self._clear_finding_filters)
        elif kind == "artifact" and main.artefacts.model is not None:
            self.show_tab("artefactsTab")
            self._select(main.artefacts.model, main.artefacts.view, lambda: main.artefacts.model.row_of(ident)
                         if main.artefacts.model is not None else -1, self._clear_artefact_filters)
        elif kind in NETWORK_TABLES:
            self._show_network_record(NETWORK_TABLES[kind], ident)

    def _show_network_record(self, table: str, ident: int) -> None:
        network = self.main.network
        self.show_tab("networkTab")
        network.show_table(table)
        model = network.models.get(table)
        if model is None:
            self.main.say(f"The {table} table is not read yet.")
            return
        self._select(model, network.views[table], lambda: model.row_of(ident), lambda: network.filters[table].clear())

    def _select(self, model: QAbstractItemModel, view: QTableView, row_of: Callable[[], int],
                clear_filters: Callable[[], None]) -> None:
        """Select the row now if it is listed, else once the filters are cleared and the model lists it."""
        self._cancel_pending()
        selection = Selection(model, row_of, view)
        if selection.attempt():
            return
        self.pending = selection
        selection.done.connect(lambda: self._selected(selection))
        clear_filters()

    def _selected(self, selection: Selection) -> None:
        if self.pending is selection:
            self.pending = None

    def _cancel_pending(self) -> None:
        if self.pending is not None:
            self.pending.cancel()
            self.pending = None

    def _clear_finding_filters(self) -> None:
        """Every severity and analyzer, no search, tagged or not: one new question to the case."""
        findings = self.main.findings
        tagged = self.main.window.findChild(QCheckBox, "findingsTagged")
        widgets = [findings.severity_filter, findings.analyzer_filter, findings.search, *([tagged] if tagged else [])]
        for widget in widgets:
            widget.blockSignals(True)
        findings.severity_filter.setCurrentIndex(0)
        findings.analyzer_filter.setCurrentIndex(0)
        findings.search.clear()
        if tagged is not None:
            tagged.setChecked(False)
        for widget in widgets:
            widget.blockSignals(False)
        findings.apply_filter()

    def _clear_artefact_filters(self) -> None:
        """Every type (the table narrows at once) and no text (once the field's typing pause is over)."""
        self.main.artefacts.type_box.setCurrentIndex(0)
        self.main.artefacts.text_edit.clear()

    # where the examiner is ---------------------------------------------------------------------------

    def here(self) -> Place | None:
        return self.place_of(self._tab if self._tab is not None else self.main.tabs.currentWidget())

    def place_of(self, tab: QWidget | None) -> Place | None:
        """The place a tab shows: its selected record, the timeline's range, or the tab as it is."""
        main = self.main
        if tab is None or main.disposed:
            return None
        name = tab.objectName()
        if name == "timelineTab":
            return Place("timeline", query=main.timeline.query)
        views = {"findingsTab": main.findings.view, "filesTab": main.files.view, "artefactsTab": main.artefacts.view}
        if name == "networkTab" and main.network.tabs.currentIndex() >= 0:
            views[name] = main.network.views[TABLES[main.network.tabs.currentIndex()].name]
        place = self.record_at(views[name]) if name in views else None
        return place or Place("tab", tab=name)

    def record_at(self, view: QTableView) -> Place | None:
        """The record on a table's current row (None: no row, or a row that is no record, as an archive's folder)."""
        index = view.currentIndex()
        known = self._record_tables().get(view)
        if known is None or not index.isValid() or view.model() is None:
            return None
        kind, ident_of = known
        ident = ident_of(index.row())
        return Place(kind, int(ident)) if ident is not None else None

    def _record_tables(self) -> dict[QTableView, tuple[str, Callable[[int], Any]]]:
        """Each table of records: the kind of its records and the id of the record on a row."""
        main = self.main
        findings, files, artefacts = main.findings, main.files, main.artefacts
        tables: dict[QTableView, tuple[str, Callable[[int], Any]]] = {
            findings.view: ("finding", lambda row: _id(findings.model.finding(row)) if findings.model else None),
            files.view: ("file", lambda row: _id(files.model.row(row)) if files.model else None),
            artefacts.view: ("artifact", lambda row: _id(artefacts.model.record(row)) if artefacts.model else None)}
        for name, view in main.network.views.items():
            tables[view] = (KIND_OF_TABLE[name], _record_id_of(view))
        return tables

    def _tab_changed(self, number: int) -> None:
        """A tab chosen by hand is a visit: Back returns to the tab (and record) left."""
        if self.main.disposed:
            return
        left, self._tab = self._tab, self.main.tabs.widget(number)
        if self.history.walking:
            return
        place = self.place_of(self._tab)
        if place is not None:
            self.history.visit(place, self.place_of(left))

    # "Show in timeline" ------------------------------------------------------------------------------

    def _time_action(self, view: QTableView) -> QAction:
        action = QAction("Show in timeline", view)
        action.setObjectName(f"{view.objectName()}ShowInTimeline")
        action.setToolTip("The timeline from half an hour before this row's time to half an hour after it")
        action.triggered.connect(lambda: self.show_row_time(view))
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        view.addAction(action)
        return action

    def show_row_time(self, view: QTableView) -> None:
        """The timeline centred on the time of the table's current row."""
        place, conn = self.record_at(view), self.main.conn
        if place is None or place.ident is None or conn is None:
            return
        moment = record_links.time_of(conn, place.kind, place.ident)
        if not moment:
            self.main.say("This row has no time to show on the timeline.")
            return
        centre = datetime.fromisoformat(moment[:19]).replace(tzinfo=timezone.utc)
        self.show_in_timeline(utc_iso(centre - AROUND), utc_iso(centre + AROUND))


def _record_id_of(view: QTableView) -> Callable[[int], Any]:
    """A network table's record id on a row (its model's UserRole)."""
    return lambda row: view.model().data(view.model().index(row, 0), Qt.ItemDataRole.UserRole)


def _id(row: Any) -> int | None:
    """A row's id: None for no row, or a folder inside an archive (it has no entry of its own)."""
    if isinstance(row, dict):
        return None if row.get("implied") else row.get("id")
    return row["id"] if row is not None else None
