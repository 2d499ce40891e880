"""The examiner's keyword lists for the next scans: the application's `scan --keywords FILE`.

A button beside the evidence buttons picks one or more list files (UTF-8, one term a line: a literal, `re:` and a
regular expression, or `~` and a term matched without regard to accents). Each file is read when it is chosen, so a
bad line is reported then, with its number, not when the scan has started. The choice is remembered for the
workstation and applies to every item added afterwards; the built-in lists (card numbers, IBANs...) run as well.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, QSettings
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QPushButton, QWidget

from ..analyzers.keyword_lists import read_keyword_file
from ..errors import UsageError
from ..pipeline import ScanOptions

SETTING = "scan/keywordFiles"
TIP = ("Keyword lists searched in the text of every file of the next scans, as `scan --keywords FILE` does: UTF-8, "
       "one term a line (a word or phrase in any case, re:REGEX, or ~term without regard to accents). Every hit is a "
       "finding and is listed in the Keyword Hits tab.")


class KeywordChoice(QObject):
    """The keyword-list button and the files it holds."""

    def __init__(self, settings: QSettings, parent: QWidget) -> None:
        super().__init__(parent)
        self.settings = settings
        self.button = QPushButton(parent)
        self.button.setObjectName("keywordListsButton")
        self.button.setToolTip(TIP)
        menu = QMenu(self.button)
        menu.addAction("Choose keyword lists…", self.choose)
        self.clear_action = menu.addAction("Use no keyword list of my own", self.clear)
        self.button.setMenu(menu)
        remembered = settings.value(SETTING)
        names = remembered if isinstance(remembered, list) else [remembered] if isinstance(remembered, str) else []
        self.files: list[Path] = [Path(str(name)) for name in names if Path(str(name)).is_file()]
        self._show()

    def choose(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(self.button, "Keyword lists", str(self._folder()),
                                                "Keyword lists (*.txt *.lst *.kw);;All files (*)")
        if not names:
            return
        chosen = []
        for name in names:
            try:
                read_keyword_file(Path(name))
            except UsageError as error:
                QMessageBox.warning(self.button, "Keyword list not taken", str(error))
                return
            chosen.append(Path(name))
        self.files = chosen
        self.settings.setValue(SETTING, [str(path) for path in chosen])
        self._show()

    def clear(self) -> None:
        self.files = []
        self.settings.setValue(SETTING, [])
        self._show()

    def apply(self, options: ScanOptions) -> ScanOptions:
        """The scan options with the chosen lists (files gone since they were chosen are left out)."""
        files = tuple(path for path in self.files if path.is_file())
        return replace(options, settings=replace(options.settings, keyword_files=files))

    def _folder(self) -> Path:
        return self.files[0].parent if self.files else Path.home()

    def _show(self) -> None:
        count = len(self.files)
        self.button.setText(f"Keyword lists ({count})" if count else "Keyword lists")
        self.clear_action.setEnabled(bool(count))
        self.button.setStatusTip(", ".join(path.name for path in self.files))
