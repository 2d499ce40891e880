"""The bounded fuzzing run of the normal suite, and every input the fuzzer ever broke the code with.

2,000 cases of campaign seed FUZZ_SEED (the same cases on every run); a failure names the case
and the input is saved, so `python -m tests.fuzz --replay FILE` runs it again. The longer run
is `make fuzz N=...` with a fresh seed.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import tempfile
import threading
import time
from pathlib import Path

import pytest

from cybertriage.evidence import open_evidence
from tests.fuzz.campaign import Case, case_from_file, default_workers, run_cases
from tests.fuzz.seeds import KINDS, build_seeds
from tests.fuzz.targets import Harness

FUZZ_SEED = 20251125
CASES = 2000
REGRESSIONS = sorted((Path(__file__).parent / "regressions").iterdir())


@pytest.fixture(scope="session")
def fuzz_seeds(corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    return build_seeds(tmp_path_factory.mktemp("fuzz-seeds"), corpus_dir)


def test_seeds_cover_every_kind(fuzz_seeds) -> None:
    assert {s.kind for s in fuzz_seeds} == set(KINDS)
    assert all(s.fields or s.hot for s in fuzz_seeds)


def test_bounded_campaign(fuzz_seeds) -> None:
    saved = Path(tempfile.mkdtemp(prefix="cybertriage-fuzz-failures-"))
    report = run_cases(fuzz_seeds, FUZZ_SEED, range(CASES), default_workers(), save_to=saved)
    print(report.summary())
    assert report.cases == CASES
    assert set(report.per_kind) == set(KINDS)
    assert not report.failures, f"{report.summary()}\ninputs saved in {saved}"


@pytest.mark.parametrize("path", REGRESSIONS, ids=[p.name for p in REGRESSIONS])
def test_regression(fuzz_seeds, path: Path) -> None:
    assert path.stat().st_size < 100 * 1024
    report = run_cases(fuzz_seeds, 0, [case_from_file(path)], workers=1)
    assert not report.failures, report.summary()


def test_directory_larger_than_its_filesystem_is_not_read(tmp_path: Path) -> None:
    """Case 6727 of seed 3: lost+found claims 3.2 GB in a 2 MiB ext4; Sleuth Kit spends seconds on
    such a directory (fls -r too), so it is recorded as skipped rather than opened."""
    image = tmp_path / "ext4.raw"
    image.write_bytes(case_from_file(Path(__file__).parent / "regressions" / "ext4-s3-c6727.raw.gz").data)
    source = open_evidence(image)
    listed = []
    for obj in source.objects(threading.Event()):
        listed.append(obj.path)
        if obj.path == "/home":  # the root's next entry: lost+found has been dealt with
            break
    assert listed == ["/lost+found", "/home"]
    assert ("files", "/lost+found", "directory larger than the filesystem") in source.ledger.warnings


def test_a_crash_a_hang_and_an_exception_are_each_caught(fuzz_seeds, monkeypatch: pytest.MonkeyPatch) -> None:
    """The workers are forked, so they run this patched harness: a segfault, a sleep and an error."""
    def misbehave(self, kind: str, path: Path, full_scan: bool = False) -> str:
        behaviour = path.read_bytes()[:5]
        if behaviour == b"crash":
            faulthandler.disable()  # pytest's, inherited: it would print the planted segfault
            os.kill(os.getpid(), signal.SIGSEGV)
        if behaviour == b"hang!":
            time.sleep(60)
        raise KeyError("escaped")

    monkeypatch.setattr(Harness, "run", misbehave)
    cases = [Case(n, "pcap", "planted", [], False, data) for n, data in enumerate((b"crash", b"hang!", b"error"))]
    report = run_cases(fuzz_seeds, 0, cases, workers=2, deadline=3)
    assert [(case.index, result.status) for case, result in sorted(report.failures, key=lambda f: f[0].index)] == [
        (0, "crash"), (1, "hang"), (2, "fail")]
    failed = next(result for case, result in report.failures if result.status == "fail")
    assert failed.detail.startswith("KeyError: 'escaped'")
