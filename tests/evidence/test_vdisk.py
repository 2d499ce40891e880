"""Virtual disks (VMDK sparse and split, VHD dynamic and fixed, VHDX, QCOW2 and a differencing QCOW2) list the
same files, with the same bytes, as the raw disk they hold. The virtual disks are made by `qemu-img convert` from
a raw fixture; the expected answer is Sleuth Kit's fls and icat over `qemu-img convert` back to raw, never the code
under test."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import images
from tests.conftest import CliResult, export, run_cli, sha256_of

# (name, qemu-img format, options): every kind the issue names
KINDS = [
    ("sparse.vmdk", "vmdk", ["-o", "subformat=monolithicSparse"]),
    ("split.vmdk", "vmdk", ["-o", "subformat=twoGbMaxExtentSparse"]),
    ("flat.vmdk", "vmdk", ["-o", "subformat=monolithicFlat"]),
    ("stream.vmdk", "vmdk", ["-o", "subformat=streamOptimized"]),
    ("dynamic.vhd", "vpc", ["-o", "subformat=dynamic"]),
    ("fixed.vhd", "vpc", ["-o", "subformat=fixed"]),
    ("disk.vhdx", "vhdx", []),
    ("disk.qcow2", "qcow2", []),
]
CHANGED = "/Data/blob.bin"  # the file the differencing image's child rewrites
CHANGED_TEXT = b"rewritten in the child image of a differencing chain\n"


@dataclass
class VirtualDisks:
    folder: Path
    raw: Path
    child: Path  # child.qcow2, its parent disk.qcow2 beside it
    case: Path
    result: CliResult


def _qemu(*args: str | Path) -> None:
    subprocess.run(["qemu-img", *map(str, args)], check=True, capture_output=True)


def _child_of(parent: Path, raw: Path, folder: Path) -> Path:
    """A differencing QCOW2 over `parent` whose guest has CHANGED rewritten: the changed raw disk is converted and
    rebased on the parent, so that the child holds only the clusters that differ."""
    changed = folder / "changed.raw"
    subprocess.run(["cp", "--sparse=always", raw, changed], check=True)
    text = folder / "text.txt"
    text.write_bytes(CHANGED_TEXT)
    fat32 = images.MBR_LAYOUT["fat32"][0] * images.SECTOR
    subprocess.run(["mcopy", "-o", "-i", f"{changed}@@{fat32}", text, f"::{CHANGED}"], check=True,
                   capture_output=True, env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"})
    child = folder / "child.qcow2"
    _qemu("convert", "-O", "qcow2", changed, child)
    _qemu("rebase", "-f", "qcow2", "-b", parent.name, "-F", "qcow2", child)
    changed.unlink()
    return child


def _vmdk_child_of(parent: Path, raw: Path, folder: Path) -> Path:
    """A differencing VMDK over `parent` (qemu-img create -b) with CHANGED's first sector overwritten in the
    child by qemu-io; where that sector lies, istat says."""
    fat32_sectors = images.MBR_LAYOUT["fat32"][0]
    inode = next(r.inode for r in images.fls_records(raw, fat32_sectors * images.SECTOR) if r.path == CHANGED)
    istat = subprocess.run(["istat", "-o", str(fat32_sectors), str(raw), inode], capture_output=True, text=True,
                           check=True).stdout
    first = int(istat.split("Sectors:")[1].split()[0])
    child = folder / "vchild.vmdk"
    _qemu("create", "-f", "vmdk", "-b", parent.name, "-F", "vmdk", child)
    subprocess.run(["qemu-io", "-f", "vmdk", "-c", f"write -P 0x41 {(fat32_sectors + first) * images.SECTOR} 512",
                    str(child)], check=True, capture_output=True)
    return child


@pytest.fixture(scope="session")
def vdisks(tmp_path_factory: pytest.TempPathFactory) -> VirtualDisks:
    folder = tmp_path_factory.mktemp("vdisk")
    raw = images.build_mbr_fat32_ext4(tmp_path_factory.mktemp("vdisk-raw"))
    for name, fmt, options in KINDS:
        _qemu("convert", "-O", fmt, *options, raw, folder / name)
    child = _child_of(folder / "disk.qcow2", raw, folder)
    _vmdk_child_of(folder / "sparse.vmdk", raw, folder)
    case = tmp_path_factory.mktemp("vdisk-case")
    evidence = [folder / name for name, _, _ in KINDS] + [child, folder / "vchild.vmdk"]
    result = run_cli("scan", *evidence, "--case", case, "--quiet", timeout=600)
    return VirtualDisks(folder, raw, child, case, result)


def _expected(disk: Path, work: Path) -> tuple[set[tuple[int, str, bool]], dict[tuple[int, str], str]]:
    """fls's listing and icat's sha256 of every allocated file, over `qemu-img convert` of the disk back to raw."""
    back = work / f"{disk.name}.raw"
    _qemu("convert", "-O", "raw", disk, back)
    listing, hashes = images.listing_and_hashes(back)
    back.unlink()
    return listing, hashes


def _rows(case: Path, disk: Path) -> list[dict]:
    return [r for r in export(case, "files") if r["evidence"] == str(disk.resolve()) and "!" not in r["path"]]


def _evidence(case: Path, disk: Path) -> dict:
    db = sqlite3.connect(case / "case.db")
    db.row_factory = sqlite3.Row
    return dict(db.execute("SELECT * FROM evidence WHERE path = ?", [str(disk.resolve())]).fetchone())


def test_scan_succeeds(vdisks: VirtualDisks) -> None:
    assert vdisks.result.code == 0, vdisks.result.stderr
    assert "Traceback" not in vdisks.result.stderr


@pytest.mark.parametrize("name", [name for name, _, _ in KINDS] + ["child.qcow2", "vchild.vmdk"])
def test_listing_and_hashes_equal_fls_and_icat_of_the_raw_disk(vdisks: VirtualDisks, name: str, tmp_path: Path) -> None:
    disk = vdisks.folder / name
    listing, hashes = _expected(disk, tmp_path)
    rows = _rows(vdisks.case, disk)
    assert {(r["partition_offset"], r["path"], r["deleted"]) for r in rows} == listing
    ours = {(r["partition_offset"], r["path"]): r["sha256"] for r in rows if (r["partition_offset"], r["path"]) in hashes}
    assert ours == hashes
    assert len(hashes) >= 5


def test_every_kind_gives_the_raw_images_files(vdisks: VirtualDisks, tmp_path: Path) -> None:
    """Same paths, inodes, sizes and sha256 as the raw image the virtual disks were made from."""
    case = tmp_path / "raw-case"
    assert run_cli("scan", vdisks.raw, "--case", case, "--quiet").code == 0

    def facts(rows: list[dict]) -> set[tuple]:
        return {(r["partition_offset"], r["path"], r["inode"], r["deleted"], r["size"], r["sha256"]) for r in rows}

    raw = facts(_rows(case, vdisks.raw))
    for name, _, _ in KINDS:
        assert facts(_rows(vdisks.case, vdisks.folder / name)) == raw, name


def test_differencing_child_reads_its_parent_and_its_own_change(vdisks: VirtualDisks) -> None:
    child = {r["path"]: r for r in _rows(vdisks.case, vdisks.child)}
    parent = {r["path"]: r for r in _rows(vdisks.case, vdisks.folder / "disk.qcow2")}
    assert child[CHANGED]["sha256"] == subprocess.run(
        ["sha256sum"], input=CHANGED_TEXT, capture_output=True, check=True).stdout.split()[0].decode()
    assert parent[CHANGED]["sha256"] != child[CHANGED]["sha256"]
    unchanged = [p for p in parent if p != CHANGED and parent[p]["sha256"]]
    assert unchanged and all(child[p]["sha256"] == parent[p]["sha256"] for p in unchanged)


def test_differencing_vmdk_reads_its_parent_and_its_own_change(vdisks: VirtualDisks) -> None:
    child = {r["path"]: r for r in _rows(vdisks.case, vdisks.folder / "vchild.vmdk")}
    parent = {r["path"]: r for r in _rows(vdisks.case, vdisks.folder / "sparse.vmdk")}
    assert child.keys() == parent.keys()
    assert [p for p in parent if parent[p]["sha256"] != child[p]["sha256"]] == [CHANGED]


@pytest.mark.parametrize(("name", "files"), [
    ("split.vmdk", ["split.vmdk", "split-s001.vmdk"]),
    ("flat.vmdk", ["flat.vmdk", "flat-flat.vmdk"]),
    ("vchild.vmdk", ["vchild.vmdk", "sparse.vmdk"]),
    ("disk.qcow2", ["disk.qcow2"]),
    ("child.qcow2", ["child.qcow2", "disk.qcow2"]),
])
def test_container_files_hashed_and_verified(vdisks: VirtualDisks, name: str, files: list[str]) -> None:
    """Every extent and parent is evidence: hashed as `cat FILES | sha256sum`, and re-checked by verify."""
    paths = [vdisks.folder / f for f in files]
    row = _evidence(vdisks.case, vdisks.folder / name)
    assert row["sha256"] == sha256_of(*paths)
    assert [Path(p).name for p in json.loads(row["segments"])] == files
    verify = run_cli("verify", "--case", vdisks.case)
    assert verify.code == 0, verify.stdout
    assert sum(line.startswith("OK") for line in verify.stdout.splitlines()) >= len(KINDS) + 1


def _damaged(folder: Path, source: Path) -> dict[str, Path]:
    """One of each bad input the issue names, from good virtual disks."""
    bad = folder / "bad"
    bad.mkdir()
    (bad / "lost-extent.vmdk").write_bytes((source / "split.vmdk").read_bytes())  # its extent is not copied
    vhd = (source / "dynamic.vhd").read_bytes()
    (bad / "bad-footer.vhd").write_bytes(vhd[:-512] + b"\0" * 512)
    qcow = (source / "disk.qcow2").read_bytes()
    (bad / "truncated.qcow2").write_bytes(qcow[: len(qcow) * 9 // 10])  # cut in the logical partition's clusters
    (bad / "orphan.qcow2").write_bytes((source / "child.qcow2").read_bytes())  # its parent is not beside it
    return {p.stem: p for p in bad.iterdir()}


@pytest.mark.parametrize(("stem", "status", "said"), [
    ("lost-extent", "failed", "names extent 'split-s001.vmdk', which is missing"),
    ("bad-footer", "failed", "footer"),
    ("orphan", "failed", "its parent 'disk.qcow2' is missing"),
    ("truncated", "partial", "QCOW2 image truncated or damaged"),  # the partitions before the cut are listed
])
def test_bad_virtual_disk_is_one_clear_line(vdisks: VirtualDisks, tmp_path: Path, stem: str, status: str,
                                            said: str) -> None:
    bad = _damaged(tmp_path, vdisks.folder)[stem]
    case = tmp_path / "case"
    result = run_cli("scan", bad, "--case", case, "--quiet", timeout=120)
    assert "Traceback" not in result.stderr
    assert result.code == 1
    row = _evidence(case, bad)
    assert row["status"] == status
    assert said in row["error"] and "\n" not in row["error"]
    assert said in result.stderr
    listed = _rows(case, bad)
    if status == "partial":
        fat32 = images.MBR_LAYOUT["fat32"][0] * images.SECTOR
        assert {r["path"] for r in listed if r["partition_offset"] == fat32} >= {CHANGED, "/Data"}
    else:
        assert not listed


@dataclass
class NestedScan:
    folder: Path  # the folder evidence: vms/disk.qcow2, vms/sparse.vmdk and a split VMDK's two files
    case: Path
    result: CliResult
    files: list[dict]


@pytest.fixture(scope="session")
def nested(vdisks: VirtualDisks, tmp_path_factory: pytest.TempPathFactory) -> NestedScan:
    folder = tmp_path_factory.mktemp("nested")
    (folder / "vms").mkdir()
    for name in ("disk.qcow2", "sparse.vmdk", "split.vmdk", "split-s001.vmdk"):
        (folder / "vms" / name).write_bytes((vdisks.folder / name).read_bytes())
    case = tmp_path_factory.mktemp("nested-case")
    result = run_cli("scan", folder, "--case", case, "--quiet")
    return NestedScan(folder, case, result, export(case, "files"))


@pytest.mark.parametrize("name", ["disk.qcow2", "sparse.vmdk"])
def test_virtual_disk_in_a_folder_is_opened_as_nested_evidence(nested: NestedScan, name: str, tmp_path: Path) -> None:
    """Its files are children named `vms/disk.qcow2!@OFFSET/path` (the disk holds three filesystems), with the
    bytes icat reads from the disk converted back to raw."""
    assert nested.result.code == 0, nested.result.stderr
    listing, hashes = _expected(nested.folder / "vms" / name, tmp_path)
    prefix = f"/vms/{name}!@"
    ours = {}
    for row in nested.files:
        if row["path"].startswith(prefix):
            offset, _, path = row["path"][len(prefix):].partition("/")
            ours[(int(offset), "/" + path)] = row
    assert {(offset, path, row["deleted"]) for (offset, path), row in ours.items()} == listing
    assert {key: ours[key]["sha256"] for key in hashes} == hashes


def test_nested_virtual_disk_file_extracts_with_its_sha256(nested: NestedScan, tmp_path: Path) -> None:
    row = next(r for r in nested.files if r["path"].endswith("!@1048576" + CHANGED) and "disk.qcow2" in r["path"])
    result = run_cli("extract", "--case", nested.case, "--file", row["id"], "-o", tmp_path / "out")
    assert result.code == 0, result.stdout + result.stderr
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file() and p.name != "export-manifest.csv"]
    assert [sha256_of(p) for p in written] == [row["sha256"]]


def test_split_vmdk_in_a_folder_is_a_ledger_line(nested: NestedScan) -> None:
    """Its extent lies beside it in the folder, where a nested reader does not look: said, not silent."""
    db = sqlite3.connect(nested.case / "case.db")
    problems = [message for obj, message in db.execute("SELECT object, message FROM problems WHERE stage = ?",
                                                       ["virtual disk"]) if obj.endswith("/vms/split.vmdk")]
    assert problems and "extents are separate files" in problems[0]
    assert not [r for r in nested.files if r["path"].startswith("/vms/split.vmdk!")]


def test_virtual_disk_in_a_disk_image_is_opened_as_nested_evidence(vdisks: VirtualDisks, tmp_path: Path) -> None:
    """A QCOW2 stored in the FAT32 partition of a raw disk: its files under `/vm.qcow2!@OFFSET/`, each with the
    bytes icat reads from the QCOW2 converted back to raw."""
    host = tmp_path / "host.raw"
    subprocess.run(["cp", "--sparse=always", vdisks.raw, host], check=True)
    fat32 = images.MBR_LAYOUT["fat32"][0] * images.SECTOR
    subprocess.run(["mcopy", "-i", f"{host}@@{fat32}", vdisks.folder / "disk.qcow2", "::/vm.qcow2"], check=True,
                   capture_output=True, env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"})
    case = tmp_path / "case"
    result = run_cli("scan", host, "--case", case, "--quiet")
    assert result.code == 0, result.stderr
    listing, hashes = _expected(vdisks.folder / "disk.qcow2", tmp_path)
    prefix = "/vm.qcow2!@"
    ours = {}
    for row in export(case, "files"):
        if row["path"].startswith(prefix):
            offset, _, path = row["path"][len(prefix):].partition("/")
            ours[(int(offset), "/" + path)] = row
    assert {(offset, path, row["deleted"]) for (offset, path), row in ours.items()} == listing
    assert {key: ours[key]["sha256"] for key in hashes} == hashes


def test_verify_finds_a_changed_extent(vdisks: VirtualDisks, tmp_path: Path) -> None:
    """The extent is evidence as much as the descriptor: one byte changed in it and verify says MISMATCH."""
    for name in ("split.vmdk", "split-s001.vmdk"):
        (tmp_path / name).write_bytes((vdisks.folder / name).read_bytes())
    case = tmp_path / "case"
    assert run_cli("scan", tmp_path / "split.vmdk", "--case", case, "--quiet").code == 0
    assert run_cli("verify", "--case", case).code == 0
    extent = tmp_path / "split-s001.vmdk"
    data = bytearray(extent.read_bytes())
    data[-1] ^= 0xFF
    extent.write_bytes(bytes(data))
    verify = run_cli("verify", "--case", case)
    assert verify.code == 1
    assert verify.stdout.startswith("MISMATCH"), verify.stdout


def test_nested_listing_stops_at_its_time_limit_and_says_so(vdisks: VirtualDisks, monkeypatch) -> None:
    """The nested listing runs in the scan's process: past its time it stops, keeps what it listed, and says so."""
    from cybertriage.evidence.base import BytesContent, ObjectRef
    from cybertriage.evidence.containers import ContainerLimits, open_container
    from cybertriage.evidence.containers import vdisk as nested_vdisk

    content = BytesContent((vdisks.folder / "disk.qcow2").read_bytes())
    ref = ObjectRef("/vms/disk.qcow2")
    with open_container(content, ref, ContainerLimits()) as whole:
        everything = whole.listed
    monkeypatch.setattr(nested_vdisk, "LISTING_SECONDS", 0.0)
    with open_container(content, ref, ContainerLimits()) as cut:
        assert isinstance(cut, nested_vdisk.VirtualDiskContainer)
        assert 0 < cut.listed < everything
        assert any("listing stopped" in note for note in cut.notes)
