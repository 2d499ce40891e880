"""Lab workers: the application's `scan --broker URL`, offered on the processing options row when the open case is
kept in PostgreSQL (the one store every worker can write).

With a broker URL given, Add evidence sends each item as a unit to the Celery workers of that broker instead of
examining it here (pipeline/distributed.py), a disk image's or a folder's files in parts of 256 MB as `scan
--broker` does by default (pipeline/parts.py); the progress panel then shows the units done, in flight with their
workers, and failed. The URL is remembered for the workstation; its password never: as on the command line, it
comes from CYBERTRIAGE_BROKER_PASSWORD, and a URL holding one is refused before anything starts.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from PySide6.QtCore import QObject, QSettings
from PySide6.QtWidgets import QLabel, QLineEdit, QWidget

from ..case.stores import store_of
from ..pipeline.distributed import BROKER_PASSWORD

SETTING = "scan/labBroker"
TIP = ("The Celery broker of the lab's workers (redis://HOST:6379/0), as `scan --broker` takes it: evidence added to "
       "this case is examined by the workers (`cybertriage worker`), a disk image's or a folder's files in parts of "
       "256 MB, so that one large drive keeps every worker busy. The workers must see the evidence at the same path. Leave empty "
       f"to examine it on this workstation. The broker's password comes from {BROKER_PASSWORD}, never from here.")


class LabWorkers(QObject):
    """The "Lab workers (broker URL)" field, shown for a case kept in PostgreSQL."""

    def __init__(self, settings: QSettings, parent: QWidget) -> None:
        super().__init__(parent)
        self.settings = settings
        self.label = QLabel("Lab workers (broker URL):", parent)
        self.label.setObjectName("labWorkersLabel")
        self.edit = QLineEdit(parent)
        self.edit.setObjectName("labWorkersEdit")
        self.edit.setPlaceholderText("redis://HOST:6379/0 — empty: on this workstation")
        self.edit.setClearButtonEnabled(True)
        self.edit.setToolTip(TIP)
        self.edit.setMinimumWidth(220)
        self.label.setBuddy(self.edit)
        self.edit.setText(str(settings.value(SETTING, "") or ""))
        self.edit.editingFinished.connect(self._remember)
        self.case: Path | None = None
        self.shared = False  # the case shown is kept in PostgreSQL
        self._show(False)

    def case_shown(self, case_dir: Path | None) -> None:
        """The window shows this case (or none): the field is offered if the case is kept in PostgreSQL."""
        if case_dir == self.case:
            return
        self.case = case_dir
        self.shared = case_dir is not None and store_of(case_dir) is not None
        self._show(self.shared)

    def broker(self, case_dir: Path) -> str | None:
        """The broker a scan into `case_dir` spreads its evidence over, or None to examine it here."""
        self.case_shown(case_dir)
        self._remember()
        url = self.edit.text().strip()
        return url if self.shared and url else None

    def _show(self, shown: bool) -> None:
        self.label.setVisible(shown)
        self.edit.setVisible(shown)

    def _remember(self) -> None:
        """Kept for the next session, unless it holds a password (the scan refuses it, and says why)."""
        url = self.edit.text().strip()
        if not urlsplit(url).password:
            self.settings.setValue(SETTING, url)
