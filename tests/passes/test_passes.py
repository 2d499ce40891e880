"""The post-scan passes: run in their declared order, scoring last and once per scan or match, each
idempotent, and a pass that fails adds nothing.

The case is the demo laptop's disk image and capture, with the demo Windows computer's disk image. The intel
matches them by values other tools give: the hashes of files as Sleuth Kit's `icat` reads them through
`md5sum`/`sha256sum`, and the name looked up and the server's address as tshark decodes the capture. What each
run changed is counted with the sqlite3 CLI.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlite_utils

from cybertriage import cli
from cybertriage.case import open_case
from cybertriage.case.custody import write_transaction
from cybertriage.formatting import utc_now
from cybertriage.intel import load_intel
from cybertriage.passes import PASSES, SCORING, Pass, PassContext, PassResult, chosen_passes, run_passes
from cybertriage.passes.artefact_links import ArtefactLinkPass
from cybertriage.passes.correlation import CorrelationPass
from cybertriage.passes.iocs import IocPass
from cybertriage.passes.scoring import ScoringPass
from tests.conftest import REPO, run_cli
from tests.intel.conftest import reference_files
from tests.test_correlate import _tshark

DEMO = REPO / "resources" / "demo"
DISK, CAPTURE = DEMO / "demo-disk.img", DEMO / "demo-capture.pcap"
WINDOWS = DEMO / "demo-windows.img"  # its artefacts give the artefact-links pass its work


@dataclass
class Intel:
    db: Path
    bad_md5: str  # /Downloads/eicar.com, in the known-bad list
    tor_links_sha256: str  # /home/alex/notes/tor-links.txt, an IOC
    portal: str  # the name the capture looks up, an IOC
    server: str  # the address it downloads from, an IOC


@pytest.fixture(scope="module")
def intel(tmp_path_factory: pytest.TempPathFactory) -> Intel:
    base = tmp_path_factory.mktemp("passes-intel")
    files = {ref.path: ref for ref in reference_files(DISK)}
    bad, tor_links = files["/Downloads/eicar.com"], files["/home/alex/notes/tor-links.txt"]
    [[portal]] = _tshark(CAPTURE, "dns.flags.response == 0 && dns.qry.type == 1", "dns.qry.name")[:1]
    [[server]] = _tshark(CAPTURE, "http.request", "ip.dst")[:1]
    (base / "bad.md5").write_text(f"{bad.md5}  EICAR-Test-File\n")
    (base / "good.md5").write_text(f"{files['/Documents/meeting-notes.txt'].md5}  notes\n")
    (base / "iocs.csv").write_text(f"type,value,description,severity\nsha256,{tor_links.sha256},tor links,medium\n"
                                   f"domain,{portal},portal,high\nipv4,{server},server,critical\n")
    db = base / "intel.db"
    for command in (("hashset", "import", base / "bad.md5", "--name", "bad"),
                    ("hashset", "import", base / "good.md5", "--name", "good", "--known", "good"),
                    ("ioc", "import", base / "iocs.csv", "--name", "feed")):
        imported = run_cli(*command, "--intel-db", db)
        assert imported.code == 0, imported.stderr
    return Intel(db, bad.md5, tor_links.sha256, portal, server)


@pytest.fixture(scope="module")
def scanned_without_passes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo evidence (the laptop's disk, the Windows computer's disk, the capture) scanned with no intel and
    without correlation or artefact links: every pass finds its work still to do."""
    case = tmp_path_factory.mktemp("passes-case") / "case"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CorrelationPass, "wanted", lambda self, context: False)
        patch.setattr(ArtefactLinkPass, "wanted", lambda self, context: False)
        assert cli.main(["scan", str(DISK), str(WINDOWS), str(CAPTURE), "--case", str(case), "--quiet", "--no-intel"]) == 0
    assert _findings(case, "correlation") == 0
    return case


def _sqlite(case: Path, query: str) -> str:
    return subprocess.run(["sqlite3", str(case / "case.db"), query], capture_output=True, text=True, check=True).stdout


def _state(case: Path) -> tuple[str, str, str]:
    """Findings per analyzer, every file's mark and score, and the timeline's events counted per kind, as the
    sqlite3 CLI reads them."""
    return (_sqlite(case, "SELECT analyzer, count(*) FROM findings GROUP BY analyzer ORDER BY analyzer"),
            _sqlite(case, "SELECT id, known, known_set, score, reasons FROM files ORDER BY id"),
            _sqlite(case, "SELECT kind, sum(events) FROM timeline_counts GROUP BY kind ORDER BY kind"))


def _findings(case: Path, analyzer: str) -> int:
    return int(_sqlite(case, f"SELECT count(*) FROM findings WHERE analyzer = '{analyzer}'"))


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the name of every pass as it runs (and let it run)."""
    calls: list[str] = []
    for step in PASSES:
        original = type(step).run

        def run(self: Pass, db: sqlite_utils.Database, context: PassContext, original=original) -> PassResult:
            calls.append(self.NAME)
            return original(self, db, context)

        monkeypatch.setattr(type(step), "run", run)
    return calls


def _run(db: sqlite_utils.Database, context: PassContext, step: Pass) -> None:
    with write_transaction(db):
        [outcome] = run_passes(db, context, [step])
    assert outcome.result is not None, outcome.error


def test_declared_order() -> None:
    assert [step.NAME for step in PASSES] == ["hashsets", "ioc", "correlation", "artefact-links", "timeline-counts", "scoring"]
    assert PASSES[-1] is SCORING


def test_a_scan_runs_every_pass_in_order_and_scores_once(intel: Intel, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _spy(monkeypatch)
    assert cli.main(["scan", str(DISK), str(CAPTURE), "--case", str(tmp_path / "case"), "--quiet",
                     "--intel-db", str(intel.db)]) == 0
    assert calls == ["hashsets", "ioc", "correlation", "artefact-links", "timeline-counts", "scoring"]
    case = tmp_path / "case"
    assert _sqlite(case, f"SELECT known, known_set FROM files WHERE md5 = '{intel.bad_md5}'").split() == ["bad|bad"]
    ioc_files = _sqlite(case, "SELECT f.sha256 FROM findings g JOIN files f ON f.id = g.object_id "
                              "WHERE g.analyzer = 'ioc' AND g.object_kind = 'file'").split()
    assert intel.tor_links_sha256 in ioc_files
    reasons = _sqlite(case, f"SELECT reasons FROM files WHERE sha256 = '{intel.tor_links_sha256}'")
    assert f"IOC sha256 {intel.tor_links_sha256} (feed)" in reasons  # raised by the scoring pass

    again = _spy(monkeypatch)
    before = _state(case)
    assert cli.main(["scan", str(DISK), str(CAPTURE), "--case", str(case), "--quiet", "--intel-db", str(intel.db)]) == 0
    assert again == ["hashsets", "ioc", "correlation", "artefact-links", "timeline-counts", "scoring"]
    assert _state(case) == before  # the same evidence again: nothing new from any pass


def test_a_match_command_runs_its_pass_then_scores_once(intel: Intel, scanned_without_passes: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    case = tmp_path / "case"
    shutil.copytree(scanned_without_passes, case)
    calls = _spy(monkeypatch)
    assert cli.main(["ioc", "match", "--case", str(case), "--intel-db", str(intel.db)]) == 0
    assert cli.main(["hashset", "match", "--case", str(case), "--intel-db", str(intel.db)]) == 0
    assert calls == ["ioc", "scoring", "hashsets", "scoring"]
    assert _findings(case, "ioc") > 0 and _findings(case, "hashset") == 1


def test_each_pass_is_idempotent(intel: Intel, scanned_without_passes: Path, tmp_path: Path) -> None:
    """Each pass in turn, twice: the first run adds (or, for scoring, raises) something, the second nothing."""
    case = tmp_path / "case"
    shutil.copytree(scanned_without_passes, case)
    db = open_case(case)
    found = load_intel(intel.db)
    context = PassContext(found, utc_now())
    assert chosen_passes(context) == PASSES
    first_scores = _state(case)[1]
    for step in PASSES:
        before = _state(case)
        _run(db, context, step)
        once = _state(case)
        assert once != before, f"{step.NAME} found nothing to do"
        _run(db, context, step)
        assert _state(case) == once, f"{step.NAME} added something the second time"
    assert _state(case)[1] != first_scores
    assert _findings(case, "hashset") == 1 and _findings(case, "correlation") > 0

    settled = _state(case)
    with write_transaction(db):  # the whole sequence again, as the next scan runs it
        run_passes(db, PassContext(found, utc_now()), chosen_passes(PassContext(found, utc_now())))
    assert _state(case) == settled


def test_scoring_twice_counts_each_finding_once(intel: Intel, scanned_without_passes: Path, tmp_path: Path) -> None:
    case = tmp_path / "case"
    shutil.copytree(scanned_without_passes, case)
    db = open_case(case)
    context = PassContext(load_intel(intel.db), utc_now())
    _run(db, context, IocPass())
    assert context.raises
    before = _state(case)
    _run(db, context, SCORING)
    scored = _state(case)
    assert scored != before
    _run(db, context, ScoringPass())
    assert _state(case) == scored and not context.raises


def test_a_failing_pass_adds_nothing_and_says_so(intel: Intel, scanned_without_passes: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    case = tmp_path / "case"
    shutil.copytree(scanned_without_passes, case)
    original = IocPass.run

    def run_then_fail(self: IocPass, db: sqlite_utils.Database, context: PassContext) -> PassResult:
        original(self, db, context)  # its findings are written, then it fails
        raise RuntimeError("matcher broke")

    monkeypatch.setattr(IocPass, "run", run_then_fail)
    before = _state(case)
    assert cli.main(["ioc", "match", "--case", str(case), "--intel-db", str(intel.db)]) == 1
    assert capsys.readouterr().err == "cybertriage: IOC pass failed: RuntimeError: matcher broke\n"
    assert _state(case) == before
    actions = _sqlite(case, "SELECT action FROM audit_log ORDER BY id").splitlines()
    assert actions[-2:] == ["IOC pass failed", "scores raised"]
