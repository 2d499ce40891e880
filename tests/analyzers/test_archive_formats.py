"""The issue's opening example, on the command line: the EICAR test file inside a .tar.gz, a .gz, a .7z and a
tar.xz inside a tar is found by YARA and extracted with a verified sha256 (`sha256sum` of the file packed); an
encrypted 7z, a 7z bomb, a truncated tar.gz and an `ar` archive (not opened) are each told in the findings or in
the ledger `info` prints. The archives are made by GNU tar, gzip, xz, 7z (p7zip) and ar (binutils)."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CliResult, export, run_cli
from tests.images import EICAR


def _run(*args: str | Path, cwd: Path, stdin: bytes | None = None) -> None:
    subprocess.run([str(a) for a in args], cwd=cwd, input=stdin, capture_output=True, check=True)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, CliResult]:
    work = tmp_path_factory.mktemp("archive-formats")
    evidence, packing = work / "evidence", work / "packing"
    evidence.mkdir()
    (packing / "docs").mkdir(parents=True)
    (packing / "eicar.com").write_bytes(EICAR)
    (packing / "docs" / "note.txt").write_bytes(b"nothing to see\n" * 20_000)
    _run("tar", "-czf", evidence / "pack.tar.gz", "eicar.com", "docs", cwd=packing)
    _run("sh", "-c", f"gzip -c eicar.com > {evidence / 'eicar.com.gz'}", cwd=packing)
    _run("7z", "a", "-bso0", evidence / "pack.7z", "eicar.com", cwd=packing)
    _run("tar", "-cJf", "inner.tar.xz", "eicar.com", cwd=packing)
    _run("tar", "-cf", evidence / "nested.tar", "inner.tar.xz", cwd=packing)
    _run("7z", "a", "-bso0", "-pinfected", evidence / "locked.7z", "eicar.com", cwd=packing)
    _run("7z", "a", "-bso0", "-sizeros.bin", evidence / "bomb.7z", cwd=packing, stdin=bytes(100 * 1024 * 1024))
    whole = (evidence / "pack.tar.gz").read_bytes()
    (evidence / "cut.tar.gz").write_bytes(whole[: len(whole) // 2])
    _run("ar", "rc", evidence / "library.a", "eicar.com", cwd=packing)  # binutils' ar: a format not opened
    case = work / "case"
    result = run_cli("scan", evidence, "--case", case, "--quiet", "--no-intel")
    return case, packing, result


def test_eicar_in_every_archive_is_found_by_yara(scanned: tuple[Path, Path, CliResult]) -> None:
    case, _, result = scanned
    assert result.code in (0, 1), result.stderr
    hits = {f["object"] for f in export(case, "findings") if f["analyzer"] == "yara" and "EICAR" in f["title"]}
    assert hits == {"/pack.tar.gz!eicar.com", "/eicar.com.gz!eicar.com", "/pack.7z!eicar.com",
                    "/nested.tar!inner.tar.xz!eicar.com", "/cut.tar.gz!eicar.com"}  # read before the cut


def test_eicar_is_extracted_through_the_chain_with_a_verified_sha256(scanned: tuple[Path, Path, CliResult],
                                                                     tmp_path: Path) -> None:
    case, packing, _ = scanned
    expected = subprocess.run(["sha256sum", packing / "eicar.com"], capture_output=True, text=True,
                              check=True).stdout.split()[0]
    files = {f["path"]: f for f in export(case, "files")}
    wanted = ["/pack.tar.gz!eicar.com", "/eicar.com.gz!eicar.com", "/pack.7z!eicar.com",
              "/nested.tar!inner.tar.xz!eicar.com"]
    assert {files[path]["sha256"] for path in wanted} == {expected}
    out = tmp_path / "out"
    ids = [arg for path in wanted for arg in ("--file", str(files[path]["id"]))]
    result = run_cli("extract", "--case", case, *ids, "-o", out)
    assert result.code == 0, result.stderr
    with open(out / "export-manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["case_path"], row["sha256"], row["verified"]) for row in rows] == [
        (path, expected, "verified") for path in wanted]
    for row in rows:
        written = subprocess.run(["sha256sum", out / row["exported_name"]], capture_output=True, text=True, check=True)
        assert written.stdout.split()[0] == expected


def test_what_was_not_examined_is_said(scanned: tuple[Path, Path, CliResult]) -> None:
    case, _, _ = scanned
    files = {f["path"]: f for f in export(case, "files")}
    assert files["/locked.7z!eicar.com"]["sha256"] in (None, "")
    findings = export(case, "findings")
    bombs = [f for f in findings if f["rule"] == "zip-bomb"]
    assert [b["object"] for b in bombs] == ["/bomb.7z"]
    assert bombs[0]["detail"]["member"] == "zeros.bin" and bombs[0]["detail"]["size"] < 100 * 1024 * 1024
    assert "/bomb.7z!zeros.bin" not in files
    assert "/cut.tar.gz!eicar.com" in files  # what was read before the cut
    info = run_cli("info", "--case", case)
    assert info.code == 0, info.stderr
    ledger = "\n".join(line for line in info.stdout.splitlines() if line.strip().startswith("ledger"))
    assert "encrypted: not examined" in ledger
    assert "compression ratio past the zip-bomb limit" in ledger
    assert "damaged tar.gz: truncated gzip input (at " in ledger
    assert "application/x-archive: an archive format not opened" in ledger
