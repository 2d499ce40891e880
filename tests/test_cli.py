"""The command-line contract: bad input fails one item with one line, never the whole scan."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests import images
from tests.conftest import REPO, Images, export, run_cli, sha256_of


def _statuses(case: Path) -> dict[str, tuple[str, str | None]]:
    db = sqlite3.connect(case / "case.db")
    return {path: (status, error) for path, status, error in db.execute("SELECT path, status, error FROM evidence")}


@pytest.fixture(scope="module")
def bad_evidence(disk_images: Images, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("bad")
    empty = base / "empty.dd"
    empty.touch()
    noise = base / "noise.img"
    noise.write_bytes(os.urandom(1024 * 1024))
    truncated = base / "truncated.raw"
    data = disk_images.mbr.read_bytes()
    truncated.write_bytes(data[: len(data) * 40 // 100])
    corrupt = base / "corrupt"
    shutil.copytree(disk_images.e01_multi.parent, corrupt)
    # Overwrite stored media bytes (the FAT32 boot area, uncompressed in this set) inside the first segment.
    first = corrupt / "mbr.E01"
    segment = bytearray(first.read_bytes())
    at = segment.find(data[1024 * 1024 : 1024 * 1024 + 512])
    assert at > 0
    segment[at : at + 512] = os.urandom(512)
    first.write_bytes(bytes(segment))
    return {"empty": empty, "noise": noise, "truncated": truncated, "corrupt_e01": corrupt / "mbr.E01",
            "missing": base / "no-such-image.E01"}


@pytest.fixture(scope="module")
def bad_scan(bad_evidence: dict[str, Path], disk_images: Images, tmp_path_factory: pytest.TempPathFactory):
    case = tmp_path_factory.mktemp("badcase")
    result = run_cli("scan", *bad_evidence.values(), disk_images.bare_fat, "--case", case, "--quiet")
    return case, result


def test_bad_evidence_fails_alone_with_one_line_each(bad_scan, bad_evidence, disk_images: Images) -> None:
    case, result = bad_scan
    assert result.code == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == len(bad_evidence), result.stderr
    for path in bad_evidence.values():
        assert sum(str(path) in line for line in lines) == 1, (path, result.stderr)
    statuses = _statuses(case)
    assert statuses[str(disk_images.bare_fat.resolve())][0] == "done"
    for name in ("empty", "noise", "missing"):
        status, error = statuses[str(bad_evidence[name].resolve())]
        assert status == "failed" and error, name


def test_truncated_image_still_yields_what_it_can(bad_scan, bad_evidence, disk_images: Images) -> None:
    case, _ = bad_scan
    truncated = str(bad_evidence["truncated"].resolve())
    status, error = _statuses(case)[truncated]
    assert status == "partial" and "truncated" in error
    rows = [r for r in export(case, "files") if r["evidence"] == truncated]
    assert rows, "the first partition lies inside the kept 40 % and must be listed"
    # whatever was hashed must be right: compare with icat on the full image
    for row in rows:
        if row["sha256"] and not row["deleted"] and row["kind"] == "file":
            assert row["sha256"] == images.icat_sha256(disk_images.mbr, row["partition_offset"], row["inode"])


def test_corrupt_e01_is_reported(bad_scan, bad_evidence) -> None:
    case, _ = bad_scan
    path = str(bad_evidence["corrupt_e01"].resolve())
    ewfverify = subprocess.run(["ewfverify", "-q", str(bad_evidence["corrupt_e01"])], capture_output=True, text=True)
    assert ewfverify.returncode != 0  # the independent verdict
    status, _ = _statuses(case)[path]
    assert status == "partial"
    findings = [f for f in export(case, "findings") if f["evidence"] == path]
    assert any(f["rule"] == "ewf-verification" and f["severity"] == "critical" for f in findings)


def test_unreadable_file_is_a_recorded_failure(tmp_path: Path, disk_images: Images) -> None:
    locked = tmp_path / "locked.raw"
    shutil.copy(disk_images.bare_fat, locked)
    locked.chmod(0)
    case = tmp_path / "case"
    good = tmp_path / "good.raw"
    shutil.copy(disk_images.bare_fat, good)
    result = run_cli("scan", locked, good, "--case", case, "--quiet", obey_permissions=True)
    assert result.code == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and str(locked) in result.stderr
    statuses = _statuses(case)
    assert statuses[str(locked)][0] == "failed"
    assert statuses[str(good)][0] == "done"


def test_rescan_skips_processed_evidence(tmp_path: Path, disk_images: Images) -> None:
    case = tmp_path / "case"
    assert run_cli("scan", disk_images.bare_fat, "--case", case, "--quiet").code == 0
    first = export(case, "files")
    again = run_cli("scan", disk_images.bare_fat, "--case", case)
    assert again.code == 0
    assert "already processed" in again.stdout
    assert export(case, "files") == first


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run_cli("scan", "--case", tmp_path).code == 2
    assert run_cli("export", "--case", tmp_path, "--what", "files").code == 2  # no case there
    bad_rules = tmp_path / "bad.yar"
    bad_rules.write_text("rule broken { condition: }")
    result = run_cli("scan", tmp_path, "--case", tmp_path / "c", "--rules", bad_rules)
    assert result.code == 2 and "Traceback" not in result.stderr


def test_help_explains_every_command() -> None:
    for command in ("scan", "export", "info"):
        result = run_cli(command, "--help")
        assert result.code == 0 and "--case" in result.stdout


def test_version_names_rule_set() -> None:
    result = run_cli("--version")
    assert result.code == 0 and "rules sha256" in result.stdout


def test_export_csv_and_info(tmp_path: Path, disk_images: Images) -> None:
    case = tmp_path / "case"
    run_cli("scan", disk_images.bare_fat, "--case", case, "--quiet")
    out = tmp_path / "files.csv"
    assert run_cli("export", "--case", case, "--what", "files", "--format", "csv", "-o", out).code == 0
    header = out.read_text(encoding="utf-8").splitlines()[0].split(",")
    for field in ("evidence", "partition_offset", "path", "deleted", "size", "md5", "sha1", "sha256", "mime",
                  "mtime", "atime", "ctime", "crtime"):
        assert field in header
    info = run_cli("info", "--case", case)
    assert info.code == 0
    assert sha256_of(disk_images.bare_fat) in info.stdout
    findings = [json.loads(line) for line in run_cli("export", "--case", case, "--what", "findings").stdout.splitlines()]
    for finding in findings:
        assert set(finding) >= {"id", "evidence", "severity", "analyzer", "rule", "title", "object", "detail"}


def test_core_stays_headless() -> None:
    code = "import sys, cybertriage.cli, cybertriage.pipeline; sys.exit('PySide6' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_report_command_writes_pdf_html_and_their_hashes(tmp_path: Path) -> None:
    case = tmp_path / "case"
    assert run_cli("scan", REPO / "resources" / "demo" / "demo-disk.img", "--case", case, "--quiet").code == 0
    pdf, html = tmp_path / "out" / "report.pdf", tmp_path / "out" / "report.html"
    pdf.parent.mkdir()
    result = run_cli("report", "--case", case, "--pdf", pdf, "--html", html, "--case-number", "2026-0042")
    assert result.code == 0, result.stderr
    for path in (pdf, html):
        assert subprocess.run(["sha256sum", "-c", path.name + ".sha256"], cwd=path.parent,
                              capture_output=True).returncode == 0
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "2026-0042" in text
    action, detail = sqlite3.connect(case / "case.db").execute(
        "SELECT action, detail FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    assert action == "report written"  # logged once written, with what was written
    sha256sum = subprocess.run(["sha256sum", pdf], capture_output=True, text=True, check=True).stdout.split()[0]
    assert json.loads(detail)["pdf_sha256"] == sha256sum
    assert "report written" not in " ".join(text.split())  # so the report cannot hold its own entry
    assert run_cli("report", "--case", tmp_path / "nowhere", "--pdf", pdf).code == 2


def test_tags_reach_the_report_and_the_chain_of_custody(tmp_path: Path) -> None:
    case = tmp_path / "case"
    assert run_cli("scan", REPO / "resources" / "demo" / "demo-disk.img", "--case", case, "--quiet").code == 0
    finding = export(case, "findings")[0]
    holiday = next(f for f in export(case, "files") if f["path"] == "/Pictures/holiday.jpg")
    assert run_cli("tag", "--case", case, "--finding", finding["id"], "--tag", "exhibit-1",
                   "--note", "ransom note on the desktop", "--examiner", "J. Doe").code == 0
    assert run_cli("tag", "--case", case, "--file", holiday["id"], "--tag", "dropper?").code == 0
    assert run_cli("tag", "--case", case, "--file", 999999, "--tag", "x").code == 2  # no such file
    tags = export(case, "tags")
    assert [(t["tag"], t["object"]) for t in tags] == [("exhibit-1", finding["object"]), ("dropper?", holiday["path"])]
    actions = [row[0] for row in sqlite3.connect(case / "case.db").execute("SELECT action FROM audit_log")]
    assert actions.count("tag added") == 2
    pdf = tmp_path / "report.pdf"
    assert run_cli("report", "--case", case, "--pdf", pdf).code == 0
    text = " ".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout.split())
    assert "Examiner tags and notes" in text and "exhibit-1" in text and "ransom note on the desktop" in text


def test_console_script_module_is_light() -> None:
    """A spawned child process (capture analysis, disk listing) imports the console script's module again
    before anything else; that module must not import the command line, the pipeline or Qt."""
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"cybertriage": "cybertriage.__main__:main", "cybertriage-gui": "cybertriage.gui.__main__:main"}
    for module in ("cybertriage.__main__", "cybertriage.gui.__main__"):
        code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
        loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                    check=True).stdout.split())
        assert not loaded & {"cybertriage.cli", "cybertriage.pipeline", "cybertriage.gui.app", "PySide6"}, module
