"""The public corpus images give the listings its MANIFEST.md states (upstream facts)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.conftest import export, run_cli

PASSWORDS = (b"place,user,password\nbank,joesmith,superrich\nalarm system,-,1234\n"
             b"treasure chest,-,1111\nuber secret laire,admin,admin\n")


@pytest.fixture(scope="module")
def corpus_case(corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    case = tmp_path_factory.mktemp("corpus")
    disk = corpus_dir / "disk"
    names = ["pytsk_image.raw", "pytsk_tsk_volume_system.raw", "dfvfs_ext2.E01", "dfvfs_ext2.split.E01",
             "dfvfs_ext2.splitraw.000", "dfvfs_hfsplus.raw", "dfvfs_iso9660.raw", "ntfs-rs_testfs1.ntfs.raw",
             "rust-fatfs_fat12.img", "rust-fatfs_fat16.img", "dfvfs_apfs.raw"]
    result = run_cli("scan", *(disk / n for n in names), "--case", case, "--quiet")
    return case, result


def _files(case: Path, corpus_dir: Path, name: str) -> dict[str, dict]:
    evidence = str((corpus_dir / "disk" / name).resolve())
    return {r["path"]: r for r in export(case, "files") if r["evidence"] == evidence}


def test_only_apfs_fails(corpus_case, corpus_dir: Path) -> None:
    case, result = corpus_case
    assert result.code == 1  # APFS needs Sleuth Kit's pool API, which pytsk3 lacks: a recorded failure
    assert "dfvfs_apfs.raw" in result.stderr and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_pytsk_ext2(corpus_case, corpus_dir: Path) -> None:
    files = _files(corpus_case[0], corpus_dir, "pytsk_image.raw")
    assert files["/passwords.txt"]["inode"] == "15" and files["/passwords.txt"]["size"] == 116
    assert files["/passwords.txt"]["mtime"] == "2012-05-25T16:00:53Z"  # 18:00:53 CEST
    assert files["/a_directory/another_file"]["inode"] == "16" and files["/a_directory/another_file"]["size"] == 22
    assert files["/a_directory/a_file"]["size"] == 53
    assert files["/passwords.txt~"]["deleted"]
    assert files["/a_directory/.another_file.swp"]["deleted"] and files["/a_directory/another_file~"]["deleted"]


def test_tsk_volume_system_logical_partition(corpus_case, corpus_dir: Path) -> None:
    files = _files(corpus_case[0], corpus_dir, "pytsk_tsk_volume_system.raw")
    assert files["/lost+found"]["partition_offset"] == 352 * 512


@pytest.mark.parametrize("name", ["dfvfs_ext2.E01", "dfvfs_ext2.split.E01", "dfvfs_ext2.splitraw.000"])
def test_dfvfs_ext2_containers(corpus_case, corpus_dir: Path, name: str) -> None:
    files = _files(corpus_case[0], corpus_dir, name)
    passwords = files["/passwords.txt"]
    assert passwords["inode"] == "14" and passwords["size"] == 116
    assert passwords["sha256"] == hashlib.sha256(PASSWORDS).hexdigest()
    assert files["/a_directory/another_file"]["inode"] == "15" and files["/a_directory/another_file"]["size"] == 22
    assert files["/a_link"]["inode"] == "16"
    assert len([p for p in files if p.count("/") == 1 and p != "/$OrphanFiles"]) == 4  # root's entries less . and ..


@pytest.mark.parametrize("name", ["dfvfs_ext2.E01", "dfvfs_ext2.split.E01"])
def test_dfvfs_e01_stored_md5_verified(corpus_case, corpus_dir: Path, name: str) -> None:
    info = run_cli("info", "--case", corpus_case[0])
    block = info.stdout.split(str((corpus_dir / "disk" / name).resolve()))[1].split("\nEvidence")[0]
    assert "196066add11fb71c4c49cf1bb50d6d24" in block and "verification: verified" in block


def test_hfsplus_and_iso9660(corpus_case, corpus_dir: Path) -> None:
    hfs = _files(corpus_case[0], corpus_dir, "dfvfs_hfsplus.raw")
    assert hfs["/passwords.txt"]["inode"] == "20" and hfs["/passwords.txt"]["size"] == 116
    assert hfs["/a_directory/another_file"]["inode"] == "21"
    iso = _files(corpus_case[0], corpus_dir, "dfvfs_iso9660.raw")
    assert iso["/PASSWORDS.TXT"]["size"] == 116 and iso["/A_DIRECTORY/ANOTHER_FILE"]["size"] == 22


def test_ntfs_testfs1(corpus_case, corpus_dir: Path) -> None:
    files = _files(corpus_case[0], corpus_dir, "ntfs-rs_testfs1.ntfs.raw")
    assert files["/empty-file"]["size"] == 0 and files["/empty-file"]["sha256"] == hashlib.sha256(b"").hexdigest()
    assert files["/file-with-12345"]["sha256"] == hashlib.sha256(b"12345").hexdigest()
    assert files["/1000-bytes-file"]["sha256"] == hashlib.sha256(b"12345" * 200).hexdigest()
    sparse = b"12345" + b"\0" * (500000 - 5) + b"11111"
    assert files["/sparse-file"]["size"] == 500005 and files["/sparse-file"]["sha256"] == hashlib.sha256(sparse).hexdigest()
    subdirs = [p for p in files if p.startswith("/many_subdirs/")]
    assert sorted(int(p.rsplit("/", 1)[1]) for p in subdirs) == list(range(1, 513))
    assert files["/$MFT"]["inode"].startswith("0-")


@pytest.mark.parametrize("name", ["rust-fatfs_fat12.img", "rust-fatfs_fat16.img"])
def test_rust_fatfs(corpus_case, corpus_dir: Path, name: str) -> None:
    files = _files(corpus_case[0], corpus_dir, name)
    line = b"Rust is cool!\n"
    assert files["/long.txt"]["sha256"] == hashlib.sha256(line * 1000).hexdigest()
    assert files["/short.txt"]["sha256"] == hashlib.sha256(line).hexdigest()
    assert files["/very/long/path/test.txt"]["size"] == 14
    assert files["/very-long-dir-name/very-long-file-name.txt"]["size"] == 14


def test_kind_comes_from_content_not_name(corpus_dir: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "exhibit-7.bin"
    renamed.write_bytes((corpus_dir / "disk" / "dfvfs_ext2.E01").read_bytes())
    case = tmp_path / "case"
    assert run_cli("scan", renamed, "--case", case, "--quiet").code == 0
    info = run_cli("info", "--case", case).stdout
    assert "format ewf" in info and "verification: verified" in info
    files = {r["path"]: r for r in export(case, "files")}
    assert files["/passwords.txt"]["sha256"] == hashlib.sha256(PASSWORDS).hexdigest()
