"""Nothing cybertriage writes lands on a case or on evidence (issue 24): report, export and extract refuse the
case database and its companions, the case's own files, every evidence file and segment, symbolic links at
the destination and at temporary names, and existing files without --force; a report killed at any moment
never leaves a PDF beside a .sha256 that does not match it; reading commands read cases on read-only files
and refuse files that are not cases without changing them; CSV cells that a spreadsheet would run are text.

Expected answers come from sha256sum, the sqlite3 CLI, Python's csv module reading the files back, and
what the tests themselves planted; never from cybertriage.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlite_utils

from cybertriage.case.schema import MIGRATIONS
from tests.conftest import REPO, export, run_cli
from tests.images import CORPUS

EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE = 0, 1, 2
FORMULA_NAMES = ["=1+2", "+SUM(1)", "-2+3", "@SUM(A1)", "\tx=1", "\rx=1"]  # OWASP's dangerous first characters
EICAR = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def _sha256(path: Path) -> str:
    return subprocess.run(["sha256sum", path], capture_output=True, text=True, check=True).stdout.split()[0]


def _tables(database: Path) -> str:
    return subprocess.run(["sqlite3", "-readonly", database, ".tables"], capture_output=True, text=True,
                          check=True).stdout


def _audit_actions(case: Path) -> list[str]:
    out = subprocess.run(["sqlite3", "-json", "-readonly", case / "case.db", "SELECT action FROM audit_log ORDER BY id"],
                         capture_output=True, text=True, check=True).stdout
    return [row["action"] for row in json.loads(out or "[]")]


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@dataclass
class Scanned:
    case: Path
    folder: Path  # folder evidence, holding files with formula-like names
    loose: Path  # a single loose file as evidence
    segments: list[Path]  # the segments of an E01
    victim: Path  # a file outside case and evidence that links point to

    def fingerprint(self, case: bool = True) -> dict[str, str]:
        """sha256sum of the case's files and of every evidence file: what no refused command may change."""
        # SQLite's shared-memory index, and an empty log a reader leaves, are not content
        files = [p for p in self.case.rglob("*") if case and p.is_file() and not p.name.endswith("-shm")
                 and not (p.name.endswith("-wal") and p.stat().st_size == 0)]
        files += [p for p in self.folder.rglob("*") if p.is_file()] + [self.loose, *self.segments, self.victim]
        return {str(p): _sha256(p) for p in files}


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Scanned:
    base = tmp_path_factory.mktemp("guard")
    folder = base / "loose-files"
    folder.mkdir()
    for number, name in enumerate(FORMULA_NAMES):
        (folder / name).write_text(f"file {number}\n")
    (folder / "eicar.com").write_text(EICAR)  # a finding, so that a report can have a CSV appendix
    loose = base / "note.txt"
    loose.write_text("a loose file\n")
    segments = []
    for name in ("dfvfs_ext2.split.E01", "dfvfs_ext2.split.E02"):  # copies: a failing test must not hit the corpus
        segments.append(base / name)
        shutil.copyfile(CORPUS / "disk" / name, segments[-1])
    victim = base / "victim.txt"
    victim.write_text("not to be overwritten\n")
    case = base / "case"
    result = run_cli("scan", folder, loose, segments[0], CORPUS / "pcap" / "http_get.pcap", "--case", case, "--quiet")
    assert result.code == EXIT_OK, result.stderr
    assert list((case / "objects").rglob("*")), "the capture's HTTP body is kept in the object store"
    return Scanned(case, folder, loose, segments, victim)


def _protected(scanned: Scanned) -> dict[str, Path]:
    case = scanned.case
    stored = next(p for p in (case / "objects").rglob("*") if p.is_file())
    return {"case.db": case / "case.db", "case.db-wal": case / "case.db-wal", "case.db-journal": case / "case.db-journal",
            "custody.log": case / "custody.log",
            "stored object": stored, "new file in objects/": case / "objects" / "new.csv",
            "loose evidence": scanned.loose, "file in folder evidence": scanned.folder / FORMULA_NAMES[0],
            "new file in folder evidence": scanned.folder / "new.csv", "E01 segment": scanned.segments[1]}


def _commands(case: Path, out: Path) -> dict[str, list[str | Path]]:
    return {"report": ["report", "--case", case, "--pdf", out, "--force"],
            "export": ["export", "--case", case, "--what", "files", "--format", "csv", "-o", out, "--force"]}


@pytest.mark.parametrize("command", ["report", "export"])
def test_outputs_never_land_on_the_case_or_its_evidence(command: str, scanned: Scanned) -> None:
    before = scanned.fingerprint()
    tables = _tables(scanned.case / "case.db")
    for what, out in _protected(scanned).items():
        existed = out.exists()
        result = run_cli(*_commands(scanned.case, out)[command])  # even with --force
        assert result.code == EXIT_USAGE, (what, result.stderr)
        assert "refusing" in _one_line(result.stderr), what
        assert out.exists() == existed, what
    assert scanned.fingerprint() == before
    assert _tables(scanned.case / "case.db") == tables
    assert run_cli("info", "--case", scanned.case).code == EXIT_OK


@pytest.mark.parametrize("command", ["report", "export"])
def test_links_to_the_case_are_refused(command: str, scanned: Scanned, tmp_path: Path) -> None:
    """A folder link into the case, a symbolic link to its database, a hard link to an evidence file."""
    before = scanned.fingerprint()
    (tmp_path / "into-case").symlink_to(scanned.case)
    (tmp_path / "db-link").symlink_to(scanned.case / "case.db")
    os.link(scanned.loose, tmp_path / "hard-link")
    for out in (tmp_path / "into-case" / "case.db", tmp_path / "db-link", tmp_path / "hard-link"):
        result = run_cli(*_commands(scanned.case, out)[command])
        assert result.code == EXIT_USAGE and "refusing" in _one_line(result.stderr), (out, result.stderr)
    assert scanned.fingerprint() == before


def test_extract_never_writes_into_the_case_or_its_evidence(scanned: Scanned) -> None:
    before = scanned.fingerprint()
    case = scanned.case
    for folder in (case, case / "objects", next(p for p in (case / "objects").iterdir()), scanned.folder,
                   scanned.folder / "sub"):
        result = run_cli("extract", "--case", case, "--file", "1", "-o", folder)
        assert result.code == EXIT_USAGE and "refusing" in _one_line(result.stderr), (folder, result.stderr)
    assert not (scanned.folder / "sub").exists()
    assert scanned.fingerprint() == before


def test_symbolic_links_at_the_destination_and_temporary_names(scanned: Scanned, tmp_path: Path) -> None:
    before = scanned.fingerprint(case=False)  # the reports and the extraction below are logged in the case
    victim = scanned.victim
    out = tmp_path / "out"
    out.mkdir()
    # at the destination itself, and at the report's .sha256
    (out / "r.pdf").symlink_to(victim)
    (out / "e.csv").symlink_to(victim)
    (out / "s.pdf.sha256").symlink_to(victim)
    for args in (["report", "--case", scanned.case, "--pdf", out / "r.pdf", "--force"],
                 ["export", "--case", scanned.case, "--what", "files", "-o", out / "e.csv", "--force"],
                 ["report", "--case", scanned.case, "--pdf", out / "s.pdf"]):
        result = run_cli(*args)
        assert result.code == EXIT_USAGE and "symbolic link" in _one_line(result.stderr), (args, result.stderr)
    assert not (out / "s.pdf").exists()
    # at the report's CSV appendix
    (out / "a.findings.csv").symlink_to(victim)
    result = run_cli("report", "--case", scanned.case, "--pdf", out / "a.pdf", "--max-findings", "0", "--force")
    assert result.code == EXIT_USAGE and "symbolic link" in _one_line(result.stderr), result.stderr
    # at the temporary names the tool once used (OUT.part), for the report, its .sha256 and its appendix
    temporary = ("t.pdf.part", "t.pdf.sha256.part", "t.findings.csv.part")
    for name in temporary:
        (out / name).symlink_to(victim)
    result = run_cli("report", "--case", scanned.case, "--pdf", out / "t.pdf", "--max-findings", "0")
    assert result.code == EXIT_OK, result.stderr
    subprocess.run(["sha256sum", "-c", "--quiet", "t.pdf.sha256"], cwd=out, check=True)
    assert (out / "t.findings.csv").is_file()  # the appendix was written, beside the link
    assert all((out / name).is_symlink() for name in temporary)
    # extract: a link at an exported name or at the manifest is never followed
    (out / "x").mkdir()
    (out / "x" / "export-manifest.csv").symlink_to(victim)
    (out / "x" / "note.txt").symlink_to(victim)
    loose_id = next(row["id"] for row in export(scanned.case, "files") if row["evidence"] == str(scanned.loose))
    result = run_cli("extract", "--case", scanned.case, "--file", loose_id, "-o", out / "x")
    assert result.code == EXIT_OK, result.stderr
    assert _sha256(out / "x" / "note (2).txt") == _sha256(scanned.loose)
    assert (out / "x" / "export-manifest (2).csv").is_file()
    assert scanned.fingerprint(case=False) == before


def test_existing_files_are_replaced_only_with_force(scanned: Scanned, tmp_path: Path) -> None:
    for kind, args in (("report", ["report", "--case", scanned.case, "--pdf"]),
                       ("export", ["export", "--case", scanned.case, "--what", "files", "-o"])):
        out = tmp_path / f"{kind}.out"
        out.write_text("the examiner's own file\n")
        mine = _sha256(out)
        result = run_cli(*args, out)
        assert result.code == EXIT_USAGE and "--force" in _one_line(result.stderr)
        assert _sha256(out) == mine
        result = run_cli(*args, out, "--force")
        assert result.code == EXIT_OK, result.stderr
        assert _sha256(out) != mine
        if kind == "report":
            subprocess.run(["sha256sum", "-c", "--quiet", out.name + ".sha256"], cwd=tmp_path, check=True)


def test_report_is_logged_after_it_is_written_with_its_sha256(scanned: Scanned, tmp_path: Path) -> None:
    result = run_cli("report", "--case", scanned.case, "--pdf", tmp_path / "r.pdf", "--html", tmp_path / "r.html")
    assert result.code == EXIT_OK, result.stderr
    out = subprocess.run(["sqlite3", "-json", "-readonly", scanned.case / "case.db",
                          "SELECT detail FROM audit_log WHERE action = 'report written' ORDER BY id DESC LIMIT 1"],
                         capture_output=True, text=True, check=True).stdout
    detail = json.loads(json.loads(out)[0]["detail"])
    assert detail["pdf_sha256"] == _sha256(tmp_path / "r.pdf")
    assert detail["html_sha256"] == _sha256(tmp_path / "r.html")


@pytest.mark.parametrize("point", ["output-prepared", "output-old-removed", "output-checksum-placed"])
def test_a_report_killed_while_written_never_leaves_a_stale_pair(point: str, scanned: Scanned, tmp_path: Path) -> None:
    pdf = tmp_path / "r.pdf"
    assert run_cli("report", "--case", scanned.case, "--pdf", pdf).code == EXIT_OK
    old = _sha256(pdf)
    logged = _audit_actions(scanned.case).count("report written")
    command = [sys.executable, "-m", "cybertriage", "report", "--case", str(scanned.case), "--pdf", str(pdf),
               "--notes", "the second report", "--force"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "CYBERTRIAGE_CRASH_AT": point}
    killed = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert killed.returncode == -9, killed.stderr  # killed exactly there
    checksum = tmp_path / "r.pdf.sha256"
    if pdf.exists() and checksum.exists():  # whatever is left side by side matches
        subprocess.run(["sha256sum", "-c", "--quiet", checksum.name], cwd=tmp_path, check=True)
    if point == "output-prepared":  # nothing replaced yet: the old pair is intact
        assert _sha256(pdf) == old
    assert _audit_actions(scanned.case).count("report written") == logged  # not claimed before it is there


def _read_only(case: Path) -> None:
    for path in [case, *case.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)


def _writable(case: Path) -> None:
    for path in [case, *case.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)


def test_a_read_only_case_can_be_read(tmp_path: Path) -> None:
    folder = tmp_path / "evidence"
    folder.mkdir()
    (folder / "a.txt").write_text("alpha\n")
    case = tmp_path / "case"
    assert run_cli("scan", folder, "--case", case, "--quiet").code == EXIT_OK
    for companion in ("case.db-wal", "case.db-shm"):  # a case archived after its last writer closed it cleanly
        assert not (case / companion).exists()
    before = {p.name: _sha256(p) for p in case.iterdir() if p.is_file()}
    _read_only(case)
    try:
        info = run_cli("info", "--case", case, obey_permissions=True)
        exported = run_cli("export", "--case", case, "--what", "files", obey_permissions=True)
        report = run_cli("report", "--case", case, "--pdf", tmp_path / "r.pdf", obey_permissions=True)
        after = {p.name: _sha256(p) for p in case.iterdir() if p.is_file()}
    finally:
        _writable(case)
    assert after == before
    assert info.code == EXIT_OK and "Evidence 1" in info.stdout, info.stderr
    files = export(case, "files")
    assert exported.code == EXIT_OK, exported.stderr
    assert [json.loads(line) for line in exported.stdout.splitlines()] == files
    assert "not in the audit log" in _one_line(exported.stderr)
    assert report.code == EXIT_OK, report.stderr
    subprocess.run(["sha256sum", "-c", "--quiet", "r.pdf.sha256"], cwd=tmp_path, check=True)


@pytest.mark.parametrize("content", ["empty", "other database", "not a database"])
def test_a_file_that_is_not_a_case_is_a_clear_error_and_stays_as_it_was(content: str, tmp_path: Path) -> None:
    case = tmp_path / "case"
    case.mkdir()
    database = case / "case.db"
    if content == "empty":
        database.touch()
    elif content == "other database":
        subprocess.run(["sqlite3", database, "CREATE TABLE notes (text TEXT)"], check=True)
    else:
        database.write_text("a text file\n")
    before = _sha256(database)
    for args in (["info"], ["export", "--what", "files"], ["report", "--pdf", tmp_path / "r.pdf"],
                 ["extract", "--file", "1", "-o", tmp_path / "x"], ["verify"], ["tag", "--file", "1", "--tag", "t"]):
        result = run_cli(args[0], "--case", case, *args[1:])
        assert result.code == EXIT_USAGE, (args, result.stderr)
        assert "case.db" in _one_line(result.stderr)
        assert _sha256(database) == before, args
    assert sorted(p.name for p in case.iterdir()) == ["case.db"]
    assert not (tmp_path / "r.pdf").exists() and not (tmp_path / "x").exists()


def _cells(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file as Python's csv module reads them (newline="": a CR inside a cell stays)."""
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_csv_cells_that_would_be_formulas_are_text(scanned: Scanned, tmp_path: Path) -> None:
    result = run_cli("export", "--case", scanned.case, "--what", "files", "--format", "csv", "-o", tmp_path / "f.csv")
    assert result.code == EXIT_OK, result.stderr
    names = {row["path"]: row["name"] for row in _cells(tmp_path / "f.csv")}
    for name in FORMULA_NAMES:
        assert names["/" + name] == "'" + name  # read back by the csv module: the exact cell
    ids = [row["id"] for row in export(scanned.case, "files") if row["evidence"] == str(scanned.folder)]
    result = run_cli("extract", "--case", scanned.case, *[a for i in ids for a in ("--file", i)], "-o", tmp_path / "x")
    assert result.code == EXIT_OK, result.stderr
    manifest = {row["case_path"]: row for row in _cells(tmp_path / "x" / "export-manifest.csv")}
    for name in FORMULA_NAMES[:4]:  # extracted under their own names (tab and CR become "_" in a file name)
        assert (tmp_path / "x" / name).is_file()
        assert manifest["/" + name]["exported_name"] == "'" + name


def test_a_symlinked_object_store_is_never_written_through(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    case = tmp_path / "case"
    case.mkdir()
    (case / "objects").symlink_to(elsewhere)
    result = run_cli("scan", CORPUS / "pcap" / "http_get.pcap", "--case", case, "--quiet")
    assert result.code == EXIT_INCOMPLETE, result.stderr
    assert "not stored" in _one_line(result.stderr)
    assert list(elsewhere.iterdir()) == []
    assert (case / "objects").is_symlink()


def test_reading_an_older_case_never_upgrades_it(tmp_path: Path) -> None:
    """A case of schema 1 is described and exported as it is; the file keeps its schema and its bytes."""
    case = tmp_path / "case"
    case.mkdir()
    db = sqlite_utils.Database(sqlite3.connect(case / "case.db"))
    MIGRATIONS[1](db)
    db.execute("PRAGMA user_version = 1")
    db["evidence"].insert({"path": "/old/disk.img", "kind": "disk", "status": "done", "sha256": "ab" * 32})
    db.conn.commit()
    db.close()
    before = _sha256(case / "case.db")
    info = run_cli("info", "--case", case)
    assert info.code == EXIT_OK and "/old/disk.img" in info.stdout, info.stderr
    assert export(case, "findings") == []
    version = subprocess.run(["sqlite3", "-readonly", case / "case.db", "PRAGMA user_version"], capture_output=True,
                             text=True, check=True).stdout.strip()
    assert version == "1" and _sha256(case / "case.db") == before


def test_a_read_only_case_whose_log_holds_changes_is_read_with_them(tmp_path: Path) -> None:
    """A case copied while its write-ahead log still held a tag, then archived read-only: the tag is read."""
    folder = tmp_path / "evidence"
    folder.mkdir()
    (folder / "a.txt").write_text("alpha\n")
    case = tmp_path / "case"
    assert run_cli("scan", folder, "--case", case, "--quiet").code == EXIT_OK
    holder = sqlite3.connect(case / "case.db")  # holds the log open, so the tag below stays in it
    holder.execute("PRAGMA wal_autocheckpoint = 0")
    holder.execute("SELECT count(*) FROM files").fetchone()
    assert run_cli("tag", "--case", case, "--file", "1", "--tag", "in-the-log").code == EXIT_OK
    archived = tmp_path / "archived"
    archived.mkdir()
    for name in ("case.db", "case.db-wal"):
        shutil.copyfile(case / name, archived / name)
    holder.close()
    assert (archived / "case.db-wal").stat().st_size > 0
    reference = tmp_path / "reference"  # what SQLite itself reads from the pair, in a writable copy
    shutil.copytree(archived, reference)
    tags = subprocess.run(["sqlite3", reference / "case.db", "SELECT tag FROM tags"], capture_output=True, text=True,
                          check=True).stdout.split()
    assert tags == ["in-the-log"]
    before = {p.name: _sha256(p) for p in archived.iterdir()}
    _read_only(archived)
    try:
        exported = run_cli("export", "--case", archived, "--what", "tags", obey_permissions=True)
        after = {p.name: _sha256(p) for p in archived.iterdir()}
    finally:
        _writable(archived)
    assert exported.code == EXIT_OK, exported.stderr
    assert [json.loads(line)["tag"] for line in exported.stdout.splitlines()] == tags
    assert after == before
