"""Exporting files: hostile names from evidence stay inside the destination, every written file's
sha256 equals sha256sum of the original, a changed original is reported, and the export is audited."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import unicodedata
import zipfile
from pathlib import Path

import pytest

from cybertriage.case.extract import MAX_NAME_BYTES, export_files, safe_name
from tests.conftest import run_cli

# Loose files (Linux allows anything but '/' and NUL, up to 255 bytes) and zip members (anything at all).
LOOSE = {
    "CON": b"reserved on Windows\n",
    "nul.txt": b"also reserved\n",
    "com1.log": b"serial port\n",
    "bell\x07and\x1b[31mescape.txt": b"control characters\n",
    "new\nline.txt": b"a newline in the name\n",
    "invoice\u202etxt.exe": b"right-to-left override\n",
    "trailing dot.": b"Windows drops it\n",
    "ü" * 120 + ".txt": b"240 bytes of name\n",
    "a/report.txt": b"first report\n",
    "b/report.txt": b"second report\n",
    ".hidden": b"dot file\n",
}
MEMBERS = {
    "../../escape.txt": b"path traversal\n",
    "/etc/absolute.txt": b"absolute path\n",
    "..\\..\\windows.txt": b"backslash traversal\n",
    "C:\\Windows\\drive.txt": b"drive letter\n",
    "x" * 300 + ".txt": b"300-character name\n",
    "..": b"dot dot\n",
    "AUX.tar.gz": b"reserved stem\n",
}


@pytest.fixture(scope="session")
def hostile_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("hostile")
    evidence = base / "evidence"
    for name, data in LOOSE.items():
        (evidence / name).parent.mkdir(parents=True, exist_ok=True)
        (evidence / name).write_bytes(data)
    with zipfile.ZipFile(evidence / "names.zip", "w") as archive:
        for name, data in MEMBERS.items():
            archive.writestr(name, data)
    case = base / "case"
    result = run_cli("scan", evidence, "--case", case, "--quiet", "--no-yara")
    assert result.code == 0, result.stderr
    return case, evidence


def file_ids(case: Path) -> dict[str, int]:
    conn = sqlite3.connect(case / "case.db")
    try:
        return {path: file_id for file_id, path in conn.execute("SELECT id, path FROM files WHERE kind = 'file'")}
    finally:
        conn.close()


def sha256sum(path: Path) -> str:
    with open(path, "rb") as handle:  # on standard input: sha256sum escapes odd names in its output
        return subprocess.run(["sha256sum"], stdin=handle, capture_output=True, check=True).stdout.split()[0].decode()


def everything_under(folder: Path) -> set[Path]:
    return {Path(d) / n for d, subdirs, names in os.walk(folder) for n in [*subdirs, *names]}


def test_hostile_names_are_exported_inside_the_destination(hostile_case: tuple[Path, Path], tmp_path: Path) -> None:
    case, evidence = hostile_case
    ids = file_ids(case)
    destination = tmp_path / "area" / "export"
    around = tmp_path / "area"
    around.mkdir()
    before = everything_under(tmp_path)
    export = export_files(case, list(ids.values()), destination)
    created = everything_under(tmp_path) - before
    assert created == {destination} | {destination / n for n in os.listdir(destination)}
    assert all(p.is_file() and not p.is_symlink() for p in destination.iterdir())  # no folders made, nothing linked
    assert len(export.files) == len(ids) == len(LOOSE) + len(MEMBERS) + 1
    names = [item.exported_name for item in export.files]
    assert len(set(names)) == len(names)  # a/report.txt and b/report.txt both kept
    for item in export.files:
        name = item.exported_name
        assert item.verified == "verified", item
        assert not any(unicodedata.category(c).startswith("C") for c in name), name
        assert not set(name) & set('<>:"/\\|?*') and name not in (".", "..") and not name.endswith((".", " "))
        assert name.split(".")[0].upper() not in ("CON", "NUL", "AUX", "COM1", "PRN"), name
        assert len(name.encode()) <= MAX_NAME_BYTES
        if "!" in item.case_path:
            original = MEMBERS[item.case_path.split("!", 1)[1]]
            assert (destination / name).read_bytes() == original
        else:
            assert item.sha256 == sha256sum(evidence / item.case_path[1:]) == sha256sum(destination / name)
    with open(export.manifest, newline="", encoding="utf-8") as handle:
        manifest = list(csv.DictReader(handle))
    assert [(int(r["file_id"]), r["exported_name"], r["sha256"], r["verified"]) for r in manifest] == [
        (i.file_id, i.exported_name, i.sha256, i.verified) for i in export.files]


def test_safe_names() -> None:
    assert safe_name("../../x") == "_.._x"
    assert safe_name("CON") == "_CON" and safe_name("con.txt") == "_con.txt" and safe_name("LPT9.log") == "_LPT9.log"
    assert safe_name("a\x00b\x01c") == "a_b_c"
    assert safe_name("...") == safe_name("") == "unnamed"
    long = safe_name("y" * 300 + ".docx")
    assert long.endswith(".docx") and len(long.encode()) == MAX_NAME_BYTES


def test_a_changed_original_is_reported_not_accepted(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "ledger.txt").write_bytes(b"amount: 100\n")
    (evidence / "other.txt").write_bytes(b"untouched\n")
    case = tmp_path / "case"
    assert run_cli("scan", evidence, "--case", case, "--quiet", "--no-yara").code == 0
    (evidence / "ledger.txt").write_bytes(b"amount: 900\n")  # the loose file changed since the scan
    ids = file_ids(case)
    result = run_cli("extract", "--case", case, "--file", ids["/ledger.txt"], "--file", ids["/other.txt"],
                     "-o", tmp_path / "out")
    assert result.code == 1
    lines = dict(line.split(maxsplit=1) for line in result.stdout.splitlines() if not line.startswith("Manifest"))
    assert lines["MISMATCH"].split()[:2] == [str(ids["/ledger.txt"]), "ledger.txt"]
    assert lines["verified"].split() == [str(ids["/other.txt"]), "other.txt", sha256sum(evidence / "other.txt")]
    assert "differs from the case's" in result.stderr
    conn = sqlite3.connect(case / "case.db")
    detail = json.loads(conn.execute("SELECT detail FROM audit_log WHERE action = 'files exported'").fetchone()[0])
    assert [(f["id"], f["verified"]) for f in detail["files"]] == [(ids["/ledger.txt"], "MISMATCH"),
                                                                   (ids["/other.txt"], "verified")]
    assert detail["destination"] == str((tmp_path / "out").resolve())


def test_exporting_twice_into_one_folder_overwrites_nothing(hostile_case: tuple[Path, Path], tmp_path: Path) -> None:
    case, _ = hostile_case
    file_id = file_ids(case)["/a/report.txt"]
    first = export_files(case, [file_id], tmp_path)
    second = export_files(case, [file_id], tmp_path)
    assert [f.exported_name for f in first.files + second.files] == ["report.txt", "report (2).txt"]
    assert (first.manifest.name, second.manifest.name) == ("export-manifest.csv", "export-manifest (2).csv")
    assert (tmp_path / "report.txt").read_bytes() == (tmp_path / "report (2).txt").read_bytes() == b"first report\n"


def test_extract_command_line(hostile_case: tuple[Path, Path], tmp_path: Path) -> None:
    case, evidence = hostile_case
    ids = file_ids(case)
    result = run_cli("extract", "--case", case, "--file", ids["/CON"], "--file", ids["/names.zip!../../escape.txt"],
                     "-o", tmp_path / "out")
    assert result.code == 0, result.stderr
    assert sorted(os.listdir(tmp_path / "out")) == ["_CON", "escape.txt", "export-manifest.csv"]
    assert sha256sum(tmp_path / "out" / "_CON") == sha256sum(evidence / "CON")
    assert run_cli("extract", "--case", tmp_path / "nocase", "--file", "1", "-o", tmp_path / "x").code == 2
    assert not (tmp_path / "x").exists()


def test_members_of_a_streamed_archive_are_read_back_in_one_pass(tmp_path: Path, monkeypatch) -> None:
    """Exporting several members of a tar.gz and of a 7z reads each archive once from its start, not once per member
    (members of a solid stream are only reached by inflating those before them); each written file has the sha256
    sha256sum gives its original, and the manifest keeps the order asked for."""
    from cybertriage.evidence.containers import streamed

    stage = tmp_path / "stage"
    stage.mkdir()
    for index in range(12):
        (stage / f"doc{index:02d}.txt").write_bytes(os.urandom(40_000 + index))
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "loose.txt").write_bytes(b"a loose file\n")
    subprocess.run(["tar", "-czf", evidence / "docs.tar.gz", "-C", stage, "."], check=True)
    subprocess.run(["7z", "a", "-bso0", "-bsp0", evidence / "docs.7z", "."], cwd=stage, check=True)
    case = tmp_path / "case"
    assert run_cli("scan", evidence, "--case", case, "--quiet", "--no-yara").code == 0
    db = sqlite3.connect(case / "case.db")
    wanted = ["docs.tar.gz!./doc09.txt", "loose.txt", "docs.7z!doc02.txt", "docs.tar.gz!./doc01.txt",
              "docs.7z!doc11.txt", "docs.tar.gz!./doc05.txt", "docs.7z!doc07.txt"]
    ids = [db.execute("SELECT id FROM files WHERE path = ?", ["/" + path]).fetchone()[0] for path in wanted]
    db.close()
    sums = subprocess.run(["sha256sum", *sorted(p.name for p in stage.iterdir())], cwd=stage, capture_output=True,
                          text=True, check=True).stdout
    expected = {line[66:]: line[:64] for line in sums.splitlines()}

    passes = []
    open_each = streamed.StreamedArchive.open_each

    def counted(archive, refs):  # every pass over an archive's members (reading one member back is one too)
        passes.append([ref.path for ref in refs])
        return open_each(archive, refs)

    monkeypatch.setattr(streamed.StreamedArchive, "open_each", counted)
    export = export_files(case, ids, tmp_path / "out")
    assert len(passes) == 2, "one pass over the tar.gz and one over the 7z"
    assert [item.case_path for item in export.files] == ["/" + path for path in wanted]
    assert all(item.verified == "verified" for item in export.files), export.files
    for item in export.files:
        name = item.case_path.rsplit("!", 1)[-1].rsplit("/", 1)[-1]
        if name != "loose.txt":
            assert item.sha256 == expected[name]


def test_two_members_of_one_name_are_both_in_the_manifest(tmp_path: Path) -> None:
    """A tar may hold two members of one name (`tar -r` appends a newer one): both are exported and listed; read back
    by name, each is the first so named, so the second does not verify, and says so."""
    stage = tmp_path / "stage"
    stage.mkdir()
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (stage / "ledger.txt").write_bytes(b"first version\n")
    subprocess.run(["tar", "-cf", evidence / "twice.tar", "-C", stage, "ledger.txt"], check=True)
    (stage / "ledger.txt").write_bytes(b"second version\n")
    subprocess.run(["tar", "-rf", evidence / "twice.tar", "-C", stage, "ledger.txt"], check=True)
    case = tmp_path / "case"
    assert run_cli("scan", evidence, "--case", case, "--quiet", "--no-yara").code == 0
    db = sqlite3.connect(case / "case.db")
    ids = [row[0] for row in db.execute("SELECT id FROM files WHERE path = '/twice.tar!ledger.txt' ORDER BY id")]
    db.close()
    assert len(ids) == 2
    export = export_files(case, ids, tmp_path / "out")
    assert [(item.file_id, item.verified) for item in export.files] == [(ids[0], "verified"), (ids[1], "MISMATCH")]
    assert not export.cancelled
