"""Reading objects back from a case's evidence: the bytes equal what independent tools read.

Disk files against Sleuth Kit's icat (raw, split raw, E01, NTFS streams, deleted files), loose
files against the file on disk, zip members against `unzip -p`, objects carried over HTTP against
`tshark --export-objects http`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import zipfile
from pathlib import Path

import pytest

from cybertriage.case.objects import ObjectBatch, ObjectReader, object_path, read_object
from cybertriage.errors import EvidenceError, UsageError
from tests import images
from tests.conftest import ScannedCase, run_cli

DISK_FILES = ["/Data/blob.bin", "/home/alice/bin/tool.bin", "/home/alice/Documents/old_passwords.txt",
              "/Users/Bob/AppData/big.bin", "/Users/Bob/Downloads/invoice.txt:Zone.Identifier",
              "/Pictures/holiday.jpg", "/DCIM/Camera/deleted_image_0002.txt"]


def rows(case: Path, sql: str, *params: object) -> list[sqlite3.Row]:
    conn = sqlite3.connect(case / "case.db")
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def windows(size: int) -> list[tuple[int, int]]:
    """(offset, length) reads that cover the start, the middle, a read across the end, the last byte,
    and reads past the end."""
    return [(0, 64), (0, size), (size // 2, 777), (max(0, size - 10), 100), (size - 1, 1), (size, 10), (size + 4096, 10)]


def icat(image: Path, offset: int, inode: str) -> bytes:
    segments = images.split_segments(image) if image.suffix in (".001", ".000") else image
    command = images._tsk_command("icat", ["-o", str(offset // images.SECTOR)], segments, inode)
    return subprocess.run(command, capture_output=True, check=True).stdout


def test_disk_files_read_as_icat_reads_them(scanned: ScannedCase) -> None:
    checked = set()
    with ObjectReader(scanned.case) as reader:
        for row in rows(scanned.case, "SELECT f.id, f.path, f.inode, f.partition_offset, f.size, f.deleted, e.path AS image, "
                                      "e.format FROM files f JOIN evidence e ON e.id = f.evidence_id WHERE f.path IN "
                                      f"({','.join('?' * len(DISK_FILES))})", *DISK_FILES):
            expected = icat(Path(row["image"]), row["partition_offset"], row["inode"])
            assert len(expected) == row["size"] > 0
            for offset, length in windows(row["size"]):
                assert reader.read(row["id"], offset, length) == expected[offset : offset + length], (row["path"], offset)
            checked.add((row["format"], row["path"], bool(row["deleted"])))
    assert {fmt for fmt, _, _ in checked} == {"raw", "split raw", "ewf"}
    assert {path for _, path, _ in checked} == set(DISK_FILES)
    assert any(deleted for _, _, deleted in checked)


def test_read_object_opens_and_closes_the_evidence(scanned: ScannedCase) -> None:
    row = rows(scanned.case, "SELECT f.id, f.inode, f.partition_offset, e.path AS image FROM files f JOIN evidence e "
                             "ON e.id = f.evidence_id WHERE e.format = 'ewf' AND f.path = '/Data/blob.bin'")[0]
    expected = icat(Path(row["image"]), row["partition_offset"], row["inode"])
    assert read_object(scanned.case, row["id"], 9_990, 100) == expected[9_990:]


def test_what_has_no_content_says_why(scanned: ScannedCase) -> None:
    folder = rows(scanned.case, "SELECT id FROM files WHERE kind = 'directory' LIMIT 1")[0]["id"]
    with ObjectReader(scanned.case) as reader:
        with pytest.raises(EvidenceError, match="directory"):
            reader.read(folder, 0, 10)
        with pytest.raises(UsageError, match="no file with id"):
            reader.read(10**9, 0, 10)


@pytest.fixture(scope="session")
def folder_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A folder of loose files with a zip that holds a zip, scanned by the command line."""
    base = tmp_path_factory.mktemp("objects")
    evidence = base / "stick"
    (evidence / "docs" / "deep").mkdir(parents=True)
    (evidence / "docs" / "deep" / "letter.txt").write_bytes(b"Dear examiner,\n" * 300)
    (evidence / "random.bin").write_bytes(os.urandom(300_000))
    (evidence / "Überweisung.txt").write_text("Betrag 10 EUR\n", encoding="utf-8")
    (evidence / "latin1-\xe9.txt".encode("latin-1").decode("utf-8", "surrogateescape")).write_bytes(b"not UTF-8 named\n")
    stage = base / "stage"
    (stage / "inner").mkdir(parents=True)
    (stage / "inner" / "secret.txt").write_bytes(b"the inner secret\n" * 1000)
    (stage / "payload.bin").write_bytes(os.urandom(70_000))
    subprocess.run(["zip", "-qr", str(base / "inner.zip"), "inner"], cwd=stage, check=True)
    shutil.copy(base / "inner.zip", stage / "inner.zip")
    subprocess.run(["zip", "-qr", str(evidence / "outer.zip"), "payload.bin", "inner.zip"], cwd=stage, check=True)
    case = base / "case"
    result = run_cli("scan", evidence, "--case", case, "--quiet", "--no-yara")
    assert result.code == 0, result.stderr
    return case, evidence


def test_loose_files_read_as_on_disk(folder_case: tuple[Path, Path]) -> None:
    case, evidence = folder_case
    with ObjectReader(case) as reader:
        for path in ("/docs/deep/letter.txt", "/random.bin", "/Überweisung.txt", "/outer.zip"):
            row = rows(case, "SELECT id, size FROM files WHERE path = ?", path)[0]
            expected = (evidence / path[1:]).read_bytes()
            for offset, length in windows(row["size"]):
                assert reader.read(row["id"], offset, length) == expected[offset : offset + length], (path, offset)


def test_a_name_that_is_not_utf8_is_found_by_its_inode(folder_case: tuple[Path, Path]) -> None:
    case, evidence = folder_case
    row = rows(case, "SELECT id, path FROM files WHERE path LIKE '/latin1-%'")[0]
    assert "\ufffd" in row["path"]
    assert read_object(case, row["id"], 0, 100) == b"not UTF-8 named\n"


def test_zip_members_read_as_unzip_reads_them(folder_case: tuple[Path, Path], tmp_path: Path) -> None:
    case, evidence = folder_case
    inner_zip = tmp_path / "inner.zip"
    inner_zip.write_bytes(subprocess.run(["unzip", "-p", evidence / "outer.zip", "inner.zip"], capture_output=True,
                                         check=True).stdout)
    expected = {
        "/outer.zip!payload.bin": ["unzip", "-p", evidence / "outer.zip", "payload.bin"],
        "/outer.zip!inner.zip": ["unzip", "-p", evidence / "outer.zip", "inner.zip"],
        "/outer.zip!inner.zip!inner/secret.txt": ["unzip", "-p", inner_zip, "inner/secret.txt"],
    }
    with ObjectReader(case) as reader:
        for path, command in expected.items():
            data = subprocess.run(command, capture_output=True, check=True).stdout
            row = rows(case, "SELECT id, size FROM files WHERE path = ?", path)[0]
            assert row["size"] == len(data) > 0
            # backwards as well as forwards: a member's inflater is restarted when a read goes back
            for offset, length in sorted(windows(row["size"]), reverse=True) + windows(row["size"]):
                assert reader.read(row["id"], offset, length) == data[offset : offset + length], (path, offset)


def test_a_member_s_ref_is_its_chain_of_containers(folder_case: tuple[Path, Path]) -> None:
    """The chain the reader rebuilds from the files table names the outer zip by its inode on disk, each member by
    its name in its container as `zipinfo -1` lists it, and displays as the path the case shows."""
    case, evidence = folder_case
    path = "/outer.zip!inner.zip!inner/secret.txt"
    row = rows(case, "SELECT id FROM files WHERE path = ?", path)[0]
    with ObjectReader(case) as reader:
        ref = reader.ref(row["id"])
    assert ref.display() == path
    assert ref.parent is not None and ref.parent.parent is not None and ref.parent.parent.parent is None
    outer = ref.parent.parent
    assert (outer.path, outer.inode) == ("/outer.zip", str((evidence / "outer.zip").stat().st_ino))
    listed = subprocess.run(["zipinfo", "-1", evidence / "outer.zip"], capture_output=True, check=True, text=True)
    assert ref.parent.path in listed.stdout.splitlines() and ref.path == "inner/secret.txt"


def test_a_folder_swapped_for_a_link_is_not_followed(folder_case: tuple[Path, Path], tmp_path: Path) -> None:
    """Read-back opens one folder at a time and refuses links: nothing outside the evidence is read."""
    case, evidence = folder_case
    row = rows(case, "SELECT id FROM files WHERE path = '/docs/deep/letter.txt'")[0]
    outside = tmp_path / "outside" / "deep"
    outside.mkdir(parents=True)
    (outside / "letter.txt").write_bytes(b"outside the evidence")
    docs = evidence / "docs"
    docs.rename(evidence / "docs.moved")
    try:
        docs.symlink_to(tmp_path / "outside")
        with pytest.raises(EvidenceError):
            read_object(case, row["id"], 0, 10)
    finally:
        docs.unlink()
        (evidence / "docs.moved").rename(docs)


@pytest.fixture(scope="session")
def capture_objects(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("carried")
    capture = corpus_dir / "pcap" / "http_100-continue.pcap"
    exported = base / "tshark"
    subprocess.run(["tshark", "-r", capture, "-q", "--export-objects", f"http,{exported}"], check=True,
                   capture_output=True)
    case = base / "case"
    result = run_cli("scan", capture, corpus_dir / "pcap" / "http_get.pcap", "--case", case, "--quiet")
    assert result.code == 0, result.stderr
    subprocess.run(["tshark", "-r", corpus_dir / "pcap" / "http_get.pcap", "-q", "--export-objects",
                    f"http,{exported}"], check=True, capture_output=True)
    return case, exported


def test_carried_objects_are_kept_in_the_case_and_read_as_tshark_exports_them(capture_objects: tuple[Path, Path]) -> None:
    case, exported = capture_objects
    by_hash = {hashlib.sha256(p.read_bytes()).hexdigest(): p.read_bytes() for p in exported.iterdir()}
    carried = rows(case, "SELECT id, size, sha256 FROM files WHERE origin LIKE 'HTTP%' AND sha256 IN "
                         f"({','.join('?' * len(by_hash))})", *by_hash)
    assert len(carried) >= 2 and max(r["size"] for r in carried) > 60_000
    with ObjectReader(case) as reader:
        for row in carried:
            stored = object_path(case, row["sha256"])
            assert stored.is_file() and not stored.stat().st_mode & 0o222  # written once, read-only
            data = by_hash[row["sha256"]]
            for offset, length in windows(row["size"]):
                assert reader.read(row["id"], offset, length) == data[offset : offset + length]


def test_a_truncated_member_of_a_damaged_zip_is_an_evidence_error(tmp_path: Path) -> None:
    evidence = tmp_path / "stick"
    evidence.mkdir()
    with zipfile.ZipFile(evidence / "a.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.bin", os.urandom(50_000))
    case = tmp_path / "case"
    assert run_cli("scan", evidence, "--case", case, "--quiet", "--no-yara").code == 0
    member = rows(case, "SELECT id FROM files WHERE path = '/a.zip!big.bin'")[0]["id"]
    data = (evidence / "a.zip").read_bytes()
    (evidence / "a.zip").write_bytes(data[:100] + data[-200:])  # the member's compressed bytes are gone
    with pytest.raises(EvidenceError):
        read_object(case, member, 0, 50_000)


def test_a_carried_object_that_cannot_be_stored_is_in_the_ledger(corpus_dir: Path, tmp_path: Path) -> None:
    """Carried objects are written by a thread of their own; one that fails is counted, and the scan lands,
    partial (exit 1): the object's bytes cannot be viewed, extracted or checked later."""
    case = tmp_path / "case"
    case.mkdir()
    (case / "objects").write_bytes(b"")  # a file where the object store's folder goes: nothing can be stored
    result = run_cli("scan", corpus_dir / "pcap" / "http_get.pcap", "--case", case, "--quiet", "--no-yara")
    assert result.code == 1 and "1 carried objects not stored" in result.stderr, result.stderr
    ledger = rows(case, "SELECT skipped, reasons FROM ledger WHERE stage = 'objects'")
    assert [(row["skipped"], json.loads(row["reasons"])) for row in ledger] == [(1, {"carried object not stored": 1})]
    assert len(rows(case, "SELECT id FROM files WHERE origin LIKE 'HTTP%'")) == 1  # its row is there all the same


def _sha256sum(path: Path) -> str:
    return subprocess.run(["sha256sum", path], capture_output=True, text=True, check=True).stdout.split()[0]


def test_a_file_of_the_case_is_moved_into_the_store_by_its_name(tmp_path: Path) -> None:
    """A carved file in the case's work folder: hashed once, named in the store only once synced, read-only, the
    same file (renamed, not copied), and gone from the work folder."""
    case = tmp_path / "case"
    work = case / ".carving-x"
    work.mkdir(parents=True)
    carved = work / "f0001234.jpg"
    carved.write_bytes(os.urandom(300_000))
    expected, inode = _sha256sum(carved), carved.stat().st_ino
    batch = ObjectBatch(case)
    assert batch.add_file(carved) == expected
    stored = object_path(case, expected)
    assert not stored.exists()  # not named before it is synced
    assert batch.name_all() == {}
    assert not carved.exists()
    assert stored.stat().st_ino == inode and _sha256sum(stored) == expected
    assert stored.stat().st_mode & 0o777 == 0o444


def test_a_file_whose_bytes_are_stored_already_is_removed(tmp_path: Path) -> None:
    case = tmp_path / "case"
    (case / "work").mkdir(parents=True)
    first, second = case / "work" / "a.bin", case / "work" / "b.bin"
    first.write_bytes(b"the same carved bytes twice\n")
    second.write_bytes(b"the same carved bytes twice\n")
    batch = ObjectBatch(case)
    sha256 = batch.add_file(first)
    assert batch.name_all() == {}
    stored = object_path(case, sha256)
    inode = stored.stat().st_ino
    assert batch.add_file(second) == sha256 == _sha256sum(stored)
    assert not second.exists() and batch.name_all() == {}
    assert stored.stat().st_ino == inode


def test_a_link_is_not_moved_into_the_store(tmp_path: Path) -> None:
    case = tmp_path / "case"
    (case / "work").mkdir(parents=True)
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not the case's\n")
    link = case / "work" / "f0000001.txt"
    link.symlink_to(outside)
    with pytest.raises(OSError):
        ObjectBatch(case).add_file(link)
    assert outside.read_bytes() == b"not the case's\n" and not (case / "objects").exists()


def test_a_store_folder_swapped_for_a_link_is_not_written_through(tmp_path: Path) -> None:
    case = tmp_path / "case"
    (case / "work").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (case / "objects").symlink_to(elsewhere)
    carved = case / "work" / "f0000002.bin"
    carved.write_bytes(b"carved\n")
    with pytest.raises(OSError, match="not the case's own folder"):
        ObjectBatch(case).add_file(carved)
    assert list(elsewhere.iterdir()) == [] and carved.exists()


def test_a_file_on_another_filesystem_is_copied_in(tmp_path: Path) -> None:
    """A rename cannot cross filesystems: the file is copied (and synced) instead, then removed."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second filesystem beside the temporary folder")
    work = Path(tempfile.mkdtemp(dir=shm))
    try:
        carved = work / "f0000003.bin"
        carved.write_bytes(os.urandom(70_000))
        expected = _sha256sum(carved)
        case = tmp_path / "case"
        case.mkdir()
        batch = ObjectBatch(case)
        assert batch.add_file(carved) == expected
        assert not carved.exists()
        assert batch.name_all() == {}
        stored = object_path(case, expected)
        assert _sha256sum(stored) == expected and stored.stat().st_mode & 0o777 == 0o444
    finally:
        shutil.rmtree(work)
