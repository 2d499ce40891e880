"""The case the window shows: new, open (bringing an older database up to date first), properties, close,
the recent cases, and the case's name and details in the title, the status bar and the dashboard."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QLabel, QListWidget, QListWidgetItem, QMenu, QPushButton, QStackedWidget, QWidget

from ..case import audit, browse, open_case, writes
from ..case.schema import SCHEMA_VERSION
from ..errors import CybertriageError
from ..text_safety import visible_html as esc  # evidence text for Qt rich text: made visible, then escaped
from .case_window import CaseWindow, child
from .dialogs import CaseDialog
from .forms import icon
from .state import Folders
from .workers import FunctionWorker

RECENT_KEY = "recentCases"
RECENT_MAX = 8
CASE_ACTIONS = ("CaseProperties", "CloseCase", "AddImage", "AddFolder", "ExportFiles")  # offered with a case open


def _upgrade_case(folder: Path, cancel: threading.Event) -> None:
    """On the pool: open the case for writing once, which migrates its schema (not interruptible: one transaction
    per version)."""
    open_case(folder).close()


def write_case_info(folder: Path, info: dict[str, str]) -> None:
    """Record the case's details (creating the case if need be), with an audit log entry."""
    db = open_case(folder, create=True)
    try:
        with db.conn:
            writes.set_case_info(db, {k: v.strip() for k, v in info.items() if v is not None})
            audit(db, "case details set", {k: v for k, v in info.items()})
    finally:
        db.close()


class CaseSession(QObject):
    """Opens and closes the case; the views are set up and taken down by `open_views` and `close_views`."""

    opened = Signal(object)  # the case folder

    def __init__(self, main: CaseWindow, settings: QSettings, open_views: Callable[[], None],
                 close_views: Callable[[], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.main, self.settings = main, settings
        self.open_views, self.close_views = open_views, close_views
        self.upgrade_worker: FunctionWorker | None = None  # bringing an older case's database up to date
        self.folders = Folders(settings)
        window = main.window
        self.stack = child(window, QStackedWidget, "stack")
        self.recent_list = child(window, QListWidget, "recentList")
        self.recent_menu = child(window, QMenu, "menuRecent")
        self.case_summary = child(window, QLabel, "caseSummaryLabel")
        self.status_label = QLabel()
        self.status_label.setTextFormat(Qt.TextFormat.RichText)  # case details are escaped, never interpreted
        self.status_label.setContentsMargins(14, 0, 4, 0)  # apart from the report corner
        window.statusBar().addPermanentWidget(self.status_label)
        child(window, QPushButton, "newCaseButton").clicked.connect(self.new_case_dialog)
        child(window, QPushButton, "openCaseButton").clicked.connect(self.open_case_dialog)
        self.recent_list.itemActivated.connect(lambda item: self.open(Path(item.data(Qt.ItemDataRole.UserRole))))
        self._update_recent()

    # dialogs ----------------------------------------------------------------------------------------

    def new_case_dialog(self) -> None:
        dialog = CaseDialog(self.main.window, title="New case", cases=self.folders.cases())
        if dialog.exec():
            values = dialog.values()
            self.create(Path(values.pop("folder")), values)

    def properties_dialog(self) -> None:
        case_dir = self.main.case_dir
        if case_dir is None:
            return
        dialog = CaseDialog(self.main.window, title="Case properties", values={**self.main.info, "folder": str(case_dir)},
                            folder_fixed=True)
        if dialog.exec():
            values = dialog.values()
            values.pop("folder")
            write_case_info(case_dir, values)
            self.load_info()

    def open_case_dialog(self) -> None:
        case_dir = self.main.case_dir
        start = str(case_dir.parent) if case_dir else str(self.folders.case_start())
        folder = QFileDialog.getExistingDirectory(self.main.window, "Open case folder", start)
        if folder:
            self.open(Path(folder))

    # opening and closing ----------------------------------------------------------------------------

    def create(self, folder: Path, info: dict[str, str]) -> bool:
        """Make the case database in `folder`, record its details, and open it."""
        try:
            write_case_info(folder, info)
        except CybertriageError as error:
            self.main.say(f"Cannot create the case: {error}", error=True)
            return False
        return self.open(folder)

    def open(self, folder: Path) -> bool:
        """Show the case in `folder`; a bad folder is reported in the status bar, nothing else changes."""
        main = self.main
        if main.is_scanning():
            main.say("Processing is running: cancel it or let it finish before switching cases.", error=True)
            return False
        if self.upgrade_worker is not None:
            main.say("A case database is being upgraded: wait for it before opening another case.", error=True)
            return False
        try:
            conn = browse.connect(folder)
            version = browse.schema_version(conn)
            if version >= SCHEMA_VERSION:
                try:
                    open_case(folder).close()  # the core checks the schema: a newer one is refused
                except CybertriageError:
                    conn.close()
                    raise
        except CybertriageError as error:
            main.say(f"Cannot open {folder}: {error}", error=True)
            self._forget_recent(folder)
            return False
        if version < SCHEMA_VERSION:
            conn.close()
            return self._upgrade_then_open(folder, version)
        self.close()
        main.case_dir, main.conn = folder.resolve(), conn
        self.open_views()
        self.load_info()
        self._add_recent(main.case_dir)
        self.folders.remember_case(main.case_dir)
        main.refresh_views()
        main.tabs.setCurrentIndex(0)
        main.say(f"Opened case {main.case_dir}")
        self.opened.emit(main.case_dir)
        return True

    def _upgrade_then_open(self, folder: Path, version: int) -> bool:
        """A case written by an older cybertriage is brought up to date on the thread pool (indexes over a large
        case take seconds): the window stays usable, and the case shows once its database is upgraded."""
        worker = FunctionWorker(_upgrade_case, folder)
        worker.signals.finished.connect(lambda _: self._upgraded(folder, None))
        worker.signals.errored.connect(lambda error: self._upgraded(folder, error))
        self.upgrade_worker = worker
        self.main.say(f"Upgrading the case database of {folder} from schema {version} to {SCHEMA_VERSION}…")
        worker.start()
        return True

    def _upgraded(self, folder: Path, error: Exception | None) -> None:
        self.upgrade_worker = None
        if self.main.disposed:
            return
        if error is not None:
            self.main.say(f"Cannot open {folder}: {error}", error=True)
            self._forget_recent(folder)
            return
        self.open(folder)

    def close(self) -> None:
        main = self.main
        if main.is_scanning():
            main.say("Processing is running: cancel it first.", error=True)
            return
        self.close_views()
        if main.conn is not None:
            main.conn.close()
        main.conn, main.case_dir, main.info = None, None, {}
        self.show_state()

    # what the window says about the case -----------------------------------------------------------

    def load_info(self) -> None:
        assert self.main.conn is not None and self.main.case_dir is not None
        self.main.info = browse.case_info(self.main.conn)
        self.show_state()

    def show_state(self) -> None:
        """The welcome page or the case, the actions a case allows, and the case's name and details."""
        main, case_dir = self.main, self.main.case_dir
        self.stack.setCurrentIndex(1 if case_dir is not None else 0)
        for name in CASE_ACTIONS:
            main.actions[name].setEnabled(case_dir is not None)
        main.actions["ExportReport"].setEnabled(case_dir is not None and not main.is_reporting())
        main.actions["CancelScan"].setEnabled(main.is_scanning())
        if case_dir is None:
            main.window.setWindowTitle("cybertriage")
            self.status_label.setText("No case open")
            return
        info = main.info
        name, number = info.get("name") or case_dir.name, info.get("number")
        main.window.setWindowTitle(f"{name}{f' [{number}]' if number else ''} — {case_dir} — cybertriage")
        details = [f"{label} {esc(info[key])}" for key, label in (("examiner", "examiner"), ("agency", "agency"))
                   if info.get(key)]
        self.status_label.setText(" · ".join([f"Case {esc(name)}", *([f"no. {esc(number)}"] if number else []), *details]))
        subtitle = " · ".join([*details, f"created {esc(info.get('created_at', ''))}", esc(str(case_dir))])
        self.case_summary.setText(
            f"<span style='font-size:15pt; font-weight:600'>{esc(name)}</span>"
            f"{f'&nbsp;&nbsp;<span style=color:#555>case {esc(number)}</span>' if number else ''}<br>"
            f"<span style='color:#555'>{subtitle}</span>")

    # recent cases -----------------------------------------------------------------------------------

    def recent_cases(self) -> list[str]:
        value = self.settings.value(RECENT_KEY, [])
        if isinstance(value, str):  # one recent case comes back from the settings file as a string
            value = [value]
        return [str(v) for v in value] if isinstance(value, list) else []

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
            action.triggered.connect(lambda checked=False, p=path: self.open(Path(p)))
            item = QListWidgetItem(icon("open-case"), path)
            item.setData(Qt.ItemDataRole.UserRole, path)
            self.recent_list.addItem(item)
        self.recent_menu.setEnabled(bool(recent))
        child(self.main.window, QWidget, "recentBox").setVisible(bool(recent))
