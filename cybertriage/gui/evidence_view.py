"""Evidence and its processing: adding evidence (menu, buttons, drag and drop), the scan running in the
background with its progress panel and Cancel, and the evidence tables of the Evidence tab and the dashboard."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..errors import CybertriageError
from ..formatting import human_size
from ..pipeline import Outcome, Progress, ScanOptions
from ..pipeline.progress import count_folder
from ..severity import SEVERITIES_WORST_FIRST
from .case_window import CaseWindow, box_layout, child, named, restyle
from .evidence_status import EvidenceStatus
from .formatting import SEVERITY_COLORS
from .forms import icon
from .keyword_choice import KeywordChoice
from .lab_workers import LabWorkers
from .models import Column, RowsModel
from .progress import ProgressTracker
from .state import Folders
from .workers import FunctionWorker, ScanWorker

logger = logging.getLogger(__name__)
STATUS_COLORS = {"done": "#2e7d32", "partial": "#e8590c", "failed": "#b3261e", "interrupted": "#b3261e",
                 "cancelled": "#6b7785", "queued": "#1f6fb2", "processing": "#1f6fb2"}
IMAGE_FILTER = ("Disk images and captures (*.dd *.raw *.img *.bin *.001 *.000 *.E01 *.e01 *.Ex01 *.vmdk *.vhd *.vhdx "
                "*.qcow2 *.qcow *.pcap *.pcapng *.cap);;"
                "All files (*)")
# Carving adds seconds to a disk image's scan (bench/README.md, "carve": 5 s for a 1 GiB volume, 1.8 s on the demo
# disks), so it is on by default here; the command line leaves it to --carve, since a script scanning large disks
# needs room for each volume's unallocated space in the case folder while it is carved.
APPLICATION_CARVES = True
CARVE_TIP = ("Once a disk image's files are examined, carve deleted files from each volume's unallocated space with "
             "PhotoRec (testdisk); they appear under $Carved/. Without PhotoRec the ledger says so.")
# Slack carving reads every file's block list again and copies the slack into the case folder: off by default,
# independent of the unallocated space's box.
SLACK_TIP = ("Also carve each volume's file slack (the bytes between the end of every allocated file and the end of its "
             "last block, where older deleted content can remain) with PhotoRec; those files appear under "
             "$Carved/slack/. Every file's block list is read again: about a second more for 10,000 files.")
PROGRESS_FIELDS = ("Evidence", "Stage", "Counts", "Bytes", "Rate", "Eta", "Message")
RUNNING_ONLY = ("Stage", "Counts", "Bytes", "Rate", "Eta")  # shown while a scan runs, not in its summary
CALL_TO_ACTION = ("<div style='font-size:14pt; font-weight:600'>This case holds no evidence yet</div>"
                  "<div style='color:#555'>Add disk images (raw, E01, split, VMDK, VHD, QCOW2), packet captures or "
                  "folders of loose files — or drop them onto this window.</div>")


def _status_color(row: dict[str, Any]) -> str | None:
    return STATUS_COLORS.get(row["shown_status"].split(":")[0].split(" ")[0])


def _objects(row: dict[str, Any]) -> str:
    return f"{row['files']:,}" if row.get("files") is not None else ""


def _severity_column(severity: str) -> Column:
    return Column(severity.capitalize(), lambda r: r.get("findings", {}).get(severity, 0), right=True,
                  foreground=lambda r: SEVERITY_COLORS[severity] if r.get("findings", {}).get(severity) else None)


EVIDENCE_COLUMNS = [
    Column("Evidence", lambda r: Path(r["path"]).name, tooltip=lambda r: r["path"],
           icon=lambda r: icon(r["kind"] if r.get("kind") in ("folder", "file") else "disk")),
    Column("Kind / format", lambda r: " / ".join(x for x in (r.get("kind"), r.get("format")) if x)),
    Column("Size", lambda r: human_size(r.get("size")), right=True),
    Column("SHA-256", lambda r: r.get("sha256"), tooltip=lambda r: r.get("sha256")),
    Column("Verification", lambda r: r.get("verified")),
    Column("Status", lambda r: r["shown_status"], tooltip=lambda r: r["shown_status"], foreground=_status_color),
    Column("Objects", _objects, right=True),
    Column("Findings", lambda r: sum(r.get("findings", {}).values()) if r.get("files") is not None else "", right=True),
]
DASHBOARD_EVIDENCE_COLUMNS = [
    Column("Evidence", lambda r: Path(r["path"]).name, tooltip=lambda r: r["path"]),
    Column("Status", lambda r: r["shown_status"], foreground=_status_color),
    Column("Objects", _objects, right=True),
    *[_severity_column(s) for s in SEVERITIES_WORST_FIRST],
]


class EvidenceScan(QObject):
    """Queues evidence, runs one scan at a time on the thread pool, and shows where it is."""

    ticked = Signal()  # a scan reported progress: the views may read the case again
    done = Signal(object)  # outcomes, or the exception that stopped the scan, once the views show its end

    def __init__(self, main: CaseWindow, scan_options: ScanOptions, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.main = main
        self.scan_options = scan_options
        self.queued: list[Path] = []  # waiting for the running scan to end
        self.running: list[Path] = []
        self.worker: ScanWorker | None = None
        self.failed: dict[str, str] = {}  # evidence that never reached the case, and why
        self.unstarted: list[Path] = []  # queued when the examiner cancelled: never started, kept for Process again
        self.counters: list[FunctionWorker] = []  # folders being counted for the progress panel's total
        self.live: Progress | None = None
        self.tracker = ProgressTracker()
        self.case_rows: list[dict[str, Any]] = []  # the evidence table as the last snapshot read it
        window = main.window
        self.view = child(window, QTableView, "evidenceView")
        self.dashboard_view = child(window, QTableView, "dashboardEvidenceView")
        self.model = RowsModel(EVIDENCE_COLUMNS, key="key", parent=self)
        self.dashboard_model = RowsModel(DASHBOARD_EVIDENCE_COLUMNS, key="key", parent=self)
        for view, model, widths in ((self.view, self.model, {0: 260, 3: 200, 5: 220}),
                                    (self.dashboard_view, self.dashboard_model, {0: 300, 1: 160})):
            view.setModel(model)
            view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
            view.horizontalHeader().setStretchLastSection(True)
            for column, width in widths.items():
                view.setColumnWidth(column, width)
        self.progress_panel = child(window, QFrame, "progressPanel")
        self.progress_bar = child(window, QProgressBar, "progressBar")
        self.cancel_button = child(window, QPushButton, "cancelButton")
        self.progress_labels = {name: child(window, QLabel, f"progress{name}Label") for name in PROGRESS_FIELDS}
        self.progress_panel.hide()  # until evidence is added
        self.cancel_button.clicked.connect(self._cancel_or_dismiss)
        child(window, QPushButton, "addImageButton").clicked.connect(self.add_image_dialog)
        child(window, QPushButton, "addFolderButton").clicked.connect(self.add_folder_dialog)
        self.carve_check = QCheckBox("Carve unallocated space")
        self.carve_check.setObjectName("carveCheck")
        self.carve_check.setToolTip(CARVE_TIP)
        self.carve_check.setChecked(APPLICATION_CARVES)
        self.slack_check = QCheckBox("Carve file slack")
        self.slack_check.setObjectName("carveSlackCheck")
        self.slack_check.setToolTip(SLACK_TIP)
        self.slack_check.setChecked(False)
        self.keyword_lists = KeywordChoice(main.settings, window)
        self.lab = LabWorkers(main.settings, window)
        # what the next scans do, on a row of its own under the buttons and the drop hint (which wraps), so the
        # Evidence tab fits a narrow window beside the results tree
        options = QHBoxLayout()
        options.setObjectName("evidenceOptions")
        options.addWidget(QLabel("Processing:"))
        options.addWidget(self.carve_check)
        options.addWidget(self.slack_check)
        options.addWidget(self.keyword_lists.button)
        options.addWidget(self.lab.label)
        options.addWidget(self.lab.edit, 1)
        options.addStretch(1)
        evidence_layout = child(window, QVBoxLayout, "evidenceLayout")
        evidence_layout.insertLayout(evidence_layout.indexOf(child(window, QHBoxLayout, "evidenceButtons")) + 1, options)
        child(window, QLabel, "dropHintLabel").setWordWrap(True)
        self.folders = Folders(main.settings)
        self.status = EvidenceStatus(main, self.process_again, parent=self)
        self.status.verify_ended.connect(self._start_next)
        self.splitter = named(QSplitter(Qt.Orientation.Vertical), "evidenceSplitter")
        layout = box_layout(child(window, QWidget, "evidenceTab"))
        layout.insertWidget(layout.indexOf(self.view), self.splitter, 1)
        self.splitter.addWidget(self.view)
        self.splitter.addWidget(self.status.widget)
        self.splitter.setSizes([180, 340])
        self.view.selectionModel().currentRowChanged.connect(self._row_chosen)
        self.dashboard_view.doubleClicked.connect(self._dashboard_row_activated)
        self.calls = [self._call_to_action("evidenceTab", "addEvidenceCall"),
                      self._call_to_action("dashboardTab", "dashboardAddEvidenceCall")]

    def _call_to_action(self, tab: str, name: str) -> QFrame:
        """A case without evidence says so, with big Add buttons, where the examiner looks first."""
        frame = named(QFrame(), name)
        frame.setFrameShape(QFrame.Shape.StyledPanel)
        frame.setStyleSheet("QPushButton { font-size: 12pt; padding: 10px 22px; }")
        column = QVBoxLayout(frame)
        text = QLabel(CALL_TO_ACTION)
        text.setTextFormat(Qt.TextFormat.RichText)
        text.setWordWrap(True)
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        column.addWidget(text)
        row = QHBoxLayout()
        row.addStretch()
        for label, slot, icon_name in (("Add disk image or capture…", self.add_image_dialog, "add-image"),
                                       ("Add folder…", self.add_folder_dialog, "add-folder")):
            button = named(QPushButton(icon(icon_name), label), f"{name}{icon_name.title().replace('-', '')}Button")
            button.clicked.connect(slot)
            row.addWidget(button)
        row.addStretch()
        column.addLayout(row)
        box_layout(child(self.main.window, QWidget, tab)).insertWidget(1, frame)
        frame.hide()
        return frame

    def is_scanning(self) -> bool:
        return self.worker is not None

    def case_closed(self) -> None:
        self.queued, self.failed, self.case_rows, self.unstarted = [], {}, [], []
        self.lab.case_shown(None)
        self.status.stop_verifying()
        self.show_rows()
        self.status.clear()
        self.progress_panel.hide()

    # adding evidence ---------------------------------------------------------------------------------

    def add_image_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self.main.window, "Add disk images or captures",
                                                str(self.folders.evidence()), IMAGE_FILTER)
        if files:
            self.folders.remember_evidence(Path(files[0]))
        self.add([Path(f) for f in files])

    def add_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.main.window, "Add a folder of loose files",
                                                  str(self.folders.evidence()))
        if folder:
            self.folders.remember_evidence(Path(folder))
            self.add([Path(folder)])

    def process_again(self, path: Path) -> None:
        """A cancelled, interrupted or failed item examined again from the start (the scan replaces what is left)."""
        self.add([path])

    def add(self, paths: list[Path]) -> None:
        """Queue evidence for processing; it starts at once unless a scan is running."""
        if not paths:
            return
        case_dir = self.main.case_dir
        if case_dir is None:
            self.main.say("Create or open a case before adding evidence.", error=True)
            return
        if case_dir in [p.resolve() for p in paths]:
            self.main.say("The case folder itself cannot be evidence.", error=True)
            return
        for path in paths:
            self.failed.pop(str(path), None)
            self.unstarted = [p for p in self.unstarted if p != path]
            if path not in self.queued and path not in self.running:
                self.queued.append(path)
        self.main.show_tab("evidenceTab")
        self._start_next()
        self.show_rows()

    # the scan ------------------------------------------------------------------------------------------

    def _start_next(self) -> None:
        case_dir = self.main.case_dir
        if self.worker is not None or not self.queued or case_dir is None or self.status.is_verifying():
            return
        self.running, self.queued = self.queued, []
        options = self.keyword_lists.apply(replace(self.scan_options, carve=self.carve_check.isChecked(),
                                                   carve_slack=self.slack_check.isChecked()))
        worker = ScanWorker(case_dir, self.running, options, self.lab.broker(case_dir))
        worker.signals.progress.connect(self._progress)
        worker.signals.finished.connect(self._finished)
        worker.signals.errored.connect(self._errored)
        self.worker = worker
        self.tracker = ProgressTracker()
        for path in self.running:
            if path.is_dir():
                self._count(path)
        self.live = None
        self.progress_panel.show()
        self._progress_running(True)
        self.progress_bar.setRange(0, 0)
        self._set_progress_text(Evidence=", ".join(p.name for p in self.running), Stage="starting", Counts="",
                                Bytes="", Rate="", Eta="", Message="")
        self.main.actions["CancelScan"].setEnabled(True)
        self.main.actions["CaseProperties"].setEnabled(False)
        worker.start()

    def _count(self, folder: Path) -> None:
        """Count a folder's objects beside its scan: the listing is only a queue's length ahead of the analysis,
        so the count is what gives the panel a total and an ETA. It costs little beside the scan: 100,100 files in 100
        folders in 0.1 s, the 142,282 entries of /usr in 0.5–0.7 s (warm caches, this 2-core machine)."""
        tracker, key = self.tracker, str(folder)
        tracker.counting.add(key)
        worker = FunctionWorker(count_folder, folder)

        def counted(count: int | None) -> None:
            if worker in self.counters:
                self.counters.remove(worker)
            tracker.expect(key, count)

        worker.signals.finished.connect(counted)
        worker.signals.errored.connect(lambda _: counted(None))
        self.counters.append(worker)
        worker.start()

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.quit()
            self.unstarted += [p for p in self.queued if p not in self.unstarted]
            self.queued = []
            self.cancel_button.setEnabled(False)
            self._set_progress_text(Message="Cancelling: stopping after the objects in hand…")

    def _progress(self, progress: Progress) -> None:
        if self.main.disposed or self.worker is None:  # a late report from a worker, after the window went
            return
        previous = self.live
        self.live = progress if progress.stage != "finished" else None
        if progress.stage == "finished":
            return
        self.show_rows()  # the row of the item in hand follows every tick
        if previous is None or (previous.evidence, previous.stage) != (progress.evidence, progress.stage):
            self.main.refresh_views()  # a new item or stage: read the case at once
        shown = self.tracker.update(progress)
        self._set_progress_text(Evidence=shown.evidence, Stage=shown.stage, Counts=shown.counts, Bytes=shown.bytes,
                                Rate=shown.rate, Eta=shown.eta)
        if shown.percent is None:
            self.progress_bar.setRange(0, 0)
        else:
            self.progress_bar.setRange(0, 100)
            self.progress_bar.setValue(shown.percent)
        self.ticked.emit()

    def _finished(self, outcomes: list[Outcome]) -> None:
        if self.main.disposed:  # a late report from a worker, after the window went
            return
        cancelled = self.worker is not None and self.worker.cancel.is_set()
        self._ended()
        self.unstarted += [Path(o.path) for o in outcomes if o.evidence_id is None and o.status == "cancelled"]
        summary = [_outcome_text(o) for o in outcomes]
        failed = any(o.status in ("failed", "partial") for o in outcomes)
        heading = _heading(outcomes, cancelled)
        self._set_progress_text(Evidence=heading, Stage="", Counts="", Bytes="", Rate="", Eta="",
                                Message="; ".join(summary))
        self._mark_message(failed)
        self.main.say(f"{heading}: " + "; ".join(summary), error=failed)
        self.status.reread()
        self.main.refresh_views(reload_tree=True, then=lambda: self.done.emit(outcomes))
        self._start_next()

    def _errored(self, error: Exception) -> None:
        if self.main.disposed:  # a late report from a worker, after the window went
            return
        running = self.running
        self._ended()
        if isinstance(error, CybertriageError):
            message = str(error)
        else:
            logger.error("processing stopped", exc_info=error)
            message = f"internal error ({type(error).__name__}: {error})"
        for path in running:
            self.failed[str(path)] = message
        self._set_progress_text(Evidence="Processing stopped", Stage="", Counts="", Bytes="", Rate="", Eta="",
                                Message=message)
        self._mark_message(True)
        self.main.say(f"Processing stopped: {message}", error=True)
        self.main.refresh_views(reload_tree=True, then=lambda: self.done.emit(error))
        self._start_next()

    def _ended(self) -> None:
        self.worker = None
        self.running = []
        for counter in self.counters:
            counter.quit()
        self.live = None
        self._progress_running(False)
        self.main.actions["CancelScan"].setEnabled(False)
        self.main.actions["CaseProperties"].setEnabled(self.main.case_dir is not None)

    # the progress panel ----------------------------------------------------------------------------

    def _progress_running(self, running: bool) -> None:
        """While a scan runs the panel shows the bar and the counts; after it, a summary to dismiss."""
        for widget in (self.progress_bar, *(self.progress_labels[n] for n in RUNNING_ONLY)):
            widget.setVisible(running)
        self.cancel_button.setText("Cancel" if running else "Dismiss")
        self.cancel_button.setProperty("running", running)
        self.cancel_button.setEnabled(True)
        restyle(self.cancel_button)

    def _cancel_or_dismiss(self) -> None:
        if self.worker is not None:
            self.cancel()
        else:
            self.progress_panel.hide()

    def _set_progress_text(self, **texts: str) -> None:
        for name, text in texts.items():
            self.progress_labels[name].setText(text)
        if "Message" in texts:
            self.progress_labels["Message"].setVisible(bool(texts["Message"]))
            self._mark_message(False)

    def _mark_message(self, error: bool) -> None:
        self.progress_labels["Message"].setProperty("error", error)
        restyle(self.progress_labels["Message"])

    # the evidence tables ------------------------------------------------------------------------------

    def show_snapshot(self, evidence: list[dict[str, Any]]) -> None:
        self.case_rows = evidence
        self.lab.case_shown(self.main.case_dir)
        self.show_rows()

    def show_rows(self) -> None:
        rows = self._rows([dict(row) for row in self.case_rows])
        current = self.view.currentIndex()
        chosen = self.model.rows[current.row()]["key"] if current.isValid() and current.row() < len(self.model.rows) else None
        self.model.set_rows(rows)
        self.dashboard_model.set_rows(rows)
        for frame in self.calls:
            frame.setVisible(not rows and self.main.case_dir is not None)
        self.status.widget.setVisible(bool(rows))
        held = [*self.running, *self.queued]
        self.status.scan_state(self.worker is not None, {str(p.resolve()) if p.exists() else str(p) for p in held})
        keys = [row["key"] for row in rows]
        at = keys.index(chosen) if chosen in keys else 0 if rows else None
        if at is None:
            self.status.show_row(None)
        elif self.view.currentIndex().row() != at:
            self.view.selectionModel().setCurrentIndex(
                self.model.index(at, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows)
        else:
            self.status.show_row(rows[at])

    def _dashboard_row_activated(self, index: QModelIndex) -> None:
        """An evidence row of the dashboard opens the Evidence tab on it: its status, ledger and problems."""
        self.main.show_tab("evidenceTab")
        self.view.selectRow(index.row())

    def _row_chosen(self, current: QModelIndex, _previous: QModelIndex) -> None:
        rows = self.model.rows
        self.status.show_row(rows[current.row()] if current.isValid() and current.row() < len(rows) else None)

    def _rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The case's evidence with what the examiner sees: live stage, queued items, failures before the case."""
        live_key = str(Path(self.live.evidence).resolve()) if self.live and self.live.evidence else None
        known = set()
        for row in rows:
            row["key"] = row["path"]
            known.add(row["path"])
            row["shown_status"] = self._shown_status(row, live_key)
        for path, status in ([(p, "queued") for p in self.running + self.queued]
                             + [(Path(p), f"failed: {m}") for p, m in self.failed.items()]
                             + [(p, "cancelled: not started") for p in self.unstarted]):
            key = str(path.resolve()) if path.exists() else str(path)
            if key in known:
                continue
            known.add(key)
            if status == "queued" and key == live_key:
                status = "processing"
            rows.append({"key": key, "id": None, "path": key, "kind": None, "format": None, "size": None,
                         "sha256": None, "verified": None, "files": None, "findings": {}, "shown_status": status})
        return rows

    def _shown_status(self, row: dict[str, Any], live_key: str | None) -> str:
        status = row["status"] or "added"
        if status in ("added", "processing"):
            if self.worker is not None and row["path"] == live_key and self.live is not None:
                status = f"processing: {self.live.stage}"
                row["files"] = max(row["files"] or 0, self.live.objects_done)  # ahead of what is committed
            elif self.worker is not None:
                status = "processing"
            else:
                status = "interrupted: processing did not finish"
        if row.get("error"):
            status += f": {row['error']}"
        return status


def _heading(outcomes: list[Outcome], cancelled: bool) -> str:
    """The progress panel's heading once a scan ends: never "finished" for evidence the examiner stopped."""
    stopped = [o for o in outcomes if o.status == "cancelled"]
    if stopped:
        kept = sum(o.files for o in stopped)
        return f"Cancelled: {kept:,} object{'s' * (kept != 1)} kept; Process again to finish"
    if cancelled:
        return "Cancelled after every evidence item was examined"
    return "Processing finished"


def _outcome_text(outcome: Outcome) -> str:
    """One evidence item's line in the summary: its status, what was found, and why it did not finish."""
    text = f"{Path(outcome.path).name}: {outcome.status}"
    if outcome.status in ("done", "partial", "cancelled") and outcome.evidence_id is not None:
        found = sum(outcome.findings.values())
        text += f" ({outcome.files:,} object{'s' * (outcome.files != 1)}, {found:,} finding{'s' * (found != 1)})"
    if outcome.message and outcome.status != "done":
        text += f" — {outcome.message}"
    return text
