"""Where the scan once disagreed with Sleuth Kit (issue 23): a bare filesystem whose boot code reads as a
partition table, content that icat recovers (deleted resident NTFS data, ext2 orphan inodes, NTFS metadata
streams), an NTFS record with a damaged attribute length, and a GPT with more entries than pytsk3 lists.

Every image is built by real tools (mkfs.exfat, mkfs.fat + mtools, mkntfs + ntfscp + libntfs-3g,
mkfs.ext2 + debugfs, sgdisk) in tests/images.py; expected answers come from fls, icat and mmls.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytsk3

from tests import images
from tests.conftest import CliResult, export, run_cli

#: What these builders run beyond images.TOOLS.
BUILDERS_TOOLS = ("mkfs.exfat", "fsck.exfat", "mkfs.ext2", "sgdisk")


@dataclass
class Built:
    exfat: Path
    fat: Path
    fat_overlap: Path
    ntfs: Path
    ext2: Path
    gpt: Path
    ntfs_damaged: Path
    damaged_record: int


@dataclass
class Scanned:
    case: Path
    result: CliResult
    files: list[dict]

    def of(self, image: Path) -> dict[tuple[int, str], dict]:
        return {(r["partition_offset"], r["path"]): r for r in self.files if r["evidence"] == str(image.resolve())}


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    missing = images.missing_tools() + [tool for tool in BUILDERS_TOOLS if shutil.which(tool) is None]
    assert not missing, f"test tools missing: {missing} (run `make system-packages`)"
    base = tmp_path_factory.mktemp("agreement")
    ntfs = images.build_ntfs_recovery(base)
    damaged = base / "damaged"
    damaged.mkdir()
    ntfs_damaged = damaged / "ntfs_damaged.raw"
    shutil.copyfile(ntfs, ntfs_damaged)
    record = images.damage_ntfs_data_attribute_length(ntfs_damaged, "Users/Eve/eicar.com")
    return Built(exfat=images.build_bare_exfat_hlt(base), fat=images.build_bare_fat_hlt(base),
                 fat_overlap=images.build_bare_fat_hlt(base, images.OVERLAPPING_BOOT_CODE, "bare_fat_overlap.raw"), ntfs=ntfs,
                 ext2=images.build_ext2_orphans(base), gpt=images.build_gpt_many_entries(base),
                 ntfs_damaged=ntfs_damaged, damaged_record=record)


def _scan(images_: list[Path], case: Path) -> Scanned:
    result = run_cli("scan", *images_, "--case", case, "--quiet")
    return Scanned(case, result, export(case, "files"))


@pytest.fixture(scope="session")
def scanned(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Scanned:
    return _scan([built.exfat, built.fat, built.fat_overlap, built.ntfs, built.ext2, built.gpt], tmp_path_factory.mktemp("case"))


@pytest.fixture(scope="session")
def scanned_damaged(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Scanned:
    return _scan([built.ntfs_damaged], tmp_path_factory.mktemp("damaged-case"))


def _icat(image: Path, offset: int, inode: str) -> bytes | None:
    """What icat reads for one inode, or None when icat fails."""
    done = subprocess.run(["icat", "-o", str(offset // images.SECTOR), str(image), inode], capture_output=True)
    return done.stdout if done.returncode == 0 else None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_scan_of_these_images_succeeds(scanned: Scanned) -> None:
    assert scanned.result.code == 0, scanned.result.stderr
    assert "Traceback" not in scanned.result.stderr


# -- 1. a bare filesystem whose boot code reads as a partition table -----------------------------------------

def _mmls_table_makes_no_sense(image: Path) -> bool:
    """Whether mmls refuses the table (its partitions lie past the end) or lists partitions that overlap."""
    try:
        spans = sorted((p.start, p.start + p.length) for p in images.mmls_partitions(image))
    except RuntimeError:
        return True
    return any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:]))


@pytest.mark.parametrize("name", ["exfat", "fat", "fat_overlap"])
def test_bare_filesystem_behind_a_senseless_partition_table_equals_fls(built: Built, scanned: Scanned,
                                                                     name: str) -> None:
    image = getattr(built, name)
    assert _mmls_table_makes_no_sense(image)  # the boot sector reads as a partition table
    ours = {(path, row["deleted"]) for (offset, path), row in scanned.of(image).items() if offset == 0}
    assert ours == images.fls_entries(image, 0)
    for record in images.fls_records(image, 0):
        if record.meta_type == "r" and not record.deleted and not record.virtual:
            expected = _icat(image, 0, record.inode)
            assert expected is not None
            assert scanned.of(image)[(0, record.path)]["sha256"] == _sha256(expected), record.path


def test_bare_filesystem_is_one_volume_at_offset_0(built: Built, scanned: Scanned) -> None:
    db = sqlite3.connect(scanned.case / "case.db")
    for image in (built.exfat, built.fat, built.fat_overlap):
        rows = db.execute("SELECT p.offset, p.status FROM partitions p JOIN evidence e ON e.id = p.evidence_id "
                          "WHERE e.path = ?", [str(image.resolve())]).fetchall()
        assert rows == [(0, "examined")]


# -- 2. content that icat recovers ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["ntfs", "ext2"])
def test_every_regular_entry_has_icats_size_and_sha256(built: Built, scanned: Scanned, name: str) -> None:
    """Deleted, orphan and metadata-stream entries included: each is hashed (and so scanned) as icat reads it."""
    image = getattr(built, name)
    ours = scanned.of(image)
    recovered = []
    for record in images.fls_records(image, 0):
        if record.meta_type != "r" or record.path == "/$BadClus:$Bad":  # the bad-cluster map spans the volume
            continue
        expected = _icat(image, 0, record.inode)
        if expected is None:
            continue
        row = ours[(0, record.path)]
        assert (row["size"], row["sha256"]) == (len(expected), _sha256(expected)), record.path
        if expected and (record.deleted or ":$" in record.path):
            recovered.append(record.path)
    if name == "ntfs":  # the deleted resident file and the metadata streams that issue 23 found empty
        assert {"/Users/Eve/secret.txt", "/$Extend/$ObjId:$O", "/$Extend/$Quota:$Q", "/$Secure:$SII"} <= set(recovered)
    else:
        assert len([path for path in recovered if path.startswith("/$OrphanFiles/OrphanFile-")]) == len(images.EXT2_ORPHANS)


def test_recovered_content_is_what_was_written(built: Built, scanned: Scanned) -> None:
    ntfs = scanned.of(built.ntfs)
    assert ntfs[(0, "/Users/Eve/secret.txt")]["sha256"] == _sha256(images.ntfs_recovery_content().deleted["Users/Eve/secret.txt"])
    orphans = {row["sha256"] for (_, path), row in scanned.of(built.ext2).items() if path.startswith("/$OrphanFiles/")}
    assert {_sha256(data) for data in images.EXT2_ORPHANS.values()} <= orphans


@pytest.mark.parametrize("name, path", [("ext2", "/$OrphanFiles/OrphanFile-"), ("ntfs", "/Users/Eve/secret.txt"),
                                        ("ntfs", "/$Secure:$SII")])
def test_recovered_content_is_extractable(built: Built, scanned: Scanned, tmp_path: Path, name: str, path: str) -> None:
    """`cybertriage extract` (and the content viewer, which reads the same way) gives icat's bytes."""
    image = getattr(built, name)
    row = max((row for (_, shown), row in scanned.of(image).items() if shown.startswith(path)), key=lambda r: r["size"])
    out = tmp_path / "out"
    result = run_cli("extract", "--case", scanned.case, "--file", row["id"], "-o", out)
    assert result.code == 0, result.stderr
    written = [p for p in out.iterdir() if p.name != "export-manifest.csv"]
    assert len(written) == 1
    assert written[0].read_bytes() == _icat(image, 0, row["inode"])


# -- 3. an NTFS record whose attribute length is damaged ------------------------------------------------------

def test_damaged_ntfs_attribute_is_a_counted_noted_skip(built: Built, scanned_damaged: Scanned) -> None:
    image = built.ntfs_damaged
    path = "/Users/Eve/eicar.com"
    record = next(r for r in images.fls_records(image, 0) if r.path == path)
    assert record.inode == str(built.damaged_record)  # fls finds no $DATA attribute in the record to name
    assert _icat(image, 0, record.inode) is None  # and icat cannot read it either
    assert scanned_damaged.result.code == 1, scanned_damaged.result.stderr
    assert "NTFS file records in use have a damaged attribute" in scanned_damaged.result.stderr
    row = scanned_damaged.of(image)[(0, path)]
    assert row["sha256"] is None and "corrupt NTFS record" in row["note"]
    db = sqlite3.connect(scanned_damaged.case / "case.db")
    (reasons,) = db.execute("SELECT reasons FROM ledger WHERE stage = 'content'").fetchone()
    assert sum(count for reason, count in json.loads(reasons).items() if reason.startswith("corrupt NTFS record")) == 1
    # the other files of the volume are still examined as icat reads them
    todo = next(r for r in images.fls_records(image, 0) if r.path == "/Users/Eve/todo.txt")
    assert scanned_damaged.of(image)[(0, todo.path)]["sha256"] == _sha256(_icat(image, 0, todo.inode) or b"")


# -- 4. a GPT with more entries than pytsk3 lists -------------------------------------------------------------

def test_every_gpt_entry_mmls_lists_is_recorded(built: Built, scanned: Scanned) -> None:
    expected = {(p.offset, p.length * images.SECTOR) for p in images.mmls_partitions(built.gpt)}
    assert len(expected) == images.GPT_MANY_ENTRIES
    pytsk3_lists = [p for p in pytsk3.Volume_Info(pytsk3.Img_Info(str(built.gpt)))
                    if int(p.flags) & pytsk3.TSK_VS_PART_FLAG_ALLOC]
    assert len(pytsk3_lists) < len(expected), "the fixture should hold more entries than pytsk3 lists"
    db = sqlite3.connect(scanned.case / "case.db")
    ours = db.execute("SELECT p.offset, p.length FROM partitions p JOIN evidence e ON e.id = p.evidence_id "
                      "WHERE e.path = ?", [str(built.gpt.resolve())]).fetchall()
    assert len(ours) == len(expected)
    assert set(ours) == expected


def test_filesystem_in_a_gpt_entry_past_the_limit_equals_fls(built: Built, scanned: Scanned) -> None:
    last = max(images.mmls_partitions(built.gpt), key=lambda p: p.start)
    ours = {(path, row["deleted"]) for (offset, path), row in scanned.of(built.gpt).items() if offset == last.offset}
    assert ours == images.fls_entries(built.gpt, last.offset)
    assert len(ours) > 4
