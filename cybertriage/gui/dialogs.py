"""The case details dialog (ui/new_case_dialog.ui): name, number, examiner, agency, folder."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QDialogButtonBox, QFileDialog, QLabel, QLineEdit, QPushButton, QWidget

from ..case import CASE_DB
from .case_window import child
from .forms import load_dialog

FIELDS = ("caseName", "caseNumber", "examiner", "agency", "folder")
KEYS = {"caseName": "name", "caseNumber": "number", "examiner": "examiner", "agency": "agency", "folder": "folder"}


class CaseDialog:
    """New case (every field editable) or case properties (`folder_fixed`)."""

    def __init__(self, parent: QWidget | None, title: str, values: dict[str, str] | None = None,
                 folder_fixed: bool = False) -> None:
        self.dialog = load_dialog("new_case_dialog.ui", parent)
        self.dialog.setWindowTitle(title)
        self.folder_fixed = folder_fixed
        self.edits = {name: child(self.dialog, QLineEdit, name) for name in FIELDS}
        for name, edit in self.edits.items():
            edit.setText((values or {}).get(KEYS[name], ""))
        self.error = child(self.dialog, QLabel, "errorLabel")
        self.error.setObjectName("errorLabel")
        browse = child(self.dialog, QPushButton, "browseButton")
        browse.clicked.connect(self._browse)
        if folder_fixed:
            self.edits["folder"].setReadOnly(True)
            browse.setEnabled(False)
        buttons = child(self.dialog, QDialogButtonBox, "buttons")
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.dialog.reject)

    def exec(self) -> bool:
        return bool(self.dialog.exec())

    def values(self) -> dict[str, str]:
        return {KEYS[name]: edit.text().strip() for name, edit in self.edits.items()}

    def problem(self) -> str | None:
        """Why the dialog cannot be accepted as filled in, or None."""
        values = self.values()
        if not values["name"]:
            return "Give the case a name."
        if not values["folder"]:
            return "Choose a folder for the case."
        if self.folder_fixed:
            return None
        folder = Path(values["folder"]).expanduser()
        if (folder / CASE_DB).exists():
            return "That folder already holds a case: use Open case instead."
        if folder.exists() and not folder.is_dir():
            return "That is a file, not a folder."
        if folder.is_dir() and any(folder.iterdir()):
            return "Choose an empty or new folder: the case database and its files go there."
        return None

    def _accept(self) -> None:
        problem = self.problem()
        if problem:
            self.error.setText(problem)
            return
        self.dialog.accept()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.dialog, "Folder for the new case", self.edits["folder"].text())
        if folder:
            self.edits["folder"].setText(folder)
