"""Differencing chains (issue 19): a VHD, VHDX, QCOW2 or VMDK child whose parent lies beside it lists the files
of the changed guest disk, each read from the layer that holds it: one written only in the child, one only in the
parent. QCOW2 and VMDK children are made by `qemu-img create -b` and written by `qemu-io`, and the expected answer
is fls and icat over `qemu-img convert` of the child to raw; qemu can neither make nor read a VHD or VHDX
differencing image, so those are written by tests/evidence/differencing.py, and the expected answer is fls and
icat over the parent converted to raw by qemu with the test's own changes applied. A missing or wrong parent is one
clear line, never a traceback."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import images
from tests.conftest import CliResult, export, run_cli
from tests.evidence import differencing

CHILD_ONLY = "/Data/child-only.txt"
CHILD_ONLY_TEXT = b"written only in the child layer of a differencing chain\n"
CHILD_BIG = "/Data/child-big.bin"  # 3 MiB: across VHD blocks, whole bitmap bytes as well as single bits
GRANDCHILD_ONLY = "/Data/grandchild-only.txt"
GRANDCHILD_ONLY_TEXT = b"written only in the grandchild\n"
PARENT_ONLY = "/Data/blob.bin"  # in the fixture, untouched by every child: its bytes come from the parent
FAT32 = images.MBR_LAYOUT["fat32"][0] * images.SECTOR
MTOOLS_ENV = {"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"}
# (extension, qemu-img format, options for the parent)
KINDS = [("vhd", "vpc", ["-o", "subformat=dynamic"]), ("vhdx", "vhdx", []), ("qcow2", "qcow2", []),
         ("vmdk", "vmdk", ["-o", "subformat=monolithicSparse"])]
QEMU_READS = {"qcow2", "vmdk"}  # differencing images qemu itself reads


@dataclass
class Chains:
    folder: Path
    guests: dict[str, Path]  # image name → its expected guest disk, raw
    parent_raws: dict[str, Path]  # extension → the parent's guest disk, raw (qemu-img convert)
    big: bytes
    case: Path
    result: CliResult


def _qemu(*args: str | Path) -> None:
    subprocess.run(["qemu-img", *map(str, args)], check=True, capture_output=True)


def _mcopy(raw: Path, source: Path, target: str) -> None:
    subprocess.run(["mcopy", "-i", f"{raw}@@{FAT32}", source, f"::{target}"], check=True, capture_output=True,
                   env=MTOOLS_ENV)


def _changed(raw: Path, work: Path, files: dict[str, bytes]) -> Path:
    """A copy of the raw disk with `files` added to its FAT32 volume by mtools."""
    changed = work / f"{raw.stem}+{len(files)}.raw"
    subprocess.run(["cp", "--sparse=always", raw, changed], check=True)
    for index, (target, data) in enumerate(files.items()):
        source = work / f"new{index}"
        source.write_bytes(data)
        _mcopy(changed, source, target)
    return changed


def _child(ext: str, fmt: str, parent: Path, child: Path, runs: differencing.Runs, work: Path) -> None:
    if ext == "vhd":
        differencing.vhd_child(parent, child, runs)
    elif ext == "vhdx":
        differencing.vhdx_child(parent, child, runs, work)
    else:
        _qemu("create", "-f", fmt, "-b", parent.name, "-F", fmt, child)
        differencing.qemu_write(child, fmt, runs, work)


@pytest.fixture(scope="session")
def chains(tmp_path_factory: pytest.TempPathFactory) -> Chains:
    folder = tmp_path_factory.mktemp("chains")
    work = tmp_path_factory.mktemp("chains-work")
    raw = images.build_mbr_fat32_ext4(work)
    big = random.Random(19).randbytes(3 * 1024 * 1024)
    guests, parent_raws = {}, {}
    for ext, fmt, options in KINDS:
        parent = folder / f"parent.{ext}"
        _qemu("convert", "-O", fmt, *options, raw, parent)
        parent_raw = parent_raws[ext] = work / f"parent-{ext}.raw"
        _qemu("convert", "-O", "raw", parent, parent_raw)
        child_raw = _changed(parent_raw, work, {CHILD_ONLY: CHILD_ONLY_TEXT, CHILD_BIG: big})
        _child(ext, fmt, parent, folder / f"child.{ext}", differencing.changed_runs(parent_raw, child_raw), work)
        guests[f"child.{ext}"] = child_raw
        if ext in ("vhd", "qcow2"):  # a chain of three
            grand_raw = _changed(child_raw, work, {GRANDCHILD_ONLY: GRANDCHILD_ONLY_TEXT})
            _child(ext, fmt, folder / f"child.{ext}", folder / f"grandchild.{ext}",
                   differencing.changed_runs(child_raw, grand_raw), work)
            guests[f"grandchild.{ext}"] = grand_raw
    case = tmp_path_factory.mktemp("chains-case")
    result = run_cli("scan", *[folder / name for name in guests], "--case", case, "--quiet", timeout=600)
    return Chains(folder, guests, parent_raws, big, case, result)


def _expected(chains: Chains, name: str, work: Path) -> tuple[set[tuple[int, str, bool]], dict[tuple[int, str], str]]:
    """fls's listing and icat's sha256 of every allocated file of the child's guest disk: qemu's own reading of the
    child where qemu reads it, else the parent as qemu reads it with the test's changes."""
    guest = chains.guests[name]
    if Path(name).suffix[1:] in QEMU_READS:
        guest = work / f"{name}.raw"
        _qemu("convert", "-O", "raw", chains.folder / name, guest)
    return images.listing_and_hashes(guest)


def _rows(case: Path, image: Path) -> dict[tuple[int, str], dict]:
    return {(r["partition_offset"], r["path"]): r for r in export(case, "files")
            if r["evidence"] == str(image.resolve()) and "!" not in r["path"]}


def _sha256sum(data: bytes) -> str:
    return subprocess.run(["sha256sum"], input=data, capture_output=True, check=True).stdout.split()[0].decode()


def test_scan_of_the_chains_succeeds(chains: Chains) -> None:
    assert chains.result.code == 0, chains.result.stderr
    assert "Traceback" not in chains.result.stderr


@pytest.mark.parametrize("name", ["child.vhd", "child.vhdx", "child.qcow2", "child.vmdk", "grandchild.vhd",
                                  "grandchild.qcow2"])
def test_a_child_lists_its_guest_disk_as_fls_and_icat_do(chains: Chains, name: str, tmp_path: Path) -> None:
    listing, hashes = _expected(chains, name, tmp_path)
    rows = _rows(chains.case, chains.folder / name)
    assert {(offset, path, row["deleted"]) for (offset, path), row in rows.items()} == listing
    assert {key: rows[key]["sha256"] for key in hashes} == hashes
    assert (FAT32, CHILD_ONLY) in hashes and (FAT32, PARENT_ONLY) in hashes


@pytest.mark.parametrize("ext", [ext for ext, _, _ in KINDS])
def test_each_file_is_read_from_the_layer_that_holds_it(chains: Chains, ext: str) -> None:
    """The child's own files hash as the bytes the test wrote; a file only the parent holds hashes as icat reads
    it from the parent alone."""
    rows = _rows(chains.case, chains.folder / f"child.{ext}")
    assert rows[(FAT32, CHILD_ONLY)]["sha256"] == _sha256sum(CHILD_ONLY_TEXT)
    assert rows[(FAT32, CHILD_BIG)]["sha256"] == _sha256sum(chains.big)
    parent_raw = chains.parent_raws[ext]
    parent_files = {r.path: r for r in images.fls_records(parent_raw, FAT32)}
    assert CHILD_ONLY not in parent_files
    assert rows[(FAT32, PARENT_ONLY)]["sha256"] == images.icat_sha256(parent_raw, FAT32,
                                                                      parent_files[PARENT_ONLY].inode)


@pytest.mark.parametrize(("name", "files"), [
    ("child.vhd", ["child.vhd", "parent.vhd"]),
    ("child.vhdx", ["child.vhdx", "parent.vhdx"]),
    ("grandchild.vhd", ["grandchild.vhd", "child.vhd", "parent.vhd"]),
    ("grandchild.qcow2", ["grandchild.qcow2", "child.qcow2", "parent.qcow2"]),
])
def test_every_image_of_the_chain_is_evidence(chains: Chains, name: str, files: list[str]) -> None:
    db = sqlite3.connect(chains.case / "case.db")
    segments = db.execute("SELECT segments FROM evidence WHERE path = ?", [str((chains.folder / name).resolve())])
    assert [Path(p).name for p in json.loads(segments.fetchone()[0])] == files


def _scan_alone(tmp_path: Path, images_: list[Path]) -> tuple[CliResult, dict]:
    folder = tmp_path / "alone"
    folder.mkdir()
    for image in images_:
        shutil.copyfile(image, folder / image.name)
    case = tmp_path / "case"
    result = run_cli("scan", folder / images_[0].name, "--case", case, "--quiet", timeout=120)
    db = sqlite3.connect(case / "case.db")
    db.row_factory = sqlite3.Row
    return result, dict(db.execute("SELECT status, error FROM evidence").fetchone())


@pytest.mark.parametrize(("ext", "said"), [
    ("vhd", "its parent 'parent.vhd' is missing"),
    ("vhdx", "parent.vhdx' is missing"),  # named by its absolute Windows path, as Hyper-V records it
    ("qcow2", "its parent 'parent.qcow2' is missing"),
    ("vmdk", "its parent 'parent.vmdk' is missing"),
])
def test_a_child_without_its_parent_is_one_clear_line(chains: Chains, tmp_path: Path, ext: str, said: str) -> None:
    result, evidence = _scan_alone(tmp_path, [chains.folder / f"child.{ext}"])
    assert "Traceback" not in result.stderr
    assert result.code == 1
    assert evidence["status"] == "failed"
    assert said in evidence["error"] and "\n" not in evidence["error"]
    assert said in result.stderr


@pytest.mark.parametrize("ext", ["vhd", "vhdx"])
def test_a_child_beside_another_parent_of_the_same_name_is_refused(chains: Chains, tmp_path: Path, ext: str) -> None:
    """A parent made again from the same disk has another identifier: the child was not made from it, and its
    sectors would be read over the wrong bytes."""
    other = tmp_path / "other"
    other.mkdir()
    fmt, options = next((fmt, options) for e, fmt, options in KINDS if e == ext)
    _qemu("convert", "-O", fmt, *options, chains.parent_raws[ext], other / f"parent.{ext}")
    result, evidence = _scan_alone(tmp_path, [chains.folder / f"child.{ext}", other / f"parent.{ext}"])
    assert "Traceback" not in result.stderr
    assert result.code == 1 and evidence["status"] == "failed"
    assert f"its parent parent.{ext} is not the image it was made from" in evidence["error"], evidence["error"]
    assert "\n" not in evidence["error"]
