"""One evidence item's honest status under the Evidence tab's table: what `cybertriage info` says about it (its facts,
completeness ledger, containers not opened, volumes and recorded problems) as labelled tables, and its two actions:
Verify hashes (what `cybertriage verify` does, for this item, on the thread pool) and Process again (a cancelled,
interrupted or failed item examined again from the start, as `scan` takes it up)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..case import audit, open_case, queries
from ..case.store import CaseInUse, case_held, read_case
from ..case.verify import OK, Verdict, verify_case
from ..errors import Cancelled, CybertriageError
from ..evidence.containers.ledger import not_opened
from ..formatting import human_size
from ..text_safety import visible_html as esc  # evidence text for Qt rich text: made visible, then escaped
from .case_window import CaseWindow, named
from .models import Column, RowsModel
from .workers import FunctionWorker

PROBLEMS_SHOWN = 1000  # the first problems of an item; the rest are counted (table 'problems' in the case)
AGAIN_STATUSES = ("cancelled", "interrupted", "failed")  # what Process again takes up, as `scan` does
VERDICT_COLORS = {OK: "#2e7d32"}  # every other verdict (MISMATCH, MISSING, DAMAGED …) in the error colour
ERROR_COLOR = "#b3261e"

LEDGER_COLUMNS = [
    Column("Stage", lambda r: r["stage"]),
    Column("Attempted", lambda r: f"{r['attempted']:,}", right=True),
    Column("Processed", lambda r: f"{r['processed']:,}", right=True),
    Column("Skipped", lambda r: f"{r['skipped']:,}", right=True,
           foreground=lambda r: ERROR_COLOR if r["skipped"] else None),
    Column("Why skipped", lambda r: "; ".join(f"{n:,} {why}" for why, n in r["why"].items()),
           tooltip=lambda r: "\n".join(f"{n:,} {why}" for why, n in r["why"].items())),
]
PROBLEM_COLUMNS = [
    Column("Stage", lambda r: r["stage"]),
    Column("Object", lambda r: r["object"] or "-", tooltip=lambda r: r["object"]),
    Column("Problem", lambda r: r["message"], tooltip=lambda r: r["message"]),
]
VOLUME_COLUMNS = [
    Column("Offset (bytes)", lambda r: f"{r['offset']:,}", right=True),
    Column("Size", lambda r: human_size(r.get("length")), right=True),
    Column("Volume", lambda r: r["description"]),
    Column("Filesystem", lambda r: r["filesystem"] or "-"),
    Column("Status", lambda r: r["status"], foreground=lambda r: None if r["status"] == "examined" else ERROR_COLOR),
    Column("Note", lambda r: r.get("note") or "", tooltip=lambda r: r.get("note")),
]


@dataclass
class ItemStatus:
    """What the case says about one evidence item, read on the pool."""

    summary: dict[str, Any]  # `queries.evidence_summary`'s item: the evidence row, counts, partitions, ledger
    problems: list[dict[str, Any]]  # the first PROBLEMS_SHOWN of them
    not_opened: dict[str, int] = field(default_factory=dict)  # containers not opened: reason → count
    last_verified: dict[str, Any] | None = None  # the last `verify` result recorded for it in the audit log


def read_status(case_dir: Path, evidence_id: int, cancel: threading.Event) -> ItemStatus | None:
    """On the pool: `info`'s facts about one evidence item, through the same reads, on a connection of its own."""
    db = read_case(case_dir)
    try:
        items = queries.evidence_summary(db, evidence_id)
        if not items:
            return None
        item = items[0]
        for stage in item["ledger"]:
            stage["why"] = json.loads(stage["reasons"] or "{}")
        problems = queries.problems(db, evidence_id, PROBLEMS_SHOWN) if item["problems"] else []
        return ItemStatus(item, problems, not_opened(item["ledger"]), _last_verified(db, item["path"]))
    finally:
        db.close()


def _last_verified(db: Any, path: str) -> dict[str, Any] | None:
    """The newest 'evidence verified' audit entry's result for this evidence, with the entry's time."""
    found = None
    for entry in queries.audit_entries(db):
        if entry["action"] != "evidence verified":
            continue
        for result in json.loads(entry["detail"] or "{}").get("results", []):
            if result.get("evidence") == path:
                found = {**result, "ts": entry["ts"]}
    return found


def verify_item(case_dir: Path, evidence_id: int, cancel: threading.Event) -> Verdict:
    """On the pool: re-read one evidence item and compare it with what the case recorded, as `cybertriage verify`
    does (holding the case, so that no scan adds to it meanwhile), and record the check in the audit log."""
    db = open_case(case_dir)
    try:
        with case_held(case_dir):
            verdicts = verify_case(db, cancel, evidence_id)
            if not verdicts:
                raise CybertriageError("the evidence is no longer in the case")
            if cancel.is_set():  # a folder's files are hashed one by one: a stop between two is a stop all the same
                raise Cancelled()
            verdict = verdicts[0]
            audit(db, "evidence verified", {
                "all_ok": verdict.ok, "evidence_id": evidence_id,
                "results": [{"evidence": verdict.path, "status": verdict.status, "detail": verdict.detail}]})
    finally:
        db.close()
    return verdict


class EvidenceStatus(QObject):
    """The panel below the evidence table: the selected item's status, ledger, problems and volumes, and its actions."""

    verify_ended = Signal()  # a verification ended (the scan queue may start again)

    def __init__(self, main: CaseWindow, process_again: Callable[[Path], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.main, self.process_again = main, process_again
        self.row: dict[str, Any] | None = None  # the evidence table's row shown
        self.shown_key: tuple[Any, ...] | None = None  # what the status read was for: item, status, error
        self.reader: FunctionWorker | None = None
        self.verifier: FunctionWorker | None = None
        self.verifying_id: int | None = None
        self.verdicts: dict[int, Verdict] = {}  # this session's verifications, by evidence id
        self.busy = False  # a scan runs: no verification (the case is held), no second scan of the same item
        self.queued: set[str] = set()  # paths waiting for or in the running scan
        self.widget = named(QWidget(), "evidenceStatusPanel")
        layout = QVBoxLayout(self.widget)
        layout.setContentsMargins(0, 6, 0, 0)
        top = QHBoxLayout()
        self.title = named(QLabel(), "evidenceStatusTitle")
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setWordWrap(True)
        self.verify_button = named(QPushButton("Verify hashes"), "verifyButton")
        self.verify_button.setToolTip("Read the evidence again (read-only) and compare its sha256 (and an E01's stored "
                                      "MD5/SHA-1, each chunk's checksum; a folder's files) with what the case recorded "
                                      "when it was added; the check goes into the audit log.")
        self.again_button = named(QPushButton("Process again"), "processAgainButton")
        self.again_button.setToolTip("Examine a cancelled, interrupted or failed item again from the start: what an "
                                     "unfinished run left of it is replaced.")
        top.addWidget(self.title, 1)
        top.addWidget(self.verify_button)
        top.addWidget(self.again_button)
        layout.addLayout(top)
        self.verdict = named(QLabel(), "verdictLabel")
        self.verdict.setTextFormat(Qt.TextFormat.RichText)
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.verdict)
        self.facts = named(QLabel(), "evidenceFactsLabel")
        self.facts.setTextFormat(Qt.TextFormat.RichText)
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.facts)
        self.tabs = named(QTabWidget(), "evidenceStatusTabs")
        self.ledger_model = RowsModel(LEDGER_COLUMNS, key="stage", parent=self)
        self.problems_model = RowsModel(PROBLEM_COLUMNS, key="n", parent=self)
        self.volumes_model = RowsModel(VOLUME_COLUMNS, key="offset", parent=self)
        ledger_page = QWidget()
        ledger_layout = QVBoxLayout(ledger_page)
        ledger_layout.setContentsMargins(0, 0, 0, 0)
        self.ledger_view = self._table("ledgerView", self.ledger_model, (110, 80, 80, 70))
        ledger_layout.addWidget(self.ledger_view)
        self.not_opened_label = named(QLabel(), "notOpenedLabel")
        self.not_opened_label.setWordWrap(True)
        ledger_layout.addWidget(self.not_opened_label)
        self.tabs.addTab(ledger_page, "Completeness ledger")
        problems_page = QWidget()
        problems_layout = QVBoxLayout(problems_page)
        problems_layout.setContentsMargins(0, 0, 0, 0)
        self.problems_view = self._table("problemsView", self.problems_model, (90, 300))
        problems_layout.addWidget(self.problems_view)
        self.more_problems = named(QLabel(), "moreProblemsLabel")
        problems_layout.addWidget(self.more_problems)
        self.tabs.addTab(problems_page, "Problems")
        self.volumes_view = self._table("volumesView", self.volumes_model, (110, 70, 200, 90, 120))
        self.tabs.addTab(self.volumes_view, "Volumes")
        layout.addWidget(self.tabs, 1)
        self.verify_button.clicked.connect(self._verify_clicked)
        self.again_button.clicked.connect(self._again_clicked)
        main.window.installEventFilter(self)
        self.show_row(None)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Closing the window stops a verification: the window waits for the thread pool before it goes."""
        if watched is self.main.window and event.type() == QEvent.Type.Close:
            self.stop_verifying()
        return super().eventFilter(watched, event)

    @staticmethod
    def _table(name: str, model: RowsModel, widths: tuple[int, ...]) -> QTableView:
        view = named(QTableView(), name)
        view.setModel(model)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setAlternatingRowColors(True)
        view.verticalHeader().hide()
        view.verticalHeader().setDefaultSectionSize(22)
        view.setWordWrap(False)
        header = view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate(widths):
            view.setColumnWidth(column, width)
        return view

    # what is shown -------------------------------------------------------------------------------------

    def show_row(self, row: dict[str, Any] | None) -> None:
        """The evidence table's selected row (None: nothing selected); its status is read again when it changed."""
        self.row = row
        self._update_actions()
        if row is None or row.get("id") is None:
            self.shown_key = None
            self.title.setText(f"<b>{esc(Path(row['path']).name)}</b> — {esc(row['shown_status'])}" if row else
                               "Select an evidence item to see what was and was not examined.")
            self.facts.setText("Not in the case yet." if row else "")
            self._show_tables(None)
            self._show_verdict()
            return
        self.title.setText(f"<b>{esc(Path(row['path']).name)}</b> — {esc(row['shown_status'])}")
        key = (self.main.case_dir, row["id"], row.get("status"), row.get("error"), row.get("verified"))
        if key != self.shown_key:
            self.shown_key = key
            self._read(row["id"])
        self._show_verdict()

    def scan_state(self, busy: bool, queued: set[str]) -> None:
        """Whether a scan runs and which paths it holds or waits for: the actions follow."""
        self.busy, self.queued = busy, queued
        self._update_actions()

    def reread(self) -> None:
        """Read the shown item's status again (a scan ended: its ledger and problems are written)."""
        self.shown_key = None
        self.show_row(self.row)

    def clear(self) -> None:
        self.verdicts.clear()
        self.shown_key = None
        self.show_row(None)

    def _read(self, evidence_id: int) -> None:
        case_dir = self.main.case_dir
        if case_dir is None:
            return
        if self.reader is not None:
            self.reader.quit()
        worker = FunctionWorker(read_status, case_dir, evidence_id)
        worker.signals.finished.connect(lambda status, w=worker: self._read_done(w, evidence_id, status))
        worker.signals.errored.connect(lambda error, w=worker: self._read_failed(w, error))
        self.reader = worker
        worker.start()

    def _read_done(self, worker: FunctionWorker, evidence_id: int, status: ItemStatus | None) -> None:
        if worker is not self.reader or self.main.disposed:
            return  # an older read, overtaken by a newer selection, or a read that outlived the window
        self.reader = None
        if self.row is None or self.row.get("id") != evidence_id:
            return
        self._show_tables(status)
        self._show_verdict(status.last_verified if status else None)

    def _read_failed(self, worker: FunctionWorker, error: Exception) -> None:
        if worker is self.reader and not self.main.disposed:
            self.reader = None
            self.facts.setText(f"<span style='color:{ERROR_COLOR}'>The status cannot be read: {esc(str(error))}</span>")

    def _show_tables(self, status: ItemStatus | None) -> None:
        item = status.summary if status else None
        if item is not None:
            self.facts.setText(_facts_html(item))
        elif self.row is None:
            self.facts.clear()
        ledger = item["ledger"] if item else []
        self.ledger_model.set_rows(ledger)
        self.not_opened_label.setText(
            "Not opened, though they could hold other objects: "
            + "; ".join(f"{n:,} {why}" for why, n in status.not_opened.items()) if status and status.not_opened else "")
        self.not_opened_label.setVisible(bool(status and status.not_opened))
        problems = [{**p, "n": n} for n, p in enumerate(status.problems)] if status else []
        self.problems_model.set_rows(problems)
        count = item["problems"] if item else 0
        self.more_problems.setText(f"… and {count - len(problems):,} more (table 'problems' in the case database)"
                                   if count > len(problems) else "")
        self.more_problems.setVisible(count > len(problems))
        self.volumes_model.set_rows(item["partitions"] if item else [])
        skipped = sum(stage["skipped"] for stage in ledger)
        self.tabs.setTabText(0, f"Completeness ledger ({skipped:,} skipped)" if skipped else "Completeness ledger")
        self.tabs.setTabText(1, f"Problems ({count:,})")
        self.tabs.setTabText(2, f"Volumes ({len(item['partitions'])})" if item else "Volumes")
        self.tabs.setTabVisible(2, bool(item and item["partitions"]))

    def _show_verdict(self, recorded: dict[str, Any] | None = None) -> None:
        """This session's verification of the item, or the last one the audit log recorded, or none."""
        evidence_id = self.row.get("id") if self.row else None
        if evidence_id is not None and evidence_id == self.verifying_id:
            self.verdict.setText("Verifying: reading the evidence again…")
        elif evidence_id in self.verdicts:
            verdict = self.verdicts[evidence_id]
            self.verdict.setText(_verdict_html(verdict.status, verdict.detail, "now"))
        elif recorded is not None:
            self.verdict.setText(_verdict_html(recorded["status"], recorded["detail"], f"last verified {recorded['ts']}"))
        elif evidence_id is not None and self.reader is None:
            self.verdict.setText("Hashes not verified since the evidence was added.")
        self.verdict.setVisible(evidence_id is not None)

    def _update_actions(self) -> None:
        row = self.row
        in_case = row is not None and row.get("id") is not None
        verifying = self.verifier is not None
        self.verify_button.setEnabled(verifying or (in_case and not self.busy))
        self.verify_button.setText("Stop verifying" if verifying else "Verify hashes")
        status = row["shown_status"] if row else ""
        self.again_button.setEnabled(row is not None and status.startswith(AGAIN_STATUSES)
                                     and row["path"] not in self.queued and self.verifier is None)

    # the actions ---------------------------------------------------------------------------------------

    def _again_clicked(self) -> None:
        if self.row is not None:
            self.process_again(Path(self.row["path"]))

    def _verify_clicked(self) -> None:
        """Verify the selected item; while a verification runs (a large image takes minutes), stop it."""
        case_dir = self.main.case_dir
        if self.verifier is not None:
            self.stop_verifying()
            return
        if self.row is None or self.row.get("id") is None or case_dir is None:
            return
        evidence_id, name = self.row["id"], Path(self.row["path"]).name
        worker = FunctionWorker(verify_item, case_dir, evidence_id)
        worker.signals.finished.connect(lambda verdict: self._verified(evidence_id, name, verdict, None))
        worker.signals.errored.connect(lambda error: self._verified(evidence_id, name, None, error))
        self.verifier, self.verifying_id = worker, evidence_id
        self._update_actions()
        self._show_verdict()
        self.main.say(f"Verifying {name}: reading it again…")
        worker.start()

    def stop_verifying(self) -> None:
        if self.verifier is not None:
            self.verifier.quit()

    def is_verifying(self) -> bool:
        return self.verifier is not None

    def _verified(self, evidence_id: int, name: str, verdict: Verdict | None, error: Exception | None) -> None:
        self.verifier, self.verifying_id = None, None
        if self.main.disposed:  # the window went while the evidence was read
            return
        if verdict is not None:
            self.verdicts[evidence_id] = verdict
            self.main.say(f"{name}: {verdict.status} — {verdict.detail}", error=not verdict.ok)
        elif isinstance(error, CaseInUse):
            self.main.say(f"{name} not verified: a scan of this case is running; verify when it has finished", error=True)
        elif isinstance(error, Cancelled):
            self.main.say(f"Verification of {name} stopped: nothing recorded")
        else:
            self.main.say(f"{name} not verified: {error}", error=True)
        self._update_actions()
        self._show_verdict()
        self.verify_ended.emit()


def _verdict_html(status: str, detail: str, when: str) -> str:
    color = VERDICT_COLORS.get(status, ERROR_COLOR)
    return f"<b style='color:{color}'>{esc(status)}</b> ({esc(when)}): {esc(detail)}"


def _facts_html(item: dict[str, Any]) -> str:
    """The evidence row's facts as a labelled table, as `info` prints them: long values on a line of their own,
    short ones two to a line, so that the ledger keeps its room on a small screen."""
    stored = ", ".join(f"{name.upper()} {item[f'stored_{name}']}" for name in ("md5", "sha1") if item[f"stored_{name}"])
    size = f"{human_size(item['size'])} ({item['size']:,} bytes)" if item["size"] is not None else "-"
    status = item["status"] + (f" — {item['error']}" if item["error"] else "")
    network = ", ".join(f"{count:,} {table}" for table, count in item["network"].items() if count)
    lines: list[list[tuple[str, str]]] = [
        [("Path", item["path"])],
        [("Kind / format", " / ".join(x for x in (item["kind"], item["format"]) if x) or "-"), ("Size", size)],
        [("SHA-256", item["sha256"] or "-")], *([[("Stored hashes", stored)]] if stored else []),
        [("Status", status)],
        [("Objects", f"{item['files']:,} ({item['deleted']:,} deleted)"),
         ("Verified when added", item["verified"] or "not done")],
        *([[("Network", network)]] if network else [])]
    label = "<td style='color:#555; padding-right:8px'>{}</td>"
    rows = "".join("<tr>" + "".join(label.format(esc(name)) + f"<td{' colspan=3' if len(line) == 1 else ''} "
                                    f"style='padding-right:18px'>{esc(value)}</td>" for name, value in line) + "</tr>"
                   for line in lines)
    return f"<table cellspacing='0' cellpadding='1'>{rows}</table>"
