"""Carving (issue 19 item 5): files deleted from a FAT volume whose directory entries the test then zeroes (so no
filesystem listing finds them) come back under `$Carved/`, as PhotoRec itself carves them from the volume's free
space (`photorec /cmd … freespace`, run by the test on the volume alone: names and sha256sum of its output), each
with the image ranges its bytes lie at (read back from the image here), examined like any file and extractable
with a verified sha256. Without PhotoRec, or with one that hangs, the ledger says so."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import sqlite3
import stat
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import pytsk3

from cybertriage.evidence import carving
from tests.conftest import REPO, run_cli
from tests.images import one_volume_disk

PIL = pytest.importorskip("PIL.Image")
pytestmark = pytest.mark.skipif(any(shutil.which(t) is None for t in ("photorec", "blkls", "mcopy", "mkfs.fat", "sfdisk")),
                                reason="photorec (testdisk), sleuthkit, mtools, dosfstools and fdisk are needed")

START_SECTOR = 2048
FS_SECTORS = 65536  # 32 MiB of FAT16
ENV = {**os.environ, "LC_ALL": "C.UTF-8", "MTOOLS_SKIP_CHECK": "1"}


def _picture(seed: int, fmt: str) -> bytes:
    """A photograph-like picture of noise (nothing compresses it away), saved as JPEG or PNG."""
    rng = random.Random(seed)
    image = PIL.new("RGB", (240, 160))
    image.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(240 * 160)])
    out = io.BytesIO()
    image.save(out, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return out.getvalue()


FILES = {"kept.jpg": _picture(1, "JPEG"), "gone1.jpg": _picture(2, "JPEG"), "gone2.png": _picture(3, "PNG"),
         "gone3.exe": (REPO / "tests" / "data" / "corpus" / "pe" / "HelloWorld.exe").read_bytes(),
         "kept.png": _picture(4, "PNG")}
DELETED = ("gone1.jpg", "gone2.png", "gone3.exe")


def _zero_deleted_entries(fs_image: Path) -> None:
    """Overwrite every deleted entry (first byte 0xE5, long-name parts included) of the FAT16 root directory with
    zeros: the names are gone, only the data is left in unallocated clusters."""
    with open(fs_image, "r+b") as disk:
        boot = disk.read(512)
        (sector,) = struct.unpack_from("<H", boot, 11)
        reserved, fats, root_entries = struct.unpack_from("<HBH", boot, 14)
        (fat_sectors,) = struct.unpack_from("<H", boot, 22)
        root = (reserved + fats * fat_sectors) * sector
        disk.seek(root)
        entries = bytearray(disk.read(root_entries * 32))
        for at in range(0, len(entries), 32):
            if entries[at] == 0xE5:
                entries[at:at + 32] = bytes(32)
        disk.seek(root)
        disk.write(entries)


@pytest.fixture(scope="module")
def carving_image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(disk image with an MBR and one FAT16 partition at START_SECTOR, the partition's filesystem alone)."""
    work = tmp_path_factory.mktemp("carving")
    fs_image = work / "volume.fat"
    with open(fs_image, "wb") as out:
        out.truncate(FS_SECTORS * 512)
    subprocess.run(["mkfs.fat", "-F", "16", "-s", "4", "--invariant", "-i", "12345678", str(fs_image)], check=True,
                   capture_output=True, env=ENV)
    for name, data in FILES.items():
        (work / name).write_bytes(data)
        subprocess.run(["mcopy", "-i", str(fs_image), str(work / name), f"::/{name}"], check=True, env=ENV)
    for name in DELETED:
        subprocess.run(["mdel", "-i", str(fs_image), f"::/{name}"], check=True, env=ENV)
    _zero_deleted_entries(fs_image)
    return one_volume_disk(fs_image, work / "disk.img", START_SECTOR, "6"), fs_image


def _photorec_reference(fs_image: Path, work: Path) -> dict[str, str]:
    """What PhotoRec carves from the volume's free space by itself: {name: sha256sum of the file}."""
    out = work / "reference"
    out.mkdir()
    subprocess.run(["photorec", "/log", "/d", str(out / "recup"), "/cmd", str(fs_image),
                    "partition_none,options,paranoid,fileopt,everything,enable,freespace,search"],
                   cwd=work, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**ENV, "TERM": "dumb"})
    carved = [p for p in out.glob("recup.*/*") if p.name != "report.xml"]
    sums = subprocess.run(["sha256sum", *map(str, carved)], check=True, capture_output=True, text=True).stdout
    return {Path(line.split("  ", 1)[1]).name: line.split()[0] for line in sums.splitlines()}


def _shifted(name: str) -> str:
    """PhotoRec names a file by the sector it starts at in what it read: the volume alone here, the whole image in
    the scan."""
    return f"f{int(name[1:8]) + START_SECTOR:07d}{name[8:]}"


def test_carved_files_are_photorecs_with_their_image_ranges(carving_image: tuple[Path, Path], tmp_path: Path) -> None:
    disk, fs_image = carving_image
    listed = subprocess.run(["fls", "-r", "-o", str(START_SECTOR), str(disk)], check=True, capture_output=True,
                            text=True).stdout
    assert "gone" not in listed.lower()  # no name is left for a listing to find
    reference = _photorec_reference(fs_image, tmp_path)
    deleted = {hashlib.sha256(FILES[name]).hexdigest() for name in DELETED}
    assert deleted <= set(reference.values())  # the test's premise: PhotoRec finds the deleted files

    case = tmp_path / "case"
    result = run_cli("scan", disk, "--case", case, "--carve", "--quiet", "--no-yara")
    assert result.code == 0, result.stderr
    db = sqlite3.connect(case / "case.db")
    db.row_factory = sqlite3.Row
    carved = {row["path"]: dict(row) for row in db.execute("SELECT * FROM files WHERE path LIKE '$Carved/%'")}
    assert {path: row["sha256"] for path, row in carved.items()} == {
        f"$Carved/{_shifted(name)}": sha256 for name, sha256 in reference.items()}
    for row in carved.values():
        assert row["deleted"] == 1 and row["partition_offset"] == START_SECTOR * 512
    by_content = {row["sha256"]: row for row in carved.values()}
    found = {name: by_content[hashlib.sha256(FILES[name]).hexdigest()] for name in DELETED}
    assert [found[name]["mime"] for name in DELETED] == ["image/jpeg", "image/png",
                                                          "application/vnd.microsoft.portable-executable"]
    assert json.loads(found["gone3.exe"]["pe"])["complete"]  # the PE analyzer read the carved executable

    image = disk.read_bytes()
    artefacts = {row["source"]: json.loads(row["values"]) for row in
                 db.execute("SELECT source, \"values\" FROM artifacts WHERE type = 'carving.file'")}
    assert set(artefacts) == set(carved)
    for path, values in artefacts.items():
        data = b"".join(image[offset:offset + length] for offset, length in values["ranges"])
        assert hashlib.sha256(data).hexdigest() == carved[path]["sha256"]
        assert values["ranges"][0][0] // 512 == int(path.split("/f")[1][:7])  # named by its first sector
    ledger = {row["stage"]: row for row in db.execute("SELECT * FROM ledger")}
    assert (ledger["carving"]["attempted"], ledger["carving"]["processed"], ledger["carving"]["skipped"]) == (1, 1, 0)

    gone = next(row for row in carved.values() if row["sha256"] == hashlib.sha256(FILES["gone1.jpg"]).hexdigest())
    out = tmp_path / "extracted"
    extracted = run_cli("extract", "--case", case, "--file", str(gone["id"]), "-o", out)
    assert extracted.code == 0, extracted.stderr
    written = subprocess.run(["sha256sum", str(out / gone["name"])], check=True, capture_output=True, text=True)
    assert written.stdout.split()[0] == gone["sha256"]


def test_no_carving_by_request(carving_image: tuple[Path, Path], tmp_path: Path) -> None:
    result = run_cli("scan", carving_image[0], "--case", tmp_path / "case", "--no-carve", "--quiet", "--no-yara")
    assert result.code == 0, result.stderr
    db = sqlite3.connect(tmp_path / "case" / "case.db")
    assert db.execute("SELECT count(*) FROM files WHERE path LIKE '$Carved/%'").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM ledger WHERE stage = 'carving'").fetchone() == (0,)


def _tools_without_photorec(folder: Path, photorec: str | None) -> dict[str, str]:
    """PATH holding the tools a scan uses (blkls among them) but PhotoRec, or `photorec` as the given script."""
    folder.mkdir()
    for tool in ("blkls", "fls", "file"):
        found = shutil.which(tool)
        if found:
            (folder / tool).symlink_to(found)
    if photorec is not None:
        script = folder / "photorec"
        script.write_text(photorec)
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return {**os.environ, "PATH": str(folder), "PYTHONPATH": str(REPO)}


def _scan(disk: Path, case: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cybertriage", "scan", str(disk), "--case", str(case), "--carve",
                           "--quiet", "--no-yara"], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)


def test_photorec_missing_is_a_ledger_line(carving_image: tuple[Path, Path], tmp_path: Path) -> None:
    done = _scan(carving_image[0], tmp_path / "case", _tools_without_photorec(tmp_path / "bin", None))
    assert done.returncode == 0, done.stderr
    db = sqlite3.connect(tmp_path / "case" / "case.db")
    skipped, reasons = db.execute("SELECT skipped, reasons FROM ledger WHERE stage = 'carving'").fetchone()
    assert skipped == 1 and any("photorec not installed" in reason for reason in json.loads(reasons))
    info = run_cli("info", "--case", tmp_path / "case")
    assert info.code == 0 and "not opened, though they could hold other objects: 1 (1 carving: not carved: photorec " \
        "not installed" in info.stdout, info.stdout


def test_a_hanging_carver_is_stopped(carving_image: tuple[Path, Path], tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A PhotoRec that reads and writes nothing is stopped by the stall guard; the scan ends, partial."""
    _tools_without_photorec(tmp_path / "bin", "#!/bin/sh\nexec /bin/sleep 600\n")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    work = tmp_path / "work"
    work.mkdir()
    size = carving.block_size(pytsk3.Img_Info(str(carving_image[0])), START_SECTOR * 512)
    assert size is not None
    volume = carving.Volume(START_SECTOR * 512, size)
    stopped = None
    try:
        list(carving.carve_volume([carving_image[0]], volume, work, 1.0, threading.Event()))
    except carving.CarvingStopped as error:
        stopped = str(error)
    assert stopped is not None and "no progress for 1 s" in stopped


def test_no_room_for_the_unallocated_space(carving_image: tuple[Path, Path], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The copy of the unallocated space must fit in the case folder's disk, with a margin: else nothing is run."""
    monkeypatch.setattr(carving, "FREE_MARGIN", shutil.disk_usage(tmp_path).free)
    size = carving.block_size(pytsk3.Img_Info(str(carving_image[0])), START_SECTOR * 512)
    assert size is not None
    with pytest.raises(carving.NoRoom):
        list(carving.carve_volume([carving_image[0]], carving.Volume(START_SECTOR * 512, size), tmp_path, 60.0,
                                  threading.Event()))
    assert not (tmp_path / "unallocated.raw").exists()


def test_blkls_offsets_to_image_ranges() -> None:
    """A carved file that runs across a gap of allocated blocks comes from two stretches of the image. blkls -l's
    form (Sleuth Kit's blkls(1)): a header, then `address|f` for each unallocated block, in order."""
    listing = b"class|host|image|first_time|unit\nblkls|vm||0|Sector\naddr|alloc\n10|f\n11|f\n20|f\n21|f\n22|f\n"
    blocks = carving.unallocated_map(listing, carving.Volume(offset=1_048_576, block_size=512))
    assert blocks.size == 5 * 512
    # bytes 700..1699 of blkls's output: 324 bytes of block 11, then 676 bytes from block 20 on
    assert blocks.image_ranges(700, 1000) == [(1_048_576 + 11 * 512 + 188, 324), (1_048_576 + 20 * 512, 676)]
    assert blocks.image_ranges(0, 1024) == [(1_048_576 + 10 * 512, 1024)]  # two blocks in a row: one range
    assert blocks.image_ranges(2500, 500) == [(1_048_576 + 22 * 512 + 452, 60)]  # cut at the end of the space


def test_an_e01_image_is_carved_as_its_raw_image(carving_image: tuple[Path, Path], tmp_path: Path) -> None:
    """blkls reads EWF through libewf: the E01 that ewfacquire makes of the raw image gives the same carved files."""
    if shutil.which("ewfacquire") is None:
        pytest.skip("ewfacquire (ewf-tools) is needed")
    from tests.images import make_e01

    e01 = make_e01(carving_image[0], tmp_path)
    cases = {}
    for name, image in (("raw", carving_image[0]), ("e01", e01)):
        result = run_cli("scan", image, "--case", tmp_path / name, "--carve", "--quiet", "--no-yara")
        assert result.code == 0, result.stderr
        with sqlite3.connect(tmp_path / name / "case.db") as db:
            cases[name] = set(db.execute("SELECT path, sha256 FROM files WHERE path LIKE '$Carved/%'"))
    assert cases["e01"] == cases["raw"] and len(cases["raw"]) >= len(DELETED)


def test_carved_files_that_cannot_be_stored_are_counted(carving_image: tuple[Path, Path], tmp_path: Path) -> None:
    """A file planted where the object store's folder goes: no carved file can be moved into the store. Each one
    PhotoRec carves is a ledger line, none is listed, and none is left in the case folder."""
    disk, fs_image = carving_image
    reference = _photorec_reference(fs_image, tmp_path)
    case = tmp_path / "case"
    case.mkdir()
    (case / "objects").write_bytes(b"")
    result = run_cli("scan", disk, "--case", case, "--carve", "--quiet", "--no-yara")
    assert "Traceback" not in result.stderr
    db = sqlite3.connect(case / "case.db")
    assert db.execute("SELECT count(*) FROM files WHERE path LIKE '$Carved/%'").fetchone() == (0,)
    skipped, reasons = db.execute("SELECT skipped, reasons FROM ledger WHERE stage = 'carving'").fetchone()
    assert json.loads(reasons) == {"carved file not stored": len(reference)} and skipped == len(reference)
    assert not [p for p in case.iterdir() if p.name.startswith(".carving-")]
