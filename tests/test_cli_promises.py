"""The command line keeps the promises README.md makes: exit codes, what a scan that cannot start leaves
behind, a single loose file as evidence, `hashset match`, unknown ids, and sparse files read by their data.

Expected answers come from sha256sum, md5sum, openssl, fls, the yara CLI and the sqlite3 CLI, and from the
evidence the tests build themselves (which paths they made unreadable), never from cybertriage.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import images
from tests.conftest import REPO, export, run_cli

EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE, EXIT_CASE = 0, 1, 2, 3
GiB = 1024 ** 3


def _tool(*command: str | Path) -> str:
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, check=True).stdout


def _hash(tool: str, path: Path) -> str:
    """The digest `sha256sum`/`md5sum`/`sha1sum` prints for one file."""
    return _tool(tool, path).split()[0]


def _sql(case: Path, query: str) -> list[list[str]]:
    """Rows of a query, read by the sqlite3 CLI (JSON mode)."""
    out = _tool("sqlite3", "-json", "-readonly", case / "case.db", query)
    return [list(row.values()) for row in json.loads(out or "[]")]


def _one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


# -- 1. unreadable files and folders: exit 1, a consistent ledger, each path recorded -----------------


def test_unreadable_files_and_folders_make_the_scan_partial(tmp_path: Path) -> None:
    root = tmp_path / "stick"
    (root / "open" / "deeper").mkdir(parents=True)
    (root / "open" / "deeper" / "note.txt").write_text("readable\n")
    (root / "readme.txt").write_text("readable too\n")
    (root / "secret.txt").write_text("cannot be read\n")
    (root / "locked").mkdir()
    (root / "locked" / "inside.txt").write_text("never listed\n")
    (root / "secret.txt").chmod(0)
    (root / "locked").chmod(0)
    case = tmp_path / "case"
    try:
        result = run_cli("scan", root, "--case", case, "--quiet", obey_permissions=True)
    finally:
        (root / "locked").chmod(0o755)
    assert result.code == EXIT_INCOMPLETE, result.stderr
    line = _one_error_line(result.stderr)
    assert str(root) in line and "partial" in line
    assert _sql(case, "SELECT status FROM evidence") == [["partial"]]
    for stage, attempted, processed, skipped in _sql(case, "SELECT stage, attempted, processed, skipped FROM ledger"):
        assert attempted == processed + skipped, (stage, attempted, processed, skipped)
    problems = {path for (path,) in _sql(case, "SELECT object FROM problems")}
    assert problems == {"/secret.txt", "/locked"}
    rows = {r["path"]: r for r in export(case, "files")}
    assert rows["/secret.txt"]["sha256"] is None and rows["/secret.txt"]["note"]
    assert rows["/readme.txt"]["sha256"] == _hash("sha256sum", root / "readme.txt")
    assert rows["/open/deeper/note.txt"]["sha256"] == _hash("sha256sum", root / "open" / "deeper" / "note.txt")
    assert "/locked/inside.txt" not in rows


@pytest.fixture
def failing_medium(tmp_path: Path) -> Iterator[tuple[Path, Path, int, int]]:
    """A folder (a FUSE mount, tests/badsectors.py) holding one file whose bytes [at, at+1024) fail to read
    with EIO from the kernel, as a failing USB stick's would; skipped only where FUSE cannot mount."""
    if importlib.util.find_spec("mfusepy") is None or not Path("/dev/fuse").exists():
        pytest.skip("FUSE is not available here (mfusepy, /dev/fuse)")
    source = tmp_path / "ledger.xlsx"
    source.write_bytes(os.urandom(256 * 1024))
    at, length = 64 * 1024, 1024
    mount_point = tmp_path / "stick"
    mount_point.mkdir()
    child = subprocess.Popen([sys.executable, str(REPO / "tests" / "badsectors.py"), str(source), str(mount_point),
                              str(at), str(length)], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not (mount_point / source.name).exists():
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            pytest.skip(f"FUSE cannot mount here: {child.communicate()[1].strip()[:200]}")
        time.sleep(0.1)
    try:
        yield mount_point, mount_point / source.name, at, length
    finally:
        subprocess.run(["umount", str(mount_point)], capture_output=True)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()


def test_a_loose_file_on_a_failing_medium_makes_the_scan_partial(failing_medium, tmp_path: Path) -> None:
    folder, bad_file, at, length = failing_medium
    sha256sum = subprocess.run(["sha256sum", str(bad_file)], capture_output=True, text=True)
    assert sha256sum.returncode != 0 and "Input/output error" in sha256sum.stderr  # the medium does fail
    case = tmp_path / "case"
    result = run_cli("scan", folder, bad_file, "--case", case, "--quiet")
    assert result.code == EXIT_INCOMPLETE
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and all("partial" in line for line in lines), result.stderr
    assert dict(_sql(case, "SELECT path, status FROM evidence")) == {str(folder): "partial", str(bad_file): "partial"}
    for stage, attempted, processed, skipped in _sql(case, "SELECT stage, attempted, processed, skipped FROM ledger"):
        assert attempted == processed + skipped, (stage, attempted, processed, skipped)
    messages = [message for _, message in _sql(case, "SELECT object, message FROM problems WHERE object = '/"
                                                        + bad_file.name + "'")]
    assert len(messages) == 2 and all("Input/output error" in m for m in messages), messages
    ranges = _sql(case, "SELECT message FROM problems WHERE stage = 'evidence'")
    assert ranges == [[f"bytes {at}-{at + length - 1} unreadable (Input/output error); hashed as zeros"]]


def test_a_folder_that_cannot_be_listed_fails_with_one_line(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "inside.txt").write_text("never listed\n")
    locked.chmod(0)
    case = tmp_path / "case"
    try:
        result = run_cli("scan", locked, "--case", case, "--quiet", obey_permissions=True)
    finally:
        locked.chmod(0o755)
    assert result.code == EXIT_INCOMPLETE
    assert str(locked) in _one_error_line(result.stderr)
    assert _sql(case, "SELECT status FROM evidence") == [["failed"]]


# -- 2. a case folder that cannot be created: exit 3 ------------------------------------------------


def test_a_case_folder_that_cannot_be_created_exits_3(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "a.txt").write_text("a\n")
    not_a_folder = tmp_path / "plain-file"
    not_a_folder.write_text("")
    result = run_cli("scan", evidence, "--case", not_a_folder / "case", "--quiet")
    assert result.code == EXIT_CASE
    assert "cannot create case folder" in _one_error_line(result.stderr)
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        result = run_cli("scan", evidence, "--case", read_only / "case", "--quiet", obey_permissions=True)
    finally:
        read_only.chmod(0o755)
    assert result.code == EXIT_CASE
    assert "cannot create case folder" in _one_error_line(result.stderr)
    assert not (read_only / "case").exists()


# -- 3. a scan that cannot start writes nothing --------------------------------------------------


def test_mistyped_evidence_creates_no_case(tmp_path: Path) -> None:
    case = tmp_path / "case"
    result = run_cli("scan", tmp_path / "no-such-image.dd", tmp_path / "nor-this", "--case", case, "--quiet")
    assert result.code == EXIT_USAGE
    assert "no such evidence" in _one_error_line(result.stderr)
    assert not case.exists()


def test_one_missing_item_among_present_ones_is_a_recorded_failure(tmp_path: Path) -> None:
    present = tmp_path / "present"
    present.mkdir()
    (present / "a.txt").write_text("a\n")
    missing = tmp_path / "mistyped"
    case = tmp_path / "case"
    result = run_cli("scan", present, missing, "--case", case, "--quiet")
    assert result.code == EXIT_INCOMPLETE
    assert str(missing) in _one_error_line(result.stderr)
    assert dict(_sql(case, "SELECT path, status FROM evidence")) == {str(present): "done", str(missing): "failed"}


# -- 4. a single loose file is evidence: a folder of one ------------------------------------------


def test_single_file_is_hashed_typed_yara_scanned_extractable_and_verifiable(tmp_path: Path) -> None:
    from cybertriage.assets import asset_dir

    loose = tmp_path / "invoice.pdf.com"
    loose.write_bytes(images.EICAR)
    case = tmp_path / "case"
    result = run_cli("scan", loose, "--case", case, "--quiet")
    assert result.code == EXIT_OK, result.stderr
    assert _sql(case, "SELECT kind, status, sha256 FROM evidence") == [["file", "done", _hash("sha256sum", loose)]]
    (row,) = export(case, "files")
    assert row["path"] == "/invoice.pdf.com" and row["size"] == loose.stat().st_size
    assert row["sha256"] == _hash("sha256sum", loose) and row["md5"] == _hash("md5sum", loose)
    assert row["sha1"] == _hash("sha1sum", loose)
    assert row["mime"] == _tool("file", "--brief", "--mime-type", loose).strip()
    rules = sorted(map(str, asset_dir("rules").rglob("*.yar")))
    expected = {line.split()[0] for line in _tool("yara", "-w", *rules, loose).splitlines()}
    assert expected, "the bundled rules flag EICAR"
    ours = {f["rule"] for f in export(case, "findings") if f["analyzer"] == "yara"}
    assert ours == expected

    out = tmp_path / "out"
    extracted = run_cli("extract", "--case", case, "--file", row["id"], "-o", out)
    assert extracted.code == EXIT_OK, extracted.stderr
    assert _hash("sha256sum", out / "invoice.pdf.com") == _hash("sha256sum", loose)
    verified = run_cli("verify", "--case", case)
    assert verified.code == EXIT_OK and _verdict(verified.stdout, loose) == "OK", verified.stdout
    with open(loose, "ab") as handle:  # the evidence changed since: verify says so
        handle.write(b"\n")
    verified = run_cli("verify", "--case", case)
    assert verified.code == EXIT_INCOMPLETE and _verdict(verified.stdout, loose) == "MISMATCH", verified.stdout


def _verdict(verify_output: str, evidence: Path) -> str:
    """The first word of `verify`'s line about one evidence item."""
    (line,) = [line for line in verify_output.splitlines() if f" {evidence}:" in line]
    return line.split()[0]


def test_any_file_not_an_image_or_capture_by_content_is_a_loose_file(tmp_path: Path) -> None:
    fat = images.build_bare_fat(tmp_path)
    disguised = tmp_path / "holiday.jpg"  # a disk image by content, whatever its name
    shutil.copy(fat, disguised)
    noise = tmp_path / "blob.dat"  # neither image nor capture by content
    noise.write_bytes(os.urandom(3 * 1024 * 1024))
    empty = tmp_path / "empty.txt"
    empty.touch()
    case = tmp_path / "case"
    result = run_cli("scan", disguised, noise, empty, "--case", case, "--quiet")
    assert result.code == EXIT_OK, result.stderr
    kinds = dict(_sql(case, "SELECT path, kind FROM evidence"))
    assert kinds == {str(disguised): "disk", str(noise): "file", str(empty): "file"}
    rows = export(case, "files")
    listed = {(r["path"], r["deleted"]) for r in rows if r["evidence"] == str(disguised) and r["parent_id"] is None}
    assert listed == images.fls_entries(disguised, 0)
    loose = {r["evidence"]: r["sha256"] for r in rows if r["evidence"] in (str(noise), str(empty))}
    assert loose == {str(noise): _hash("sha256sum", noise), str(empty): _hash("sha256sum", empty)}


# -- 5. hashset match: a hash set imported after the scan, applied to the case ------------------------


def test_hashset_match_applies_sets_imported_after_the_scan(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "dropper.bin").write_bytes(b"MZ pretend dropper " * 50)
    (evidence / "notepad.exe").write_bytes(b"pretend notepad " * 40)
    (evidence / "letter.txt").write_text("Dear Sir\n")
    intel_db = tmp_path / "intel.db"
    case = tmp_path / "case"
    assert run_cli("scan", evidence, "--case", case, "--quiet", "--intel-db", intel_db).code == EXIT_OK
    bad_list = tmp_path / "bad.sha256"
    bad_list.write_text(_tool("sha256sum", evidence / "dropper.bin"))
    good_list = tmp_path / "good.md5"
    good_list.write_text(_tool("md5sum", evidence / "notepad.exe"))
    assert run_cli("hashset", "import", bad_list, "--name", "ransomware", "--intel-db", intel_db).code == EXIT_OK
    assert run_cli("hashset", "import", good_list, "--name", "os-files", "--known", "good",
                   "--intel-db", intel_db).code == EXIT_OK

    matched = run_cli("hashset", "match", "--case", case, "--intel-db", intel_db)
    assert matched.code == EXIT_OK, matched.stderr
    files = {r["path"]: r for r in export(case, "files")}
    assert (files["/dropper.bin"]["known"], files["/dropper.bin"]["known_set"]) == ("bad", "ransomware")
    assert (files["/notepad.exe"]["known"], files["/notepad.exe"]["known_set"]) == ("good", "os-files")
    assert files["/letter.txt"]["known"] is None
    findings = [f for f in export(case, "findings") if f["analyzer"] == "hashset"]
    assert [(f["object"], f["severity"], f["rule"]) for f in findings] == [("/dropper.bin", "critical", "ransomware")]
    assert findings[0]["detail"]["value"] == _hash("sha256sum", evidence / "dropper.bin")
    assert files["/dropper.bin"]["score"] >= 60

    again = run_cli("hashset", "match", "--case", case, "--intel-db", intel_db)
    assert again.code == EXIT_OK
    assert len([f for f in export(case, "findings") if f["analyzer"] == "hashset"]) == 1
    audited = _sql(case, "SELECT json_extract(detail, '$.new_findings') FROM audit_log WHERE action = 'hash set pass'")
    assert audited == [[1], [0]]

    # The same as a scan that had the sets from the start.
    fresh = tmp_path / "fresh"
    assert run_cli("scan", evidence, "--case", fresh, "--quiet", "--intel-db", intel_db).code == EXIT_OK
    assert _known_facts(export(case, "files")) == _known_facts(export(fresh, "files"))


def _known_facts(rows: list[dict]) -> set[tuple]:
    return {(r["path"], r["known"], r["known_set"], r["score"]) for r in rows}


def test_hashset_match_without_sets_is_a_usage_error(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "a.txt").write_text("a\n")
    case = tmp_path / "case"
    assert run_cli("scan", evidence, "--case", case, "--quiet").code == EXIT_OK
    result = run_cli("hashset", "match", "--case", case, "--intel-db", tmp_path / "none.db")
    assert result.code == EXIT_USAGE
    assert "no hash sets" in _one_error_line(result.stderr)


# -- 6. an unknown id is one clear line and exit 2, whichever command takes it -----------------------


def test_unknown_ids_are_usage_errors_everywhere(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "a.txt").write_text("a\n")
    case = tmp_path / "case"
    assert run_cli("scan", evidence, "--case", case, "--quiet").code == EXIT_OK
    ((known,),) = _sql(case, "SELECT id FROM files")
    unknown = known + 1000
    out = tmp_path / "out"
    for command in (("extract", "--case", case, "--file", unknown, "-o", out),
                    ("extract", "--case", case, "--file", known, "--file", unknown, "-o", out),
                    ("tag", "--case", case, "--file", unknown, "--tag", "x"),
                    ("tag", "--case", case, "--finding", unknown, "--tag", "x")):
        result = run_cli(*command)
        assert result.code == EXIT_USAGE, (command, result.stderr)
        line = _one_error_line(result.stderr)
        assert f"with id {unknown} in this case" in line, line
    assert not out.exists(), "nothing is written for a command that names an unknown file"


# -- 7. sparse files: read by their data extents, hashed as openssl and md5sum hash them ---------------


def _sparse(path: Path, size: int, extents: list[tuple[int, bytes]]) -> Path:
    """A sparse file made with truncate and dd conv=notrunc, as an examiner's tools would make one."""
    subprocess.run(["truncate", "-s", str(size), str(path)], check=True)
    for offset, data in extents:
        subprocess.run(["dd", f"of={path}", "bs=1M", f"seek={offset}", "oflag=seek_bytes", "conv=notrunc",
                        "status=none"], input=data, check=True)
    assert path.stat().st_blocks * 512 < size // 100, "the test needs a filesystem that keeps holes"
    return path


def _scan_reading(evidence: Path, case: Path) -> tuple[int, int]:
    """Exit code and bytes read (rchar of /proc/PID/io: every read(2), holes included) of a scan. The
    shell reaps the scan, so its own counters then include the scan's."""
    command = f'"{sys.executable}" -m cybertriage scan "{evidence}" --case "{case}" --quiet; echo $?; cat /proc/$$/io'
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, cwd=REPO, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    code, *io = done.stdout.splitlines()
    counters = dict(line.split(": ") for line in io)
    return int(code), int(counters["rchar"])


def test_sparse_file_is_read_by_its_data_extents_and_hashed_like_openssl_and_md5sum(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    data = [(0, b"head of the file\n"), (300 * 1024 ** 2 + 17, os.urandom(3 * 1024 ** 2)),
            (GiB + 4096, images.EICAR), (2 * GiB - 5, b"tail-data")]
    sparse = _sparse(evidence / "vm-disk.bin", 2 * GiB + 4, data)
    case = tmp_path / "case"
    code, read = _scan_reading(evidence, case)
    assert code == EXIT_OK
    in_extents = sum(len(d) for _, d in data)
    assert read > in_extents, "the counters must include the scan's own reads"
    assert read < 64 * 1024 ** 2, f"{read:,} bytes read for {in_extents:,} bytes of data"
    (row,) = export(case, "files")
    # openssl, not sha256sum: coreutils' sha256sum reads the 2 GiB of holes in small blocks without the CPU's SHA
    # instructions (20.8 s here against openssl's 1.9 s)
    assert row["sha256"] == _tool("openssl", "dgst", "-sha256", "-r", sparse).split()[0]
    assert row["md5"] == _hash("md5sum", sparse)
