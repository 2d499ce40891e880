"""Forensic soundness: evidence never changes, `verify` proves it, the audit log is append-only and complete,
and a full disk, a read-only case folder or a failing medium give a clear error and lose nothing.

Expected values come from sha256sum, os.stat and the fixture builders (tests/images.py), not from cybertriage.
"""

from __future__ import annotations

import errno
import getpass
import hashlib
import importlib.util
import json
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cybertriage import __version__
from cybertriage.analyzers import Settings
from cybertriage.case import open_case
from cybertriage.pipeline import Scan, ScanOptions
from tests import images
from tests.conftest import REPO, Images, export, run_cli

UTC_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _sha256sum(*paths: Path) -> str:
    """`cat PATHS | sha256sum`, by the coreutils tool."""
    cat = subprocess.run(["cat", *map(str, paths)], capture_output=True, check=True).stdout
    return subprocess.run(["sha256sum"], input=cat, capture_output=True, check=True).stdout.split()[0].decode()


def _fingerprint(paths: list[Path]) -> dict[str, tuple[str, int]]:
    """sha256sum and mtime of every file (and mtime of every folder) under the paths."""
    seen: dict[str, tuple[str, int]] = {}
    for path in paths:
        for item in [path, *sorted(path.rglob("*"))] if path.is_dir() else [path]:
            digest = "" if item.is_dir() else subprocess.run(["sha256sum", str(item)], capture_output=True,
                                                             check=True, text=True).stdout.split()[0]
            seen[str(item)] = (digest, item.stat().st_mtime_ns)
    return seen


def _integrity_ok(case: Path) -> bool:
    db = sqlite3.connect(case / "case.db")
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()


def _audit(case: Path) -> list[dict]:
    db = sqlite3.connect(case / "case.db")
    db.row_factory = sqlite3.Row
    rows = [dict(row) | {"detail": json.loads(row["detail"])} for row in db.execute("SELECT * FROM audit_log ORDER BY id")]
    db.close()
    return rows


@pytest.fixture(scope="module")
def loose_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("loose")
    (folder / "Downloads").mkdir()
    (folder / "Downloads" / "eicar.com").write_bytes(images.EICAR)
    (folder / "notes.txt").write_text("meet at noon\n")
    return folder


# -- evidence integrity ------------------------------------------------------------------


def test_scan_changes_no_evidence_and_verify_confirms_it(disk_images: Images, loose_folder: Path, corpus_dir: Path,
                                                         tmp_path: Path) -> None:
    evidence = [disk_images.mbr, disk_images.split_raw, disk_images.e01_multi, loose_folder,
                corpus_dir / "pcap" / "smtp.pcap"]
    containers = [p for e in evidence for p in ([e] if e.is_dir() else images.split_segments(e) or [e])]
    before = _fingerprint(containers)
    case = tmp_path / "case"
    assert run_cli("scan", *evidence, "--case", case, "--quiet").code == 0
    assert _fingerprint(containers) == before

    db = sqlite3.connect(case / "case.db")
    recorded = dict(db.execute("SELECT path, sha256 FROM evidence").fetchall())
    db.close()
    for item in evidence:
        if not item.is_dir():
            assert recorded[str(item.resolve())] == _sha256sum(*(images.split_segments(item) or [item]))

    result = run_cli("verify", "--case", case)
    assert result.code == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if not line.startswith("CUSTODY ")]
    assert len(lines) == len(evidence) and all(line.startswith("OK ") for line in lines), result.stdout
    assert result.stdout.splitlines()[-1].startswith("CUSTODY    OK:"), result.stdout
    assert "MD5" in next(line for line in lines if "mbr.E01" in line)  # the E01's stored hash was checked too
    assert _fingerprint(containers) == before  # verify reads read-only as well
    assert _audit(case)[-1]["action"] == "evidence verified" and _audit(case)[-1]["detail"]["all_ok"] is True


def test_every_reader_opens_evidence_read_only(disk_images: Images, loose_folder: Path, corpus_dir: Path,
                                              tmp_path: Path) -> None:
    """strace sees every open(2) of the evidence, by Python, Sleuth Kit (raw images) and libewf alike."""
    assert shutil.which("strace"), "strace is needed (apt-get install strace)"
    evidence = [disk_images.mbr, disk_images.split_raw, disk_images.e01_multi, loose_folder,
                corpus_dir / "pcap" / "smtp.pcap"]
    trace = tmp_path / "trace"
    command = ["strace", "-f", "-qq", "-e", "trace=open,openat,openat2,creat,truncate", "-o", str(trace),
               sys.executable, "-m", "cybertriage", "scan", *map(str, evidence), "--case", str(tmp_path / "case"), "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    roots = [str(p.parent if not p.is_dir() else p) for p in evidence[:3]] + [str(loose_folder), str(evidence[4])]
    opens = [line for line in trace.read_text().splitlines() if any(f'"{root}' in line for root in roots)]
    assert len(opens) >= 10, opens  # each container file, each loose file
    for line in opens:
        assert "O_RDONLY" in line and not re.search(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|creat\(|truncate\(", line), line


def test_verify_finds_changed_and_missing_evidence(disk_images: Images, loose_folder: Path, corpus_dir: Path,
                                                   tmp_path: Path) -> None:
    copies = tmp_path / "copies"
    copies.mkdir()
    raw = Path(shutil.copy(disk_images.bare_fat, copies))
    e01 = Path(shutil.copy(disk_images.e01, copies))
    pcap = Path(shutil.copy(corpus_dir / "pcap" / "ftp_ipv4.pcap", copies))
    folder = Path(shutil.copytree(loose_folder, copies / "folder"))
    case = tmp_path / "case"
    assert run_cli("scan", raw, e01, pcap, folder, "--case", case, "--quiet").code == 0
    assert run_cli("verify", "--case", case).code == 0

    with open(raw, "r+b") as handle:  # one byte in the middle of the image
        handle.seek(raw.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with open(e01, "r+b") as handle:
        handle.seek(e01.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))
    pcap.unlink()
    (folder / "notes.txt").write_text("meet at midnight\n")

    result = run_cli("verify", "--case", case)
    assert result.code == 1 and "Traceback" not in result.stderr
    verdicts = {line.split()[1].rstrip(":"): line.split()[0] for line in result.stdout.splitlines()
                if not line.startswith("CUSTODY ")}
    assert verdicts == {str(raw): "MISMATCH", str(e01): "MISMATCH", str(pcap): "MISSING", str(folder): "MISMATCH"}
    assert "/notes.txt" in next(line for line in result.stdout.splitlines() if str(folder) in line)
    last = _audit(case)[-1]
    assert last["action"] == "evidence verified" and last["detail"]["all_ok"] is False


def test_verify_help_explains_itself() -> None:
    result = run_cli("verify", "--help")
    assert result.code == 0
    text = " ".join(result.stdout.split())
    for words in ("--case", "sha256", "OK", "MISMATCH", "MISSING", "audit log", "Exit codes: 0"):
        assert words in text


# -- chain of custody --------------------------------------------------------------------


def test_audit_log_is_append_only(tmp_path: Path) -> None:
    open_case(tmp_path, create=True).close()
    db = sqlite3.connect(tmp_path / "case.db")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE audit_log SET user = 'someone else'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM audit_log")
    db.execute("INSERT INTO audit_log (ts, user, host, action, detail) VALUES ('t', 'u', 'h', 'a', '{}')")
    db.commit()
    assert [row[0] for row in db.execute("SELECT action FROM audit_log ORDER BY id")] == ["case created", "a"]


def test_every_action_is_on_record(disk_images: Images, tmp_path: Path) -> None:
    case = tmp_path / "case"
    assert run_cli("scan", disk_images.bare_fat, "--case", case, "--quiet").code == 0
    findings = tmp_path / "findings.csv"
    assert run_cli("export", "--case", case, "--what", "findings", "--format", "csv", "-o", findings).code == 0
    file_id = next(f["id"] for f in export(case, "files") if f["path"] == "/readme.txt")
    assert run_cli("tag", "--case", case, "--file", file_id, "--tag", "exhibit-2").code == 0
    pdf = tmp_path / "report.pdf"
    assert run_cli("report", "--case", case, "--pdf", pdf).code == 0
    assert run_cli("verify", "--case", case).code == 0

    entries = _audit(case)
    by_action = {}
    for entry in entries:
        assert UTC_TIME.match(entry["ts"]), entry
        assert entry["user"] == getpass.getuser() and entry["host"] == socket.gethostname()
        by_action.setdefault(entry["action"], []).append(entry["detail"])
    assert entries[0]["action"] == "case created"
    rules_sha256 = run_cli("--version").stdout.split("rules sha256 ")[1].strip()
    started = by_action["scan started"][0]
    assert started["tool_version"] == __version__ and started["rules_sha256"] == rules_sha256
    assert started["jobs"] >= 1 and started["yara"] is True and "analyzers" in started
    evidence = str(disk_images.bare_fat.resolve())
    assert by_action["evidence added"][0]["evidence"] == evidence
    assert by_action["evidence hashed"] == [{"evidence": evidence, "sha256": _sha256sum(disk_images.bare_fat),
                                             "bytes": disk_images.bare_fat.stat().st_size, "unreadable": []}]
    assert by_action["scan finished"][0]["status"] == "completed"
    assert {"what": "findings", "format": "csv", "destination": str(findings.resolve())}.items() \
        <= by_action["export"][0].items()
    assert {"what": "files", "format": "jsonl", "destination": "standard output"}.items() <= by_action["export"][1].items()
    assert by_action["tag added"][0]["tag"] == "exhibit-2" and by_action["tag added"][0]["object_id"] == file_id
    assert by_action["report written"][0]["pdf"] == str(pdf.resolve())
    assert by_action["evidence verified"][0]["all_ok"] is True

    info = run_cli("info", "--case", case)
    assert info.code == 0
    log = info.stdout.split("Audit log")[1].splitlines()[1:]
    for line, entry in zip(log, entries, strict=True):  # one line per entry, nothing left out
        assert line.strip().startswith(f"{entry['ts']} {entry['user']}@{entry['host']} {entry['action']}: ")


# -- resource faults ---------------------------------------------------------------------


def _one_clear_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize("locked", ["folder and database", "database"])
def test_read_only_case_is_a_clear_error(locked: str, disk_images: Images, tmp_path: Path) -> None:
    case = tmp_path / "case"
    assert run_cli("scan", disk_images.bare_fat, "--case", case, "--quiet").code == 0
    files = export(case, "files")
    (case / "case.db").chmod(0o444)
    if locked == "folder and database":
        case.chmod(0o555)
    try:
        result = run_cli("scan", disk_images.mbr, "--case", case, "--quiet", obey_permissions=True)
        read_only_export = run_cli("export", "--case", case, "--what", "files", "--format", "jsonl", obey_permissions=True)
    finally:
        case.chmod(0o755)
        (case / "case.db").chmod(0o644)
    assert result.code == 3
    assert "cannot be written" in _one_clear_line(result.stderr) or "failed" in result.stderr
    assert _integrity_ok(case)
    assert run_cli("info", "--case", case).code == 0
    assert export(case, "files") == files
    # a case made read-only, database or folder too, can still be read (in a read-only folder as the immutable file it is)
    assert read_only_export.code == 0, read_only_export.stderr
    assert [json.loads(line) for line in read_only_export.stdout.splitlines()] == files
    assert "not in the audit log" in read_only_export.stderr


def _without_room_to_grow(limit: int) -> None:
    """In the child: files may not grow past `limit` bytes; writing further fails with EFBIG (SIGXFSZ ignored)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def _full_disk_then_resume(case: Path, scan_full: subprocess.CompletedProcess, evidence: list[Path],
                           reference: Path) -> None:
    assert scan_full.returncode == 3, scan_full.stderr
    assert "cannot be written" in _one_clear_line(scan_full.stderr) or "failed" in scan_full.stderr
    assert _integrity_ok(case)
    assert run_cli("info", "--case", case).code == 0
    assert run_cli("scan", *evidence, "--case", case, "--quiet").code == 0
    key = lambda rows: sorted((r["evidence"], r["partition_offset"], r["path"], r["sha256"]) for r in rows)  # noqa: E731
    assert key(export(case, "files")) == key(export(reference, "files"))


@pytest.fixture(scope="module")
def reference_case(disk_images: Images, corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path]:
    evidence = [disk_images.bare_fat, disk_images.mbr, corpus_dir / "pcap" / "smtp.pcap"]
    case = tmp_path_factory.mktemp("reference")
    assert run_cli("scan", *evidence, "--case", case, "--quiet").code == 0
    return evidence, case


def test_full_disk_by_file_size_limit(reference_case: tuple[list[Path], Path], tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes every write past a size fail, as a full disk does, without mounting anything."""
    evidence, reference = reference_case
    case = tmp_path / "case"
    assert run_cli("scan", evidence[0], "--case", case, "--quiet").code == 0
    limit = (case / "case.db").stat().st_size + 32 * 1024
    command = [sys.executable, "-m", "cybertriage", "scan", *map(str, evidence), "--case", str(case), "--quiet"]
    full = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, preexec_fn=lambda: _without_room_to_grow(limit))
    _full_disk_then_resume(case, full, evidence, reference)


def test_full_disk_on_a_small_filesystem(reference_case: tuple[list[Path], Path], tmp_path: Path) -> None:
    """A real ENOSPC: the case on a 4 MiB tmpfs, filled up but for 64 KiB before the second scan."""
    evidence, reference = reference_case
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()}); "
                    "test_full_disk_by_file_size_limit covers a full disk without mounting")
    try:
        case = mount_point / "case"
        assert run_cli("scan", evidence[0], "--case", case, "--quiet").code == 0
        free = shutil.disk_usage(mount_point).free
        (mount_point / "filler").write_bytes(b"\0" * (free - 64 * 1024))
        full = subprocess.run([sys.executable, "-m", "cybertriage", "scan", *map(str, evidence), "--case", str(case),
                               "--quiet"], capture_output=True, text=True, timeout=300, cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
        assert "disk is full" in full.stderr
        (mount_point / "filler").unlink()
        _full_disk_then_resume(case, full, evidence, reference)
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_failing_medium_records_unreadable_ranges_and_goes_on(disk_images: Images, monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    """Reads of 1 KiB in the middle of a split image fail with EIO (injected at os.pread, the call every read
    of a split image and of the evidence hash goes through): the range is recorded to the byte, the evidence
    hash is taken with zeros there, and every partition the bad sectors do not touch is still examined."""
    raw = disk_images.mbr.read_bytes()
    segments = images.split_segments(disk_images.split_raw)
    segment_size = segments[0].stat().st_size
    blob = images.mbr_fat32_content().files["Data/blob.bin"]
    at = (raw.find(blob) + 4096) // 512 * 512  # inside a file of the FAT32 partition
    bad_segment, bad_offset, bad_length = segments[at // segment_size], at % segment_size, 1024
    real_pread = os.pread

    def failing_pread(fd: int, length: int, offset: int) -> bytes:
        if offset < bad_offset + bad_length and offset + length > bad_offset:
            try:
                name = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                name = ""
            if name == str(bad_segment):
                raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_pread(fd, length, offset)

    monkeypatch.setattr(os, "pread", failing_pread)
    case = tmp_path / "case"
    scan = Scan(case, [disk_images.split_raw], ScanOptions(jobs=2, settings=Settings(rule_paths=None)), threading.Event())
    for _ in scan.run():
        pass
    monkeypatch.undo()

    assert scan.outcomes[0].status == "partial"
    _assert_damage_recorded(case, bad_segment, at, raw, bad_offset)
    statuses = dict(sqlite3.connect(case / "case.db").execute("SELECT offset, status FROM partitions").fetchall())
    fat32, ext4, fat16 = (images.MBR_LAYOUT[name][0] * images.SECTOR for name in ("fat32", "ext4", "fat16"))
    assert statuses == {fat32: "unreadable", ext4: "examined", fat16: "examined"}  # a read that raises: whole volume


@pytest.fixture
def failing_medium(disk_images: Images, tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """mbr.raw on a FUSE mount (tests/badsectors.py) where 1 KiB inside the FAT32 partition's /Data/blob.bin
    fails with EIO from the kernel; skipped only where FUSE cannot mount (the injected EIO test still runs)."""
    if importlib.util.find_spec("mfusepy") is None or not Path("/dev/fuse").exists():
        pytest.skip("FUSE is not available here (mfusepy, /dev/fuse)")
    raw = disk_images.mbr.read_bytes()
    at = (raw.find(images.mbr_fat32_content().files["Data/blob.bin"]) + 4096) // 512 * 512
    mount_point = tmp_path / "failing"
    mount_point.mkdir()
    child = subprocess.Popen([sys.executable, str(REPO / "tests" / "badsectors.py"), str(disk_images.mbr),
                              str(mount_point), str(at), "1024"], stderr=subprocess.PIPE, text=True)
    image = mount_point / disk_images.mbr.name
    deadline = time.monotonic() + 20
    while not image.exists():
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            pytest.skip(f"FUSE cannot mount here: {child.communicate()[1].strip()[:200]}")
        time.sleep(0.1)
    try:
        yield image, at
    finally:
        subprocess.run(["umount", str(mount_point)], capture_output=True)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()


def test_bad_sectors_of_a_raw_image_are_recorded_and_the_scan_goes_on(failing_medium: tuple[Path, int],
                                                                       disk_images: Images, tmp_path: Path) -> None:
    """Real EIO from the kernel, met by Sleuth Kit's own reader (which hands back zeros without an error) and
    by the evidence hash: the range is recorded to the byte, the file stored there is not given a hash of
    zeros, and everything else is examined as on a sound disk."""
    image, at = failing_medium
    sha256sum = subprocess.run(["sha256sum", str(image)], capture_output=True, text=True)
    assert sha256sum.returncode != 0 and "Input/output error" in sha256sum.stderr  # the medium does fail
    case = tmp_path / "case"
    result = run_cli("scan", image, "--case", case, "--quiet")
    assert result.code == 1 and "partial" in _one_clear_line(result.stderr) and "1024 bytes" in result.stderr
    _assert_damage_recorded(case, image, at, disk_images.mbr.read_bytes())
    verify = run_cli("verify", "--case", case)
    assert verify.stdout.startswith("OK ") and "1024 bytes unreadable" in verify.stdout  # the same sectors, still bad


def _assert_damage_recorded(case: Path, segment: Path, at: int, raw: bytes, bad_offset: int | None = None) -> None:
    """What a case must hold after a scan of the MBR image whose bytes [at, at+1024) could not be read."""
    bad_offset = at if bad_offset is None else bad_offset
    db = sqlite3.connect(case / "case.db")
    assert db.execute("SELECT status FROM evidence").fetchone()[0] == "partial"
    problems = db.execute("SELECT stage, object, message FROM problems WHERE stage = 'evidence'").fetchall()
    assert problems == [("evidence", str(segment.resolve()),
                         f"bytes {bad_offset}-{bad_offset + 1023} unreadable (Input/output error); hashed as zeros")]
    skipped = json.loads(db.execute("SELECT reasons FROM ledger WHERE stage = 'content'").fetchone()[0])
    zeroed = raw[:at] + b"\0" * 1024 + raw[at + 1024:]
    assert db.execute("SELECT sha256 FROM evidence").fetchone()[0] == hashlib.sha256(zeroed).hexdigest()
    db.close()
    assert _integrity_ok(case) and run_cli("info", "--case", case).code == 0
    files = {(f["partition_offset"], f["path"]): f for f in export(case, "files")}
    layout = images.MBR_LAYOUT
    contents = {layout["fat32"][0] * images.SECTOR: images.mbr_fat32_content(),
                layout["ext4"][0] * images.SECTOR: images.mbr_ext4_content(),
                layout["fat16"][0] * images.SECTOR: images.mbr_fat16_content()}
    examined = 0
    for offset, content in contents.items():
        for path, data in content.files.items():
            row = files.get((offset, "/" + path))
            if row is None:
                continue  # a partition the bad sectors made unreadable as a whole
            examined += 1
            if path == "Data/blob.bin":
                assert row["sha256"] is None and row["note"].startswith("unreadable content"), row
                assert skipped.get("unreadable sectors", 0) + skipped.get("unreadable content", 0) == 1  # in the ledger
            else:
                assert row["sha256"] == hashlib.sha256(data).hexdigest(), row
    assert examined >= len(images.mbr_ext4_content().files) + len(images.mbr_fat16_content().files)
