"""Objects carried over the network, kept in the case's object store: a capture holds them only as packets,
and the examiner views and exports their bytes from the case."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from ..case.objects import keep_carried
from ..evidence import EvidenceObject, EvidenceSource

STORE_AHEAD = 16  # carried objects waiting to be written to the case's object store


class CarriedObjects:
    """Stores carried objects on a thread of its own: each file is synced to disk before it takes its name,
    and the analysis threads go on meanwhile (STORE_AHEAD objects at most wait to be written)."""

    def __init__(self, case_dir: Path) -> None:
        self.case_dir = case_dir
        self.kept: set[str] = set()  # contents in the object store, or on their way there
        self.storer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="carried-objects")
        self.slots = threading.BoundedSemaphore(STORE_AHEAD)
        self.storing: list[tuple[str, Future]] = []  # (object path, its storing)

    def keep(self, obj: EvidenceObject, sha256: str) -> None:
        """Store this object's bytes, once per content."""
        content = obj.content
        if sha256 in self.kept or content is None:  # kept already, or nothing was read to keep
            return
        self.kept.add(sha256)
        self.slots.acquire()
        storing = self.storer.submit(keep_carried, self.case_dir, sha256, content)
        storing.add_done_callback(lambda _: self.slots.release())
        self.storing.append((obj.path, storing))

    def wait(self, source: EvidenceSource) -> None:
        """Wait until every carried object is in the case's object store; the ledger tells those that are not."""
        self.storer.shutdown(wait=True)
        failures = []
        for path, storing in self.storing:
            error = storing.exception()
            if error is not None:
                source.ledger.skipped("objects", "carried object not stored", path, str(error))
                failures.append(str(error))
        if failures:  # their bytes cannot be viewed or extracted later: the evidence was examined only in part
            source.problems.append(f"{len(failures)} carried objects not stored in the case: {failures[0]}")
        self.storing.clear()
