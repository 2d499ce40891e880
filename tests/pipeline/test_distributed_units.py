"""A scan spread over Celery workers, its units one by one: a worker of another version, blind to the evidence or
late leaves a unit queued; a broker out of reach stops the scan before anything; an image's damaged chunks are
marked when its files go in parts; the progress names the parts in flight; a worker builds each scan's analyzers
again. Real Redis and PostgreSQL servers (cybertriage.lab), real worker processes; apart from test_distributed.py so
that the two files run side by side (`-n 2`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cybertriage import __version__, lab
from cybertriage.case import audit, units, writes
from cybertriage.case.custody import write_transaction
from cybertriage.case.store import open_case, use_store
from cybertriage.formatting import utc_now
from cybertriage.pipeline import distributed
from tests.case_exports import differences, exports
from tests.conftest import REPO, run_cli
from tests.pipeline.spread import EVIDENCE, ledger, run_units, workers


def test_a_worker_of_another_version_blind_to_the_evidence_or_late_leaves_the_unit_queued(
        lab_postgres: lab.LocalPostgres, tmp_path: Path) -> None:
    case = tmp_path / "case"
    use_store(case, lab_postgres.url)
    db = open_case(case)
    try:
        run_id = writes.start_run(db, {"started": utc_now(), "status": "running", "tool_version": __version__})
        evidence_id = writes.add_evidence(db, str(EVIDENCE[3]), utc_now())
        unit_id = units.add_unit(db, run_id, evidence_id, str(EVIDENCE[3]), str(EVIDENCE[3]))
        audit(db, "test", {})
    finally:
        db.close()
    message = {"unit": unit_id, "case": str(case), "run": run_id, "evidence": evidence_id, "path": str(EVIDENCE[3]),
               "key": str(EVIDENCE[3]), "version": "0.0.1", "recipe": {}}
    distributed.examine(message, "old@test", jobs=1)
    db = open_case(case)
    try:
        older = units.unit(db, unit_id)
        assert older is not None and older.status == "queued" and older.claims == 0
        assert older.message == f"old@test runs cybertriage {__version__}, the scan 0.0.1: refused (the same version everywhere)"
        distributed.examine({**message, "version": __version__, "path": str(tmp_path / "not-shared.pcap")},
                            "blind@test", jobs=1)
        blind = units.unit(db, unit_id)
        assert blind is not None and blind.status == "queued"
        assert blind.message == f"blind@test cannot see {tmp_path / 'not-shared.pcap'}"
        # the scan's process was killed, and the next scan of the case marked its run interrupted: a message of
        # it still in the broker is not examined beside the new scan
        with write_transaction(db):
            writes.start_run(db, {"started": utc_now(), "status": "running", "tool_version": __version__})
        distributed.examine({**message, "version": __version__}, "late@test", jobs=1)
        late = units.unit(db, unit_id)
        assert late is not None and late.status == "queued" and late.claims == 0 and late.worker is None
    finally:
        db.close()


def test_a_broker_that_cannot_be_reached_stops_the_scan_before_anything(lab_postgres: lab.LocalPostgres,
                                                                         tmp_path: Path) -> None:
    case = tmp_path / "case"
    result = run_cli("scan", EVIDENCE[3], "--case", case, "--store", lab_postgres.url,
                     "--broker", "redis://127.0.0.1:1/0")
    assert result.code == 2
    assert result.stderr.startswith("cybertriage: error: cannot reach the broker redis://127.0.0.1:1/0")
    assert len(result.stderr.strip().splitlines()) == 1 and not case.exists()
    result = run_cli("scan", EVIDENCE[3], "--case", case, "--broker", "redis://127.0.0.1:1/0")
    assert result.code == 2 and not case.exists()
    result = run_cli("scan", EVIDENCE[3], "--case", case, "--store", lab_postgres.url,
                     "--broker", "redis://:secret@127.0.0.1:1/0")
    assert (result.code, result.stderr) == (2, "cybertriage: error: the broker's URL holds a password: give it in "
                                               "CYBERTRIAGE_BROKER_PASSWORD instead\n")
    assert not case.exists()


def test_an_image_with_damaged_chunks_in_parts_is_marked_as_a_local_scan_marks_it(
        lab_postgres: lab.LocalPostgres, lab_redis: lab.LocalRedis, tmp_path: Path) -> None:
    """An E01 with a damaged chunk in a file's data (tests/evidence/test_e01_damage.py): the image's hash is
    taken by the unit that lists it, perhaps before the part holding that file is examined; the file must still
    lose its hash, and the ledger count it, as in a local scan."""
    from tests import images
    from tests.evidence.test_e01_damage import _chunk_of, _damage

    (tmp_path / "fat").mkdir()
    raw_image = images.build_large_fat(tmp_path / "fat")
    raw = raw_image.read_bytes()
    e01 = images.make_e01(raw_image, tmp_path, compression="none")
    _damage([e01], raw, _chunk_of(raw, "evidence/large.bin", 192 * 1024), "none")
    local, case = tmp_path / "local", tmp_path / "case"
    assert run_cli("scan", e01, "--case", local, "--quiet").code == 1
    with workers(lab_redis.url, tmp_path, "w1@test", "w2@test"):
        done = subprocess.run([sys.executable, "-m", "cybertriage", "scan", str(e01), "--case", str(case), "--store",
                               lab_postgres.url, "--broker", lab_redis.url, "--unit-mb", "1", "--quiet"],
                              capture_output=True, text=True, timeout=600, cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 1, done.stderr
    assert differences(exports(local), exports(case)) == {}
    assert ledger(case) == ledger(local)
    assert [unit for unit in run_units(case) if unit.parent_id is not None]  # its files went in a part


def test_the_progress_names_each_part_in_flight_and_counts_parts_as_units() -> None:
    def unit(number: int, status: str, worker: str | None, part: int | None) -> units.Unit:
        return units.Unit(number, 1, "/share/disk.E01", "/share/disk.E01", status, worker, 1, 1, 0, 10, 100, None,
                          None if part is None else 1, part, False)

    now = [unit(1, "done", "w1@lab", None), unit(2, "running", "w1@lab", 0), unit(3, "running", "w2@lab", 1),
           unit(4, "queued", None, 2), unit(5, "quarantined", "w2@lab", 3)]
    progress = distributed._progress(now)
    assert progress.evidence == "units 1/5" and progress.units == (2, 5)
    assert progress.stage == "2 in flight, 1 failed (w1@lab: disk.E01 part 1, w2@lab: disk.E01 part 2)"


def test_a_worker_builds_each_scans_analyzers_again(lab_postgres: lab.LocalPostgres, lab_redis: lab.LocalRedis,
                                                    tmp_path: Path) -> None:
    """A worker keeps a scan's analyzers for all of its units, never for the next scan: a rule file edited between
    two scans is the one the second scan's units match with. The demo capture carries a body that says "demo stage
    two" (tshark's follow of its second TCP stream)."""
    rules = tmp_path / "probe.yar"

    def rules_hit(case: Path, text: str) -> bool:
        rules.write_text(f'rule probe_stage_two {{ strings: $a = "{text}" condition: $a }}\n')
        done = subprocess.run([sys.executable, "-m", "cybertriage", "scan", str(EVIDENCE[3]), "--case", str(case),
                               "--store", lab_postgres.url, "--broker", lab_redis.url, "--rules", str(rules),
                               "--quiet"], capture_output=True, text=True, timeout=300, cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
        assert done.returncode == 0, done.stderr
        findings = run_cli("export", "--case", case, "--what", "findings", "--format", "jsonl")
        return "probe_stage_two" in findings.stdout

    with workers(lab_redis.url, tmp_path, "w@test"):
        assert not rules_hit(tmp_path / "first", "not in this capture")
        assert rules_hit(tmp_path / "second", "demo stage two")
