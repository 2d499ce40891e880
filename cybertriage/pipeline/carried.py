"""Objects carried over the network, kept in the case's object store: a capture holds them only as packets,
and the examiner views and exports their bytes from the case."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..case.objects import ObjectBatch
from ..evidence import EvidenceObject, EvidenceSource
from ..evidence.base import Content

STORE_AHEAD = 16  # carried objects waiting to be written to the case's object store
NAME_EVERY = 256  # objects written, then synced together and named (ObjectBatch)
NAME_SECONDS = 1.0  # or after this long, so that the application can soon show what a running scan stored


class CarriedObjects:
    """Stores carried objects on a thread of its own, in batches that are synced to disk before they take their
    names; the analysis threads go on meanwhile (STORE_AHEAD objects at most wait to be written)."""

    def __init__(self, case_dir: Path) -> None:
        self.case_dir = case_dir
        self.kept: set[str] = set()  # contents in the object store, or on their way there
        self.storer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="carried-objects")
        self.slots = threading.BoundedSemaphore(STORE_AHEAD)
        self.batch = ObjectBatch(case_dir)  # used by the storing thread only
        self.batch_paths: dict[str, str] = {}  # sha256 → object path, of the batch's contents
        self.named_at = time.monotonic()
        self.failures: list[tuple[str, str]] = []  # (object path, why it is not stored)

    def keep(self, obj: EvidenceObject, sha256: str) -> None:
        """Store this object's bytes, once per content."""
        content = obj.content
        if sha256 in self.kept or content is None:  # kept already, or nothing was read to keep
            return
        self.kept.add(sha256)
        self.slots.acquire()
        storing = self.storer.submit(self._store, obj.path, sha256, content)
        storing.add_done_callback(lambda _: self.slots.release())

    def wait(self, source: EvidenceSource) -> None:
        """Wait until every carried object is in the case's object store; the ledger tells those that are not."""
        self.storer.submit(self._name_batch)
        self.storer.shutdown(wait=True)
        for path, error in self.failures:
            source.ledger.skipped("objects", "carried object not stored", path, error)
        if self.failures:  # their bytes cannot be viewed or extracted later: the evidence was examined only in part
            source.problems.append(f"{len(self.failures)} carried objects not stored in the case: {self.failures[0][1]}")
        self.failures.clear()

    def _store(self, path: str, sha256: str, content: Content) -> None:
        """On the storing thread: write one object, and name the batch when it is full or old enough."""
        try:
            self.batch.add(sha256, content)
            self.batch_paths[sha256] = path
        except Exception as error:  # whatever it is, the ledger says this object was not stored
            self.failures.append((path, str(error)))
        if len(self.batch_paths) >= NAME_EVERY or time.monotonic() - self.named_at >= NAME_SECONDS:
            self._name_batch()

    def _name_batch(self) -> None:
        self.failures.extend((self.batch_paths[sha256], why) for sha256, why in self.batch.name_all().items())
        self.batch_paths.clear()
        self.named_at = time.monotonic()
