"""Case → Export report…: the report dialog, the report written on the thread pool, and the status bar's
report corner (a busy bar while writing, then the report's name and a button to its folder)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QLabel, QMessageBox, QProgressBar, QPushButton

from ..errors import CybertriageError
from .case_window import CaseWindow, named
from .workers import FunctionWorker

logger = logging.getLogger(__name__)
REPORT_MESSAGE_MS = 60_000


def open_folder(folder: Path) -> bool:
    """Show `folder` in the desktop's file manager."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


class ReportAction(QObject):
    """Asks for a report's details, writes it in the background, and says where it went."""

    written = Signal(object)  # the reports written (list of paths), or the exception that stopped them
    busy_changed = Signal()  # a report started or ended: Export report is offered again or not

    def __init__(self, main: CaseWindow, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.main = main
        self.worker: FunctionWorker | None = None
        self.dialog: Any = None  # the open ReportDialog, if any
        self.error_box: QMessageBox | None = None
        self.last_report: Path | None = None
        self.busy = named(QProgressBar(textVisible=False), "reportBusy")
        self.busy.setMaximumSize(90, 14)
        self.busy.setRange(0, 0)
        self.label = named(QLabel(), "reportLabel")
        self.folder_button = named(QPushButton("Open folder"), "reportFolderButton")
        self.folder_button.setToolTip("Show the report's folder in the file manager")
        self.folder_button.clicked.connect(self.open_report_folder)
        for position, widget in enumerate((self.busy, self.label, self.folder_button)):
            main.window.statusBar().insertPermanentWidget(position, widget)
            widget.hide()

    def is_writing(self) -> bool:
        return self.worker is not None

    def ask(self) -> Any:
        """The dialog opens window-modal; on OK the report is written on the thread pool.

        Returns the ReportDialog (or None without a case, or while a report is being written)."""
        case_dir = self.main.case_dir
        if case_dir is None or self.worker is not None:
            return None
        if self.dialog is not None:
            self.dialog.dialog.raise_()
            return self.dialog
        from .report_dialog import ReportDialog  # loads reportlab: only when a report is asked for

        dialog = ReportDialog(self.main.window, case_dir, self.main.info)
        dialog.dialog.accepted.connect(lambda: self.write(dialog.request(), case_dir))
        dialog.dialog.finished.connect(lambda _result: self._dialog_closed(dialog))
        self.dialog = dialog
        dialog.dialog.open()
        return dialog

    def _dialog_closed(self, dialog: Any) -> None:
        if self.dialog is dialog:
            self.dialog = None
        dialog.dialog.deleteLater()

    def write(self, request: Any, case_dir: Path | None = None) -> bool:
        """Write the report a `ReportRequest` describes on the thread pool; `written` follows."""
        from .report_dialog import write_report

        case_dir = case_dir or self.main.case_dir
        if case_dir is None or self.worker is not None:
            return False
        worker = FunctionWorker(write_report, case_dir, request)
        worker.signals.finished.connect(self._written)
        worker.signals.errored.connect(self._failed)
        self.worker = worker
        self._show_state("running", request.pdf)
        self.busy_changed.emit()
        message = f"Writing the report to {request.pdf}…"
        if self.main.is_scanning():
            message += " Processing is still running: findings may still be arriving, the report shows the case as it is now."
        self.main.window.statusBar().showMessage(message, 0)
        logger.info("%s", message)
        worker.start()
        return True

    def case_closed(self) -> None:
        if self.dialog is not None:
            self.dialog.dialog.reject()
        if self.worker is None:  # a report being written still says so when it is done
            self._show_state(None)

    def _written(self, written: list[Path]) -> None:
        if self.main.disposed:  # a late report from a worker, after the window went
            return
        self.worker = None
        self.last_report = written[0]
        self._show_state("done", written[0])
        self.busy_changed.emit()
        text = "Report written: " + " and ".join(str(p) for p in written)
        logger.info("%s", text)
        self.main.window.statusBar().showMessage(text, REPORT_MESSAGE_MS)
        self.written.emit(written)

    def _failed(self, error: Exception) -> None:
        if self.main.disposed:  # a late report from a worker, after the window went
            return
        from .report_dialog import error_text

        self.worker = None
        self._show_state(None)
        self.busy_changed.emit()
        if not isinstance(error, (CybertriageError, OSError)):
            logger.error("report failed", exc_info=error)
        message = error_text(error)
        self.main.say(f"Report not written: {message}", error=True)
        if self.error_box is not None:
            self.error_box.deleteLater()
        box = QMessageBox(QMessageBox.Icon.Warning, "Report not written",
                          "The report could not be written.", QMessageBox.StandardButton.Ok, self.main.window)
        box.setInformativeText(message[:1].upper() + message[1:])
        box.setStyleSheet("QLabel#qt_msgbox_informativelabel { min-width: 460px; }")  # paths wrap less
        box.open()  # window-modal, without a nested event loop
        self.error_box = box
        self.written.emit(error)

    def _show_state(self, state: str | None, path: Path | None = None) -> None:
        self.busy.setVisible(state == "running")
        self.label.setVisible(state is not None)
        self.folder_button.setVisible(state == "done")
        if state == "running":
            self.label.setText("Writing report…")
        elif state == "done" and path is not None:
            self.label.setText(f"Report: {path.name}")
        self.label.setToolTip(str(path) if path is not None else "")

    def open_report_folder(self) -> None:
        if self.last_report is not None:
            open_folder(self.last_report.parent)
