"""A scan spread over several workstations: Celery workers take its units from a Redis broker and examine them
into the case's shared PostgreSQL store; the scan's process sends the units, watches them in the store, and does
what only makes sense once, over the whole case, at the end (timeline indexes, correlation, IOCs, scores).

A unit is one evidence item (a disk image, a folder, a capture file), read from a path every worker sees (a
read-only share), its carried objects written to the case folder, on a share too; or a part of a disk image's
files, which the worker listing the image hands on (pipeline/parts.py), so that one large drive keeps every
worker busy. The store, not the broker, says what became of each unit (case/units.py): a message delivered twice,
or a unit sent again after its worker went silent, is examined once. A unit is sent at most MAX_SENDS times; then
it is quarantined and the rest goes on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..analyzers import Analyzer, build_analyzers
from ..case import CaseWriter, audit, units, writes
from ..case.custody import write_transaction
from ..case.store import crash_point, on_case_waiting, open_case
from ..errors import CaseError, CybertriageError, UsageError
from ..formatting import utc_now
from .options import Recipe, ScanOptions, ScanRun
from .parts import UNIT_BYTES, Parts, examine_part, finish_evidence
from .progress import Outcome, Progress
from .stages import EvidenceRun

if TYPE_CHECKING:
    import sqlite_utils
    from celery import Celery

logger = logging.getLogger(__name__)

TASK = "cybertriage.examine_unit"
MAX_SENDS = 4  # a unit sent this often (its workers die on it, or none can take it) is quarantined
BEAT_SECONDS = 2.0  # how often a worker raises the heartbeat of the unit it examines
WATCH_SECONDS = 0.5  # how often the scan's process looks at its units
WORKER_TIMEOUT = 60.0  # a unit whose heartbeat has not moved this long has lost its worker: it is sent again
VISIBILITY_SECONDS = 300  # an unacknowledged message goes back to the queue after this long (celery_app)


def celery_app(broker: str) -> Celery:
    """The Celery application both sides share: late acknowledgement (a unit's message is removed only once
    it is examined), one unit at a time per worker slot, no result backend (the case store holds the results)."""
    from celery import Celery

    app = Celery("cybertriage", broker=broker, set_as_current=False)
    app.conf.update(
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1, task_ignore_result=True,
        task_serializer="json", accept_content=["json"], broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None, worker_hijack_root_logger=False, worker_send_task_events=False,
        task_default_queue="cybertriage-units",
        # a message whose worker died before it took the unit goes back to the queue after this long (Redis keeps
        # it aside until then); one delivered again while its unit runs elsewhere does nothing (units.claim)
        broker_transport_options={"visibility_timeout": VISIBILITY_SECONDS},
    )
    return app


BROKER_PASSWORD = "CYBERTRIAGE_BROKER_PASSWORD"  # the broker's password comes from here, never from the command line


def broker_address(url: str) -> str:
    """The broker's URL as given on the command line, refused if it holds a password (every user of the machine
    sees a command line), with the password of CYBERTRIAGE_BROKER_PASSWORD put in if that is set."""
    from urllib.parse import quote, urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        raise UsageError(f"the broker's URL holds a password: give it in {BROKER_PASSWORD} instead")
    password = os.environ.get(BROKER_PASSWORD)
    if not password:
        return url
    user = quote(parts.username or "", safe="")
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password, safe='')}@{parts.netloc}"))


def check_broker(url: str) -> None:
    """One clear line (UsageError) when the broker cannot be reached, before anything starts."""
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=5) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=5)
    except Exception as error:  # kombu raises the transport's own errors (redis, socket, ...)
        raise UsageError(f"cannot reach the broker {url}: {str(error).splitlines()[0] if str(error) else error}") \
            from None


# -- the worker's side ---------------------------------------------------------------------------------------


def run_worker(broker: str, concurrency: int, jobs: int, name: str | None) -> None:
    """`cybertriage worker`: a Celery worker that examines units until stopped; each unit with `jobs` threads."""
    broker = broker_address(broker)
    check_broker(broker)
    app = celery_app(broker)

    @app.task(name=TASK, bind=True)
    def examine_unit(task: Any, message: dict[str, Any]) -> None:
        examine(message, task.request.hostname or _default_name(), jobs)

    app.worker_main(["worker", "--pool", "threads", "--concurrency", str(concurrency), "--hostname",
                     name or _default_name(), "--without-gossip", "--without-mingle", "--loglevel", "INFO",
                     "--queues", "cybertriage-units"])


def _default_name() -> str:
    return f"cybertriage-{os.getpid()}@{socket.gethostname()}"


def examine(message: dict[str, Any], worker: str, jobs: int) -> None:
    """Examine one unit into the case store, once: a unit not queued (taken by another, ended, a message
    delivered again) is left alone; a worker of another version, or one that cannot see the evidence, says so
    and leaves the unit queued for another worker."""
    case_dir = Path(message["case"])
    try:  # a message taken while the store restarts is not lost: taking the unit waits for it
        taken = on_case_waiting(case_dir, functools.partial(_take, message=message, worker=worker))
    except CybertriageError as error:
        logger.error("unit %s: cannot open the case %s: %s", message["unit"], case_dir, error)
        raise
    if taken is None:
        return
    crash_point(f"unit-taken-{_named(taken)}")  # a unit that kills its worker every time (tests)
    _examine_claimed(message, taken, worker, jobs)


def _named(unit: units.Unit) -> str:
    """A unit as crash points name it: its evidence's file name, and its part's number."""
    return Path(unit.path).name + ("" if unit.part is None else f"-part-{unit.part}")


def _take(db: sqlite_utils.Database, message: dict[str, Any], worker: str) -> units.Unit | None:
    """Claim the unit for this worker and say so in the audit log, in one transaction; None when this worker
    may not take it (another version, the evidence not visible) or it is not queued. A part whose earlier worker
    died has what that worker wrote of it forgotten in the same transaction."""
    if message["version"] != __version__:
        units.refuse(db, message["unit"], f"{worker} runs cybertriage {__version__}, the scan "
                                          f"{message['version']}: refused (the same version everywhere)")
        return None
    path = Path(message["path"])
    if not path.exists():
        units.refuse(db, message["unit"], f"{worker} cannot see {path}")
        return None
    with write_transaction(db):
        if not units.claim(db, message["unit"], worker):
            return None
        audit(db, "unit taken", {"unit": message["unit"], "evidence": message["key"], "worker": worker})
        taken = units.unit(db, message["unit"])
        assert taken is not None  # just claimed
        earlier = units.blocks(db, taken.id)
        if taken.parent_id is not None and earlier:
            writes.forget_examination(db, taken.evidence_id, earlier, lister=False)
    return taken


@functools.lru_cache(maxsize=4)
def _prepared(recipe: Recipe, case: str, run: int, jobs: int) -> tuple[ScanOptions, list[Analyzer]]:
    """The options and the analyzers built from them, once per scan run on this worker rather than once per unit
    (its rules compiled, its intel loaded); a later scan builds them again, from rules and intel as they are then."""
    options = recipe.options(jobs)
    return options, build_analyzers(options.settings)


def _examine_claimed(message: dict[str, Any], unit: units.Unit, worker: str, jobs: int) -> None:
    """The unit is this worker's: its evidence item examined as a local scan would (a disk image's files handed on
    in parts, when the scan asks for it), or the files of one part; with a heartbeat."""
    case_dir, unit_id = Path(message["case"]), message["unit"]
    recipe = Recipe.from_message(message["recipe"])
    options, analyzers = _prepared(recipe, message["case"], message["run"], jobs)
    cancel = threading.Event()
    writer = CaseWriter(case_dir, shared=True)
    outcomes: list[Outcome] = []
    latest: list[Progress] = []
    heart = _Heartbeat(case_dir, unit_id, worker, cancel, latest)
    heart.start()
    account = None
    try:
        run = ScanRun(case_dir, options, analyzers, cancel, writer, message["run"], outcomes)
        if unit.parent_id is not None:
            outcome, account = examine_part(run, unit, latest)
        else:
            parts = Parts(unit, message["run"], recipe.unit_bytes) if recipe.unit_bytes else None
            for progress in EvidenceRun(run, Path(message["path"]), message["key"], parts).stages():
                latest[:] = [progress]
            outcome = outcomes[-1] if outcomes else Outcome(message["path"], "failed", message="not examined")
            account = parts.account if parts is not None else None
        if account is None:  # an evidence item examined whole: its ledger names its worker now
            writer.add_rows("ledger", [{"evidence_id": message["evidence"], "run_id": message["run"], "stage": "unit",
                                        "attempted": 1, "processed": int(outcome.status in ("done", "partial")),
                                        "skipped": 0, "reasons": json.dumps({f"examined by {worker}": 1})}])
    except Exception as error:  # the unit fails, and says why; the scan's process sees it ended
        outcome = Outcome(message["path"], "failed", message=f"{worker}: {error}")
        logger.exception("unit %s failed", unit_id)
    finally:
        heart.stop.set()
        heart.join()
        try:
            writer.close()
        except CaseError as error:
            outcome = Outcome(message["path"], "failed", message=f"{worker}: {error}")
    # every row of the unit written, the unit not ended (tests: its examination is redone elsewhere)
    crash_point(f"unit-written-{_named(unit)}")
    on_case_waiting(case_dir, functools.partial(_finish, unit_id=unit_id, key=message["key"], worker=worker,
                                                outcome=outcome, account=account))


def _finish(db: sqlite_utils.Database, unit_id: int, key: str, worker: str, outcome: Outcome,
            account: str | None) -> None:
    """End the unit and say so in the audit log, once: not when it was no longer this worker's, nor again when
    the store went away after the commit and this is done a second time."""
    with write_transaction(db):
        if units.finish(db, unit_id, worker, outcome.status, outcome.message, account):
            audit(db, "unit examined", {"unit": unit_id, "evidence": key, "worker": worker,
                                        "status": outcome.status, "files": outcome.files})


class _Heartbeat(threading.Thread):
    """Raises the unit's heartbeat with the progress so far; when the unit is no longer this worker's (the scan
    was cancelled, or it gave the unit to another worker), the examination is cancelled."""

    def __init__(self, case_dir: Path, unit_id: int, worker: str, cancel: threading.Event,
                 latest: list[Progress]) -> None:
        super().__init__(name=f"unit-{unit_id}-heartbeat", daemon=True)
        self.case_dir, self.unit_id, self.worker, self.cancel, self.latest = case_dir, unit_id, worker, cancel, latest
        self.stop = threading.Event()

    def run(self) -> None:
        db = None
        while not self.stop.wait(BEAT_SECONDS):
            progress = self.latest[0] if self.latest else None
            try:
                db = db or open_case(self.case_dir)
                if not units.beat(db, self.unit_id, self.worker, progress.objects_done if progress else 0,
                                  progress.bytes_done if progress else 0):
                    self.cancel.set()
                    break
            except Exception as error:  # the store restarting: the unit goes on; a new connection, the next beat
                logger.warning("unit %s: heartbeat not recorded: %s", self.unit_id, error)
                if db is not None:
                    with contextlib.suppress(Exception):
                        db.close()
                db = None
        if db is not None:
            db.close()


# -- the scan's side ------------------------------------------------------------------------------------------


@dataclass
class _Watch:
    """What the scan's process saw of a running unit: its heartbeat and since when it has not moved."""

    beat: int
    since: float = field(default_factory=time.monotonic)


class SpreadScan:
    """The evidence items of one scan run, sent as units to the workers and watched until each has ended."""

    def __init__(self, run: ScanRun, broker: str, worker_timeout: float = WORKER_TIMEOUT,
                 unit_bytes: int = UNIT_BYTES) -> None:
        self.run = run
        self.worker_timeout = worker_timeout
        self.app = celery_app(broker_address(broker))
        self.recipe = dataclasses.asdict(Recipe.of(run.options, unit_bytes))
        self.watched: dict[int, _Watch] = {}
        self.last_said: dict[int, str] = {}  # per unit, why it was last sent again (a silent worker, a refusal)

    def send_and_watch(self, items: list[tuple[Path, str]]) -> Iterator[Progress]:
        """Add each evidence item (or take up an interrupted one), send it as a unit, and watch the units."""
        writer = self.run.writer
        for path, key in items:
            previous = writer.call(functools.partial(writes.evidence_status, path=key))
            if previous and previous[1] in ("done", "partial"):
                self.run.outcomes.append(Outcome(str(path), "already processed", previous[0],
                                                 f"already in the case (status {previous[1]}); skipped"))
                continue
            evidence_id = previous[0] if previous else writer.call(
                functools.partial(writes.add_evidence, path=key, added_at=utc_now()))
            unit_id = writer.call(functools.partial(units.add_unit, run_id=self.run.run_id, evidence_id=evidence_id,
                                                    path=str(path.absolute()), key=key))
            added = writer.call(functools.partial(units.unit, unit_id=unit_id))
            assert added is not None  # just added
            self._send(added)
        yield from self._watch()

    def _send(self, unit: units.Unit) -> None:
        message: dict[str, Any] = {
            "unit": unit.id, "case": str(self.run.case_dir.absolute()), "run": self.run.run_id,
            "evidence": unit.evidence_id, "path": unit.path, "key": unit.key, "version": __version__,
            "recipe": self.recipe}
        if not self.run.writer.call(functools.partial(units.sent, unit_id=unit.id, most=MAX_SENDS)):
            last = self.last_said.get(unit.id)
            self.run.writer.call(functools.partial(units.quarantine, unit_id=unit.id, message=(
                f"sent {MAX_SENDS} times, never examined to its end" + (f" (last: {last})" if last else ""))))
            return
        self.app.send_task(TASK, args=[message], retry=True,
                           retry_policy={"max_retries": None, "interval_start": 1, "interval_step": 1,
                                         "interval_max": 5})

    def _watch(self) -> Iterator[Progress]:
        """Until every unit has ended: progress, units whose worker went silent sent again, refused ones too."""
        writer = self.run.writer
        looked = time.monotonic()
        while True:
            now = writer.call(lambda db: units.run_units(db, self.run.run_id))
            if time.monotonic() - looked > 2 * BEAT_SECONDS + WATCH_SECONDS:  # the store was away: so were the beats
                self.watched.clear()
            looked = time.monotonic()
            if self.run.cancel.is_set():
                writer.call(lambda db: units.cancel_run(db, self.run.run_id))
                now = writer.call(lambda db: units.run_units(db, self.run.run_id))
            if all(unit.ended for unit in now):
                break
            for unit in now:
                self._look_after(unit)
            yield _progress(now)
            time.sleep(WATCH_SECONDS)
        in_parts = {unit.parent_id for unit in now if unit.parent_id is not None}
        for unit in now:
            if unit.parent_id is not None:
                continue
            if unit.accounted or unit.id in in_parts:  # its files handed on: its item ends here
                parts = [part for part in now if part.parent_id == unit.id]
                self.run.outcomes.append(writer.call(functools.partial(finish_evidence, unit=unit, parts=parts,
                                                                       run_id=self.run.run_id)))
                continue
            files, findings = writer.call(functools.partial(units.evidence_tally, evidence_id=unit.evidence_id))
            status = unit.status if unit.status != "quarantined" else "failed"
            self.run.outcomes.append(Outcome(unit.path, status, unit.evidence_id,
                                             _worker_said(unit), files, findings))
        quarantined = [unit for unit in now if unit.status == "quarantined"
                       and unit.parent_id is None and unit.id not in in_parts and not unit.accounted]
        if any(unit.status == "quarantined" for unit in now):
            writer.call(lambda db: audit(db, "units quarantined", {
                "units": [{"unit": u.id, "evidence": u.key, "part": u.part, "message": u.message}
                          for u in now if u.status == "quarantined"]}))
        if quarantined:
            writer.add_rows("ledger", [{"evidence_id": u.evidence_id, "run_id": self.run.run_id, "stage": "unit",
                                        "attempted": u.sends, "processed": 0, "skipped": 1,
                                        "reasons": json.dumps({f"quarantined: {u.message}": 1})} for u in quarantined])

    def _look_after(self, unit: units.Unit) -> None:
        """A part new from its listing is sent; a running unit whose heartbeat stopped is queued again and sent; a
        refused queued unit is sent again."""
        if unit.status == "queued" and unit.sends == 0:
            self._send(unit)
        elif unit.status == "running":
            watch = self.watched.get(unit.id)
            if watch is None or watch.beat != unit.beat:
                self.watched[unit.id] = _Watch(unit.beat)
            elif time.monotonic() - watch.since > self.worker_timeout:
                message = f"{unit.worker} gave no sign of life for {self.worker_timeout:.0f} s"
                if self.run.writer.call(lambda db: units.requeue(db, unit.id, unit.beat)):
                    logger.warning("unit %s (%s): %s; sent again", unit.id, unit.path, message)
                    del self.watched[unit.id]
                    self.last_said[unit.id] = message
                    self._send(unit)
        elif unit.status == "queued" and unit.message:  # a worker refused it: another may take it
            self.run.writer.call(lambda db: units.clear_refusal(db, unit.id))
            logger.warning("unit %s (%s): %s; sent again", unit.id, unit.path, unit.message)
            self.last_said[unit.id] = unit.message
            self._send(unit)


def _worker_said(unit: units.Unit) -> str | None:
    return f"{unit.message} (unit {unit.id}, {unit.worker or 'no worker'})" if unit.message else None


def _progress(now: list[units.Unit]) -> Progress:
    """The units as the examiner sees them: done, in flight (with their workers), failed."""
    done = sum(unit.ended and unit.status not in ("failed", "quarantined") for unit in now)
    failed = sum(unit.status in ("failed", "quarantined") for unit in now)
    flying = [unit for unit in now if unit.status == "running"]
    workers = ", ".join(sorted({f"{unit.worker}: {Path(unit.path).name}" + ("" if unit.part is None else
                                                                            f" part {unit.part + 1}")
                                for unit in flying}))
    return Progress(evidence=f"units {done}/{len(now)}",
                    stage=f"{len(flying)} in flight, {failed} failed" + (f" ({workers})" if workers else ""),
                    objects_found=sum(unit.objects_done for unit in now),
                    objects_done=sum(unit.objects_done for unit in now),
                    bytes_done=sum(unit.bytes_done for unit in now), units=(done + failed, len(now)))
