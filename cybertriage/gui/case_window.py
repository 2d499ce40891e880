"""What the main window offers the parts built around it (tagging, exporting the selected files): the open
case, the findings and files tables and the status line.

Those parts are handed the window as a `CaseWindow` and never import `main_window`, which builds them: the
window depends on its parts, not the other way round.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QModelIndex
from PySide6.QtWidgets import QLabel, QMainWindow, QTableView, QTabWidget, QTreeView

from .models import FindingsModel, FolderFilesModel


class CaseWindow(Protocol):
    """The main window as its tagging and file export see it."""

    window: QMainWindow
    tabs: QTabWidget
    disposed: bool  # taken down: late results from workers are dropped
    case_dir: Path | None
    conn: sqlite3.Connection | None
    info: dict[str, str]  # the case's details (name, number, examiner, agency)
    findings_view: QTableView
    findings_model: FindingsModel | None
    findings_count: QLabel
    files_view: QTableView
    files_model: FolderFilesModel | None
    folder_tree: QTreeView
    folder_label: QLabel

    def refresh_views(self, reload_tree: bool = False, then: Callable[[], None] | None = None) -> None:
        """Read the case again into every view."""

    def _say(self, text: str, error: bool = False) -> None:
        """One line in the status bar."""

    def _apply_findings_filter(self) -> None:
        """Narrow the findings table to what the filters above it ask."""

    def _folder_selected(self, current: QModelIndex, previous: QModelIndex) -> None:
        """List the folder chosen in the tree in the files table."""
