"""A scan spread over Celery workers (scan --broker, cybertriage worker) into a PostgreSQL store: real Redis and
PostgreSQL servers (cybertriage.lab, from the Debian packages), real worker processes. The truth is a local scan of
the same evidence into SQLite: the spread scan must export exactly its rows (ids and processing times aside), also
when a worker is killed mid-unit or Redis restarts mid-scan."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from cybertriage import lab
from cybertriage.case import units
from cybertriage.case.store import open_case
from cybertriage.pipeline import distributed
from tests.case_exports import differences, exports
from tests.conftest import REPO, run_cli
from tests.pipeline.spread import DEMO, EVIDENCE, LIGHT, PE_FOLDER, audit_entries, ledger, run_units, spread_scan, workers


def scanned_locally(evidence: list[Path], folder: Path) -> Path:
    """The evidence scanned here, into SQLite, with no server: what a spread scan of it must give."""
    case = folder / "case"
    result = run_cli("scan", *evidence, "--case", case, "--quiet", timeout=600)
    assert result.code == 0, result.stderr
    return case


@pytest.fixture(scope="module")
def local_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scanned_locally(EVIDENCE, tmp_path_factory.mktemp("local"))


@pytest.fixture(scope="module")
def reference(local_case: Path) -> dict[str, list[str]]:
    return exports(local_case)


@pytest.fixture(scope="module")
def light_reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    return exports(scanned_locally(LIGHT, tmp_path_factory.mktemp("light")))


def test_two_workers_give_the_exports_of_a_local_scan(local_case: Path, reference: dict[str, list[str]],
                                                       lab_postgres: lab.LocalPostgres, lab_redis: lab.LocalRedis,
                                                       tmp_path: Path) -> None:
    case = tmp_path / "case"
    with workers(lab_redis.url, tmp_path, "w1@test", "w2@test"):
        done = subprocess.run(spread_scan(case, lab_postgres.url, lab_redis.url), capture_output=True, text=True,
                              timeout=600, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert differences(reference, exports(case)) == {}
    assert ledger(case) == ledger(local_case)  # the parts' accounts merged: the same completeness, the same problems
    examined = audit_entries(case, "unit examined")
    spread = run_units(case)
    assert sorted(entry["unit"] for entry in examined) == [unit.id for unit in spread]  # each unit once
    assert {unit.key for unit in spread if unit.parent_id is None} == {str(path) for path in EVIDENCE}
    in_parts = {unit.key for unit in spread if unit.parent_id is not None}
    assert in_parts == {str(DEMO / "demo-disk.img"), str(DEMO / "demo-windows.img"), str(DEMO / "demo-vm.qcow2"),
                        str(PE_FOLDER)}
    assert sum(unit.key == str(DEMO / "demo-windows.img") for unit in spread) > 3  # its files in several parts
    assert {entry["worker"] for entry in examined} == {"w1@test", "w2@test"}
    assert all(entry["status"] == "done" for entry in examined)
    db = open_case(case)
    try:  # the run's record says how it was spread (the report's Runs section shows it)
        options = json.loads(db.execute("SELECT options FROM runs").fetchone()[0])
    finally:
        db.close()
    assert (options["broker"], options["unit_bytes"]) == (lab_redis.url, 1024 * 1024)
    info = run_cli("info", "--case", case)
    assert info.code == 0, info.stderr
    assert "examined by w" in info.stdout  # the completeness ledger names each unit's worker
    assert info.stdout.startswith(f"Case {case.resolve()} (its tables in {lab_postgres.url}, schema case_")


def test_a_worker_killed_mid_unit_loses_nothing(light_reference: dict[str, list[str]],
                                                lab_postgres: lab.LocalPostgres, lab_redis: lab.LocalRedis,
                                                tmp_path: Path) -> None:
    case = tmp_path / "case"
    with workers(lab_redis.url, tmp_path, "doomed@test", "steady@test", crash_at="writer-batch") as (doomed, _):
        done = subprocess.run(spread_scan(case, lab_postgres.url, lab_redis.url, LIGHT), capture_output=True,
                              text=True, timeout=600, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert doomed.wait(timeout=60) == -signal.SIGKILL  # it took a unit and died in the middle of writing it
    assert done.returncode == 0, done.stderr
    assert differences(light_reference, exports(case)) == {}
    taken = audit_entries(case, "unit taken")
    examined = audit_entries(case, "unit examined")
    examined_by = {entry["unit"]: entry["worker"] for entry in examined}
    lost = {entry["unit"] for entry in taken if entry["worker"] == "doomed@test"} - {
        unit for unit, worker in examined_by.items() if worker == "doomed@test"}  # it may end a small part first
    assert lost and all(examined_by[unit] == "steady@test" for unit in lost)
    assert sorted(entry["unit"] for entry in examined) == [unit.id for unit in run_units(case)]  # each written once


@pytest.mark.parametrize("unit", ["demo-windows.img-part-1", "demo-windows.img"])
def test_a_unit_redone_after_its_rows_were_written_keeps_them_once(
        unit: str, local_case: Path, reference: dict[str, list[str]], lab_postgres: lab.LocalPostgres,
        lab_redis: lab.LocalRedis, tmp_path: Path) -> None:
    """A worker dies once every row of a unit is committed but before it ends the unit: a part of an image's files,
    or the unit that listed the image and handed its parts on. The unit is redone by another worker, which first
    forgets what the dead one wrote of it, and only that: every other part's rows stay, and none is doubled."""
    case = tmp_path / "case"
    with workers(lab_redis.url, tmp_path, "doomed@test", crash_at=f"unit-written-{unit}") as (doomed,):
        scan = subprocess.Popen(spread_scan(case, lab_postgres.url, lab_redis.url), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
        try:
            assert doomed.wait(timeout=300) == -signal.SIGKILL  # alone, it comes to that unit
            with workers(lab_redis.url, tmp_path, "steady@test"):
                _, stderr = scan.communicate(timeout=300)
        finally:
            scan.kill()
    assert scan.returncode == 0, stderr
    assert differences(reference, exports(case)) == {}
    assert ledger(case) == ledger(local_case)
    [redone] = [entry for entry in audit_entries(case, "unit taken") if entry["worker"] == "steady@test"
                and entry["unit"] in {e["unit"] for e in audit_entries(case, "unit taken") if e["worker"] == "doomed@test"}]
    assert [entry["worker"] for entry in audit_entries(case, "unit examined") if entry["unit"] == redone["unit"]] == \
        ["steady@test"]


@pytest.mark.parametrize("server", ["redis", "postgresql"])
def test_a_server_restart_mid_scan_pauses_it(server: str, light_reference: dict[str, list[str]],
                                             lab_postgres: lab.LocalPostgres, lab_redis: lab.LocalRedis,
                                             tmp_path: Path) -> None:
    """The broker or the case store restarted while units are examined (every session to it ended): the scan
    and its workers wait for it and go on."""
    case = tmp_path / "case"
    restart = {"redis": lab_redis.restart, "postgresql": lab_postgres.restart}[server]
    with workers(lab_redis.url, tmp_path, "w1@test", "w2@test"):
        scan = subprocess.Popen(spread_scan(case, lab_postgres.url, lab_redis.url, LIGHT), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
        deadline = time.monotonic() + 120
        while not (case / "store.json").exists() or not audit_entries(case, "unit taken"):
            assert time.monotonic() < deadline and scan.poll() is None, scan.communicate()[1]
            time.sleep(0.1)
        try:
            restart()
            _, stderr = scan.communicate(timeout=300)
        finally:
            scan.kill()
    assert scan.returncode == 0, stderr
    assert differences(light_reference, exports(case)) == {}
    assert sorted(entry["unit"] for entry in audit_entries(case, "unit examined")) == \
        [unit.id for unit in run_units(case)]


def scan_with_workers_dying_at(crash_at: str, case: Path, store: str, broker: str, tmp_path: Path) -> tuple[int, str, int]:
    """A spread scan whose workers die as soon as they take a unit named by `crash_at` (crash points, separated by
    commas); dead workers are started again, as a service manager would. The scan's exit code and stderr, and the
    restarts."""
    environment = {"PYTHONPATH": str(REPO), "CYBERTRIAGE_CRASH_AT": crash_at}
    started = [lab.start_workers(broker, tmp_path, [f"w{n}@test"], jobs=1, environments=[environment]) for n in (1, 2)]
    scan = subprocess.Popen(spread_scan(case, store, broker), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    restarts = 0
    try:
        while scan.poll() is None:
            for index, workers_of in enumerate(started):
                if workers_of.processes[0].poll() is not None:  # died on the poisoned unit: a new one in its place
                    restarts += 1
                    started[index] = lab.start_workers(broker, tmp_path, [f"w{index + 1}-{restarts}@test"],
                                                       jobs=1, environments=[environment])
            time.sleep(0.2)
        _, stderr = scan.communicate(timeout=60)
    finally:
        for workers_of in started:
            workers_of.stop()
        if scan.poll() is None:
            scan.kill()
    return scan.returncode, stderr, restarts


def listed_files(rows: list[str]) -> list[tuple]:
    """Each file's evidence, path and sha256: what was found, not the scores that what is missing would raise."""
    return sorted((row["evidence"], row["path"], row["sha256"]) for row in map(json.loads, rows))


def test_units_that_kill_every_worker_are_quarantined_and_the_rest_finishes(
        reference: dict[str, list[str]], lab_postgres: lab.LocalPostgres, lab_redis: lab.LocalRedis,
        tmp_path: Path) -> None:
    """Each worker dies as soon as it takes the capture, or the second part of demo-windows.img's files. Each is sent
    MAX_SENDS times, then quarantined: the capture fails; the image ends partial saying so (its ledger counts the
    part), and every other file of it is in the case."""
    case, poison, image = tmp_path / "case", DEMO / "demo-capture.pcap", DEMO / "demo-windows.img"
    code, stderr, restarts = scan_with_workers_dying_at(f"unit-taken-{poison.name},unit-taken-{image.name}-part-1",
                                                        case, lab_postgres.url, lab_redis.url, tmp_path)
    assert code == 1, stderr  # incomplete: one evidence item was not examined, one only in part
    assert f"{poison}: failed: sent {distributed.MAX_SENDS} times, never examined to its end" in stderr
    assert f"{image}: partial: 1 of " in stderr and f"parts of its files not examined: sent {distributed.MAX_SENDS} " \
        "times, never examined to its end" in stderr
    assert restarts >= 2 * distributed.MAX_SENDS - 2
    taken = [entry["unit"] for entry in audit_entries(case, "unit taken")]
    lost = {unit.key: unit for unit in run_units(case) if unit.status == "quarantined"}
    assert set(lost) == {str(poison), str(image)} and lost[str(image)].part == 1
    assert all(taken.count(unit.id) == distributed.MAX_SENDS for unit in lost.values())
    assert sorted(unit["evidence"] for entry in audit_entries(case, "units quarantined") for unit in entry["units"]) \
        == sorted([str(poison), str(image)])
    db = open_case(case)
    try:
        paths = {fields[0] for fields, _ in json.loads(units.objects(db, lost[str(image)].id))}
        status, unit_stage = db.execute("SELECT e.status, l.reasons FROM evidence e JOIN ledger l ON l.evidence_id = e.id "
                                        "WHERE e.path = ? AND l.stage = 'unit'", [str(image)]).fetchone()
    finally:
        db.close()
    assert status == "partial" and f"quarantined: sent {distributed.MAX_SENDS} times" in unit_stage
    expected = [row for row in listed_files(reference["files"]) if row[0] != str(poison) and not (
        row[0] == str(image) and (row[1] in paths or row[1].split("!")[0] in paths))]
    assert paths and listed_files(exports(case, ("files",))["files"]) == expected
    info = run_cli("info", "--case", case)
    assert f"quarantined: sent {distributed.MAX_SENDS} times" in info.stdout
