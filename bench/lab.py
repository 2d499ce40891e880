#!/usr/bin/env python3
"""Benchmark: a scan spread over Celery workers through Redis and PostgreSQL against a local SQLite scan (issue 26).

Not a test. It scans the disk benchmark's image and the web-mix capture (two evidence items; the spread scans hand
the image's files to the workers in parts of --unit-mb, as `scan --broker` does) in one
`cybertriage scan` each time, in these configurations, alternating round by round with --repeat N:

  local          scan IMAGE CAPTURE --case NEW --quiet                          (SQLite, the reference: a)
  local-pg       scan IMAGE CAPTURE --case NEW --quiet --store URL              (no broker: the store's cost, d)
  workers-1      ... --store URL --broker URL, one worker, --jobs = all cores  (b)
  workers-2x1    ... two workers, --jobs 1 each                                 (c, one way)
  workers-2x2    ... two workers, --jobs 2 each                                 (c, the other way)

One PostgreSQL and one Redis (cybertriage.lab, Debian's packages) are started per run of this script under
WORK/lab-<time>/ and stopped at its end; the workers are started per configuration and round, before the timer
(their start-up is reported apart, it is not the scan's cost), and stopped after. Before each timed scan the
script waits (up to --wait-quiet s) for other processes to leave the CPUs alone and reads both evidence files
once (page cache). It reports the wall times (best and median), the ratios to the local scan, the CPU time of
the scan, the workers, PostgreSQL and Redis, the CPU the rest of the machine took, each unit's time in the
workers' log, and checks that every configuration's case exports the same rows as the local scan's (first
round). The figures also go to WORK/lab-result.json.

Usage (from the repository root):  .venv/bin/python bench/lab.py [--help]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from disk_triage import (  # noqa: E402  # the disk benchmark's helpers: quiet machine, page cache, versions
    REPO,
    _children_cpu,
    _cpu_model,
    _machine_busy,
    compile_bytecode,
    cybertriage_binary,
    git_state,
    log,
    tool_version,
    wait_quiet,
    warm,
)

from cybertriage.lab import LocalPostgres, LocalRedis, start_postgres, start_redis, start_workers  # noqa: E402

sys.path.insert(0, str(REPO))
from tests.case_exports import EXPORTS, rows  # noqa: E402  # what the tests compare, compared alike

DEFAULT_WORK = REPO / "bench" / "work"
DEFAULT_IMAGE = DEFAULT_WORK / "disk_triage-1.1g-10000f-5l-seed1-v1.img"
DEFAULT_CAPTURE = DEFAULT_WORK / "pcap_triage-web-1000000p-seed1-v1.pcap"
TARGET_ONE_WORKER, TARGET_TWO_WORKERS = 1.15, 1.0  # issue 26: (b)/(a) and (c)/(a)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_TASK_DONE = re.compile(r"Task cybertriage\.examine_unit\[[^\]]+\] succeeded in ([0-9.]+)s")


@dataclass(frozen=True)
class Setup:
    """One way of scanning the two evidence items."""

    key: str
    label: str
    store: bool  # into PostgreSQL (else SQLite)
    workers: int  # 0: the scan's own process examines the evidence
    jobs: int | None = None  # analysis threads per worker


CORES = os.cpu_count() or 1
SETUPS = (
    Setup("local", "(a) local scan into SQLite", False, 0),
    Setup("local-pg", "(d) local scan into PostgreSQL (--store, no broker)", True, 0),
    Setup("workers-1", f"(b) 1 worker --jobs {CORES} through Redis + PostgreSQL", True, 1, CORES),
    Setup("workers-2x1", "(c) 2 workers --jobs 1 each", True, 2, 1),
    Setup("workers-2x2", "(c') 2 workers --jobs 2 each", True, 2, 2),
)


# -- CPU time of process trees ---------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and of its children it has waited for) from /proc/PID/stat."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[1]), sum(int(value) for value in fields[11:15]) / CLOCK_TICKS


def tree_cpu(roots: list[int]) -> float:
    """CPU seconds used so far by these processes and every descendant, living or ended and waited for."""
    stats = {int(name): stat for name in os.listdir("/proc") if name.isdigit() and (stat := _stat(int(name)))}
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    total, todo, seen = 0.0, list(roots), set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in stats:
            continue
        seen.add(pid)
        total += stats[pid][1]
        todo.extend(children.get(pid, ()))
    return total


def postmaster_pid(postgres: LocalPostgres) -> int:
    return int((postgres.data / "postmaster.pid").read_text().split()[0])


# -- the exports, compared as tests/case_exports.py compares them ---------------------------------------------


def exports(case: Path) -> dict[str, list[str]]:
    """Each export of the case (JSON lines), ids and processing times left out, rows sorted."""
    tables = {}
    for what in EXPORTS:
        done = subprocess.run([cybertriage_binary(), "export", "--case", str(case), "--what", what, "--format", "jsonl"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"export --what {what} of {case} failed: {done.stderr.strip()}")
        tables[what] = rows(done.stdout)
    return tables


def differences(expected: dict[str, list[str]], got: dict[str, list[str]]) -> dict[str, list[int]]:
    """Per export that differs: [rows only the reference has, rows only the other has]."""
    return {what: [len(set(expected[what]) - set(got[what])), len(set(got[what]) - set(expected[what]))]
            for what in EXPORTS if expected[what] != got[what]}


# -- one timed scan -------------------------------------------------------------------------------------------


@dataclass
class Lab:
    """The servers of this run and where its cases and logs go."""

    root: Path
    postgres: LocalPostgres
    redis: LocalRedis

    def drop_case(self, case: Path) -> None:
        """A case's schema dropped from PostgreSQL, so that every round's scan finds the database alike."""
        store = case / "store.json"
        if store.exists():
            schema = json.loads(store.read_text())["schema"]
            subprocess.run([str(self.postgres.bindir / "psql"), "-q", "-X", self.postgres.url, "-c",
                            f'DROP SCHEMA "{schema}" CASCADE'], check=True, capture_output=True)
        shutil.rmtree(case, ignore_errors=True)


def scan_command(setup: Setup, lab: Lab, evidence: list[Path], case: Path, unit_mb: int) -> list[str]:
    command = [cybertriage_binary(), "scan", *map(str, evidence), "--case", str(case), "--quiet"]
    if setup.store:
        command += ["--store", lab.postgres.url]
    if setup.workers:
        command += ["--broker", lab.redis.url, "--unit-mb", str(unit_mb)]
    return command


def units_of(lab: Lab, case: Path) -> list[dict[str, Any]]:
    """The case's units (worker, key, status) from PostgreSQL, in the order they were taken."""
    if not (case / "store.json").exists():
        return []
    schema = json.loads((case / "store.json").read_text())["schema"]
    done = subprocess.run([str(lab.postgres.bindir / "psql"), "-X", "-At", "-F", "\t", lab.postgres.url, "-c",
                           f'SELECT key, part, worker, status, started, finished FROM "{schema}".units '
                           'ORDER BY started, id'], check=True, capture_output=True, text=True)
    names = ("key", "part", "worker", "status", "started", "finished")
    return [dict(zip(names, line.split("\t"))) for line in done.stdout.splitlines() if line]


def unit_seconds(logs: list[Path]) -> dict[str, list[float]]:
    """Each worker's units' times as Celery logs them ("succeeded in 12.3s"), by the log's worker name."""
    return {log_path.stem.removeprefix("worker-"): [float(found) for found in _TASK_DONE.findall(log_path.read_text())]
            for log_path in logs}


def timed_scan(setup: Setup, lab: Lab, evidence: list[Path], case: Path, label: str, wait_limit: float,
               unit_mb: int) -> dict:
    """Start the setup's workers (timed apart), wait for a quiet machine, warm the evidence, time the scan."""
    workers, started_s, logs = None, 0.0, []
    if setup.workers:
        folder = lab.root / f"workers-{label}"
        folder.mkdir()
        names = [f"bench{number}@{socket.gethostname()}" for number in range(1, setup.workers + 1)]
        start = time.perf_counter()
        workers = start_workers(lab.redis.url, folder, names, setup.jobs)
        started_s = time.perf_counter() - start
        logs = workers.logs
    try:
        waited = wait_quiet(wait_limit)
        for path in evidence:
            warm(path)
        roots = [postmaster_pid(lab.postgres), lab.redis.process.pid if lab.redis.process else 0]
        worker_pids = [process.pid for process in workers.processes] if workers else []
        servers0, workers0 = tree_cpu(roots), tree_cpu(worker_pids)
        busy0, scan0 = _machine_busy(), _children_cpu()
        start = time.perf_counter()
        done = subprocess.run(scan_command(setup, lab, evidence, case, unit_mb), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - start
        scan_cpu, busy = _children_cpu() - scan0, _machine_busy() - busy0
        servers_cpu, workers_cpu = tree_cpu(roots) - servers0, tree_cpu(worker_pids) - workers0
    finally:
        if workers:
            workers.stop()
    if done.returncode not in (0, 1):
        raise SystemExit(f"{setup.key}: scan failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    lab_cpu = scan_cpu + servers_cpu + workers_cpu
    return {"wall_s": wall, "exit_code": done.returncode, "scan_cpu_s": scan_cpu, "workers_cpu_s": workers_cpu,
            "servers_cpu_s": servers_cpu, "other_processes_cpu_s": max(0.0, busy - lab_cpu),
            "other_share": max(0.0, busy - lab_cpu) / (wall * CORES), "workers_start_s": started_s,
            "waited_for_quiet_s": waited, "units": units_of(lab, case), "unit_seconds": unit_seconds(logs),
            "stderr": done.stderr.strip()[-2000:]}


def case_rows(case: Path) -> dict[str, int]:
    """Rows per table of a SQLite case (its full-text index's own tables aside): what the store was given."""
    db = sqlite3.connect(f"file:{case / 'case.db'}?mode=ro", uri=True)
    try:
        tables = [row[0] for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%' "
            "AND name NOT LIKE '%\\_fts\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")]
        return {table: db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables}
    finally:
        db.close()


# -- the run ----------------------------------------------------------------------------------------------------


def one_round(lab: Lab, setups: list[Setup], evidence: list[Path], number: int, args: argparse.Namespace,
              reference: dict[str, Any]) -> dict[str, dict]:
    """Each setup once, in the round's order (reversed every other round); the first round checks the exports."""
    results = {}
    order = setups if number % 2 == 1 else list(reversed(setups))
    for setup in order:
        label = f"{setup.key}-r{number}"
        case = lab.root / f"case-{label}"
        result = timed_scan(setup, lab, evidence, case, label, args.wait_quiet, args.unit_mb)
        note = f"{result['other_share']:.0%} of the machine to other processes"
        if result["other_share"] > 0.10:
            note += "  ← other load: figures not clean"
        start_note = f"; workers started in {result['workers_start_s']:.1f} s (untimed)" if setup.workers else ""
        log(f"  [round {number}] {setup.label:<55} {result['wall_s']:7.2f} s  (CPU: scan {result['scan_cpu_s']:.1f}, "
            f"workers {result['workers_cpu_s']:.1f}, servers {result['servers_cpu_s']:.1f} s; {note}{start_note})")
        if setup.key == "local" and "rows" not in reference:
            reference["rows"] = case_rows(case)
        if number == 1 and not args.no_check:
            got = exports(case)
            if setup.key == "local":
                reference["exports"] = got
            else:
                result["differences"] = differences(reference["exports"], got)
                log(f"             exports equal to the local scan's: "
                    f"{'yes' if not result['differences'] else 'NO ' + json.dumps(result['differences'])}")
        if not args.keep:
            lab.drop_case(case)
        results[setup.key] = result
    return results


def summary(rounds: list[dict[str, dict]], setups: list[Setup], rows: dict[str, int]) -> dict[str, Any]:
    """Best and median per setup, the ratios to the local scan, the better two-worker setup."""
    best = {s.key: min(r[s.key]["wall_s"] for r in rounds) for s in setups}
    med = {s.key: statistics.median(r[s.key]["wall_s"] for r in rounds) for s in setups}
    two = min((key for key in ("workers-2x1", "workers-2x2") if key in best), key=best.__getitem__, default=None)
    local = best["local"]
    total_rows = sum(rows.values())
    figures: dict[str, Any] = {"best_s": best, "median_s": med, "two_workers": two,
                               "ratio_to_local": {key: value / local for key, value in best.items()},
                               "ratio_to_local_median": {key: med[key] / med["local"] for key in med},
                               "rows": total_rows, "rows_per_table": rows}
    if "local-pg" in best:
        figures["store_overhead_s"] = best["local-pg"] - local
        figures["store_rows_per_s_of_overhead"] = total_rows / max(1e-9, best["local-pg"] - local)
    if "workers-1" in best and "local-pg" in best:
        figures["distribution_overhead_s"] = best["workers-1"] - best["local-pg"]
    return figures


def print_summary(figures: dict[str, Any], setups: list[Setup], repeat: int) -> None:
    log("")
    log(f"Results ({'best of ' + str(repeat) if repeat > 1 else '1 run'}; wall times of the whole scan)")
    for setup in setups:
        key = setup.key
        log(f"  {setup.label:<55} {figures['best_s'][key]:7.2f} s   ×{figures['ratio_to_local'][key]:.2f} of (a)"
            + (f"   (median {figures['median_s'][key]:.2f} s, ×{figures['ratio_to_local_median'][key]:.2f})"
               if repeat > 1 else ""))
    ratio = figures["ratio_to_local"]
    if "workers-1" in ratio:
        log(f"  (b)/(a) = {ratio['workers-1']:.2f}  (target ≤ {TARGET_ONE_WORKER}): "
            f"{'met' if ratio['workers-1'] <= TARGET_ONE_WORKER else 'NOT met'}")
    if figures["two_workers"]:
        two = figures["two_workers"]
        log(f"  (c)/(a) = {ratio[two]:.2f} with {two} (the better two-worker setup)  (target ≤ {TARGET_TWO_WORKERS}): "
            f"{'met' if ratio[two] <= TARGET_TWO_WORKERS else 'NOT met'}")
    if "store_overhead_s" in figures:
        log(f"  the store: (d) - (a) = {figures['store_overhead_s']:.2f} s for {figures['rows']:,} rows "
            f"(×{ratio['local-pg']:.2f} of (a))")
    if "distribution_overhead_s" in figures:
        log(f"  the distribution: (b) - (d) = {figures['distribution_overhead_s']:.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="work folder (default bench/work/)")
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE,
                        help="disk image (default: disk_triage.py's, which builds it)")
    parser.add_argument("--capture", type=Path, default=DEFAULT_CAPTURE,
                        help="capture (default: the web mix of pcap_triage.py --mix web --packets 1000000)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of every setup, alternating (default 3)")
    parser.add_argument("--only", action="append", choices=[s.key for s in SETUPS],
                        help="only this setup (repeatable; local is always run, as the reference)")
    parser.add_argument("--wait-quiet", type=float, default=60, metavar="SECONDS",
                        help="before each timed scan, wait up to this long for other processes to go quiet (default 60)")
    parser.add_argument("--no-check", action="store_true", help="do not compare the cases' exports")
    parser.add_argument("--unit-mb", type=int, default=256, metavar="MB",
                        help="the spread scans' --unit-mb: the image's files in parts of this much content (0: the "
                             "image whole to one worker; default 256, as scan's)")
    parser.add_argument("--keep", action="store_true", help="keep the cases, their schemas and the servers' folder")
    args = parser.parse_args()
    evidence = [args.image.resolve(), args.capture.resolve()]
    for path in evidence:
        if not path.is_file():
            raise SystemExit(f"{path} not found: run bench/disk_triage.py (the image) and "
                             "bench/pcap_triage.py --mix web --packets 1000000 (the capture) first")
    setups = [s for s in SETUPS if s.key == "local" or not args.only or s.key in args.only]
    code_state = git_state()
    stamp = dt.datetime.now(dt.timezone.utc)
    log(f"lab benchmark — {stamp.isoformat(timespec='seconds')}, {CORES} cores ({_cpu_model()}), "
        f"{platform.python_implementation()} {platform.python_version()}, cybertriage at {code_state['commit'][:10]}"
        + (f" + {code_state['cybertriage_dirty_files']} uncommitted file(s)" if code_state["cybertriage_dirty_files"] else ""))
    log(f"Evidence: {evidence[0].name} ({evidence[0].stat().st_size / 1e6:.0f} MB), "
        f"{evidence[1].name} ({evidence[1].stat().st_size / 1e6:.0f} MB); spread scans with --unit-mb {args.unit_mb}")
    compile_bytecode()
    root = args.work.resolve() / f"lab-{stamp.strftime('%Y%m%dT%H%M%SZ')}"
    start = time.perf_counter()
    postgres = start_postgres(root)
    try:
        redis = start_redis(root)
        try:
            log(f"Servers under {root}: PostgreSQL {postgres.bindir.parent.name} on {postgres.url}, "
                f"Redis on {redis.url} (started in {time.perf_counter() - start:.1f} s)")
            lab = Lab(root, postgres, redis)
            reference: dict[str, Any] = {}
            rounds = [one_round(lab, setups, evidence, number, args, reference)
                      for number in range(1, args.repeat + 1)]
        finally:
            redis.stop()
    finally:
        postgres.stop()
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    figures = summary(rounds, setups, reference.get("rows", {}))
    checked = {key: not rounds[0][key].get("differences") for key in rounds[0] if key != "local"}
    figures["exports_equal"] = None if args.no_check else checked
    print_summary(figures, setups, args.repeat)
    if not args.no_check:
        log("  exports equal to the local scan's (16 exports, first round): "
            + ", ".join(f"{key} {'yes' if equal else 'NO'}" for key, equal in checked.items()))
    result = {"date": stamp.isoformat(timespec="seconds"),
              "machine": {"cores": CORES, "cpu": _cpu_model(), "platform": platform.platform(),
                          "python": platform.python_version()},
              "versions": {"cybertriage": tool_version([cybertriage_binary(), "--version"]), **code_state,
                           "postgresql": postgres.bindir.parent.name,
                           "redis": tool_version([str(redis.server), "--version"])},
              "evidence": {str(path): path.stat().st_size for path in evidence},
              "setups": {s.key: {"label": s.label, "store": s.store, "workers": s.workers, "jobs": s.jobs}
                         for s in setups},
              "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
              "summary": figures, "rounds": rounds}
    out = args.work.resolve() / "lab-result.json"
    out.write_text(json.dumps(result, indent=2))
    log(f"\nFigures written to {out}")
    return 0 if all(checked.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
