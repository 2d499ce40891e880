"""Commands that meet a running scan, two scans of one new case, a scan stopped by a full disk, and the
application's self-test on something that is not a case. A scan is held at a named point by stopping its
process there (CYBERTRIAGE_CRASH_AT with CYBERTRIAGE_CRASH_SIGNAL=SIGSTOP), so what meets it is certain;
what the case holds afterwards is read with the sqlite3 CLI."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, Images, run_cli


def sqlite(case: Path, sql: str) -> str:
    return subprocess.run(["sqlite3", str(case / "case.db"), sql], capture_output=True, text=True,
                          check=True).stdout.strip()


def start_scan(*args: str | Path, env: dict[str, str] | None = None, **popen: object) -> subprocess.Popen:
    command = [sys.executable, "-m", "cybertriage", "scan", *map(str, args), "--quiet"]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})}, **popen)  # type: ignore[arg-type]


def stopped_at(point: str) -> dict[str, str]:
    return {"CYBERTRIAGE_CRASH_AT": point, "CYBERTRIAGE_CRASH_SIGNAL": "SIGSTOP"}


def wait_stopped(process: subprocess.Popen, timeout: float = 120) -> None:
    """Until the process has stopped itself (state T in /proc)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        state = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "T":
            return
        time.sleep(0.05)
    raise AssertionError("the scan never reached its stopping point")


@pytest.fixture()
def loose_files(tmp_path: Path) -> Path:
    """Enough files that a scan writes several batches (each batch is one write transaction)."""
    folder = tmp_path / "loose"
    folder.mkdir()
    for number in range(3000):
        (folder / f"note-{number:05}.txt").write_text(f"note {number}\n" * 20)
    return folder


@pytest.fixture()
def scanned(disk_images: Images, tmp_path: Path) -> Iterator[Path]:
    case = tmp_path / "case"
    assert run_cli("scan", disk_images.bare_fat, "--case", case, "--quiet").code == 0
    yield case


def test_verify_during_a_scan_says_so_and_records_nothing(scanned: Path, loose_files: Path) -> None:
    scan = start_scan(loose_files, "--case", scanned, env=stopped_at("evidence-added"))
    try:
        wait_stopped(scan)
        entries = sqlite(scanned, "SELECT count(*) FROM audit_log")
        verify = run_cli("verify", "--case", scanned)
        assert verify.code == 1 and verify.stdout == ""
        assert verify.stderr.count("\n") == 1 and "a scan of" in verify.stderr and "is running" in verify.stderr
        assert "nothing recorded" in verify.stderr
        assert sqlite(scanned, "SELECT count(*) FROM audit_log") == entries  # no false MISMATCH on record
    finally:
        scan.send_signal(signal.SIGCONT)
    assert scan.wait(300) == 0, scan.communicate()
    assert run_cli("verify", "--case", scanned).code == 0  # the same case, once the scan is done


def test_tag_waits_for_a_scan_holding_the_write_lock(scanned: Path, loose_files: Path) -> None:
    """The scan is stopped inside a write transaction (half a batch written): a tag must wait, not fail."""
    file_id = sqlite(scanned, "SELECT min(id) FROM files")
    scan = start_scan(loose_files, "--case", scanned, env=stopped_at("writer-batch"))
    try:
        wait_stopped(scan)
        tag = subprocess.Popen([sys.executable, "-m", "cybertriage", "tag", "--case", str(scanned), "--file", file_id,
                                "--tag", "during-scan"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        time.sleep(3)
        assert tag.poll() is None, tag.communicate()  # still waiting for the lock, not failed
    finally:
        scan.send_signal(signal.SIGCONT)
    out, err = tag.communicate(timeout=120)
    assert tag.returncode == 0 and "locked" not in err, err
    assert scan.wait(300) == 0, scan.communicate()
    assert sqlite(scanned, "SELECT count(*) FROM tags WHERE tag = 'during-scan'") == "1"
    assert run_cli("verify", "--case", scanned).code == 0  # the tag's entry and the scan's are one chain


def test_tags_during_a_running_scan_all_succeed(scanned: Path, loose_files: Path) -> None:
    file_id = sqlite(scanned, "SELECT min(id) FROM files")
    scan = start_scan(loose_files, "--case", scanned)
    results = []
    while scan.poll() is None or len(results) < 3:
        results.append(run_cli("tag", "--case", scanned, "--file", file_id, "--tag", f"t{len(results)}"))
    assert scan.wait(300) == 0, scan.communicate()
    assert all(r.code == 0 for r in results), [r.stderr for r in results if r.code]
    assert sqlite(scanned, "SELECT count(*) FROM tags") == str(len(results))
    assert run_cli("verify", "--case", scanned).code == 0


def test_two_scans_of_a_new_case_one_clear_refusal(disk_images: Images, tmp_path: Path) -> None:
    case = tmp_path / "case"
    first = start_scan(disk_images.bare_fat, "--case", case, env=stopped_at("case-created"))
    try:
        wait_stopped(first)
        second = start_scan(disk_images.bare_fat, "--case", case)
        out, err = second.communicate(timeout=120)
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 2, err
    assert err.count("\n") == 1 and "in use by another cybertriage scan" in err, err
    assert first.wait(300) == 0, first.communicate()
    assert sqlite(case, "SELECT count(*) FROM runs") == "1"


def test_two_scans_started_together_never_trip_over_each_other(disk_images: Images, tmp_path: Path) -> None:
    for attempt in range(3):
        case = tmp_path / f"case{attempt}"
        scans = [start_scan(disk_images.bare_fat, "--case", case) for _ in range(2)]
        outcomes = [(scan.wait(300), scan.stderr.read()) for scan in scans]
        for scan in scans:
            scan.stdout.close()
            scan.stderr.close()
        codes = sorted(code for code, _ in outcomes)
        assert codes in ([0, 0], [0, 2]), outcomes  # the second after the first, or refused while it runs
        for code, err in outcomes:
            assert "Traceback" not in err and "already exists" not in err, err
            if code == 2:
                assert "in use by another cybertriage scan" in err
        assert sqlite(case, "SELECT status FROM runs ORDER BY id").split() == ["completed"] * codes.count(0)


def _file_size_limit(limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_run_ended_by_a_full_disk_is_marked_at_once(scanned: Path, loose_files: Path) -> None:
    limit = (scanned / "case.db").stat().st_size + 32 * 1024  # writing past this fails as a full disk does
    scan = start_scan(loose_files, "--case", scanned, preexec_fn=lambda: _file_size_limit(limit))
    out, err = scan.communicate(timeout=300)
    assert scan.returncode == 3, err
    status, summary = sqlite(scanned, "SELECT status, summary FROM runs ORDER BY id DESC LIMIT 1").split("|", 1)
    assert status == "failed" and ("disk I/O error" in summary or "full" in summary), (status, summary)
    assert sqlite(scanned, "SELECT action FROM audit_log ORDER BY id DESC LIMIT 1") == "scan failed"
    info = run_cli("info", "--case", scanned)
    [second_run] = [line for line in info.stdout.splitlines() if line.startswith("  2: ")]
    assert second_run.endswith("failed") or " failed," in second_run, info.stdout


def test_gui_self_test_on_what_is_not_a_case_exits_cleanly_every_time(tmp_path: Path) -> None:
    not_a_case = tmp_path / "notes.txt"
    not_a_case.write_text("not a case\n")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "case.db").write_text("not a database either\n")
    environment = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
    for run in range(20):
        target = not_a_case if run % 2 else foreign
        done = subprocess.run([sys.executable, "-m", "cybertriage.gui", "--self-test", str(target)], cwd=REPO,
                              env=environment, capture_output=True, text=True, timeout=120)
        assert done.returncode == 1, (run, done.returncode, done.stderr[-2000:])  # never -11 (SIGSEGV)
        assert f"cybertriage-gui: self-test: cannot open {target}" in done.stderr
