"""Work that can hang inside C code (Sleuth Kit, where no Python check can interrupt it) runs in a child
process that streams its results back; the child is stopped when it sends nothing for too long.

The child is started with 'spawn' (a fresh interpreter: no threads or libtsk state copied from the scan),
so its target must be a module-level function, called as target(send, stop, *args). It sends picklable
messages through `send`; `stop` (an Event) is set when the caller cancels, and a target that checks it
ends cleanly, sending what it has; one that does not is killed after STOP_GRACE_SECONDS. Messages travel in
batches (a pipe write per message would cost more than the listing), flushed by a thread of the child at
least every FLUSH_SECONDS, which Sleuth Kit lets run while it works (pytsk3 releases the GIL): whatever the
child sent before it was stopped reaches the caller.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any, ClassVar

try:
    import fcntl
except ImportError:  # Windows: its pipes are sized by multiprocessing
    fcntl = None  # type: ignore[assignment]  # None marks the missing module

POLL_SECONDS = 0.25  # how often cancellation is checked while waiting for the child
FLUSH_SECONDS = 0.05
BATCH = 512
WAITING_BYTES = 32 * 1024 * 1024  # carried data the child may have waiting to be sent before its work waits too
ROW_BYTES = 512  # what a record sent as a row is counted as, towards WAITING_BYTES
PARENT_CHECK_SECONDS = 1.0
PIPE_BYTES = 1024 * 1024  # what the child may send ahead of the caller (Linux allows this much without privileges)
STOP_GRACE_SECONDS = 5.0  # after a cancel, how long a child may take to end cleanly and send its last messages
_DONE = "watchdog: done"
_FAILED = "watchdog: failed"


class Stalled(Exception):
    """The child sent nothing for `seconds` and was stopped."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no progress for {seconds:g} s")
        self.seconds = seconds


class ChildFailed(Exception):
    """The child raised (the message is its exception's last line) or died (crashed, was killed)."""

    def __init__(self, message: str, crashed: bool) -> None:
        super().__init__(message)
        self.crashed = crashed


def watched(target: Callable[..., None], args: tuple, stall_seconds: float, cancelled: threading.Event) -> Iterator[Any]:
    """Run target(send, stop, *args) in a child process and yield what it sends, as it sends it.

    Raises Stalled when nothing arrives for stall_seconds (time the caller spends between two messages
    does not count), ChildFailed when the child raises or dies. When `cancelled` is set, the child is
    asked to stop and what it sends until it ends is still yielded, for STOP_GRACE_SECONDS at most;
    closing the generator stops the child at once. A child that finished its work is kept for the next
    call (starting a Python process costs more than listing a small filesystem).
    """
    child = _Child.take()
    try:
        child.requests.send((target, args))
    except OSError:  # the kept child died while idle (killed from outside)
        child.stop()
        child = _Child()
        child.requests.send((target, args))
    finished = False
    try:
        last = time.monotonic()
        give_up = None  # once cancelled: when the child has had its chance to end cleanly
        while give_up is None or time.monotonic() < give_up:
            if give_up is None and cancelled.is_set():
                child.stop_asked.set()
                give_up = time.monotonic() + STOP_GRACE_SECONDS
            if not child.results.poll(POLL_SECONDS):
                if give_up is None and time.monotonic() - last >= stall_seconds:
                    raise Stalled(stall_seconds)
                continue
            try:
                batch = child.results.recv()
            except EOFError:
                child.process.join()
                raise ChildFailed(death_of(child.process.exitcode), crashed=True) from None
            for message in batch:
                if message == _DONE:
                    finished = True
                    return
                if isinstance(message, tuple) and message and message[0] == _FAILED:
                    finished = True
                    raise ChildFailed(message[1], crashed=False)
                yield message
            last = time.monotonic()
    finally:
        if finished:
            _Child.give_back(child)
        else:
            child.stop()


def start_early(modules: tuple[str, ...] = ()) -> None:
    """Start a child now, for the first `watched` call to take: a scan calls this before it loads the rest of
    the program, so that the child's interpreter starts on the other core meanwhile (~0.2 s), and imports
    `modules` while it waits for its first target."""
    _Child.give_back(_Child(modules))


class _Child:
    """A child process that runs one target after another; the idle ones of this process are kept."""

    _idle: ClassVar[list[_Child]] = []
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, modules: tuple[str, ...] = ()) -> None:
        context = multiprocessing.get_context("spawn")
        request_end, self.requests = context.Pipe(duplex=False)
        self.results, result_end = context.Pipe(duplex=False)
        _enlarge(result_end)
        self.stop_asked = context.Event()
        self.process = context.Process(target=_serve, args=(request_end, result_end, self.stop_asked, modules),
                                       name="watched", daemon=True)
        self.process.start()
        request_end.close()
        result_end.close()  # the child holds the only writing end: its death is an end of file here

    @classmethod
    def take(cls) -> _Child:
        with cls._lock:
            while cls._idle:
                child = cls._idle.pop()
                if child.process.is_alive():
                    return child
                child.stop()
        return cls()

    @classmethod
    def give_back(cls, child: _Child) -> None:
        child.stop_asked.clear()
        with cls._lock:
            cls._idle.append(child)

    @classmethod
    def forget_inherited(cls) -> None:
        """After a fork: the idle children belong to the parent process, not to this one."""
        cls._idle = []
        cls._lock = threading.Lock()

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.requests.close()
        self.results.close()


os.register_at_fork(after_in_child=_Child.forget_inherited)


def _enlarge(pipe: Connection) -> None:
    """A pipe holds 64 KiB by default on Linux. The scan's process reads the child's results between the work of
    its other threads, and when a burst of carried bodies fills the pipe the child stops until then: with
    PIPE_BYTES it goes on analysing meanwhile (the 1 GB web capture of bench/pcap_triage.py: ~8 % faster)."""
    if hasattr(fcntl, "F_SETPIPE_SZ"):
        with contextlib.suppress(OSError):  # above /proc/sys/fs/pipe-max-size, where an administrator lowered it
            fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def _serve(requests: Connection, sender: Connection, stop: Any, modules: tuple[str, ...] = ()) -> None:
    """The child's side: run each target asked for and say how it ended; exit when the parent closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent asks us to stop
    threading.Thread(target=exit_with_parent, args=(os.getppid(),), daemon=True).start()
    for module in modules:
        importlib.import_module(module)
    # What is loaded by now lives as long as the child: the cycle collector need not walk it again each time
    # it looks at everything (a capture's analysis took ~7 % less CPU).
    gc.freeze()
    while True:
        try:
            target, args = requests.recv()
        except EOFError:
            return
        batches = _Batches(sender)
        try:
            target(batches.send, stop, *args)
        except Exception as error:  # reported to the parent, which decides what it means
            batches.send((_FAILED, traceback.format_exception_only(error)[-1].strip()))
        else:
            batches.send(_DONE)
        finally:
            batches.close()


def exit_with_parent(parent: int) -> None:
    """Die with the scan rather than run on alone when it is killed (this thread runs while Sleuth Kit works)."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


class _Batches:
    """The child's outgoing messages, sent in batches by a thread of their own: when BATCH are waiting, and
    every FLUSH_SECONDS, so that messages wait no longer than that even while the child is stuck in C. The
    work that sends them goes on while the caller is slow to read, until WAITING_BYTES of carried data and
    rows (see _weight) wait to be sent."""

    def __init__(self, sender: Connection) -> None:
        self._sender = sender
        self._waiting: list[Any] = []
        self._waiting_bytes = 0
        self._changed = threading.Condition()
        self._closed = False
        self._flusher = threading.Thread(target=self._flush_often, daemon=True)
        self._flusher.start()

    def send(self, message: Any) -> None:
        size = _weight(message)
        with self._changed:
            while self._waiting_bytes + size > WAITING_BYTES and self._waiting:
                self._changed.wait()
            self._waiting.append(message)
            self._waiting_bytes += size
            if len(self._waiting) >= BATCH or self._waiting_bytes >= WAITING_BYTES:
                self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._flusher.join()

    def _flush_often(self) -> None:
        while True:
            with self._changed:
                if not self._closed and len(self._waiting) < BATCH and self._waiting_bytes < WAITING_BYTES:
                    self._changed.wait(FLUSH_SECONDS)
                batch, self._waiting = self._waiting, []
                batch_bytes = self._waiting_bytes  # all of it is in this batch: only this thread takes from the list
                closed = self._closed
            if batch:
                self._sender.send(batch)  # blocks while the pipe is full; the work goes on meanwhile
            with self._changed:
                self._waiting_bytes -= batch_bytes
                self._changed.notify_all()
            if closed and not batch:
                return


def _weight(message: Any) -> int:
    """About how many bytes a message holds while it waits: its carried `data`, or ROW_BYTES for each of the rows
    in its `values` (a batch of records as rows), else nothing counted. Rows count too: when the caller examines
    carried objects more slowly than the child reads a capture of short conversations, the records waiting to
    be sent grew the child by 150 MB."""
    data = getattr(message, "data", None)
    if data:
        return len(data)
    values = getattr(message, "values", None)
    return ROW_BYTES * len(values) if isinstance(values, list) else 0


def death_of(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name if -exitcode in signal.Signals._value2member_map_ else str(-exitcode)
        return f"the child process died ({name})"
    return f"the child process ended without finishing (exit code {exitcode})"
