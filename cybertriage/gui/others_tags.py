"""Several examiners at once: the tags others put on the open case, shown here within seconds.

Every POLL_MS a pool worker asks the case where its audit log ends (case/tag_news.py): one cheap statement, on
a connection of its own, whether the case is kept in PostgreSQL or in a case.db another window has open too.
When the log has moved, the same worker reads the tags added since; those this window wrote itself are already
shown, the others are handed to the tagging, which updates the tables' Tags column and the results tree.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer

from ..case.tag_news import TagAdded, TagNews, last_entry_of, tags_added_to_case
from .case_window import CaseWindow
from .workers import FunctionWorker

logger = logging.getLogger(__name__)
POLL_MS = 2000  # another examiner's tag shows here at most this long (plus one read) after it is written


class OthersTags(QObject):
    """Watches the open case's audit log for tags written elsewhere and hands them to `show`."""

    def __init__(self, main: CaseWindow, show: Callable[[list[TagAdded]], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.main, self.show = main, show
        self.case: Path | None = None  # the case the last entry seen belongs to
        self.last_entry: int | None = None  # None: not asked yet, the tags already there are shown by the views
        self.own: set[int] = set()  # ids of the tags this window wrote
        self.worker: FunctionWorker | None = None
        self.timer = QTimer(self, interval=POLL_MS)
        self.timer.timeout.connect(self.poll)
        self.timer.start()

    def case_opened(self) -> None:
        """A case was opened, its views not read yet: the tags written after the log's end now are news. One
        statement on the window's own connection (the primary key's last value), before any view reads the case."""
        self.case, self.own = self.main.case_dir, set()
        self.last_entry = last_entry_of(self.main.conn) if self.main.conn is not None else None

    def written(self, tag_id: int) -> None:
        """This window wrote the tag: it shows it already."""
        self.own.add(tag_id)

    def poll(self) -> None:
        """Ask the case, on the pool, what tags were added since the last entry seen (one question at a time)."""
        case = self.main.case_dir
        if self.main.disposed or self.worker is not None:
            return
        if case != self.case:  # closed, or opened without case_opened: start again from where its log ends
            self.case, self.last_entry, self.own = case, None, set()
        if case is None:
            return
        worker = FunctionWorker(tags_added_to_case, case, self.last_entry)
        worker.signals.finished.connect(lambda news: self._answered(worker, case, news))
        worker.signals.errored.connect(lambda error: self._failed(worker, error))
        self.worker = worker
        worker.start()

    def _answered(self, worker: FunctionWorker, case: Path, news: TagNews) -> None:
        if worker is self.worker:
            self.worker = None
        if self.main.disposed or case != self.main.case_dir or case != self.case:
            return
        self.last_entry = news.last_entry
        others = [tag for tag in news.added if tag.tag_id not in self.own]
        if others:
            self.show(others)

    def _failed(self, worker: FunctionWorker, error: Exception) -> None:
        if worker is self.worker:
            self.worker = None
        logger.info("the case's tags not read: %s", error)  # a busy or restarting store: the next poll asks again
