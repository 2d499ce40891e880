"""Carving in place (issue 19 item 5): where PhotoRec reads a volume's free space itself (a raw image; FAT, ext4),
it carves the image without blkls's copy of the unallocated space, and hands out the same files with the same
image ranges as from the copy. The ranges are read back from the image with `dd`, the files' sha256 are those of
the pictures the test deleted, or of PhotoRec's own run (`sha256sum` of what it wrote)."""

from __future__ import annotations

import collections
import hashlib
import io
import os
import random
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import pytsk3

from cybertriage.evidence import carving

PIL = pytest.importorskip("PIL.Image")
pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("photorec", "blkls", "mcopy", "mkfs.fat", "mkfs.ext4", "debugfs", "sfdisk")),
    reason="photorec (testdisk), sleuthkit, mtools, dosfstools, e2fsprogs and fdisk are needed")

ENV = {**os.environ, "LC_ALL": "C.UTF-8", "MTOOLS_SKIP_CHECK": "1", "TERM": "dumb"}
# (start sector, sectors, sfdisk type, filesystem, PhotoRec's name for it); partition 3 is the extended one
LAYOUT = {"fat16": (2048, 32768, "6", "FAT16", "partition_i386,1"),
          "ext4": (34816, 32768, "83", "ext4", "partition_i386,2"),
          "logical": (69632, 16384, "6", "FAT16", "partition_i386,5")}
EXTENDED = (67584, 20480)
DISK_SECTORS = 90112


def _picture(rng: random.Random, fmt: str, width: int = 160, height: int = 120) -> bytes:
    """A picture of noise (nothing compresses it away) as JPEG or PNG."""
    image = PIL.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    out = io.BytesIO()
    image.save(out, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return out.getvalue()


def _pictures(seed: int, count: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    return {f"pic{seed}_{i:03d}.{'jpg' if i % 2 == 0 else 'png'}": _picture(rng, "JPEG" if i % 2 == 0 else "PNG")
            for i in range(count)}


def _fat(path: Path, sectors: int, files: dict[str, bytes], deleted: set[str], work: Path, folder: str = "") -> None:
    with open(path, "wb") as out:
        out.truncate(sectors * 512)
    subprocess.run(["mkfs.fat", "-F", "16", "-s", "2", "--invariant", "-i", "12345678", str(path)], check=True,
                   capture_output=True, env=ENV)
    target = "::/"
    if folder:
        subprocess.run(["mmd", "-i", str(path), f"::/{folder}"], check=True, env=ENV)
        target = f"::/{folder}/"
    staged = work / f"staged-{path.name}"
    staged.mkdir()
    for name, data in files.items():
        (staged / name).write_bytes(data)
    subprocess.run(["mcopy", "-i", str(path), *[str(staged / name) for name in files], target], check=True, env=ENV)
    names = [target + name for name in sorted(deleted)]
    for start in range(0, len(names), 200):
        subprocess.run(["mdel", "-i", str(path), *names[start:start + 200]], check=True, env=ENV)


def _ext4(path: Path, sectors: int, files: dict[str, bytes], deleted: set[str], work: Path) -> None:
    staged = work / "staged-ext4"
    staged.mkdir()
    for name, data in files.items():
        (staged / name).write_bytes(data)
    with open(path, "wb") as out:
        out.truncate(sectors * 512)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-b", "4096", "-d", str(staged), str(path)], check=True,
                   capture_output=True, env=ENV)
    script = "\n".join(f"rm /{name}" for name in sorted(deleted))
    subprocess.run(["debugfs", "-w", "-f", "-", str(path)], input=script.encode(), check=True, capture_output=True)


@pytest.fixture(scope="module")
def mbr_disk(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, set[str]]]:
    """(an MBR disk: FAT16, ext4 and a logical FAT16 in an extended partition, each with pictures of which some were
    deleted; the sha256 of each volume's deleted pictures)."""
    work = tmp_path_factory.mktemp("in-place")
    disk = work / "disk.img"
    with open(disk, "wb") as out:
        out.truncate(DISK_SECTORS * 512)
    table = "\n".join(["label: dos", "unit: sectors", "",
                       *(f"start={start}, size={size}, type={kind}" for start, size, kind, _, _ in
                         (LAYOUT["fat16"], LAYOUT["ext4"])),
                       f"start={EXTENDED[0]}, size={EXTENDED[1]}, type=5",
                       "start={}, size={}, type={}".format(*LAYOUT["logical"][:3]), ""])
    subprocess.run(["sfdisk", "-q", str(disk)], input=table, text=True, check=True, capture_output=True)
    gone: dict[str, set[str]] = {}
    for seed, (volume, (start, size, _, filesystem, _)) in enumerate(LAYOUT.items(), start=1):
        files = _pictures(seed, 8)
        deleted = {name for index, name in enumerate(sorted(files)) if index % 2 == 0}
        gone[volume] = {hashlib.sha256(files[name]).hexdigest() for name in deleted}
        fs_image = work / f"{volume}.fs"
        if filesystem == "ext4":
            _ext4(fs_image, size, files, deleted, work)
        else:
            _fat(fs_image, size, files, deleted, work)
        subprocess.run(["dd", f"if={fs_image}", f"of={disk}", "bs=1M", f"seek={start * 512}", "oflag=seek_bytes",
                        "conv=notrunc", "status=none"], check=True)
    return disk, gone


def _carve(image: Path, volume: carving.Volume, work: Path) -> tuple[list[tuple[str, str, tuple]], bool]:
    """(name, sha256, image ranges) of every file carved, and whether blkls's copy of the unallocated space was
    made for it."""
    work.mkdir()
    found = []
    for carved in carving.carve_volume([image], volume, work, 60.0, threading.Event()):
        found.append((carved.name, hashlib.sha256(carved.file.read_bytes()).hexdigest(), carved.ranges))
    return sorted(found), (work / "unallocated.list").exists()


def _read_back(image: Path, ranges: tuple[tuple[int, int], ...]) -> str:
    """sha256 of the image bytes at `ranges`, as `dd` reads them."""
    digest = hashlib.sha256()
    for offset, length in ranges:
        digest.update(subprocess.run(["dd", f"if={image}", "iflag=skip_bytes,count_bytes", f"skip={offset}",
                                      f"count={length}", "status=none"], check=True, capture_output=True).stdout)
    return digest.hexdigest()


@pytest.mark.parametrize("volume_name", list(LAYOUT))
def test_in_place_is_the_copy(mbr_disk: tuple[Path, dict[str, set[str]]], volume_name: str, tmp_path: Path) -> None:
    disk, gone = mbr_disk
    start, _, _, filesystem, photorec_name = LAYOUT[volume_name]
    image = pytsk3.Img_Info(str(disk))
    size = carving.block_size(image, start * 512)
    assert size is not None
    named = carving.photorec_partition(image, start * 512, filesystem)
    assert named == photorec_name
    in_place, copied = _carve(disk, carving.Volume(start * 512, size, named), tmp_path / "in-place")
    assert not copied
    from_copy, copied = _carve(disk, carving.Volume(start * 512, size), tmp_path / "copy")
    assert copied
    assert in_place == from_copy
    assert gone[volume_name] <= {sha256 for _, sha256, _ in in_place}
    for name, sha256, ranges in in_place:
        assert _read_back(disk, ranges) == sha256
        assert int(name[1:8]) == ranges[0][0] // 512  # named by the image sector it starts at


def test_photorec_reading_another_volume_is_not_trusted(mbr_disk: tuple[Path, dict[str, set[str]]],
                                                        tmp_path: Path) -> None:
    """Told PhotoRec's name of the first partition for the ext4 volume, its report names the first volume's offset:
    nothing it carved is handed out, and the ext4 volume is carved from blkls's copy."""
    disk, gone = mbr_disk
    start = LAYOUT["ext4"][0] * 512
    size = carving.block_size(pytsk3.Img_Info(str(disk)), start)
    assert size is not None
    wrong, copied = _carve(disk, carving.Volume(start, size, "partition_i386,1"), tmp_path / "wrong")
    assert copied
    assert gone["ext4"] <= {sha256 for _, sha256, _ in wrong}
    assert all(start <= ranges[0][0] < start + LAYOUT["ext4"][1] * 512 for _, _, ranges in wrong)


def test_files_past_photorecs_first_folder(tmp_path: Path) -> None:
    """PhotoRec puts 500 files in a folder (recup.1, recup.2, …) and writes its one report in the first, naming the
    later folders' files by their whole path: all of them are handed out, as `sha256sum` reads PhotoRec's own run."""
    rng = random.Random(7)
    files = {f"p{i:03d}.jpg": _picture(rng, "JPEG", 24, 24) for i in range(620)}
    volume = tmp_path / "volume.fat"
    _fat(volume, 32768, files, set(files), tmp_path, folder="DCIM")
    reference = tmp_path / "reference"
    reference.mkdir()
    subprocess.run(["photorec", "/log", "/d", str(reference / "recup"), "/cmd", str(volume),
                    "partition_none,options,paranoid,fileopt,everything,enable,freespace,search"],
                   cwd=reference, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    written = sorted(str(p) for p in reference.glob("recup.*/*") if p.name != "report.xml")
    sums = subprocess.run(["sha256sum", *written], check=True, capture_output=True, text=True).stdout
    expected = collections.Counter(line.split()[0] for line in sums.splitlines())
    assert sum(expected.values()) > 500 and (reference / "recup.2").is_dir()
    size = carving.block_size(pytsk3.Img_Info(str(volume)), 0)
    assert size is not None
    named = carving.photorec_partition(pytsk3.Img_Info(str(volume)), 0, "FAT16")
    assert named == "partition_none"
    for label, how in (("in-place", named), ("copy", None)):
        carved, _ = _carve(volume, carving.Volume(0, size, how), tmp_path / label)
        assert collections.Counter(sha256 for _, sha256, _ in carved) == expected, label


def test_files_carved_before_a_stall_are_kept(mbr_disk: tuple[Path, dict[str, set[str]]], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A PhotoRec that writes its files and report, then hangs: the stall guard stops it, and every file it carved
    before (the first volume's deleted pictures among them) is kept in the case and handed out, with a ledger line
    and a problem saying that carving stopped."""
    from cybertriage.evidence.disk import DiskImage
    from cybertriage.pipeline.carving import CarvedSource

    tools = tmp_path / "bin"
    tools.mkdir()
    hanging = tools / "photorec"
    hanging.write_text(f"#!/bin/sh\n{shutil.which('photorec')} \"$@\"\nexec /bin/sleep 600\n")
    hanging.chmod(0o755)
    (tools / "blkls").symlink_to(shutil.which("blkls") or "blkls")
    monkeypatch.setenv("PATH", f"{tools}:/usr/bin:/bin")
    disk, gone = mbr_disk
    image = DiskImage(disk)
    try:
        for _ in image.objects(threading.Event()):  # the listing, which finds the volumes and their filesystems
            pass
        image.partitions = [p for p in image.partitions if p.offset == LAYOUT["fat16"][0] * 512]
        case = tmp_path / "case"
        case.mkdir()
        source = CarvedSource(image, case, 2.0)
        carved = list(source.objects(threading.Event()))
    finally:
        image.close()
    kept = {obj.sha256 for obj in carved}
    assert gone["fat16"] <= kept
    for obj in carved:
        assert obj.content is not None
        assert hashlib.sha256(b"".join(obj.content.chunks())).hexdigest() == obj.sha256
    assert any("carving stopped" in problem and "no progress for 2 s" in problem for problem in source.problems)
    assert "carving stopped" in source.ledger.stages["carving"]["skipped"]
