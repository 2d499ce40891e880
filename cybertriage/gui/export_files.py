"""Case → Export selected files…: the files selected in the Files or Findings table, written to a folder
on the thread pool by the core's `export_files`, with progress, Cancel, and the verification shown after."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QProgressDialog

from ..case.extract import Export, export_files
from ..text_safety import visible
from .case_window import CaseWindow
from .files_view import FilesView
from .findings_view import FindingsView
from .workers import FunctionWorker

logger = logging.getLogger(__name__)
LISTED_PROBLEMS = 20


class FileExport(QObject):
    """Exports what the examiner selected; `done` carries the core's `Export`, or the exception that stopped it."""

    done = Signal(object)

    def __init__(self, main: CaseWindow, findings: FindingsView, files: FilesView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.main, self.findings, self.files = main, findings, files
        self.worker: FunctionWorker | None = None
        self.progress: QProgressDialog | None = None
        self.result_box: QMessageBox | None = None
        self.last_folder: Path | None = None

    def selected_file_ids(self) -> list[int]:
        """The files selected in the table of the tab in front: file rows, or the files of finding rows."""
        findings, files = self.findings, self.files
        tab = self.main.tabs.currentWidget().objectName()
        ids: list[int] = []
        if tab == "findingsTab" and findings.model is not None:
            for index in findings.view.selectionModel().selectedRows():
                finding = findings.model.finding(index.row())
                if finding is not None and finding["object_kind"] == "file":
                    ids.append(finding["object_id"])
        elif tab == "filesTab" and files.model is not None:
            for index in files.view.selectionModel().selectedRows():
                row = files.model.row(index.row())
                if row is not None and row.get("id") is not None and row.get("kind") != "directory":
                    ids.append(row["id"])
        return list(dict.fromkeys(ids))

    def ask(self) -> None:
        """Choose a folder for the selected files, then export them."""
        main = self.main
        if main.case_dir is None:
            return
        if self.worker is not None:
            main.window.statusBar().showMessage("An export is already running.", 10_000)
            return
        ids = self.selected_file_ids()
        if not ids:
            main.window.statusBar().showMessage("Select files in the Files or Findings table first "
                                                "(Ctrl+click or Shift+click for several).", 10_000)
            return
        start = str(self.last_folder or main.case_dir.parent)
        folder = QFileDialog.getExistingDirectory(main.window, f"Export {len(ids)} file{'s' if len(ids) > 1 else ''} "
                                                  "to folder", start)
        if folder:
            self.export(ids, Path(folder))

    def export(self, file_ids: list[int], destination: Path) -> bool:
        """Write the files on the thread pool; `done` follows."""
        case_dir = self.main.case_dir
        if case_dir is None or self.worker is not None or not file_ids:
            return False
        self.last_folder = destination

        def job(*, cancel: threading.Event) -> Export:
            return export_files(case_dir, file_ids, destination, cancel=cancel,
                                progress=lambda done, total: worker.signals.progress.emit(done))

        worker = FunctionWorker(job)
        progress = QProgressDialog(f"Exporting {len(file_ids)} files to {destination}…", "Cancel", 0, len(file_ids),
                                   self.main.window)
        progress.setWindowTitle("Export selected files")
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        progress.setMinimumDuration(300)
        progress.canceled.connect(worker.quit)
        worker.signals.progress.connect(progress.setValue)
        worker.signals.finished.connect(self._finished)
        worker.signals.errored.connect(self._failed)
        self.worker, self.progress = worker, progress
        worker.start()
        return True

    def _close_progress(self) -> None:
        self.worker = None
        if self.progress is not None:
            self.progress.canceled.disconnect()
            self.progress.close()
            self.progress.deleteLater()
            self.progress = None

    def _finished(self, export: Export) -> None:
        if self.main.disposed:
            return
        self._close_progress()
        verified = sum(1 for f in export.files if f.verified == "verified")
        problems = [f for f in export.files if f.verified != "verified"]
        summary = (f"{verified} of {len(export.files)} files exported to {export.destination} and verified against "
                   "the sha256 the case recorded.")
        if problems:
            summary += f" {len(problems)} could not be exported or did not verify: see the details."
        if export.cancelled:
            summary += " The export was cancelled before the rest."
        lines = [f"{f.verified}: {visible(f.case_path) or f.file_id}" + (f" — {visible(f.error)}" if f.error else "")
                 for f in problems[:LISTED_PROBLEMS]]
        if len(problems) > LISTED_PROBLEMS:
            lines.append(f"… and {len(problems) - LISTED_PROBLEMS} more (see the manifest)")
        self._show(QMessageBox.Icon.Warning if problems or export.cancelled else QMessageBox.Icon.Information,
                   summary, f"Manifest: {export.manifest}", "\n".join(lines))
        self.main.window.statusBar().showMessage(summary, 30_000)
        self.done.emit(export)

    def _failed(self, error: Exception) -> None:
        if self.main.disposed:
            return
        self._close_progress()
        logger.warning("export failed: %s", error)
        self._show(QMessageBox.Icon.Warning, "The files were not exported.", str(error), "")
        self.done.emit(error)

    def _show(self, icon: QMessageBox.Icon, text: str, informative: str, details: str) -> None:
        if self.result_box is not None:
            self.result_box.deleteLater()
        box = QMessageBox(icon, "Export selected files", text, QMessageBox.StandardButton.Ok, self.main.window)
        box.setInformativeText(informative)
        if details:
            box.setDetailedText(details)
        box.open()  # window-modal, without a nested event loop
        self.result_box = box

