"""A fuzzing campaign: cases run in worker processes, each with a deadline.

Case `i` of campaign seed `S` is fully determined by `random.Random(f"{S}:{i}")`: which seed,
which mutations, whether it runs a whole scan. A worker that does not answer within the
deadline is killed (a hang, even inside C code that a signal could not interrupt); a worker
that dies is a crash (a segfault in a library). Either way, and for every failure the
harness reports, the input is saved with its seed and case number so that it can be run
again and committed as a regression.
"""

from __future__ import annotations

import gzip
import multiprocessing
import os
import random
import resource
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path

from .mutate import mutate
from .seeds import SUFFIX, Seed
from .targets import Harness

# Share of cases per kind of seed, and of cases that run a whole Scan instead of the readers alone.
KIND_WEIGHTS = {"pcap": 26, "pcapng": 8, "fat": 12, "ext4": 10, "ntfs": 10, "mbr": 5, "gpt": 3, "pe": 13, "zip": 13}
FULL_SCAN_SHARE = 0.015
DEADLINE = 30.0  # seconds; the PE analyzer stops itself at 5 s and YARA at 5 s
MEMORY_LIMIT = 3 * 1024 ** 3  # address space of a worker: a memory blow-up becomes a MemoryError


@dataclass
class Case:
    index: int
    kind: str
    seed_name: str
    mutations: list[str]
    full_scan: bool
    data: bytes = field(repr=False)

    @property
    def suffix(self) -> str:
        return SUFFIX[self.kind]


@dataclass
class Result:
    index: int
    status: str  # ok | fail | hang | crash
    detail: str
    seconds: float


@dataclass
class Report:
    seed: int
    cases: int = 0
    seconds: float = 0.0
    failures: list[tuple[Case, Result]] = field(default_factory=list)
    slowest: list[tuple[float, str]] = field(default_factory=list)  # (seconds, case description)
    per_kind: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        slow = ", ".join(f"{s:.2f} s {d}" for s, d in self.slowest[:3])
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.per_kind.items()))
        lines = [f"fuzz seed {self.seed}: {self.cases} cases in {self.seconds:.1f} s "
                 f"({self.cases / max(self.seconds, 1e-9):.1f}/s); {len(self.failures)} failures",
                 f"  by kind: {kinds}", f"  slowest: {slow}"]
        for case, result in self.failures:
            lines.append(f"  FAILED {result.status} case {case.index} ({case.kind} {case.seed_name} "
                         f"{' '.join(case.mutations)}{' full scan' if case.full_scan else ''}): "
                         f"{_headline(result)}")
        return "\n".join(lines)


def _headline(result: Result) -> str:
    return result.detail.strip().splitlines()[0] if result.detail.strip() else ""


def make_case(seeds: list[Seed], campaign_seed: int, index: int) -> Case:
    rng = random.Random(f"{campaign_seed}:{index}")
    kinds = [k for k in KIND_WEIGHTS if any(s.kind == k for s in seeds)]
    kind = rng.choices(kinds, [KIND_WEIGHTS[k] for k in kinds])[0]
    seed = rng.choice([s for s in seeds if s.kind == kind])
    full_scan = rng.random() < FULL_SCAN_SHARE
    data, mutations = mutate(seed, rng)
    return Case(index, kind, seed.name, mutations, full_scan, data)


def _worker(conn: Connection, seeds: list[Seed], campaign_seed: int, work: Path) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    harness = Harness(work)
    while True:
        job = conn.recv()
        if job is None:
            return
        index, given = job
        case = given or make_case(seeds, campaign_seed, index)
        started = time.monotonic()
        try:
            path = harness.evidence_path(case.kind, case.data, case.suffix)
            detail, status = harness.run(case.kind, path, case.full_scan), "ok"
        except BaseException as error:  # noqa: BLE001 - everything that escapes is the finding
            headline = " ".join(traceback.format_exception_only(error)[-1].split())
            detail, status = f"{headline}\n{traceback.format_exc()}", "fail"
        conn.send(Result(index, status, detail, time.monotonic() - started))


class _Slot:
    """One worker process and the case it is on."""

    def __init__(self, context, seeds: list[Seed], campaign_seed: int, work: Path, number: int) -> None:
        self.conn, child = context.Pipe()
        self.work = work / f"worker-{number}"
        # not daemonic: the disk reader lists each filesystem in a process of its own (stop() and kill() end the worker)
        self.process = context.Process(target=_worker, args=(child, seeds, campaign_seed, self.work))
        self.process.start()
        child.close()
        self.case: Case | None = None
        self.started = 0.0

    def give(self, case: Case, send_data: bool) -> None:
        self.case, self.started = case, time.monotonic()
        self.conn.send((case.index, case if send_data else None))

    def kill(self) -> None:
        self.process.kill()
        self.process.join()
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(10)
        if self.process.is_alive():
            self.kill()


def run_cases(seeds: list[Seed], campaign_seed: int, cases: list[Case] | range, workers: int = 2,
              deadline: float = DEADLINE, save_to: Path | None = None, log=None) -> Report:
    """Run cases (indices of the campaign, or explicit Case objects) and report what failed."""
    context = multiprocessing.get_context("fork")
    report = Report(campaign_seed)
    work = Path(tempfile.mkdtemp(prefix="fuzz-work-"))
    pending = list(cases)
    explicit = bool(pending) and isinstance(pending[0], Case)
    slots = [_Slot(context, seeds, campaign_seed, work, n) for n in range(max(1, min(workers, len(pending))))]
    started = time.monotonic()
    timings: list[tuple[float, str]] = []
    try:
        def feed(slot: _Slot) -> None:
            if pending:
                item = pending.pop(0)
                case = item if explicit else make_case(seeds, campaign_seed, item)
                slot.give(case, explicit)
            else:
                slot.case = None

        for slot in slots:
            feed(slot)
        while any(s.case is not None for s in slots):
            busy = [s for s in slots if s.case is not None]
            now = time.monotonic()
            timeout = max(0.0, min(s.started + deadline - now for s in busy))
            ready = wait([s.conn for s in busy], timeout)
            for position, slot in enumerate(slots):
                if slot.case is None:
                    continue
                case = slot.case
                result = None
                if slot.conn in ready:
                    try:
                        result = slot.conn.recv()
                    except (EOFError, OSError):
                        slot.process.join()
                        result = Result(case.index, "crash", f"worker died (exit code {slot.process.exitcode})",
                                        time.monotonic() - slot.started)
                elif time.monotonic() - slot.started > deadline:
                    result = Result(case.index, "hang", f"no answer within {deadline:.0f} s", deadline)
                if result is None:
                    continue
                report.cases += 1
                report.per_kind[case.kind] = report.per_kind.get(case.kind, 0) + 1
                timings.append((result.seconds, f"case {case.index} {case.kind} {case.seed_name}"
                                                 f"{' full scan' if case.full_scan else ''}"))
                if result.status != "ok":
                    report.failures.append((case, result))
                    if save_to is not None:
                        save_failure(case, result, campaign_seed, save_to)
                    if log:
                        log(f"FAILED {result.status}: case {case.index} {case.kind} {case.seed_name} "
                            f"{case.mutations}: {_headline(result)}")
                    if result.status in ("hang", "crash"):
                        slot.kill()
                        slots[position] = slot = _Slot(context, seeds, campaign_seed, work, position + len(slots)
                                                       + report.cases)
                if log and report.cases % 500 == 0:
                    log(f"{report.cases} cases, {time.monotonic() - started:.0f} s, {len(report.failures)} failures")
                feed(slot)
    finally:
        for slot in slots:
            slot.stop()
        shutil.rmtree(work, ignore_errors=True)
    report.seconds = time.monotonic() - started
    report.slowest = sorted(timings, reverse=True)[:5]
    return report


def save_failure(case: Case, result: Result, campaign_seed: int, folder: Path) -> Path:
    """The input and what happened to it, named so that `--replay` and the regression test know its kind."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{case.kind}-s{campaign_seed}-c{case.index}{'-scan' if case.full_scan else ''}{case.suffix}"
    path.write_bytes(case.data)
    path.with_name(path.name + ".txt").write_text(
        f"{result.status} on {case.kind} seed {case.seed_name}, campaign seed {campaign_seed}, case {case.index}\n"
        f"mutations: {case.mutations}\n\n{result.detail}\n")
    return path


def case_from_file(path: Path) -> Case:
    """A saved input (regression or failure) as a case: its kind is the first part of its name;
    a name ending in .gz is a gzip-compressed input (disk images are mostly zeros)."""
    kind = path.name.split("-", 1)[0]
    if kind not in SUFFIX:
        raise ValueError(f"{path.name}: name must start with one of {sorted(SUFFIX)}")
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return Case(0, kind, path.name, ["file"], "-scan" in path.name, data)


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))
