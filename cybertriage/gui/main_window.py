"""The main window: a case, its evidence, processing in the background, and the views over the case.

`MainWindow` is a controller around the QMainWindow that `ui/main_window.ui`
describes; widgets are looked up by objectName. Everything it reads comes from
its own read-only connection (`casedb.connect`); the only writes it makes
itself are the case details (`case_info`), through the core's `open_case`, and
the audit log entry of a report it writes (on the thread pool, see report_dialog).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import shiboken6
from PySide6.QtCore import QEvent, QModelIndex, QObject, QSettings, Qt, QThreadPool, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QTextBrowser,
    QTreeView,
    QWidget,
)

from .. import __version__
from ..analyzers import Settings
from ..assets import asset_dir
from ..case import audit, open_case
from ..case import browse as casedb
from ..case.browse import FindingFilter
from ..case.schema import SCHEMA_VERSION
from ..correlate import chain
from ..errors import CybertriageError
from ..formatting import human_size
from ..intel import load_intel
from ..pipeline import Outcome, Progress, ScanOptions
from ..severity import SEVERITIES_WORST_FIRST
from ..text_safety import visible_html as esc  # evidence text for Qt rich text: made visible, then escaped
from .content import ContentViewer
from .details import file_html, finding_html
from .dialogs import CaseDialog
from .export_files import FileExport
from .formatting import SEVERITY_COLORS
from .forms import icon, load_form
from .models import Column, FindingsModel, FolderFilesModel, FolderTreeModel, RowsModel
from .network import NetworkViews
from .progress import ProgressTracker
from .state import WindowState
from .tags import Tagging
from .timeline import TimelineView
from .workers import FunctionWorker, ScanWorker

logger = logging.getLogger(__name__)
W = TypeVar("W", bound=QObject)
REPORT_MESSAGE_MS = 60_000

RECENT_KEY = "recentCases"
RECENT_MAX = 8
REFRESH_MS = 1000  # findings, evidence and dashboard follow a running scan at most this often
CASE_FIELDS = [("name", "Case name"), ("number", "Case number"), ("examiner", "Examiner"), ("agency", "Agency")]
SEVERITY_CHOICES = [
    ("All severities", 0, 4), ("Critical", 4, 4), ("High and above", 3, 4), ("High", 3, 3),
    ("Medium and above", 2, 4), ("Medium", 2, 2), ("Low", 1, 1), ("Info", 0, 0),
]
STATUS_COLORS = {"done": "#2e7d32", "partial": "#e8590c", "failed": "#b3261e", "interrupted": "#b3261e",
                 "cancelled": "#6b7785", "queued": "#1f6fb2", "processing": "#1f6fb2"}
IMAGE_FILTER = ("Disk images and captures (*.dd *.raw *.img *.bin *.001 *.000 *.E01 *.e01 *.Ex01 *.pcap *.pcapng *.cap);;"
                "All files (*)")


def open_folder(folder: Path) -> bool:
    """Show `folder` in the desktop's file manager."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


def _upgrade_case(folder: Path, cancel: threading.Event) -> None:
    """On the pool: open the case for writing once, which migrates its schema (not interruptible: one transaction
    per version)."""
    open_case(folder).close()


def default_scan_options() -> ScanOptions:
    """YARA with the bundled rules, the workstation's hash sets and IOC lists, every core busy: what
    `cybertriage scan` does by default."""
    try:
        rules: tuple[Path, ...] | None = (asset_dir("rules"),)
    except FileNotFoundError:
        rules = None
    try:
        known = load_intel(None)
    except CybertriageError as error:  # an unusable intel database: scan without it, and say so
        logger.warning("hash sets and IOC lists not used: %s", error)
        known = None
    return ScanOptions(settings=Settings(rule_paths=rules, intel=known))


class MainWindow(QObject):
    """The application's one window and what it is showing."""

    case_opened = Signal(object)  # the case folder
    refreshed = Signal()  # the views show a fresh snapshot of the case
    scan_done = Signal(object)  # outcomes, or the exception that stopped the scan, once the views are updated
    report_done = Signal(object)  # the reports written (list of paths), or the exception that stopped them

    def __init__(self, settings: QSettings | None = None, scan_options: ScanOptions | None = None) -> None:
        super().__init__()
        self.settings = settings if settings is not None else QSettings()
        self.scan_options = scan_options or default_scan_options()
        self.window: QMainWindow = load_form("main_window.ui")  # type: ignore[assignment]
        self.window.setWindowIcon(icon("app"))
        self.window.installEventFilter(self)

        self.disposed = False
        self.case_dir: Path | None = None
        self.conn: sqlite3.Connection | None = None
        self.info: dict[str, str] = {}
        self.queued: list[Path] = []  # waiting for the running scan to end
        self.running: list[Path] = []
        self.worker: ScanWorker | None = None
        self.failed: dict[str, str] = {}  # evidence that never reached the case, and why
        self.live: Progress | None = None
        self.tracker = ProgressTracker()
        self.report_worker: FunctionWorker | None = None
        self.upgrade_worker: FunctionWorker | None = None  # bringing an older case's database up to date
        self.report_dialog: Any = None  # the open ReportDialog, if any
        self.report_error_box: QMessageBox | None = None
        self.last_report: Path | None = None
        self._workers: set[FunctionWorker] = set()  # kept alive until they report
        self.findings_model: FindingsModel | None = None
        self.tree_model: FolderTreeModel | None = None
        self.files_model: FolderFilesModel | None = None
        self._evidence_count = 0
        self._db_evidence: list[dict[str, Any]] = []  # the evidence table as the last snapshot read it
        self._counts: dict[str, int] = {}
        self._snapshot_worker: FunctionWorker | None = None
        self._refresh_wanted = self._snapshot_seen = 0
        self._refresh_cost = 0.0
        self._reload_tree = False
        self._after_refresh: list[tuple[int, Callable[[], None]]] = []

        self._find_widgets()
        self._build_static_models()
        self._connect()
        self.tagging = Tagging(self, parent=self)
        self.show_known_good = QCheckBox("Show known-good", objectName="filesShowKnownGood")
        self.show_known_good.setToolTip("List files found in a known-good hash set (e.g. the NSRL), hidden by default")
        self.window.findChild(QWidget, "filesHeading").layout().addWidget(self.show_known_good)
        self.show_known_good.toggled.connect(self._known_good_toggled)
        self.timeline = TimelineView(self._say)
        self.tabs.addTab(self.timeline.widget, "Timeline")
        self.tabs.currentChanged.connect(self._tab_changed)
        self.scan_done.connect(lambda _: self.timeline.mark_stale())
        self._add_menus()
        self.state = WindowState(self.settings, self.window)
        self.state.restore_window()
        for view in (self.evidence_view, self.dashboard_evidence_view, self.top_objects_view, self.timeline.view):
            self.state.restore_columns(view)
        self._refresh_timer = QTimer(self, singleShot=True, interval=REFRESH_MS)
        self._refresh_timer.timeout.connect(self.refresh_views)
        self._search_timer = QTimer(self, singleShot=True, interval=250)
        self._search_timer.timeout.connect(self._apply_findings_filter)
        self._update_recent()
        self._show_case_state()

    # -- widgets ------------------------------------------------------------------------------------

    def _w(self, kind: type[W], name: str) -> W:
        widget = self.window.findChild(kind, name)
        if widget is None:
            raise RuntimeError(f"main_window.ui has no {kind.__name__} named {name}")
        return widget

    def _find_widgets(self) -> None:
        w = self._w
        self.stack = w(QStackedWidget, "stack")
        self.tabs = w(QTabWidget, "tabs")
        self.recent_list = w(QListWidget, "recentList")
        self.case_summary = w(QLabel, "caseSummaryLabel")
        self.dashboard_evidence_view = w(QTableView, "dashboardEvidenceView")
        self.top_objects_view = w(QTableView, "topObjectsView")
        self.evidence_view = w(QTableView, "evidenceView")
        self.severity_filter = w(QComboBox, "severityFilter")
        self.analyzer_filter = w(QComboBox, "analyzerFilter")
        self.findings_search = w(QLineEdit, "findingsSearch")
        self.findings_count = w(QLabel, "findingsCountLabel")
        self.findings_view = w(QTableView, "findingsView")
        self.finding_details = w(QTextBrowser, "findingDetails")
        self.folder_tree = w(QTreeView, "folderTree")
        self.folder_label = w(QLabel, "folderLabel")
        self.files_view = w(QTableView, "filesView")
        self.file_detail_tabs = w(QTabWidget, "fileDetailTabs")
        self.file_info = w(QTextBrowser, "fileInfo")
        self.content_viewer = ContentViewer(w(QWidget, "hexTab"), w(QWidget, "textTab"), self.file_detail_tabs)
        self.network_label = w(QLabel, "networkLabel")
        self.flows_view = w(QTableView, "flowsView")
        self.network = NetworkViews(w(QWidget, "networkTab"), self.network_label, self.flows_view, self._say)
        self.progress_panel = w(QFrame, "progressPanel")
        self.progress_bar = w(QProgressBar, "progressBar")
        self.cancel_button = w(QPushButton, "cancelButton")
        self.progress_labels = {name: w(QLabel, f"progress{name}Label")
                                for name in ("Evidence", "Stage", "Counts", "Bytes", "Rate", "Eta", "Message")}
        self.recent_menu = w(QMenu, "menuRecent")
        self.actions = {name: w(QAction, f"action{name}") for name in (
            "NewCase", "OpenCase", "CaseProperties", "ExportReport", "CloseCase", "Quit", "AddImage", "AddFolder",
            "CancelScan", "About", "ExportFiles")}
        for name, icon_name in (("NewCase", "new-case"), ("OpenCase", "open-case"), ("AddImage", "add-image"),
                                ("AddFolder", "add-folder"), ("CancelScan", "cancel")):
            self.actions[name].setIcon(icon(icon_name))
        self.status_case = QLabel()
        self.status_case.setTextFormat(Qt.TextFormat.RichText)  # case details are escaped, never interpreted
        self.window.statusBar().addPermanentWidget(self.status_case)
        # a report being written (busy bar) or just written (where, and a button to its folder)
        self.report_busy = QProgressBar(objectName="reportBusy", maximumWidth=90, maximumHeight=14, textVisible=False)
        self.report_busy.setRange(0, 0)
        self.report_label = QLabel(objectName="reportLabel")
        self.report_folder_button = QPushButton("Open folder", objectName="reportFolderButton")
        self.report_folder_button.setToolTip("Show the report's folder in the file manager")
        self.report_folder_button.clicked.connect(self.open_report_folder)
        for position, widget in enumerate((self.report_busy, self.report_label, self.report_folder_button)):
            self.window.statusBar().insertPermanentWidget(position, widget)
            widget.hide()
        self.status_case.setContentsMargins(14, 0, 4, 0)  # apart from the report corner
        self._w(QLabel, "welcomeTitle").setObjectName("welcomeTitle")

        self.severity_cards: dict[str, QLabel] = {}
        cards: QHBoxLayout = self.window.findChild(QHBoxLayout, "severityCards")
        for severity in SEVERITIES_WORST_FIRST:
            card = QLabel(objectName="severityCard")
            card.setProperty("severity", severity)
            card.setTextFormat(Qt.TextFormat.RichText)
            card.setAlignment(Qt.AlignmentFlag.AlignCenter)
            cards.addWidget(card)
            self.severity_cards[severity] = card
        for label, low, high in SEVERITY_CHOICES:
            self.severity_filter.addItem(label, (low, high))
        self.analyzer_filter.addItem("All analyzers", None)

        for view in (self.evidence_view, self.dashboard_evidence_view, self.top_objects_view, self.findings_view,
                     self.files_view):
            view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
            view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
            view.setAlternatingRowColors(True)
            view.verticalHeader().hide()
            view.verticalHeader().setDefaultSectionSize(24)
            view.setWordWrap(False)
            view.horizontalHeader().setHighlightSections(False)
        for view in (self.findings_view, self.files_view):  # several rows at once, for File → Export selected files
            view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.folder_tree.setHeaderHidden(True)
        self.folder_tree.setUniformRowHeights(True)
        # long names scroll sideways instead of being cut short
        self.folder_tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.folder_tree.header().setStretchLastSection(False)
        for splitter, sizes in (("dashboardSplitter", [260, 400]), ("findingsSplitter", [430, 300]),
                                ("filesSplitter", [340, 1000]), ("filesRightSplitter", [430, 300])):
            self.window.findChild(QWidget, splitter).setSizes(sizes)

    def _build_static_models(self) -> None:
        def name(r: dict) -> str:
            return Path(r["path"]).name

        def status_color(r: dict) -> str | None:
            return STATUS_COLORS.get(r["shown_status"].split(":")[0].split(" ")[0])

        evidence_columns = [
            Column("Evidence", name, tooltip=lambda r: r["path"],
                   icon=lambda r: icon(r["kind"] if r.get("kind") in ("folder", "file") else "disk")),
            Column("Kind / format", lambda r: " / ".join(x for x in (r.get("kind"), r.get("format")) if x)),
            Column("Size", lambda r: human_size(r.get("size")), right=True),
            Column("SHA-256", lambda r: r.get("sha256"), tooltip=lambda r: r.get("sha256")),
            Column("Verification", lambda r: r.get("verified")),
            Column("Status", lambda r: r["shown_status"], tooltip=lambda r: r["shown_status"], foreground=status_color),
            Column("Objects", lambda r: f"{r['files']:,}" if r.get("files") is not None else "", right=True),
            Column("Findings", lambda r: sum(r.get("findings", {}).values()) if r.get("files") is not None else "", right=True),
        ]
        self.evidence_model = RowsModel(evidence_columns, key="key", parent=self)
        dashboard_columns = [
            Column("Evidence", name, tooltip=lambda r: r["path"]),
            Column("Status", lambda r: r["shown_status"], foreground=status_color),
            Column("Objects", lambda r: f"{r['files']:,}" if r.get("files") is not None else "", right=True),
            *[Column(s.capitalize(), (lambda s: lambda r: r.get("findings", {}).get(s, 0))(s), right=True,
                     foreground=(lambda s: lambda r: SEVERITY_COLORS[s] if r.get("findings", {}).get(s) else None)(s))
              for s in SEVERITIES_WORST_FIRST],
        ]
        self.dashboard_evidence_model = RowsModel(dashboard_columns, key="key", parent=self)
        top_columns = [
            Column("Score", lambda r: r["score"], right=True,
                   foreground=lambda r: SEVERITY_COLORS["critical"] if r["score"] >= 50 else None),
            Column("Object", lambda r: r["path"], tooltip=lambda r: r["path"] + ("  (deleted)" if r["deleted"] else "")),
            Column("Evidence", lambda r: Path(r["evidence"]).name, tooltip=lambda r: r["evidence"]),
            Column("Reasons", lambda r: "; ".join(r["reasons"]), tooltip=lambda r: "\n".join(r["reasons"])),
        ]
        self.top_model = RowsModel(top_columns, key="id", parent=self)
        self.evidence_view.setModel(self.evidence_model)
        self.dashboard_evidence_view.setModel(self.dashboard_evidence_model)
        self.top_objects_view.setModel(self.top_model)
        for view, stretch in ((self.evidence_view, 0), (self.dashboard_evidence_view, 0), (self.top_objects_view, 3)):
            header = view.horizontalHeader()
            header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
            header.setStretchLastSection(True)
        self.evidence_view.setColumnWidth(0, 260)
        self.evidence_view.setColumnWidth(3, 200)
        self.evidence_view.setColumnWidth(5, 220)
        self.dashboard_evidence_view.setColumnWidth(0, 300)
        self.dashboard_evidence_view.setColumnWidth(1, 160)
        self.top_objects_view.setColumnWidth(0, 60)
        self.top_objects_view.setColumnWidth(1, 420)
        self.top_objects_view.setColumnWidth(2, 160)
        self.top_objects_view.doubleClicked.connect(self._top_object_activated)

    def _connect(self) -> None:
        a = self.actions
        a["NewCase"].triggered.connect(self.new_case_dialog)
        a["OpenCase"].triggered.connect(self.open_case_dialog)
        a["CaseProperties"].triggered.connect(self.case_properties_dialog)
        a["ExportReport"].triggered.connect(self.export_report_dialog)
        a["CloseCase"].triggered.connect(self.close_case)
        a["Quit"].triggered.connect(self.window.close)
        a["AddImage"].triggered.connect(self.add_image_dialog)
        a["AddFolder"].triggered.connect(self.add_folder_dialog)
        a["CancelScan"].triggered.connect(self.cancel_scan)
        a["About"].triggered.connect(self._about)
        self.file_export = FileExport(self, parent=self)
        a["ExportFiles"].triggered.connect(self.file_export.ask)
        self._w(QPushButton, "newCaseButton").clicked.connect(self.new_case_dialog)
        self._w(QPushButton, "openCaseButton").clicked.connect(self.open_case_dialog)
        self._w(QPushButton, "addImageButton").clicked.connect(self.add_image_dialog)
        self._w(QPushButton, "addFolderButton").clicked.connect(self.add_folder_dialog)
        self.cancel_button.clicked.connect(self._cancel_or_dismiss)
        self.recent_list.itemActivated.connect(lambda item: self.open_case(Path(item.data(Qt.ItemDataRole.UserRole))))
        self.severity_filter.currentIndexChanged.connect(self._apply_findings_filter)
        self.analyzer_filter.currentIndexChanged.connect(self._apply_findings_filter)
        self.findings_search.textChanged.connect(lambda _: self._search_timer.start())

    def _add_menus(self) -> None:
        """Edit and View menus: tag, find and refresh, with the shortcuts Qt users expect."""
        bar = self.window.menuBar()
        before = self._w(QMenu, "menuHelp").menuAction()
        edit = QMenu("&Edit", bar, objectName="menuEdit")
        edit.addAction(self.tagging.action)
        find = edit.addAction("&Find…")
        find.setObjectName("actionFind")
        find.setShortcut(QKeySequence("Ctrl+F"))
        find.triggered.connect(self.focus_search)
        view = QMenu("&View", bar, objectName="menuView")
        refresh = view.addAction("&Refresh")
        refresh.setObjectName("actionRefresh")
        refresh.setShortcut(QKeySequence("F5"))
        refresh.triggered.connect(lambda: self.refresh_views(reload_tree=True))
        refresh.triggered.connect(self.timeline.mark_stale)
        bar.insertMenu(before, edit)
        bar.insertMenu(before, view)
        self.actions.update(Find=find, Refresh=refresh, Tag=self.tagging.action)

    def _tab_changed(self, number: int) -> None:
        if not self.disposed and self.tabs.widget(number) is self.timeline.widget:
            self.timeline.tab_shown()

    def focus_search(self) -> None:
        """Ctrl+F: the findings' search box, ready to type over."""
        if self.case_dir is None:
            return
        self.tabs.setCurrentWidget(self._w(QWidget, "findingsTab"))
        self.findings_search.setFocus()
        self.findings_search.selectAll()

    def tables(self) -> list[QAbstractItemView]:
        """Every table whose column widths are remembered."""
        return [self.findings_view, self.files_view, self.evidence_view, self.dashboard_evidence_view,
                self.top_objects_view, self.timeline.view, *self.network.views.values()]

    # -- cases ----------------------------------------------------------------------------------------

    def new_case_dialog(self) -> None:
        dialog = CaseDialog(self.window, title="New case")
        if dialog.exec():
            values = dialog.values()
            self.create_case(Path(values.pop("folder")), values)

    def case_properties_dialog(self) -> None:
        if self.case_dir is None:
            return
        dialog = CaseDialog(self.window, title="Case properties", values={**self.info, "folder": str(self.case_dir)},
                            folder_fixed=True)
        if dialog.exec():
            values = dialog.values()
            values.pop("folder")
            self._write_case_info(self.case_dir, values)
            self._load_case_info()

    def create_case(self, folder: Path, info: dict[str, str]) -> bool:
        """Make the case database in `folder`, record its details, and open it."""
        try:
            self._write_case_info(folder, info)
        except CybertriageError as error:
            self._say(f"Cannot create the case: {error}", error=True)
            return False
        return self.open_case(folder)

    def _write_case_info(self, folder: Path, info: dict[str, str]) -> None:
        db = open_case(folder, create=True)
        try:
            rows = [{"key": k, "value": v.strip()} for k, v in info.items() if v is not None]
            with db.conn:
                db["case_info"].upsert_all(rows, pk="key")
                audit(db, "case details set", {k: v for k, v in info.items()})
        finally:
            db.close()

    def open_case_dialog(self) -> None:
        start = str(self.case_dir.parent) if self.case_dir else str(Path.home())
        folder = QFileDialog.getExistingDirectory(self.window, "Open case folder", start)
        if folder:
            self.open_case(Path(folder))

    def open_case(self, folder: Path) -> bool:
        """Show the case in `folder`; a bad folder is reported in the status bar, nothing else changes."""
        if self.worker is not None:
            self._say("Processing is running: cancel it or let it finish before switching cases.", error=True)
            return False
        if self.upgrade_worker is not None:
            self._say("A case database is being upgraded: wait for it before opening another case.", error=True)
            return False
        try:
            conn = casedb.connect(folder)
            version = casedb.schema_version(conn)
            if version >= SCHEMA_VERSION:
                try:
                    open_case(folder).close()  # the core checks the schema: a newer one is refused
                except CybertriageError:
                    conn.close()
                    raise
        except CybertriageError as error:
            self._say(f"Cannot open {folder}: {error}", error=True)
            self._forget_recent(folder)
            return False
        if version < SCHEMA_VERSION:
            conn.close()
            return self._upgrade_then_open(folder, version)
        self.close_case()
        self.case_dir, self.conn = folder.resolve(), conn
        self.network.open(conn, self.case_dir)
        self.timeline.open(self.case_dir)
        # filled by the first snapshot; later sorts and filters are read on the thread pool too
        self.findings_model = FindingsModel(conn, self, load=False, loader=self.refresh_views)
        self.findings_view.setModel(self.findings_model)
        header = self.findings_view.horizontalHeader()
        header.setSortIndicator(0, Qt.SortOrder.DescendingOrder)  # the model's own order: worst first
        self.findings_view.setSortingEnabled(True)
        for column, width in enumerate((95, 55, 75, 190, 380, 300)):
            header.resizeSection(column, width)
        header.setStretchLastSection(True)
        self.findings_view.selectionModel().currentRowChanged.connect(self._finding_selected)
        self.findings_view.doubleClicked.connect(self._finding_activated)
        icons = {"disk": icon("disk"), "partition": icon("partition"), "folder": icon("folder"), "file": icon("file")}
        self.tree_model = FolderTreeModel(conn, icons, self)
        self._evidence_count = len(self.tree_model.roots)
        self.folder_tree.setModel(self.tree_model)
        self._expand_evidence()
        self.folder_tree.selectionModel().currentChanged.connect(self._folder_selected)
        self.files_model = FolderFilesModel(conn, icons, self)
        self.files_model.hide_known_good = not self.show_known_good.isChecked()
        self.files_view.setModel(self.files_model)
        for column, width in enumerate((250, 75, 200, 110, 55, 165, 140, 250)):
            self.files_view.horizontalHeader().resizeSection(column, width)
        self.files_view.horizontalHeader().setStretchLastSection(True)
        for view in (self.findings_view, self.files_view):
            self.state.restore_columns(view)
        self.files_view.selectionModel().currentRowChanged.connect(self._file_selected)
        self.files_view.doubleClicked.connect(self._file_activated)
        self.content_viewer.set_case(self.case_dir, conn)
        self._load_case_info()
        self._add_recent(self.case_dir)
        self.refresh_views()
        self._show_case_state()
        self.tabs.setCurrentIndex(0)
        self._say(f"Opened case {self.case_dir}")
        self.case_opened.emit(self.case_dir)
        return True

    def _upgrade_then_open(self, folder: Path, version: int) -> bool:
        """A case written by an older cybertriage is brought up to date on the thread pool (indexes over a large
        case take seconds): the window stays usable, and the case shows once its database is upgraded."""
        worker = FunctionWorker(_upgrade_case, folder)
        worker.signals.finished.connect(lambda _, f=folder: self._case_upgraded(f, None))
        worker.signals.errored.connect(lambda error, f=folder: self._case_upgraded(f, error))
        self.upgrade_worker = worker
        self._say(f"Upgrading the case database of {folder} from schema {version} to {SCHEMA_VERSION}…")
        worker.start()
        return True

    def _case_upgraded(self, folder: Path, error: Exception | None) -> None:
        self.upgrade_worker = None
        if self.disposed:
            return
        if error is not None:
            self._say(f"Cannot open {folder}: {error}", error=True)
            self._forget_recent(folder)
            return
        self.open_case(folder)

    def close_case(self) -> None:
        if self.worker is not None:
            self._say("Processing is running: cancel it first.", error=True)
            return
        self.state.save_columns(*self.tables())
        self.content_viewer.set_case(None, None)
        for view in (self.findings_view, self.folder_tree, self.files_view):
            view.setModel(None)
        for model in (self.findings_model, self.tree_model, self.files_model):
            if model is not None:
                model.deleteLater()
        self.findings_model = self.tree_model = self.files_model = None
        self.network.open(None, None)
        self.timeline.open(None)
        self.tagging.case_changed()
        if self.conn is not None:
            self.conn.close()
        self.conn, self.case_dir, self.info = None, None, {}
        self.queued, self.failed, self._evidence_count = [], {}, 0
        self._db_evidence, self._counts = [], {}
        for model in (self.evidence_model, self.dashboard_evidence_model, self.top_model):
            model.set_rows([])
        for card in self.severity_cards.values():
            card.clear()
        self.finding_details.clear()
        self.file_info.clear()
        self.progress_panel.hide()
        if self.report_dialog is not None:
            self.report_dialog.dialog.reject()
        if self.report_worker is None:  # a report being written still says so when it is done
            self._show_report_state(None)
        self._show_case_state()

    def _load_case_info(self) -> None:
        assert self.conn is not None and self.case_dir is not None
        self.info = casedb.case_info(self.conn)
        self._show_case_state()

    def _show_case_state(self) -> None:
        has_case = self.case_dir is not None
        self.stack.setCurrentIndex(1 if has_case else 0)
        for name in ("CaseProperties", "CloseCase", "AddImage", "AddFolder", "ExportFiles"):
            self.actions[name].setEnabled(has_case)
        self.actions["ExportReport"].setEnabled(has_case and self.report_worker is None)
        self.actions["CancelScan"].setEnabled(self.worker is not None)
        if not has_case:
            self.window.setWindowTitle("cybertriage")
            self.status_case.setText("No case open")
            self.progress_panel.hide()
            return
        name = self.info.get("name") or self.case_dir.name
        number = self.info.get("number")
        self.window.setWindowTitle(f"{name}{f' [{number}]' if number else ''} — {self.case_dir} — cybertriage")
        details = [f"{label} {esc(self.info[key])}" for key, label in (("examiner", "examiner"), ("agency", "agency"))
                   if self.info.get(key)]
        self.status_case.setText(" · ".join([f"Case {esc(name)}", *([f"no. {esc(number)}"] if number else []), *details]))
        created = self.info.get("created_at", "")
        subtitle = " · ".join([*details, f"created {esc(created)}", esc(str(self.case_dir))])
        self.case_summary.setText(
            f"<span style='font-size:15pt; font-weight:600'>{esc(name)}</span>"
            f"{f'&nbsp;&nbsp;<span style=color:#555>case {esc(number)}</span>' if number else ''}<br>"
            f"<span style='color:#555'>{subtitle}</span>")

    # -- reports ----------------------------------------------------------------------------------------

    def export_report_dialog(self) -> Any:
        """Case → Export report…: the dialog opens window-modal; on OK the report is written on the thread pool.

        Returns the ReportDialog (or None without a case, or while a report is being written)."""
        if self.case_dir is None or self.report_worker is not None:
            return None
        if self.report_dialog is not None:
            self.report_dialog.dialog.raise_()
            return self.report_dialog
        from .report_dialog import ReportDialog  # loads reportlab: only when a report is asked for

        dialog = ReportDialog(self.window, self.case_dir, self.info)
        case_dir = self.case_dir
        dialog.dialog.accepted.connect(lambda: self.export_report(dialog.request(), case_dir))
        dialog.dialog.finished.connect(lambda _result: self._report_dialog_closed(dialog))
        self.report_dialog = dialog
        dialog.dialog.open()
        return dialog

    def _report_dialog_closed(self, dialog: Any) -> None:
        if self.report_dialog is dialog:
            self.report_dialog = None
        dialog.dialog.deleteLater()

    def export_report(self, request: Any, case_dir: Path | None = None) -> bool:
        """Write the report a `ReportRequest` describes on the thread pool; `report_done` follows."""
        from .report_dialog import write_report

        case_dir = case_dir or self.case_dir
        if case_dir is None or self.report_worker is not None:
            return False
        worker = FunctionWorker(write_report, case_dir, request)
        worker.signals.finished.connect(lambda written, w=worker: self._report_written(w, written))
        worker.signals.errored.connect(lambda error, w=worker: self._report_failed(w, error))
        self.report_worker = worker
        self._show_report_state("running", request.pdf)
        self._show_case_state()
        message = f"Writing the report to {request.pdf}…"
        if self.worker is not None:
            message += " Processing is still running: findings may still be arriving, the report shows the case as it is now."
        self.window.statusBar().showMessage(message, 0)
        logger.info("%s", message)
        worker.start()
        return True

    def is_reporting(self) -> bool:
        return self.report_worker is not None

    def _report_written(self, worker: FunctionWorker, written: list[Path]) -> None:
        if self.disposed:  # a late report from a worker, after the window went
            return
        self.report_worker = None
        self.last_report = written[0]
        self._show_report_state("done", written[0])
        self._show_case_state()
        text = "Report written: " + " and ".join(str(p) for p in written)
        logger.info("%s", text)
        self.window.statusBar().showMessage(text, REPORT_MESSAGE_MS)
        self.report_done.emit(written)

    def _report_failed(self, worker: FunctionWorker, error: Exception) -> None:
        if self.disposed:  # a late report from a worker, after the window went
            return
        from .report_dialog import error_text

        self.report_worker = None
        self._show_report_state(None)
        self._show_case_state()
        if not isinstance(error, (CybertriageError, OSError)):
            logger.error("report failed", exc_info=error)
        message = error_text(error)
        self._say(f"Report not written: {message}", error=True)
        if self.report_error_box is not None:
            self.report_error_box.deleteLater()
        box = QMessageBox(QMessageBox.Icon.Warning, "Report not written",
                          "The report could not be written.", QMessageBox.StandardButton.Ok, self.window)
        box.setInformativeText(message[:1].upper() + message[1:])
        box.setStyleSheet("QLabel#qt_msgbox_informativelabel { min-width: 460px; }")  # paths wrap less
        box.open()  # window-modal, without a nested event loop
        self.report_error_box = box
        self.report_done.emit(error)

    def _show_report_state(self, state: str | None, path: Path | None = None) -> None:
        """The status bar's report corner: a busy bar while writing, then the report and its folder."""
        self.report_busy.setVisible(state == "running")
        self.report_label.setVisible(state is not None)
        self.report_folder_button.setVisible(state == "done")
        if state == "running":
            self.report_label.setText("Writing report…")
        elif state == "done" and path is not None:
            self.report_label.setText(f"Report: {path.name}")
        self.report_label.setToolTip(str(path) if path is not None else "")

    def open_report_folder(self) -> None:
        if self.last_report is not None:
            open_folder(self.last_report.parent)

    # -- recent cases -------------------------------------------------------------------------------

    def recent_cases(self) -> list[str]:
        value = self.settings.value(RECENT_KEY, [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in value or []]

    def _add_recent(self, folder: Path) -> None:
        recent = [str(folder)] + [p for p in self.recent_cases() if p != str(folder)]
        self.settings.setValue(RECENT_KEY, recent[:RECENT_MAX])
        self._update_recent()

    def _forget_recent(self, folder: Path) -> None:
        recent = self.recent_cases()
        if str(folder) in recent:
            recent.remove(str(folder))
            self.settings.setValue(RECENT_KEY, recent)
            self._update_recent()

    def _update_recent(self) -> None:
        self.recent_menu.clear()
        self.recent_list.clear()
        recent = self.recent_cases()
        for path in recent:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda checked=False, p=path: self.open_case(Path(p)))
            item = QListWidgetItem(icon("open-case"), path)
            item.setData(Qt.ItemDataRole.UserRole, path)
            self.recent_list.addItem(item)
        self.recent_menu.setEnabled(bool(recent))
        self._w(QWidget, "recentBox").setVisible(bool(recent))

    # -- evidence and processing --------------------------------------------------------------------

    def add_image_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self.window, "Add disk images or captures", str(Path.home()),
                                                IMAGE_FILTER)
        self.add_evidence([Path(f) for f in files])

    def add_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Add a folder of loose files", str(Path.home()))
        if folder:
            self.add_evidence([Path(folder)])

    def add_evidence(self, paths: list[Path]) -> None:
        """Queue evidence for processing; it starts at once unless a scan is running."""
        if not paths:
            return
        if self.case_dir is None:
            self._say("Create or open a case before adding evidence.", error=True)
            return
        if self.case_dir in [p.resolve() for p in paths]:
            self._say("The case folder itself cannot be evidence.", error=True)
            return
        for path in paths:
            self.failed.pop(str(path), None)
            if path not in self.queued and path not in self.running:
                self.queued.append(path)
        self.tabs.setCurrentWidget(self._w(QWidget, "evidenceTab"))
        self._start_next_scan()
        self._show_evidence()

    def _start_next_scan(self) -> None:
        if self.worker is not None or not self.queued or self.case_dir is None:
            return
        self.running, self.queued = self.queued, []
        worker = ScanWorker(self.case_dir, self.running, self.scan_options)
        worker.signals.progress.connect(self._scan_progress)
        worker.signals.finished.connect(self._scan_finished)
        worker.signals.errored.connect(self._scan_errored)
        self.worker = worker
        self.tracker = ProgressTracker()
        self.live = None
        self.progress_panel.show()
        self._progress_running(True)
        self.progress_bar.setRange(0, 0)
        self._set_progress_text(Evidence=", ".join(p.name for p in self.running), Stage="starting", Counts="",
                                Bytes="", Rate="", Eta="", Message="")
        self.actions["CancelScan"].setEnabled(True)
        self.actions["CaseProperties"].setEnabled(False)
        worker.start()

    def cancel_scan(self) -> None:
        if self.worker is not None:
            self.worker.quit()
            self.queued = []
            self.cancel_button.setEnabled(False)
            self._set_progress_text(Message="Cancelling: stopping after the objects in hand…")

    def is_scanning(self) -> bool:
        return self.worker is not None

    def _scan_progress(self, progress: Progress) -> None:
        if self.disposed:  # a late report from a worker, after the window went
            return
        if self.worker is None:
            return
        previous = self.live
        self.live = progress if progress.stage != "finished" else None
        if progress.stage == "finished":
            return
        self._show_evidence()  # the row of the item in hand follows every tick
        if previous is None or (previous.evidence, previous.stage) != (progress.evidence, progress.stage):
            self.refresh_views()  # a new item or stage: read the case at once
        shown = self.tracker.update(progress)
        self._set_progress_text(Evidence=shown.evidence, Stage=shown.stage, Counts=shown.counts, Bytes=shown.bytes,
                                Rate=shown.rate, Eta=shown.eta)
        if shown.percent is None:
            self.progress_bar.setRange(0, 0)
        else:
            self.progress_bar.setRange(0, 100)
            self.progress_bar.setValue(shown.percent)
        self._schedule_refresh()

    def _scan_finished(self, outcomes: list[Outcome]) -> None:
        if self.disposed:  # a late report from a worker, after the window went
            return
        self._scan_ended()
        summary = []
        for o in outcomes:
            text = f"{Path(o.path).name}: {o.status}"
            if o.status in ("done", "partial", "cancelled") and o.evidence_id is not None:
                found = sum(o.findings.values())
                text += f" ({o.files:,} object{'s' * (o.files != 1)}, {found:,} finding{'s' * (found != 1)})"
            if o.message and o.status != "done":
                text += f" — {o.message}"
            summary.append(text)
        failed = any(o.status in ("failed", "partial") for o in outcomes)
        self._set_progress_text(Evidence="Processing finished", Stage="", Counts="", Bytes="", Rate="", Eta="",
                                Message="; ".join(summary))
        self.progress_labels["Message"].setProperty("error", failed)
        self._restyle(self.progress_labels["Message"])
        self._say("Processing finished: " + "; ".join(summary), error=failed)
        self.refresh_views(reload_tree=True, then=lambda: self.scan_done.emit(outcomes))
        self._start_next_scan()

    def _scan_errored(self, error: Exception) -> None:
        if self.disposed:  # a late report from a worker, after the window went
            return
        running = self.running
        self._scan_ended()
        if isinstance(error, CybertriageError):
            message = str(error)
        else:
            logger.error("processing stopped", exc_info=error)
            message = f"internal error ({type(error).__name__}: {error})"
        for path in running:
            self.failed[str(path)] = message
        self._set_progress_text(Evidence="Processing stopped", Stage="", Counts="", Bytes="", Rate="", Eta="",
                                Message=message)
        self.progress_labels["Message"].setProperty("error", True)
        self._restyle(self.progress_labels["Message"])
        self._say(f"Processing stopped: {message}", error=True)
        self.refresh_views(reload_tree=True, then=lambda: self.scan_done.emit(error))
        self._start_next_scan()

    def _scan_ended(self) -> None:
        self.worker = None
        self.running = []
        self.live = None
        self._progress_running(False)
        self.actions["CancelScan"].setEnabled(False)
        self.actions["CaseProperties"].setEnabled(self.case_dir is not None)

    def _progress_running(self, running: bool) -> None:
        """While a scan runs the panel shows the bar and the counts; after it, a summary to dismiss."""
        for widget in (self.progress_bar, *(self.progress_labels[n] for n in ("Stage", "Counts", "Bytes", "Rate", "Eta"))):
            widget.setVisible(running)
        self.cancel_button.setText("Cancel" if running else "Dismiss")
        self.cancel_button.setProperty("running", running)
        self.cancel_button.setEnabled(True)
        self._restyle(self.cancel_button)

    def _cancel_or_dismiss(self) -> None:
        if self.worker is not None:
            self.cancel_scan()
        else:
            self.progress_panel.hide()

    def _set_progress_text(self, **texts: str) -> None:
        for name, text in texts.items():
            self.progress_labels[name].setText(text)
        if "Message" in texts:
            self.progress_labels["Message"].setVisible(bool(texts["Message"]))
            self.progress_labels["Message"].setProperty("error", False)
            self._restyle(self.progress_labels["Message"])

    # -- views --------------------------------------------------------------------------------------

    def refresh_views(self, reload_tree: bool = False, then: Callable[[], None] | None = None) -> None:
        """Read the case again on the thread pool and update the views; `then` runs once they show it.

        Counting a million files takes a noticeable fraction of a second, so the
        snapshot (evidence, counts, top objects, the findings' order) is taken by a
        worker on its own connection; only the result is applied here.
        """
        if self.case_dir is None:
            if then is not None:
                then()
            return
        self._refresh_wanted += 1
        self._reload_tree = self._reload_tree or reload_tree
        if then is not None:
            self._after_refresh.append((self._refresh_wanted, then))
        self._refresh_timer.stop()
        self._start_snapshot()

    def _start_snapshot(self) -> None:
        if self._snapshot_worker is not None or self.case_dir is None or self._snapshot_seen >= self._refresh_wanted:
            return
        sequence, case, started = self._refresh_wanted, self.case_dir, time.monotonic()
        query = self.findings_model.query if self.findings_model is not None else casedb.FindingQuery()
        worker = FunctionWorker(casedb.snapshot_of_case, case, query)
        if self.findings_model is not None and self.findings_model.rowCount() == 0:
            # nothing listed yet (a case just opened): the first page goes ahead of the rest of the snapshot
            worker.function = partial(casedb.snapshot_of_case, first=worker.signals.progress.emit,
                                      limit=FindingsModel.PAGE)
            worker.signals.progress.connect(lambda head: self._first_findings(case, head))
        worker.signals.finished.connect(lambda snap: self._snapshot_done(case, sequence, started, snap))
        worker.signals.errored.connect(lambda error: self._snapshot_done(case, sequence, started, error))
        self._snapshot_worker = worker
        worker.start()

    def _snapshot_done(self, case: Path, sequence: int, started: float, result: casedb.Snapshot | Exception) -> None:
        if self.disposed:  # a late report from a worker, after the window went
            return
        self._snapshot_worker = None
        self._refresh_cost = time.monotonic() - started
        if case == self.case_dir:
            self._snapshot_seen = max(self._snapshot_seen, sequence)
            if isinstance(result, Exception):
                logger.warning("reading the case failed: %s", result)  # e.g. locked by a checkpoint: next tick retries
            else:
                self._apply_snapshot(result)
            due = [then for wanted, then in self._after_refresh if wanted <= sequence]
            self._after_refresh = [(w, t) for w, t in self._after_refresh if w > sequence]
            self.refreshed.emit()
            for then in due:
                then()
        self._start_snapshot()  # asked for again while this one ran

    def _first_findings(self, case: Path, head: casedb.FirstFindings) -> None:
        """The first rows of the findings, shown while the rest of the snapshot is read."""
        if self.disposed or case != self.case_dir or self.findings_model is None or self.findings_model.rowCount():
            return
        self.findings_model.apply_ids(head.ids, head.query)
        if self.findings_model.rowCount():
            self._show_findings_count(head.matching, head.total)

    def _schedule_refresh(self) -> None:
        """While a scan runs: refresh again, spending at most a fifth of the time on it."""
        if self._refresh_timer.isActive() or self._snapshot_worker is not None:
            return
        self._refresh_timer.start(max(REFRESH_MS, int(5000 * self._refresh_cost)))

    def _apply_snapshot(self, snap: casedb.Snapshot) -> None:
        self._db_evidence = snap.evidence
        self._counts = snap.severity_counts
        self._show_evidence()
        for severity, card in self.severity_cards.items():
            card.setText(f"<div style='font-size:20pt; font-weight:600'>{snap.severity_counts.get(severity, 0):,}</div>"
                         f"<div>{severity}</div>")
        self.top_model.set_rows(snap.top)
        if self.findings_model is not None:
            self.findings_model.apply_ids(snap.finding_ids, snap.query)
            self._update_analyzers(snap.analyzers)
            self._show_findings_count()
        if self.tree_model is not None and (self._reload_tree or len(snap.evidence) != self._evidence_count):
            self._reload_tree = False
            self._evidence_count = len(snap.evidence)
            self.tree_model.reload()
            self._expand_evidence()
            self.files_model.show_folder(None)
            self.folder_label.setText("Choose a folder on the left.")
        self.network.show_counts(snap.network, self.state.restore_columns)

    def _show_findings_count(self, shown: int | None = None, total: int | None = None) -> None:
        """'N of M findings' under the table: by default the rows listed and the snapshot's count."""
        total = sum(self._counts.values()) if total is None else total
        if shown is None:
            shown = self.findings_model.rowCount() if self.findings_model is not None else 0
        self.findings_count.setText(f"{shown:,} of {total:,} findings" if shown != total else f"{total:,} findings")

    def _show_evidence(self) -> None:
        rows = self._evidence_rows([dict(row) for row in self._db_evidence])
        self.evidence_model.set_rows(rows)
        self.dashboard_evidence_model.set_rows(rows)

    def _evidence_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The case's evidence with what the examiner sees: live stage, queued items, failures before the case."""
        known = set()
        live_key = str(Path(self.live.evidence).resolve()) if self.live and self.live.evidence else None
        for row in rows:
            row["key"] = row["path"]
            known.add(row["path"])
            status = row["status"] or "added"
            if status in ("added", "processing"):
                if self.worker is not None and row["path"] == live_key and self.live is not None:
                    p = self.live
                    status = f"processing: {p.stage}"
                    row["files"] = max(row["files"] or 0, p.objects_done)  # ahead of what is committed
                elif self.worker is not None:
                    status = "processing"
                else:
                    status = "interrupted: processing did not finish"
            if row.get("error"):
                status += f": {row['error']}"
            row["shown_status"] = status
        for path, status in ([(p, "queued") for p in self.running + self.queued]
                             + [(Path(p), f"failed: {m}") for p, m in self.failed.items()]):
            key = str(path.resolve()) if path.exists() else str(path)
            if key in known:
                continue
            known.add(key)
            if status == "queued" and key == live_key:
                status = "processing"
            rows.append({"key": key, "id": None, "path": key, "kind": None, "format": None, "size": None,
                         "sha256": None, "verified": None, "files": None, "findings": {}, "shown_status": status})
        return rows

    def _update_analyzers(self, names: list[str]) -> None:
        have = [self.analyzer_filter.itemData(i) for i in range(1, self.analyzer_filter.count())]
        if names == have:
            return
        current = self.analyzer_filter.currentData()
        self.analyzer_filter.blockSignals(True)
        self.analyzer_filter.clear()
        self.analyzer_filter.addItem("All analyzers", None)
        for name in names:
            self.analyzer_filter.addItem(name, name)
        index = self.analyzer_filter.findData(current)
        self.analyzer_filter.setCurrentIndex(max(index, 0))
        self.analyzer_filter.blockSignals(False)

    def _apply_findings_filter(self) -> None:
        if self.findings_model is None:
            return
        low, high = self.severity_filter.currentData()
        self.findings_model.set_filter(FindingFilter(low, high, self.analyzer_filter.currentData(),
                                                     self.findings_search.text(), self.tagging.filter_tagged()))
        self.finding_details.clear()
        self._show_findings_count()

    def _finding_selected(self, current: QModelIndex, previous: QModelIndex) -> None:
        if self.findings_model is None or not current.isValid():
            return
        row = self.findings_model.finding(current.row())
        if row is None:
            return
        finding = casedb.finding_row(self.conn, row["id"])
        if finding is None:
            return
        file = casedb.file_row(self.conn, finding["object_id"]) if finding["object_kind"] == "file" else None
        links = json.loads(finding["detail"] or "{}").get("links") if finding["analyzer"] == "correlation" else None
        self.finding_details.setHtml(finding_html(finding, file, chain(self.conn, links) if links else None))

    def _finding_activated(self, index: QModelIndex) -> None:
        """Double-click: the finding's file in the Files tab, with its bytes."""
        row = self.findings_model.finding(index.row()) if self.findings_model else None
        if row is not None and row["object_kind"] == "file":
            self.show_file(row["object_id"])

    def _top_object_activated(self, index: QModelIndex) -> None:
        file_id = self.top_model.data(index, Qt.ItemDataRole.UserRole)
        if file_id is not None:
            self.show_file(int(file_id))

    # files tab ----------------------------------------------------------------------------------

    def _expand_evidence(self) -> None:
        """Evidence items open on their volumes (a cheap query each); folders stay closed until asked."""
        for row in range(self.tree_model.rowCount()):
            index = self.tree_model.index(row, 0)
            self.tree_model.fetchMore(index)  # a hidden view would only note the expansion
            self.folder_tree.expand(index)

    def _folder_selected(self, current: QModelIndex, previous: QModelIndex) -> None:
        node = self.tree_model.node(current) if self.tree_model else None
        if node is None or self.files_model is None:
            return
        self.tagging.folder_chosen()
        if node.offset is None or node.greyed:
            self.files_model.show_folder(None)
            self.folder_label.setText("Choose a volume." if node.offset is None else esc(node.tooltip or node.label))
            return
        self.files_model.show_folder(node.evidence_id, node.offset, node.path)
        self.folder_label.setText(f"<b>{esc(node.path)}</b>")

    def _known_good_toggled(self, shown: bool) -> None:
        if self.files_model is None:
            return
        self.files_model.hide_known_good = not shown
        if self.files_model.folder is not None:
            self.files_model.show_folder(*self.files_model.folder)

    def _file_selected(self, current: QModelIndex, previous: QModelIndex) -> None:
        row = self.files_model.row(current.row()) if self.files_model else None
        if row is None:
            return
        self._show_file_row(row)

    def _show_file_row(self, row: dict[str, Any]) -> None:
        self.file_info.setHtml(file_html(row))
        full = casedb.file_row(self.conn, row["id"]) if row.get("id") is not None and not row.get("implied") else None
        self.content_viewer.show_file(full)

    def _file_activated(self, index: QModelIndex) -> None:
        row = self.files_model.row(index.row()) if self.files_model else None
        if row is None or row.get("kind") != "directory":
            return
        current = self.folder_tree.currentIndex()
        child = self.tree_model.find_child(current, row["path"])
        if child.isValid():
            self.folder_tree.expand(current)
            self.folder_tree.setCurrentIndex(child)

    def show_file(self, file_id: int) -> None:
        """Switch to the Files tab with this file's folder open and the file selected."""
        if self.conn is None or self.tree_model is None:
            return
        row = casedb.file_row(self.conn, file_id)
        if row is None:
            return
        if row.get("parent_id") is not None:  # an archive member sits beside its archive
            parent = casedb.file_row(self.conn, row["parent_id"])
            path = parent["path"] if parent else row["path"]
        else:
            path = row["path"]
        self.tabs.setCurrentWidget(self._w(QWidget, "filesTab"))
        index = self._tree_index_for(row["evidence_id"], row["partition_offset"], path.rsplit("/", 1)[0] or "/")
        if not index.isValid():
            return
        self.folder_tree.setCurrentIndex(index)
        self.folder_tree.scrollTo(index)
        while True:
            for number, candidate in enumerate(self.files_model.rows):
                if candidate.get("id") == file_id:
                    self.files_view.selectRow(number)
                    self.files_view.scrollTo(self.files_model.index(number, 0))
                    return
            if not self.files_model.canFetchMore():
                return
            self.files_model.fetchMore()

    def _tree_index_for(self, evidence_id: int, offset: int, folder: str) -> QModelIndex:
        model = self.tree_model
        index = QModelIndex()
        for row in range(model.rowCount()):
            candidate = model.index(row, 0)
            if model.node(candidate).evidence_id == evidence_id:
                index = candidate
                break
        else:
            return QModelIndex()
        if model.node(index).offset is None:
            model.fetchMore(index)
            for row in range(model.rowCount(index)):
                candidate = model.index(row, 0, index)
                if model.node(candidate).offset == offset:
                    index = candidate
                    break
        self.folder_tree.expand(index)
        walked = ""
        for part in [p for p in folder.split("/") if p]:
            walked += "/" + part
            child = model.find_child(index, walked)
            if not child.isValid():
                break
            self.folder_tree.expand(index)
            index = child
        return index

    # -- window events ------------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.window:
            kind = event.type()
            if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
                return self._drag_enter(event)  # type: ignore[arg-type]
            if kind == QEvent.Type.Drop:
                return self._drop(event)  # type: ignore[arg-type]
            if kind == QEvent.Type.Close:
                self._closing(event)  # type: ignore[arg-type]
                return False
        return super().eventFilter(watched, event)

    def _drag_enter(self, event: QDragEnterEvent) -> bool:
        if self.case_dir is not None and event.mimeData().hasUrls() and all(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
            return True
        event.ignore()
        return True

    def _drop(self, event: QDropEvent) -> bool:
        urls: list[QUrl] = event.mimeData().urls()
        paths = [Path(u.toLocalFile()) for u in urls if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.add_evidence(paths)
        return True

    def _closing(self, event: QCloseEvent) -> None:
        """Closing during a scan cancels it and waits for the case to be left consistent."""
        self.state.save_columns(*self.tables())
        self.state.save_window()
        if self.worker is not None:
            self.worker.quit()
            self._say("Cancelling processing before closing…")
        self.content_viewer.clear()
        QThreadPool.globalInstance().waitForDone(60_000)

    def dispose(self) -> None:
        """Take the window down before the interpreter does: Python must not be asked to filter
        events of widgets that are half destroyed."""
        self.disposed = True
        self.window.removeEventFilter(self)
        self.tabs.currentChanged.disconnect(self._tab_changed)  # the tabs go one by one as the window is taken down
        if self.worker is not None:
            self.worker.quit()
        self.content_viewer.clear()
        QThreadPool.globalInstance().waitForDone(60_000)
        self.content_viewer.set_case(None, None)
        for view in (self.findings_view, self.folder_tree, self.files_view):
            view.setModel(None)
        self.network.open(None, None)
        self.timeline.open(None)  # results still queued from its readers then find no case and are dropped
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        shiboken6.delete(self.window)

    # -- messages -------------------------------------------------------------------------------------

    def _say(self, text: str, error: bool = False) -> None:
        """One line in the status bar; errors are logged too. Never a dialog: no modal storms."""
        (logger.warning if error else logger.info)("%s", text)
        self.window.statusBar().showMessage(text, 0 if error else 10_000)

    def _about(self) -> None:
        QMessageBox.about(self.window, "About cybertriage",
                          f"<b>cybertriage {esc(__version__)}</b><p>Forensic triage of disk images and folders "
                          "into one case database.</p>")

    @staticmethod
    def _restyle(widget: QWidget) -> None:
        style = widget.style()
        style.unpolish(widget)
        style.polish(widget)
