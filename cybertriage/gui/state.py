"""What the window looked like last time (geometry, toolbars, splitter positions and column widths) and the folders
its file dialogs start in (QSettings).

Column widths are kept per table (by the view's objectName) and restored once
the table has its model and its default widths, so a remembered width wins and
a table whose columns changed since starts from its defaults.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QMainWindow, QSplitter, QTableView


class WindowState:
    """Saves and restores one main window's layout in `settings`."""

    def __init__(self, settings: QSettings, window: QMainWindow) -> None:
        self.settings, self.window = settings, window

    def restore_window(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.window.restoreGeometry(geometry)
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.window.restoreState(state)
        for splitter in self.window.findChildren(QSplitter):
            sizes = self._ints(f"splitters/{splitter.objectName()}")
            if splitter.objectName() and len(sizes) == splitter.count() and any(sizes):
                splitter.setSizes(sizes)

    def save_window(self) -> None:
        self.settings.setValue("window/geometry", self.window.saveGeometry())
        self.settings.setValue("window/state", self.window.saveState())
        for splitter in self.window.findChildren(QSplitter):
            if splitter.objectName():
                self.settings.setValue(f"splitters/{splitter.objectName()}", splitter.sizes())

    def restore_columns(self, view: QTableView) -> None:
        """The widths this table's columns had when last saved, if it still has as many columns."""
        header = view.horizontalHeader()
        widths = self._ints(f"columns/{view.objectName()}")
        if not widths or len(widths) != header.count():
            return
        last = header.count() - 1
        for column, width in enumerate(widths):
            if width > 0 and not (column == last and header.stretchLastSection()):
                header.resizeSection(column, width)

    def save_columns(self, *views: QTableView) -> None:
        for view in views:
            header = view.horizontalHeader()
            if view.model() is not None and header.count():
                self.settings.setValue(f"columns/{view.objectName()}", [header.sectionSize(c) for c in range(header.count())])

    def _ints(self, key: str) -> list[int]:
        value = self.settings.value(key)
        if value is None:
            return []
        if not isinstance(value, list):
            value = [value]
        try:
            return [int(v) for v in value]
        except (TypeError, ValueError):
            return []


class Folders:
    """Where the file dialogs start: the folder new cases go into, the last case and evidence folders chosen.

    A remembered folder that is gone (a USB disk unplugged) is skipped for the next one that still exists."""

    CASES, LAST_CASE, EVIDENCE = "folders/cases", "folders/lastCase", "folders/evidence"
    DEFAULT_CASES = "cybertriage-cases"  # under the home folder, until the examiner makes a case elsewhere

    def __init__(self, settings: QSettings) -> None:
        self.settings = settings

    def cases(self) -> Path:
        """The folder a new case's folder is proposed in (it need not exist yet: making the case makes it)."""
        value = self.settings.value(self.CASES)
        return Path(str(value)) if value else Path.home() / self.DEFAULT_CASES

    def case_start(self) -> Path:
        """Where Open case starts: beside the last case opened, else among the cases."""
        return self._existing(self.LAST_CASE, self.cases())

    def evidence(self) -> Path:
        """Where Add evidence starts: the folder of the evidence added last."""
        return self._existing(self.EVIDENCE, Path.home())

    def remember_case(self, folder: Path) -> None:
        """A case made or opened in `folder`: new cases are proposed beside it, Open case starts there."""
        self.settings.setValue(self.CASES, str(folder.parent))
        self.settings.setValue(self.LAST_CASE, str(folder.parent))

    def remember_evidence(self, path: Path) -> None:
        """Evidence added from `path` (a file or a folder): the next Add starts beside it."""
        self.settings.setValue(self.EVIDENCE, str(path.parent))

    def _existing(self, key: str, fallback: Path) -> Path:
        value = self.settings.value(key)
        for folder in ([Path(str(value))] if value else []) + [fallback, Path.home()]:
            if folder.is_dir():
                return folder
        return Path.home()
