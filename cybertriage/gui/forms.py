"""Designer forms (ui/*.ui), the style sheet (ui/style.qss) and icons (resources/icons/*.svg)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtCore import QFile, QIODevice
from PySide6.QtGui import QIcon
from PySide6.QtUiTools import QUiLoader
from PySide6.QtWidgets import QDialog, QWidget

from ..assets import asset_dir


def load_form(name: str, parent: QWidget | None = None) -> QWidget:
    """Build the widget tree a .ui file describes; widgets are then found by objectName."""
    path = asset_dir("ui") / name
    file = QFile(str(path))
    if not file.open(QIODevice.OpenModeFlag.ReadOnly):
        raise FileNotFoundError(f"cannot read form {path}")
    try:
        widget = QUiLoader().load(file, parent)
    finally:
        file.close()
    if widget is None:
        raise RuntimeError(f"form {path} did not load")
    return widget


def load_dialog(name: str, parent: QWidget | None = None) -> QDialog:
    """A form whose top widget is a dialog."""
    dialog = load_form(name, parent)
    if not isinstance(dialog, QDialog):
        raise RuntimeError(f"form {name} is not a dialog")
    return dialog


def style_sheet() -> str:
    path = asset_dir("ui") / "style.qss"
    return path.read_text(encoding="utf-8") if path.is_file() else ""


@cache
def icon(name: str) -> QIcon:
    """resources/icons/NAME.svg, or an empty icon if it is missing."""
    try:
        path: Path = asset_dir("resources") / "icons" / f"{name}.svg"
    except FileNotFoundError:
        return QIcon()
    return QIcon(str(path)) if path.is_file() else QIcon()
