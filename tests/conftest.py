"""Shared fixtures: real evidence built once per session with real tools, and a CLI runner.

Expected answers come from Sleuth Kit, ewfverify, the yara CLI and sha256sum
(see tests/images.py), never from cybertriage itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cybertriage import lab
from tests import images

REPO = Path(__file__).resolve().parents[1]
# Scans in tests use no workstation hash sets or IOC lists unless a test names an intel database.
os.environ.setdefault("CYBERTRIAGE_INTEL_DB", "/nonexistent/cybertriage-tests/intel.db")


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The public captures, disk images, PE files and YARA rules in tests/data/corpus (see its MANIFEST.md)."""
    return images.CORPUS


@pytest.fixture(scope="session")
def lab_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[lab.LocalPostgres]:
    """A real PostgreSQL server (Debian's postgresql) of the session's own on a free port, stopped after."""
    server = lab.start_postgres(tmp_path_factory.mktemp("lab-postgres"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def lab_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[lab.LocalRedis]:
    """A real Redis server (Debian's redis-server) of the session's own on a free port, stopped after."""
    server = lab.start_redis(tmp_path_factory.mktemp("lab-redis"))
    yield server
    server.stop()


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(*args: str | Path, timeout: int = 300, obey_permissions: bool = False) -> CliResult:
    """Run `python -m cybertriage` as a separate process, as an examiner's script would.

    `obey_permissions` drops root's power to read any file, so that an unreadable file is one.
    """
    command = [sys.executable, "-m", "cybertriage", *map(str, args)]
    if obey_permissions and os.geteuid() == 0:
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    return CliResult(done.returncode, done.stdout, done.stderr)


def case_psql(url: str, case: Path, statement: str) -> list[str]:
    """Rows as psql (PostgreSQL's own client) prints them, in the schema of a case kept there (store.json names it)."""
    schema = json.loads((case / "store.json").read_text())["schema"]
    done = subprocess.run(["psql", url, "-q", "-v", "ON_ERROR_STOP=1", "-Atc", f"SET search_path TO {schema}; {statement}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def export(case: Path, what: str) -> list[dict]:
    result = run_cli("export", "--case", case, "--what", what, "--format", "jsonl")
    assert result.code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def scan_cancelled_after(monkeypatch: pytest.MonkeyPatch, evidence: Path, case: Path, step: str, count: int) -> tuple:
    """Scan `evidence` into `case` (the default rules), cancelled as the application's button would once the examiner's
    `step` (a method of pipeline.examine.Examiner: `_examine_member`, `_queue_artefact`) has run `count` times: the
    scan, and how many times the step ran in all."""
    import threading

    from cybertriage.analyzers import Settings
    from cybertriage.assets import asset_dir
    from cybertriage.pipeline import Scan, ScanOptions, examine

    cancel = threading.Event()
    calls = []
    original = getattr(examine.Examiner, step)

    def counted(self, *args):
        calls.append(args)
        if len(calls) == count:
            cancel.set()
        return original(self, *args)

    scan = Scan(case, [evidence], ScanOptions(settings=Settings(rule_paths=(asset_dir("rules"),))), cancel)
    with monkeypatch.context() as patch:  # undone at the scan's end, and only this patch
        patch.setattr(examine.Examiner, step, counted)
        for _ in scan.run():
            pass
    return scan, len(calls)


def sha256_of(*paths: Path) -> str:
    """sha256 of the files concatenated, the way `cat … | sha256sum` computes it."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass
class Images:
    mbr: Path
    gpt: Path
    bare_fat: Path
    e01: Path
    e01_multi: Path
    split_raw: Path


@pytest.fixture(scope="session")
def disk_images(tmp_path_factory: pytest.TempPathFactory) -> Images:
    missing = images.missing_tools()
    assert not missing, f"test tools missing: {missing} (run `make system-packages`)"
    base = tmp_path_factory.mktemp("images")

    def folder(name: str) -> Path:
        (base / name).mkdir()
        return base / name

    mbr = images.build_mbr_fat32_ext4(folder("mbr"))
    return Images(
        mbr=mbr,
        gpt=images.build_gpt_ntfs(folder("gpt")),
        bare_fat=images.build_bare_fat(folder("fat")),
        e01=images.make_e01(mbr, folder("e01")),
        e01_multi=images.make_e01(mbr, folder("e01-multi"), segment_bytes=20 * 1024 * 1024),
        split_raw=images.make_split_raw(mbr, folder("split"), segment_bytes=16 * 1024 * 1024),
    )


@dataclass
class ScannedCase:
    case: Path
    result: CliResult
    files: list[dict]
    findings: list[dict]
    hashes_before: dict[Path, str]

    def files_of(self, evidence: Path) -> list[dict]:
        return [row for row in self.files if row["evidence"] == str(evidence.resolve())]


@pytest.fixture(scope="session")
def scanned(disk_images: Images, tmp_path_factory: pytest.TempPathFactory) -> ScannedCase:
    """One case holding every built image, scanned once by the CLI."""
    case = tmp_path_factory.mktemp("case")
    evidence = [disk_images.mbr, disk_images.gpt, disk_images.bare_fat, disk_images.e01,
                disk_images.e01_multi, disk_images.split_raw]
    containers = [p for e in evidence for p in (images.split_segments(e) or [e])]
    before = {p: sha256_of(p) for p in containers}
    result = run_cli("scan", *evidence, "--case", case, "--quiet")
    return ScannedCase(case, result, export(case, "files"), export(case, "findings"), before)
