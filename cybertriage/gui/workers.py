"""Work off the main thread, in the shape of superqt's GeneratorWorker/FunctionWorker.

A `QRunnable` on `QThreadPool.globalInstance()` carries a signals `QObject`
created on the main thread; its signals are emitted from the pool thread and
so arrive queued on the main thread. Workers never touch widgets, and a
sqlite3 connection is never handed from one thread to another.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from ..pipeline import Scan, ScanOptions
from ..pipeline.distributed import broker_address, check_broker

logger = logging.getLogger(__name__)


class WorkerSignals(QObject):
    """progress(Progress) while running, then exactly one of finished(result) or errored(exception)."""

    progress = Signal(object)
    finished = Signal(object)
    errored = Signal(object)


class _Worker(QRunnable):
    def __init__(self) -> None:
        super().__init__()
        # The caller keeps the Python object until finished/errored; the pool must not delete it.
        self.setAutoDelete(False)
        self.signals = WorkerSignals()
        self.cancel = threading.Event()

    def start(self) -> None:
        QThreadPool.globalInstance().start(self)

    def quit(self) -> None:
        """Ask the work to stop at its next check; finished or errored still follows."""
        self.cancel.set()

    def run(self) -> None:
        try:
            result = self.work()
        except Exception as error:  # handed to the main thread, which turns it into a message
            logger.debug("worker failed", exc_info=True)
            self.signals.errored.emit(error)
        else:
            self.signals.finished.emit(result)

    def work(self) -> Any:
        raise NotImplementedError


class ScanWorker(_Worker):
    """Runs the core `Scan` over `evidence` into `case_dir`; finished carries the outcomes. With `broker`, the
    evidence goes to the lab's workers (`scan --broker`), once the broker is known to answer."""

    def __init__(self, case_dir: Path, evidence: list[Path], options: ScanOptions, broker: str | None = None) -> None:
        super().__init__()
        self.case_dir = case_dir
        self.evidence = list(evidence)
        self.options = options
        self.broker = broker

    def work(self) -> list:
        if self.broker:  # as the command line does: one line, and nothing started, when it cannot be reached
            check_broker(broker_address(self.broker))
        scan = Scan(self.case_dir, self.evidence, self.options, self.cancel,  # compiles the YARA rules: not in the GUI
                    broker=self.broker)
        for progress in scan.run():
            # the pipeline updates some Progress objects in place: send a copy across threads
            self.signals.progress.emit(dataclasses.replace(progress))
        return list(scan.outcomes)


class FunctionWorker(_Worker):
    """Calls `function(*args, cancel=<Event>)` on the pool; finished carries its return value."""

    def __init__(self, function: Callable[..., Any], *args: Any) -> None:
        super().__init__()
        self.function = function
        self.args = args

    def work(self) -> Any:
        return self.function(*self.args, cancel=self.cancel)
