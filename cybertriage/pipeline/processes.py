"""The objects of a disk image or a folder examined in processes of their own, once there are many of them.

Most analyzers are Python (text, indicators, artefacts, keyword lists), and the threads of one process run
Python in turn, under its one interpreter lock: on the disk benchmark's 10,000 files, two examining threads took
12.2-12.6 s where two processes took 6.7-8.3 s (bench/workers.py). So once the listing has found
`ScanOptions.processes_after` objects, the worker pool (workers.py) starts `jobs` examining processes. As each is
ready, one of the pool's threads stops examining and a thread of its own feeds the process instead.

An examining process opens its own copy of the evidence and builds the analyzers from the scan's Recipe. It gets
the objects as their listing wrote them down (`EvidenceSource.entry`, as a scan in parts does), with their ids;
the members it finds take ids from a counter every process shares (FileIds.share). It examines them as a thread
would (Examiner) and sends their rows back, with its tally and ledger, to the scan's process, whose one case
writer stores them. A process that dies (a crash in a C library) loses only the objects it was examining: they
are counted in the ledger as not examined, the item is partial, and the thread that fed it examines on itself.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import multiprocessing
import os
import signal
import threading
import traceback
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

from ..analyzers import build_analyzers
from ..case import CaseWriter
from ..case.store import crash_point
from ..errors import CybertriageError
from ..evidence import EvidenceObject, EvidenceSource, open_evidence
from ..evidence.watchdog import death_of, exit_with_parent
from .carried import CarriedObjects
from .examine import Batch, Examiner
from .options import Recipe, ScanRun
from .progress import PROGRESS_SECONDS
from .record import EvidenceRecord, Tally, next_shared

if TYPE_CHECKING:
    from multiprocessing.sharedctypes import Synchronized

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.25  # how often the feeding thread looks at the scan's cancel token while its process works
STOP_SECONDS = 5.0  # how long a process asked to end may take before it is killed
IN_FLIGHT = 2  # lists of objects an examining process has been given at a time


class ProcessDied(CybertriageError):
    """The examining process ended (crashed, was killed) or failed before its objects were examined."""


@dataclass
class Account:
    """What an examining process has counted: its tally and ledger so far, and the warnings and unreadable paths
    new since it last said (those are sent once each, the rest whole)."""

    found: int = 0  # members found in the objects it examined
    done: int = 0
    bytes: int = 0
    findings: dict[str, int] = field(default_factory=dict)
    stages: dict[str, dict] = field(default_factory=dict)
    warnings: list[tuple[str, str, str]] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


class ExaminingProcess:
    """One examining process, as the scan's process sees it: its pipe, and what it has counted so far."""

    def __init__(self, run: ScanRun, evidence: EvidenceRecord, counter: Synchronized) -> None:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads or libtsk state copied
        self.connection, child_end = context.Pipe()  # a socket pair: its buffers are the kernel's, not a pipe's
        self.stop = context.Event()
        recipe = dataclasses.asdict(Recipe.of(run.options))
        # Not a daemon: a disk image found inside the evidence is listed by a child of its own (watchdog.py).
        self.process = context.Process(
            target=_serve, name="examine", daemon=False,
            args=(child_end, self.stop, counter, recipe, str(run.case_dir), str(evidence.path), evidence.evidence_id,
                  evidence.key, evidence.run_id))
        self.process.start()
        child_end.close()  # the process holds the only other end: its death is an end of file here
        self.evidence = evidence
        self.said = Account()  # the counts it last sent, already added to the evidence's tally
        self.given: deque[list[EvidenceObject]] = deque()  # the lists of objects sent and not yet examined
        self.stored: set[int] = set()  # the ids of those whose rows have come back

    def ready(self, cancel: threading.Event) -> bool:
        """Wait until the process has opened the evidence and built its analyzers; False if it could not, or the
        scan was cancelled meanwhile (the pool's threads go on examining)."""
        try:
            message = self._next_message(cancel)
        except ProcessDied as error:
            logger.warning("an examining process did not start: %s; the examination stays in threads", error)
            return False
        return message == ("ready",) and not cancel.is_set()

    def give(self, objects: list[EvidenceObject]) -> None:
        """Send the process objects to examine after those it has (IN_FLIGHT lists at a time, so that it never
        waits for the next while this process takes the rows of the last). Raises ProcessDied if it has died."""
        self.given.append(objects)
        try:
            self.connection.send([self.evidence.source.entry(obj) for obj in objects])
        except OSError:  # it died meanwhile
            self.process.join(STOP_SECONDS)
            self._died(ProcessDied(death_of(self.process.exitcode)))
        except Exception as error:  # an object that cannot be written down: these objects go unexamined, said so
            self._died(ProcessDied(f"{type(error).__name__}: {error}"))

    def take_back(self, cancel: threading.Event) -> None:
        """Wait until the oldest objects given are examined, handing their rows to the case writer as they come.
        Raises ProcessDied when the process dies: the objects it had not examined are then in the ledger as such."""
        while True:
            try:
                kind, batch, account = self._next_message(cancel)
            except ProcessDied as error:
                self._died(error)
            except Exception as error:  # a message that cannot be read (unpickled): as good as dead
                self._died(ProcessDied(f"{type(error).__name__}: {error}"))
            if batch:
                self.stored.update(row["id"] for row in batch.get("files", ()))
                self.evidence.send(batch)
            self._add(account)
            if kind == "done":
                self.given.popleft()
                if not self.given:
                    self.stored.clear()
                return

    def _died(self, error: ProcessDied) -> NoReturn:
        """The objects given and not examined, each in the ledger, and the evidence examined in part."""
        source = self.evidence.source
        lost = [obj for objects in self.given for obj in objects if obj.id not in self.stored]
        for obj in lost:
            source.ledger.attempted("files")
            source.ledger.skipped("files", "examining process died", obj.path, str(error))
        source.problems.append(f"an examining process died ({error}): {len(lost)} objects not examined")
        self.given.clear()
        raise error

    def close(self) -> None:
        """End the process (it has sent everything it examined) and add its ledger to the evidence's."""
        try:
            self.connection.send(None)
        except OSError:  # it has died already
            pass
        self.process.join(STOP_SECONDS)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.connection.close()
        self.evidence.source.ledger.add_counts(self.said.stages)

    def _next_message(self, cancel: threading.Event) -> Any:
        while not self.connection.poll(POLL_SECONDS):
            if cancel.is_set():
                self.stop.set()
        try:
            message = self.connection.recv()
        except (EOFError, OSError):  # OSError: it died with objects sent and unread (a reset connection)
            self.process.join()
            raise ProcessDied(death_of(self.process.exitcode)) from None
        if message[0] == "failed":
            raise ProcessDied(message[1])
        return message

    def _add(self, account: Account) -> None:
        """The process's tally, new since it last said, added to the evidence's; its warnings and unreadable
        paths to the evidence's ledger and source."""
        tally, said = self.evidence.tally, self.said
        with tally.lock:
            tally.found += account.found - said.found
            tally.done += account.done - said.done
            tally.bytes += account.bytes - said.bytes
            for severity, count in account.findings.items():
                tally.findings[severity] = tally.findings.get(severity, 0) + count - said.findings.get(severity, 0)
        source = self.evidence.source
        for warning in account.warnings:
            source.ledger.warn(*warning)
        for path in account.unreadable:
            source.content_unreadable(path)
        self.said = dataclasses.replace(account, warnings=[], unreadable=[])


# -- the examining process's side ------------------------------------------------------------------------------


def _serve(connection: Connection, stop: Any, counter: Synchronized, recipe: dict[str, Any], case_dir: str,
           path: str, evidence_id: int, key: str, run_id: int) -> None:
    """Open the evidence, build the analyzers, then examine each list of objects sent until told to end."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the scan stops us
    threading.Thread(target=exit_with_parent, args=(os.getppid(),), daemon=True).start()
    try:
        whole = open_evidence(Path(path))
        options = Recipe.from_message(recipe).options(jobs=1)
        analyzers = build_analyzers(options.settings)
    except Exception as error:  # said to the scan's process, whose threads examine on
        connection.send(("failed", traceback.format_exception_only(error)[-1].strip()))
        return
    cancel = threading.Event()
    record = _RowsToScan(cast(CaseWriter, None), run_id, evidence_id, Path(path), key, _Examined(whole),
                         _SharedIds(counter), Tally(), connection=connection)  # its rows go to the scan's writer
    run = ScanRun(Path(case_dir), options, analyzers, cancel, cast(CaseWriter, None), run_id, [])
    examiner = Examiner(run, record, CarriedObjects(Path(case_dir)))
    threading.Thread(target=record.tell_progress, args=(stop, cancel), daemon=True).start()
    gc.freeze()  # what is loaded now lives as long as the process: the cycle collector need not walk it again
    connection.send(("ready",))
    try:
        while (entries := connection.recv()) is not None:
            batch: Batch = {"files": [], "findings": []}
            for entry in entries:
                if cancel.is_set():
                    break
                crash_point("examining-process")  # a process that dies mid-examination (tests)
                examiner.examine(whole.listed(entry), batch)
            record.send(batch, done=True)
    except EOFError:  # the scan's process is gone
        pass
    except Exception as error:  # said to the scan's process, which counts its objects as not examined
        record.say("failed", traceback.format_exception_only(error)[-1].strip())
    finally:
        record.finished.set()
        whole.close()


class _SharedIds:
    """The file ids of the members this process finds, from the counter the scan's process shares."""

    def __init__(self, counter: Synchronized) -> None:
        self.counter = counter

    def __iter__(self) -> _SharedIds:
        return self

    def __next__(self) -> int:
        return next_shared(self.counter)


class _Examined(EvidenceSource):
    """The evidence as the Examiner of an examining process sees it: a ledger of its own (only what the examination
    counts, not what opening the evidence again does), and the paths it could not read kept to be sent."""

    KIND = "examined"

    def __init__(self, whole: EvidenceSource) -> None:
        super().__init__(whole.path)
        self.whole, self.format = whole, whole.format
        self.unreadable: list[str] = []

    @property
    def container_files(self) -> list[Path]:
        return self.whole.container_files

    def objects(self, cancelled: threading.Event) -> Any:
        raise NotImplementedError("an examining process is sent its objects")

    def content_unreadable(self, path: str) -> None:
        self.unreadable.append(path)


@dataclass
class _RowsToScan(EvidenceRecord):
    """The evidence record of an examining process: its batches of rows, with its account, go to the scan's process
    rather than to a case writer."""

    connection: Connection | None = None
    finished: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)  # one message at a time on the pipe
    warnings_sent: int = 0
    unreadable_sent: int = 0
    tally_sent: tuple[int, int] = (0, 0)  # (done, bytes) when the account was last sent

    def send(self, batch: Batch, done: bool = False) -> None:
        rows = {key: values for key, values in batch.items() if values}
        for key in batch:
            batch[key] = []
        self.say("done" if done else "rows", rows)

    def tell_progress(self, stop: Any, cancel: threading.Event) -> None:
        """A thread: the tally sent while a large object is read, and the scan's cancel passed on."""
        while not self.finished.wait(PROGRESS_SECONDS):
            if stop.is_set():
                cancel.set()
            with self.tally.lock:
                moved = (self.tally.done, self.tally.bytes) != self.tally_sent
            try:
                if moved:
                    self.say("rows", {})
            except OSError:  # the scan's process is gone
                return

    def say(self, kind: str, rows: Batch | str) -> None:
        """One message to the scan's process: rows and the account so far, or why the process failed (a str)."""
        assert self.connection is not None and isinstance(self.source, _Examined)
        source = self.source
        with self.lock:
            if isinstance(rows, str):
                self.connection.send((kind, rows))
                return
            stages, warnings = source.ledger.counts(self.warnings_sent)
            unreadable = source.unreadable[self.unreadable_sent:]
            self.warnings_sent += len(warnings)
            self.unreadable_sent += len(unreadable)
            with self.tally.lock:
                account = Account(self.tally.found, self.tally.done, self.tally.bytes, dict(self.tally.findings),
                                  stages, warnings, unreadable)
                self.tally_sent = (self.tally.done, self.tally.bytes)
            self.connection.send((kind, rows or None, account))
