"""Reading the open case again (F5, a scan's progress, a tag): on the thread pool, one read at a time.

Counting a million files takes a noticeable fraction of a second, so the snapshot (evidence, counts, top
objects, the findings' order) is taken by a worker on its own connection; only the result is applied, by the
window, to every view.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from ..case import browse
from .case_window import CaseWindow
from .findings_view import FindingsView
from .models import FindingsModel
from .workers import FunctionWorker

logger = logging.getLogger(__name__)
REFRESH_MS = 1000  # findings, evidence and dashboard follow a running scan at most this often
BUSY_SHARE = 5  # while a scan runs, at most a fifth of the time goes to reading the case


class CaseSnapshots(QObject):
    """Takes snapshots of the case on the pool and hands each to `apply(snapshot, reload_tree)`."""

    refreshed = Signal()  # the views show a fresh snapshot of the case

    def __init__(self, main: CaseWindow, findings: FindingsView,
                 apply: Callable[[browse.Snapshot, bool], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.main, self.findings, self.apply = main, findings, apply
        self.worker: FunctionWorker | None = None
        self._wanted = self._seen = 0  # snapshots asked for, and the last one applied
        self._cost = 0.0  # seconds the last snapshot took
        self._reload_tree = False
        self._after: list[tuple[int, Callable[[], None]]] = []  # run once the snapshot numbered so is shown
        self._timer = QTimer(self, singleShot=True, interval=REFRESH_MS)
        self._timer.timeout.connect(self.refresh)

    def refresh(self, reload_tree: bool = False, then: Callable[[], None] | None = None) -> None:
        """Read the case again and update the views; `then` runs once they show it."""
        if self.main.case_dir is None:
            if then is not None:
                then()
            return
        self._wanted += 1
        self._reload_tree = self._reload_tree or reload_tree
        if then is not None:
            self._after.append((self._wanted, then))
        self._timer.stop()
        self._start()

    def schedule(self) -> None:
        """While a scan runs: refresh again, spending at most a fifth of the time on it."""
        if self._timer.isActive() or self.worker is not None:
            return
        self._timer.start(max(REFRESH_MS, int(BUSY_SHARE * 1000 * self._cost)))

    def _start(self) -> None:
        case = self.main.case_dir
        if self.worker is not None or case is None or self._seen >= self._wanted:
            return
        sequence, started = self._wanted, time.monotonic()
        model = self.findings.model
        query = model.query if model is not None else browse.FindingQuery()
        worker = FunctionWorker(browse.snapshot_of_case, case, query)
        if model is not None and model.rowCount() == 0:
            # nothing listed yet (a case just opened): the first page goes ahead of the rest of the snapshot
            worker.function = partial(browse.snapshot_of_case, first=worker.signals.progress.emit,
                                      limit=FindingsModel.PAGE)
            worker.signals.progress.connect(lambda head: self._first_findings(case, head))
        worker.signals.finished.connect(lambda snap: self._done(case, sequence, started, snap))
        worker.signals.errored.connect(lambda error: self._done(case, sequence, started, error))
        self.worker = worker
        worker.start()

    def _first_findings(self, case: Path, head: browse.FirstFindings) -> None:
        if not self.main.disposed and case == self.main.case_dir:
            self.findings.show_first(head)

    def _done(self, case: Path, sequence: int, started: float, result: browse.Snapshot | Exception) -> None:
        if self.main.disposed:  # a late report from a worker, after the window went
            return
        self.worker = None
        self._cost = time.monotonic() - started
        if case == self.main.case_dir:
            self._seen = max(self._seen, sequence)
            if isinstance(result, Exception):
                logger.warning("reading the case failed: %s", result)  # e.g. locked by a checkpoint: next tick retries
            else:
                self.apply(result, self._reload_tree)
                self._reload_tree = False
            due = [then for wanted, then in self._after if wanted <= sequence]
            self._after = [(w, t) for w, t in self._after if w > sequence]
            self.refreshed.emit()
            for then in due:
                then()
        self._start()  # asked for again while this one ran
