"""What the main window offers the parts built around it (one controller per area: the case, evidence and
scan, dashboard, findings, files, report, tags, file export): the window, the open case and the status line.

Those parts are handed the window as a `CaseWindow` and never import `main_window`, which builds them: the
window depends on its parts, not the other way round. A part that needs another is given it explicitly.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

from PySide6.QtCore import QObject, QSettings
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QBoxLayout, QMainWindow, QTabWidget, QWidget

W = TypeVar("W", bound=QObject)


class CaseWindow(Protocol):
    """The main window as its parts see it: shared state, held in one place."""

    window: QMainWindow
    tabs: QTabWidget
    actions: dict[str, QAction]  # the menu actions, by the name after "action" in main_window.ui
    disposed: bool  # taken down: late results from workers are dropped
    case_dir: Path | None
    conn: sqlite3.Connection | None  # the window's own read-only connection to the open case
    info: dict[str, str]  # the case's details (name, number, examiner, agency)
    settings: QSettings  # the application's remembered state (window layout, folders, recent cases)

    def refresh_views(self, reload_tree: bool = False, then: Callable[[], None] | None = None) -> None:
        """Read the case again into every view."""

    def say(self, text: str, error: bool = False) -> None:
        """One line in the status bar."""

    def show_file(self, file_id: int) -> None:
        """The file in the Files tab, selected."""

    def show_tab(self, name: str) -> None:
        """Bring the tab with this objectName to the front."""

    def is_scanning(self) -> bool:
        """Whether evidence is being processed."""

    def is_reporting(self) -> bool:
        """Whether a report is being written."""


def child(parent: QObject, kind: type[W], name: str) -> W:
    """The widget of the form named `name`; a form without it is a bug, said at once."""
    found = parent.findChild(kind, name)
    if found is None:
        raise RuntimeError(f"the form has no {kind.__name__} named {name}")
    return found


def box_layout(widget: QWidget | None) -> QBoxLayout:
    """The row or column a form lays this widget's children out in; one without it is a bug, said at once."""
    layout = widget.layout() if widget is not None else None
    if not isinstance(layout, QBoxLayout):
        raise RuntimeError(f"{widget!r} has no row or column layout")
    return layout


def named(widget: W, name: str) -> W:
    """The widget, given the objectName the style sheet, the saved layout and the tests find it by (PySide6's
    stubs do not list the `objectName=` keyword its constructors take)."""
    widget.setObjectName(name)
    return widget


def restyle(widget: QWidget) -> None:
    """Apply the style sheet again after a property it selects on changed."""
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)
