"""Disk images: every file Sleuth Kit's fls lists, with icat's bytes, whatever the container."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests import images
from tests.conftest import Images, ScannedCase, export, run_cli, sha256_of


def _listing(rows: list[dict]) -> set[tuple[int, str, bool]]:
    return {(r["partition_offset"], r["path"], r["deleted"]) for r in rows if "!" not in r["path"]}


def _fls_listing(image) -> set[tuple[int, str, bool]]:
    return {(offset, path, deleted)
            for offset in images.filesystem_offsets(image)
            for path, deleted in images.fls_entries(image, offset)}


def test_scan_of_good_images_succeeds(scanned: ScannedCase) -> None:
    assert scanned.result.code == 0, scanned.result.stderr
    assert "Traceback" not in scanned.result.stderr


@pytest.mark.parametrize("name", ["mbr", "gpt", "bare_fat"])
def test_listing_equals_fls(scanned: ScannedCase, disk_images: Images, name: str) -> None:
    image = getattr(disk_images, name)
    ours = _listing(scanned.files_of(image))
    assert ours == _fls_listing(image)


def test_mbr_image_covers_every_partition_mmls_shows(scanned: ScannedCase, disk_images: Images) -> None:
    offsets = {r["partition_offset"] for r in scanned.files_of(disk_images.mbr)}
    expected = set(images.filesystem_offsets(disk_images.mbr))
    assert len(expected) >= 3, "fixture should hold FAT32, ext4 and a logical partition"
    assert offsets == expected


@pytest.mark.parametrize("name", ["mbr", "gpt", "bare_fat"])
def test_allocated_file_hashes_equal_icat(scanned: ScannedCase, disk_images: Images, name: str) -> None:
    image = getattr(disk_images, name)
    checked = 0
    for row in scanned.files_of(image):
        if row["deleted"] or row["kind"] != "file" or "!" in row["path"]:
            continue
        if row["sha256"] is None:
            assert row["note"], f"{row['path']} has no hash and no reason"
            continue
        assert row["sha256"] == images.icat_sha256(image, row["partition_offset"], row["inode"]), row["path"]
        checked += 1
    assert checked >= 3


def test_deleted_files_are_found(scanned: ScannedCase, disk_images: Images) -> None:
    deleted = {r["partition_offset"] for r in scanned.files_of(disk_images.mbr) if r["deleted"]}
    assert len(deleted) >= 2  # at least the FAT32 and the ext4 partition hold a deleted file


def test_ntfs_alternate_data_stream_is_its_own_object(scanned: ScannedCase, disk_images: Images) -> None:
    fls_streams = {p for _, p, _ in _fls_listing(disk_images.gpt) if ":" in p and "/$" not in p and not p.startswith("/$")}
    assert fls_streams, "fixture should hold a file with an alternate data stream"
    ours = {r["path"]: r for r in scanned.files_of(disk_images.gpt)}
    for path in fls_streams:
        assert ours[path]["sha256"], path


@pytest.mark.parametrize("name", ["e01", "e01_multi", "split_raw"])
def test_containers_give_the_same_files_as_raw(scanned: ScannedCase, disk_images: Images, name: str) -> None:
    def facts(rows):
        return {(r["partition_offset"], r["path"], r["deleted"], r["size"], r["sha256"]) for r in rows}

    assert facts(scanned.files_of(getattr(disk_images, name))) == facts(scanned.files_of(disk_images.mbr))


def _evidence(scanned: ScannedCase, path: Path) -> dict:
    db = sqlite3.connect(scanned.case / "case.db")
    db.row_factory = sqlite3.Row
    row = db.execute("SELECT * FROM evidence WHERE path = ?", [str(path.resolve())]).fetchone()
    return dict(row)


@pytest.mark.parametrize("name", ["e01", "e01_multi"])
def test_e01_verification_agrees_with_ewfverify(scanned: ScannedCase, disk_images: Images, name: str) -> None:
    image = getattr(disk_images, name)
    ewfverify = subprocess.run(["ewfverify", "-q", str(image)], capture_output=True, text=True)
    assert ewfverify.returncode == 0
    row = _evidence(scanned, image)
    assert row["verified"] == "verified"
    assert row["stored_md5"] == row["computed_md5"]


def test_evidence_sha256_recorded_and_evidence_unchanged(scanned: ScannedCase, disk_images: Images) -> None:
    for image in (disk_images.mbr, disk_images.e01_multi, disk_images.split_raw):
        segments = images.split_segments(image) or [image]
        assert _evidence(scanned, image)["sha256"] == sha256_of(*segments)
    for path, digest in scanned.hashes_before.items():
        assert sha256_of(path) == digest, f"{path} changed during the scan"


def test_yara_findings_equal_yara_cli_on_recovered_files(scanned: ScannedCase, disk_images: Images, tmp_path) -> None:
    """Recover the allocated files with tsk_recover, run the yara CLI over them, compare."""
    from cybertriage.assets import asset_dir

    image = disk_images.mbr
    expected: set[tuple[int, str, str]] = set()
    recovered: set[tuple[int, str]] = set()
    for offset in images.filesystem_offsets(image):
        out = tmp_path / str(offset)
        subprocess.run(["tsk_recover", "-a", "-o", str(offset // 512), str(image), str(out)],
                       check=True, capture_output=True)
        recovered |= {(offset, "/" + p.relative_to(out).as_posix()) for p in out.rglob("*") if p.is_file()}
        rule_files = sorted(asset_dir("rules").glob("*.yar"))
        yara = subprocess.run(["yara", "-w", "-r", *map(str, rule_files), str(out)],
                              capture_output=True, text=True, check=True)
        for line in yara.stdout.splitlines():
            rule, _, path = line.partition(" ")
            expected.add((offset, "/" + Path(path).relative_to(out).as_posix(), rule))
    assert expected, "fixture should hold files the rules flag (EICAR at least)"
    files = {r["id"]: r for r in scanned.files_of(image)}
    ours = set()
    for finding in scanned.findings:
        row = files.get(finding["object_id"])
        if finding["analyzer"] == "yara" and row and (row["partition_offset"], row["path"]) in recovered:
            ours.add((row["partition_offset"], row["path"], finding["rule"]))
    assert ours == expected


def test_exfat_listing_equals_fls(tmp_path: Path) -> None:
    image = tmp_path / "exfat.img"
    with open(image, "wb") as handle:
        handle.truncate(8 * 1024 * 1024)
    subprocess.run(["mkfs.exfat", "-L", "STICK", str(image)], check=True, capture_output=True)
    case = tmp_path / "case"
    result = run_cli("scan", image, "--case", case, "--quiet")
    assert result.code == 0, result.stderr
    assert _listing(export(case, "files")) == _fls_listing(image)
