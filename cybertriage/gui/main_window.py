"""The main window: the shell around the QMainWindow that `ui/main_window.ui` describes.

It builds the window, holds what its parts share (the open case, its read-only connection, its details), and
wires the parts together; each area's behaviour is its own controller's (one module each):

- `case_session.CaseSession`: new, open, properties, close, recent cases, the case's name in the title;
- `evidence_view.EvidenceScan`: adding evidence, the scan in the background, its progress and Cancel;
- `dashboard.Dashboard`, `findings_view.FindingsView`, `files_view.FilesView`, `network.NetworkViews`,
  `timeline.TimelineView`: the tabs;
- `snapshots.CaseSnapshots`: reading the case again on the thread pool, applied here to every view;
- `report_action.ReportAction`, `tags.Tagging`, `export_files.FileExport`: the report, tags, file export.

Everything it reads comes from its own read-only connection (`browse.connect`); the only writes are the case
details, a tag, and the audit log entries of a report and of credentials shown, each made on the thread pool
or through the core's `open_case`.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import shiboken6
from PySide6.QtCore import QEvent, QObject, QSettings, QThreadPool, QUrl, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import QAbstractItemView, QLabel, QMainWindow, QMenu, QMessageBox, QSplitter, QTableView, QTabWidget, QWidget

from .. import __version__
from ..analyzers import Settings
from ..analyzers.keyword_lists import BUILTIN_LISTS
from ..assets import asset_dir
from ..case import browse
from ..errors import CybertriageError
from ..intel import load_intel
from ..pipeline import ScanOptions
from ..text_safety import visible_html as esc  # evidence text for Qt rich text: made visible, then escaped
from .artefacts_view import ArtefactsView, SystemView
from .case_session import CaseSession
from .case_window import child, named
from .dashboard import Dashboard
from .evidence_view import EvidenceScan
from .export_files import FileExport
from .files_view import FilesView
from .findings_view import FindingsView
from .forms import icon, load_form
from .gallery_view import GalleryView
from .history import Place
from .keywords_view import KeywordsView
from .links import Links
from .network import NetworkViews
from .report_action import ReportAction
from .results_tree import install as install_results_tree
from .search_view import SearchView
from .snapshots import CaseSnapshots
from .state import WindowState
from .tags import Tagging
from .timeline import TimelineView

logger = logging.getLogger(__name__)
ACTIONS = ("NewCase", "OpenCase", "CaseProperties", "ExportReport", "CloseCase", "Quit", "AddImage", "AddFolder",
           "CancelScan", "About", "ExportFiles")
ACTION_ICONS = {"NewCase": "new-case", "OpenCase": "open-case", "AddImage": "add-image", "AddFolder": "add-folder",
                "CancelScan": "cancel"}
SPLITTER_SIZES = {"dashboardSplitter": [260, 400], "findingsSplitter": [430, 300], "filesSplitter": [340, 1000],
                  "filesRightSplitter": [430, 300]}
TABLES = ("evidenceView", "dashboardEvidenceView", "topObjectsView", "findingsView", "filesView")


def default_scan_options() -> ScanOptions:
    """YARA with the bundled rules, the workstation's hash sets and IOC lists, the built-in keyword lists, every core
    busy: what `cybertriage scan` does by default."""
    try:
        rules: tuple[Path, ...] | None = (asset_dir("rules"),)
    except FileNotFoundError:
        rules = None
    try:
        known = load_intel(None)
    except CybertriageError as error:  # an unusable intel database: scan without it, and say so
        logger.warning("hash sets and IOC lists not used: %s", error)
        known = None
    return ScanOptions(settings=Settings(rule_paths=rules, intel=known, builtin_keywords=tuple(BUILTIN_LISTS)))


class MainWindow(QObject):
    """The application's one window and what it is showing."""

    case_opened = Signal(object)  # the case folder
    refreshed = Signal()  # the views show a fresh snapshot of the case
    scan_done = Signal(object)  # outcomes, or the exception that stopped the scan, once the views are updated
    report_done = Signal(object)  # the reports written (list of paths), or the exception that stopped them

    def __init__(self, settings: QSettings | None = None, scan_options: ScanOptions | None = None) -> None:
        super().__init__()
        self.settings = settings if settings is not None else QSettings()
        form = load_form("main_window.ui")
        if not isinstance(form, QMainWindow):
            raise RuntimeError("form main_window.ui is not a main window")
        self.window = form
        self.window.setWindowIcon(icon("app"))
        self.window.installEventFilter(self)
        self.disposed = False
        self.case_dir: Path | None = None
        self.conn: sqlite3.Connection | None = None
        self.info: dict[str, str] = {}
        self._build_window()

        self.report = ReportAction(self, parent=self)
        self.session = CaseSession(self, self.settings, self._open_views, self._close_views, parent=self)
        self.evidence = EvidenceScan(self, scan_options or default_scan_options(), parent=self)
        self.dashboard = Dashboard(self, parent=self)
        self.findings = FindingsView(self, parent=self)
        self.files = FilesView(self, parent=self)
        self.network = NetworkViews(child(self.window, QWidget, "networkTab"), child(self.window, QLabel, "networkLabel"),
                                    child(self.window, QTableView, "flowsView"), self.say)
        self.network.show_file = self.show_file  # "Open body" and "Open file" show the object in the Files tab
        self.timeline = TimelineView(self.say, self.show_file)
        self.tabs.addTab(self.timeline.widget, "Timeline")
        self.system = SystemView()
        self.tabs.addTab(self.system.widget, "System")
        self.artefacts = ArtefactsView(self.show_file, self.show_in_timeline)
        self.tabs.addTab(self.artefacts.widget, "Artefacts")
        self.gallery = GalleryView(self.show_picture, self.say)
        self.tabs.addTab(self.gallery.widget, "Gallery")
        self.keywords = KeywordsView(self.show_file)
        self.tabs.addTab(self.keywords.widget, "Keyword Hits")
        self.search = SearchView(self.show_found, self.say)
        self.tabs.addTab(self.search.widget, "Search")
        self.snapshots = CaseSnapshots(self, self.findings, self._apply_snapshot, parent=self)
        self.tagging = Tagging(self, self.findings, self.files, parent=self)
        self.file_export = FileExport(self, self.findings, self.files, parent=self)
        self._connect()
        self._add_menus()
        self.results_tree = install_results_tree(self)  # the tree of evidence, views and results beside the tabs
        self.links = Links(self, parent=self)  # links between records, Back and Forward, "Show in timeline"
        self.state = WindowState(self.settings, self.window)
        self.state.restore_window()
        for view in (self.evidence.view, self.evidence.dashboard_view, self.dashboard.top_view, self.timeline.view):
            self.state.restore_columns(view)
        self.session.show_state()

    def _build_window(self) -> None:
        """What the form leaves to code: icons, the look of the tables, the splitters' first sizes."""
        self.tabs = child(self.window, QTabWidget, "tabs")
        self.actions = {name: child(self.window, QAction, f"action{name}") for name in ACTIONS}
        for name, icon_name in ACTION_ICONS.items():
            self.actions[name].setIcon(icon(icon_name))
        for name in TABLES:
            view = child(self.window, QTableView, name)
            view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
            # several findings or files at once, for Case → Export selected files
            extended = name in ("findingsView", "filesView")
            view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection if extended
                                  else QAbstractItemView.SelectionMode.SingleSelection)
            view.setAlternatingRowColors(True)
            view.verticalHeader().hide()
            view.verticalHeader().setDefaultSectionSize(24)
            view.setWordWrap(False)
            view.horizontalHeader().setHighlightSections(False)
        for splitter, sizes in SPLITTER_SIZES.items():
            child(self.window, QSplitter, splitter).setSizes(sizes)

    def _connect(self) -> None:
        a, session = self.actions, self.session
        a["NewCase"].triggered.connect(session.new_case_dialog)
        a["OpenCase"].triggered.connect(session.open_case_dialog)
        a["CaseProperties"].triggered.connect(session.properties_dialog)
        a["ExportReport"].triggered.connect(self.report.ask)
        a["CloseCase"].triggered.connect(self.close_case)
        a["Quit"].triggered.connect(self.window.close)
        a["AddImage"].triggered.connect(self.evidence.add_image_dialog)
        a["AddFolder"].triggered.connect(self.evidence.add_folder_dialog)
        a["CancelScan"].triggered.connect(self.cancel_scan)
        a["About"].triggered.connect(self._about)
        a["ExportFiles"].triggered.connect(self.file_export.ask)
        session.opened.connect(self.case_opened)
        self.snapshots.refreshed.connect(self.refreshed)
        self.evidence.ticked.connect(self.snapshots.schedule)
        self.evidence.done.connect(self.scan_done)
        self.scan_done.connect(lambda _: self.timeline.mark_stale())
        self.report.written.connect(self.report_done)
        self.report.busy_changed.connect(session.show_state)
        self.files.folder_chosen.connect(self.tagging.folder_chosen)
        self.findings.tagged_only = self.tagging.filter_tagged
        self.tabs.currentChanged.connect(self._tab_changed)

    def _add_menus(self) -> None:
        """Edit and View menus: tag, find and refresh, with the shortcuts Qt users expect."""
        bar = self.window.menuBar()
        before = child(self.window, QMenu, "menuHelp").menuAction()
        edit = named(QMenu("&Edit", bar), "menuEdit")
        edit.addAction(self.tagging.action)
        find = edit.addAction("&Find…")
        find.setObjectName("actionFind")
        find.setShortcut(QKeySequence("Ctrl+F"))
        find.triggered.connect(self.findings.focus_search)
        view = named(QMenu("&View", bar), "menuView")
        refresh = view.addAction("&Refresh")
        refresh.setObjectName("actionRefresh")
        refresh.setShortcut(QKeySequence("F5"))
        refresh.triggered.connect(lambda: self.refresh_views(reload_tree=True))
        refresh.triggered.connect(self.timeline.mark_stale)
        bar.insertMenu(before, edit)
        bar.insertMenu(before, view)
        self.actions.update(Find=find, Refresh=refresh, Tag=self.tagging.action)

    # -- what the parts and the application ask of the window ---------------------------------------------

    def open_case(self, folder: Path) -> bool:
        """Show the case in `folder`; a bad folder is reported in the status bar, nothing else changes."""
        return self.session.open(folder)

    def create_case(self, folder: Path, info: dict[str, str]) -> bool:
        """Make the case database in `folder`, record its details, and open it."""
        return self.session.create(folder, info)

    def close_case(self) -> None:
        self.session.close()

    def add_evidence(self, paths: list[Path]) -> None:
        """Queue evidence for processing; it starts at once unless a scan is running."""
        self.evidence.add(paths)

    def cancel_scan(self) -> None:
        self.evidence.cancel()

    def is_scanning(self) -> bool:
        return self.evidence.is_scanning()

    def is_reporting(self) -> bool:
        return self.report.is_writing()

    def show_file(self, file_id: int) -> None:
        """Switch to the Files tab with this file's folder open and the file selected (a place Back returns from)."""
        self.links.go(Place("file", file_id))

    def show_picture(self, file_id: int) -> None:
        """Show this picture in the Media tab of the Files tab's content viewer."""
        self.show_file(file_id)
        self.files.content_viewer.show_media()

    def show_found(self, file_id: int, terms: list[str]) -> None:
        """A search hit: the file in the Files tab, its Text view showing the terms highlighted."""
        self.show_file(file_id)
        viewer = self.files.content_viewer
        if viewer.row is not None and viewer.row.get("id") == file_id:
            viewer.show_terms(terms)

    def show_tab(self, name: str) -> None:
        self.tabs.setCurrentWidget(child(self.window, QWidget, name))

    def show_in_timeline(self, start: str, end: str) -> None:
        """Switch to the Timeline tab showing every kind of event from `start` to `end` (ISO 8601 UTC)."""
        self.links.show_in_timeline(start, end)

    def refresh_views(self, reload_tree: bool = False, then: Callable[[], None] | None = None) -> None:
        """Read the case again on the thread pool and update the views; `then` runs once they show it."""
        self.snapshots.refresh(reload_tree, then)

    def say(self, text: str, error: bool = False) -> None:
        """One line in the status bar; errors are logged too. Never a dialog: no modal storms."""
        (logger.warning if error else logger.info)("%s", text)
        self.window.statusBar().showMessage(text, 0 if error else 10_000)

    def tables(self) -> list[QTableView]:
        """Every table whose column widths are remembered."""
        return [self.findings.view, self.files.view, self.evidence.view, self.evidence.dashboard_view,
                self.dashboard.top_view, self.timeline.view, self.artefacts.view, *self.network.views.values()]

    # -- a case opens, is read, and closes -----------------------------------------------------------------

    def _open_views(self) -> None:
        assert self.conn is not None and self.case_dir is not None
        self.network.open(self.conn, self.case_dir)
        self.timeline.open(self.case_dir)
        self.artefacts.open(self.conn)
        self.gallery.open(self.conn, self.case_dir)
        self.keywords.open(self.conn)
        self.search.open(self.conn)
        self.tagging.case_opened()  # before the views read the case: a tag written after that is shown
        self.findings.open()
        self.files.open()
        for view in (self.findings.view, self.files.view):
            self.state.restore_columns(view)

    def _apply_snapshot(self, snap: browse.Snapshot, reload_tree: bool) -> None:
        self.evidence.show_snapshot(snap.evidence)
        self.dashboard.show_snapshot(snap)
        self.findings.show_snapshot(snap)
        self.files.show_snapshot(len(snap.evidence), reload_tree)
        self.network.show_counts(snap.network, self.state.restore_columns)
        self.artefacts.show_counts(snap.artifacts)
        self.gallery.mark_stale()
        self.keywords.mark_stale()
        self.system.show_profiles(snap.profiles)

    def _close_views(self) -> None:
        self.state.save_columns(*self.tables())
        self.findings.close()
        self.files.close()
        self.network.open(None, None)
        self.timeline.open(None)
        self.artefacts.open(None)
        self.gallery.open(None, None)
        self.keywords.open(None)
        self.search.open(None)
        self.system.show_profiles([])
        self.tagging.case_changed()
        self.evidence.case_closed()
        self.dashboard.clear()
        self.report.case_closed()
        self.links.clear()

    def _tab_changed(self, number: int) -> None:
        if not self.disposed and self.tabs.widget(number) is self.timeline.widget:
            self.timeline.tab_shown()
        if not self.disposed and self.tabs.widget(number) is self.gallery.widget:
            self.gallery.tab_shown()
        if not self.disposed and self.tabs.widget(number) is self.keywords.widget:
            self.keywords.tab_shown()

    # -- window events -----------------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.window:
            kind = event.type()
            if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
                return self._drag_enter(event)  # type: ignore[arg-type]  # its type says its class
            if kind == QEvent.Type.Drop:
                return self._drop(event)  # type: ignore[arg-type]  # as above
            if kind == QEvent.Type.Close:
                self._closing(event)  # type: ignore[arg-type]  # as above
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
        if self.evidence.worker is not None:
            self.evidence.worker.quit()
            self.say("Cancelling processing before closing…")
        self.files.content_viewer.clear()
        QThreadPool.globalInstance().waitForDone(60_000)

    def dispose(self) -> None:
        """Take the window down before the interpreter does: Python must not be asked to filter
        events of widgets that are half destroyed."""
        self.disposed = True
        self.window.removeEventFilter(self)
        self.tabs.currentChanged.disconnect(self._tab_changed)  # the tabs go one by one as the window is taken down
        self.links.dispose()
        if self.evidence.worker is not None:
            self.evidence.worker.quit()
        self.files.content_viewer.clear()
        QThreadPool.globalInstance().waitForDone(60_000)
        self.files.content_viewer.set_case(None, None)
        for view in (self.findings.view, self.files.tree, self.files.view):
            view.setModel(None)
        self.network.open(None, None)
        self.artefacts.open(None)
        self.gallery.open(None, None)
        self.keywords.open(None)
        self.search.open(None)
        self.timeline.open(None)  # results still queued from its readers then find no case and are dropped
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        shiboken6.delete(self.window)

    def _about(self) -> None:
        QMessageBox.about(self.window, "About cybertriage",
                          f"<b>cybertriage {esc(__version__)}</b><p>Forensic triage of disk images and folders "
                          "into one case database.</p>")

