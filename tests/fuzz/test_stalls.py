"""Evidence on which Sleuth Kit hangs in C (see stalls/README.md): the scan stops that filesystem's listing
after ScanOptions.listing_stall_seconds, records it, and keeps what was listed before, which is what
Debian's fls lists before the bad entry."""

from __future__ import annotations

import gc
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cybertriage.analyzers import Settings
from cybertriage.evidence import watchdog
from cybertriage.evidence.watchdog import ChildFailed, Stalled, watched
from cybertriage.pipeline import Scan, ScanOptions
from tests.fuzz.campaign import case_from_file

STALLS = Path(__file__).parent / "stalls"
STALL_SECONDS = 2.0
TIME_BOUND = 20.0


def _fls_before(image: Path, bad_inode: int | None) -> set[str]:
    """Paths `fls -r -p` lists before the entry of bad_inode (all it prints before it hangs, when None)."""
    try:
        output = subprocess.run(["fls", "-r", "-p", str(image)], capture_output=True, timeout=5).stdout
    except subprocess.TimeoutExpired as hung:
        output = hung.stdout or b""
    paths = set()
    for line in output.decode().splitlines():
        kind, _, path = line.partition("\t")
        if bad_inode is not None and kind.split()[-1].rstrip(":") == str(bad_inode):
            break
        if not kind.startswith("V/V"):
            paths.add("/" + path)
    return paths


@pytest.mark.parametrize(("name", "stalls_at", "bad_inode"), [  # a symbolic link (inode 22) declaring a huge target
    ("ext4-s4242-c374.raw.gz", "/home/alice", 22),
    ("ext4-s4242-c12144.raw.gz", "/home/alice", 22),
    ("ext4-s4242-c20664.raw.gz", "/home/alice", 22),
])
def test_a_listing_sleuth_kit_hangs_on_is_stopped(tmp_path: Path, name: str, stalls_at: str, bad_inode: int | None) -> None:
    image = tmp_path / "evidence.raw"
    image.write_bytes(case_from_file(STALLS / name).data)
    listed_by_fls = _fls_before(image, bad_inode)
    settings = Settings(yara_timeout=5)
    scan = Scan(tmp_path / "case", [image], ScanOptions(jobs=2, settings=settings, listing_stall_seconds=STALL_SECONDS))
    started = time.monotonic()
    runner = threading.Thread(target=lambda: [None for _ in scan.run()], daemon=True)  # a hang fails, not blocks, the test
    runner.start()
    runner.join(TIME_BOUND)
    assert not runner.is_alive(), f"scan still running after {TIME_BOUND:g} s"
    assert time.monotonic() - started < TIME_BOUND
    (outcome,) = scan.outcomes
    assert outcome.status == "partial"
    assert f"listing stopped: no progress for {STALL_SECONDS:g} s at {stalls_at} " in outcome.message
    with sqlite3.connect(tmp_path / "case" / "case.db") as db:
        files = {path for (path,) in db.execute("SELECT path FROM files")}
        problems = db.execute("SELECT object, message FROM problems WHERE stage = 'files'").fetchall()
    db.close()
    assert (stalls_at, f"listing stopped: no progress for {STALL_SECONDS:g} s") in [
        (obj, message.split(";")[0]) for obj, message in problems]
    assert listed_by_fls <= files, listed_by_fls - files
    if bad_inode is not None:
        assert "/home/alice/bin/tool.bin" in listed_by_fls  # fls does list files before the bad entry


def _send_then_crash(send, stop) -> None:
    send("listed before the crash")
    time.sleep(0.2)  # the batch is flushed first, as it is while Sleuth Kit works
    os.kill(os.getpid(), signal.SIGSEGV)


def _send_then_wait(send, stop, seconds: float) -> None:
    send("listed")
    time.sleep(seconds)
    send("listed later")


def _send_until_stopped(send, stop) -> None:
    send("listed")
    stop.wait(60)
    send("stopped cleanly")


def test_a_crashed_or_stalled_child_is_reported_after_what_it_sent() -> None:
    never = threading.Event()
    received = []
    with pytest.raises(ChildFailed, match="SIGSEGV") as crash:
        received.extend(watched(_send_then_crash, (), 5, never))
    assert crash.value.crashed and received == ["listed before the crash"]
    received.clear()
    with pytest.raises(Stalled):
        received.extend(watched(_send_then_wait, (30,), 3, never))  # (starting a child counts as no progress)
    assert received == ["listed"]
    assert list(watched(_send_then_wait, (0.1,), 5, never)) == ["listed", "listed later"]


def _send_process_id(send, stop) -> None:
    send((os.getpid(), "wave" in sys.modules, gc.get_freeze_count() > 0))


def test_a_child_started_early_does_the_next_work() -> None:
    """What `cybertriage scan` does before it loads the rest of the program (nothing else imports `wave`); what
    the child loaded is out of the cycle collector's way."""
    watchdog.start_early(modules=("wave",))
    early = watchdog._Child._idle[-1].process
    assert early.is_alive()
    assert list(watched(_send_process_id, (), 30, threading.Event())) == [(early.pid, True, True)]


def test_the_child_may_send_a_megabyte_ahead_of_its_reader() -> None:
    fcntl = pytest.importorskip("fcntl")
    watchdog.start_early()
    results = watchdog._Child._idle[-1].results
    assert fcntl.fcntl(results.fileno(), fcntl.F_GETPIPE_SZ) == watchdog.PIPE_BYTES


def test_cancelling_asks_the_child_to_stop_and_keeps_what_it_sends_last() -> None:
    cancelled = threading.Event()
    started = time.monotonic()
    received = []
    for message in watched(_send_until_stopped, (), 60, cancelled):
        received.append(message)
        cancelled.set()
    assert received == ["listed", "stopped cleanly"]
    assert time.monotonic() - started < 5


def test_a_child_that_does_not_stop_when_asked_is_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watchdog, "STOP_GRACE_SECONDS", 1.0)
    cancelled = threading.Event()
    started = time.monotonic()
    for message in watched(_send_then_wait, (30,), 60, cancelled):
        assert message == "listed"
        cancelled.set()
    assert time.monotonic() - started < 5
