"""The analysis of one evidence item's objects: its listing on one thread, the examination of the objects
on `jobs` worker threads (or, once a disk image or folder has many, in `jobs` processes: processes.py), and their
rows handed to the one case writer in batches."""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from collections.abc import Iterator

from ..errors import CaseError, EvidenceError
from ..evidence import EvidenceObject
from .examine import ROW_BATCH, Batch, Examiner
from .network import queue_network_record
from .options import ScanRun
from .processes import IN_FLIGHT, ExaminingProcess, ProcessDied
from .progress import PROGRESS_SECONDS, Progress
from .record import EvidenceRecord, FileIds

# Objects go to the workers several at a time while they are busy (work is waiting for them): a queue hand-over per
# object (a lock, a wake-up, a thread switch) held the GIL for 6 % of the disk benchmark's scan. A worker waiting for
# work gets the next object at once, a large object goes alone, and an object waits at most HANDOUT_SECONDS for
# others (a capture lists its carried objects among many records), so that the workers stay even.
OBJECTS_PER_HANDOUT = 32
BYTES_PER_HANDOUT = 4 * 1024 * 1024
HANDOUT_SECONDS = 0.5


class WorkerPool:
    """One listing thread feeding the worker threads through a bounded queue; progress while they run."""

    def __init__(self, run: ScanRun, evidence: EvidenceRecord, examiner: Examiner) -> None:
        self.run = run
        self.evidence = evidence
        self.examiner = examiner
        self.work: queue.Queue = queue.Queue(maxsize=run.options.jobs * 4)  # lists of objects
        self.listing_done = False
        self.listed = 0  # objects and records listed
        self.listing_error: EvidenceError | None = None
        self.write_error: CaseError | None = None  # the case could not take the rows: the scan stops
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()
        self.retiring = 0  # worker threads to stop examining: an examining process is ready in their place

    def analyse(self) -> Iterator[Progress]:
        """Run the listing and the workers to the end, yielding progress; stopped iterating, they are cancelled."""
        jobs = self.run.options.jobs
        threads = self.threads  # the threads feeding examining processes join them as they start
        if self.run.options.processes_after == 0 and self._start_processes():  # no examining thread at all
            jobs = 0
        threads.append(threading.Thread(target=self._list, name="walk", daemon=True))
        threads += [threading.Thread(target=self._work, name=f"analyse-{i}", daemon=True) for i in range(jobs)]
        for thread in threads:
            if not thread.is_alive():
                thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(PROGRESS_SECONDS)
                    yield self.evidence.progress(self.listing_done)
        finally:
            if any(thread.is_alive() for thread in threads):  # the caller stopped iterating
                self.run.cancel.set()
                for thread in threads:
                    thread.join()

    def _list(self) -> None:
        """The listing thread: objects to the workers, network records straight to their tables."""
        records: Batch = {}
        handout = _Handout()
        try:
            for obj in self.evidence.source.objects(self.run.cancel):
                self.listed += 1
                if handout.overdue():
                    self._hand_out(handout)
                if not isinstance(obj, EvidenceObject):  # a network record
                    table = queue_network_record(obj, self.evidence, records)
                    if table is not None and len(records[table]) >= ROW_BATCH:
                        self.evidence.send(records)
                    continue
                obj.id = next(self.evidence.ids)
                with self.evidence.tally.lock:
                    self.evidence.tally.found += 1
                if self.listed == self.run.options.processes_after:  # not 0: started with the pool
                    self._start_processes()
                if obj.size >= BYTES_PER_HANDOUT:  # alone, after the objects listed before it
                    self._hand_out(handout)
                    self.work.put([obj])
                    continue
                handout.add(obj)
                if handout.full() or self.work.empty():
                    self._hand_out(handout)
            self.evidence.send(records)
        except EvidenceError as error:
            self.listing_error = error
        except Exception as error:  # a corrupt filesystem must not lose what was listed
            self.listing_error = EvidenceError(f"listing stopped: {error}")
        finally:
            self._hand_out(handout)  # what was listed before a failure is examined too
            self.listing_done = True
            self.work.put(None)  # each worker passes it on to the next

    def _hand_out(self, handout: _Handout) -> None:
        if handout.objects:
            self.work.put(handout.take())

    def _start_processes(self) -> bool:
        """Many objects to examine: the examination moves to processes of its own, where the evidence allows (its
        objects can be written down, its ids shared) and there are several jobs; whether it does."""
        jobs, ids = self.run.options.jobs, self.evidence.ids
        if jobs < 2 or not self.evidence.source.IN_PARTS or not isinstance(ids, FileIds) or self.run.cancel.is_set():
            return False
        counter = ids.share(multiprocessing.get_context("spawn"))
        if counter is None:
            return False
        for number in range(jobs):
            process = ExaminingProcess(self.run, self.evidence, counter)
            thread = threading.Thread(target=self._feed, args=(process,), name=f"examine-{number}", daemon=True)
            self.threads.append(thread)
            thread.start()
        return True

    def _feed(self, process: ExaminingProcess) -> None:
        """A thread feeding one examining process, in place of a worker thread once the process is ready; if it
        does not start, or dies, this thread examines on itself."""
        try:
            if not process.ready(self.run.cancel):
                self._work(retiring=False)
                return
            with self.lock:
                self.retiring += 1
            listing_done = False
            while True:
                while len(process.given) < IN_FLIGHT and not listing_done:
                    handout = self.work.get()
                    if handout is None:
                        listing_done = True
                        self.work.put(None)  # for the next worker
                    elif not self.run.cancel.is_set():  # else drained, so that the listing is not left blocked
                        process.give(handout)
                if not process.given:
                    break
                process.take_back(self.run.cancel)
        except ProcessDied:
            self._work(retiring=False)
        except CaseError as error:  # nowhere to put results: stop the whole scan
            self.write_error = error
            self.run.cancel.set()
            self._drain()
        finally:
            process.close()

    def _retire(self) -> bool:
        with self.lock:
            if self.retiring:
                self.retiring -= 1
                return True
            return False

    def _drain(self) -> None:
        while self.work.get() is not None:
            pass
        self.work.put(None)

    def _work(self, retiring: bool = True) -> None:
        """A worker thread: examine objects until the listing ends, sending rows in batches; or until an examining
        process is ready to take its place."""
        batch: Batch = {"files": [], "findings": []}
        while not (retiring and self._retire()):
            handout = self.work.get()
            if handout is None:
                self.work.put(None)  # for the next worker
                break
            for obj in handout:
                if self.run.cancel.is_set():
                    break  # drain the queue so the listing is not left blocked
                try:
                    self.examiner.examine(obj, batch)  # hands its rows on every ROW_BATCH objects
                except CaseError as error:  # nowhere to put results: stop the whole scan
                    self.write_error = error
                    self.run.cancel.set()
        if self.write_error is None:
            self.evidence.send(batch)


class _Handout:
    """Objects gathered for one worker: how many bytes they hold, and since when the first has waited."""

    def __init__(self) -> None:
        self.objects: list[EvidenceObject] = []
        self.bytes = 0
        self.since = 0.0

    def add(self, obj: EvidenceObject) -> None:
        if not self.objects:
            self.since = time.monotonic()
        self.objects.append(obj)
        self.bytes += obj.size

    def full(self) -> bool:
        return len(self.objects) >= OBJECTS_PER_HANDOUT or self.bytes >= BYTES_PER_HANDOUT

    def overdue(self) -> bool:
        return bool(self.objects) and time.monotonic() - self.since >= HANDOUT_SECONDS

    def take(self) -> list[EvidenceObject]:
        objects, self.objects, self.bytes = self.objects, [], 0
        return objects
