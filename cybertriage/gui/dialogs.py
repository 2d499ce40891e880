"""The case details dialog (ui/new_case_dialog.ui): name, number, examiner, agency, folder."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtWidgets import QDialogButtonBox, QFileDialog, QLabel, QLineEdit, QPushButton, QWidget

from ..case import CASE_DB
from .case_window import child
from .forms import load_dialog

FIELDS = ("caseName", "caseNumber", "examiner", "agency", "folder")
KEYS = {"caseName": "name", "caseNumber": "number", "examiner": "examiner", "agency": "agency", "folder": "folder"}
UNSAFE_IN_NAMES = re.compile(r'[\x00-\x1f/\\:*?"<>|]+')  # what Windows or Linux refuse in a folder name


def folder_name(case_name: str) -> str:
    """A folder name from the case's name: characters a filesystem refuses become '-', no leading dots or spaces."""
    return UNSAFE_IN_NAMES.sub("-", case_name).strip(" .")


class CaseDialog:
    """New case (every field editable) or case properties (`folder_fixed`).

    With `cases`, a new case's folder is proposed there, named after the case as its name is typed, until the
    examiner edits the folder or browses for one."""

    def __init__(self, parent: QWidget | None, title: str, values: dict[str, str] | None = None,
                 folder_fixed: bool = False, cases: Path | None = None) -> None:
        self.dialog = load_dialog("new_case_dialog.ui", parent)
        self.dialog.setWindowTitle(title)
        self.folder_fixed = folder_fixed
        self.cases = cases
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
        if cases is not None and not folder_fixed:
            self._propose_folder(self.edits["caseName"].text())
            self.edits["caseName"].textEdited.connect(self._propose_folder)
            self.edits["folder"].textEdited.connect(self._folder_chosen)
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

    def _propose_folder(self, name: str) -> None:
        if self.cases is not None:
            self.edits["folder"].setText(str(self.cases / folder_name(name)) if folder_name(name) else "")

    def _folder_chosen(self) -> None:
        """The examiner's own folder: the name no longer proposes one."""
        if self.cases is not None:
            self.edits["caseName"].textEdited.disconnect(self._propose_folder)
            self.cases = None

    def _browse(self) -> None:
        typed = Path(self.edits["folder"].text()).expanduser()
        start = next((str(p) for p in (typed, typed.parent, self.cases) if p is not None and p.is_dir()), "")
        folder = QFileDialog.getExistingDirectory(self.dialog, "Folder for the new case", start)
        if folder:
            self._folder_chosen()
            self.edits["folder"].setText(folder)
