"""Carving file slack (issue 19 item 5, the option): a picture left in the last cluster of a deleted file, whose
cluster a short file then took, lies only in that file's slack. Sleuth Kit's `blkls -s` and PhotoRec, run by the
test, find it there (sha256sum of PhotoRec's output against the picture the test wrote); `scan --carve-slack`
finds the same bytes under `$Carved/slack/`, with image ranges the test reads back from the image itself; the
slack stream holds the sectors `blkls -s` writes. Without PhotoRec the ledger says so."""

from __future__ import annotations

import collections
import hashlib
import io
import json
import os
import random
import re
import shutil
import sqlite3
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
pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("photorec", "blkls", "istat", "fls", "mcopy", "mkfs.fat", "sfdisk")),
    reason="photorec (testdisk), sleuthkit, mtools, dosfstools and fdisk are needed")

START_SECTOR = 2048
FS_SECTORS = 65536  # 32 MiB of FAT12 in 32 KiB clusters
CLUSTER = 32 * 1024
PICTURE_AT = 16 * 1024  # where the picture lies in the deleted file's cluster: sector aligned, past the short file
ENV = {**os.environ, "LC_ALL": "C.UTF-8", "MTOOLS_SKIP_CHECK": "1", "TERM": "dumb"}


def _picture() -> bytes:
    """A small PNG of noise (nothing compresses it away), well under the room left in the cluster."""
    rng = random.Random(19)
    image = PIL.frombytes("RGB", (64, 48), rng.randbytes(64 * 48 * 3))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


PICTURE = _picture()
SHORT = b"meeting moved to thursday\n" * 4  # file B: 104 bytes in a cluster of its own
FILES_BEFORE = {"FULL.BIN": random.Random(1).randbytes(CLUSTER),  # exactly one cluster: no slack
                "LONG.BIN": random.Random(2).randbytes(CLUSTER + 7000)}  # the end of its second cluster is slack


def _sectors(fs_image: Path, inode: int) -> list[int]:
    """The sectors Sleuth Kit's istat gives for a file of the FAT volume: those its content fills (istat pads its
    last line with zeros, never a file's sector)."""
    text = subprocess.run(["istat", str(fs_image), str(inode)], check=True, capture_output=True, text=True).stdout
    return [int(n) for n in text.split("Sectors:", 1)[1].split() if int(n) != 0]


def _inode(fs_image: Path, name: str) -> int:
    listed = subprocess.run(["fls", str(fs_image)], check=True, capture_output=True, text=True).stdout
    found = re.search(rf"^r/r (\d+):\t{re.escape(name)}$", listed, re.MULTILINE)
    assert found is not None, listed
    return int(found[1])


@pytest.fixture(scope="module")
def slack_image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(disk image with an MBR and one FAT12 partition at START_SECTOR, the partition's filesystem alone)."""
    work = tmp_path_factory.mktemp("slack")
    fs_image = work / "volume.fat"
    with open(fs_image, "wb") as out:
        out.truncate(FS_SECTORS * 512)
    subprocess.run(["mkfs.fat", "-s", str(CLUSTER // 512), "--invariant", "-i", "12345678", str(fs_image)],
                   check=True, capture_output=True, env=ENV)
    old = bytearray(CLUSTER)
    old[PICTURE_AT:PICTURE_AT + len(PICTURE)] = PICTURE
    for name, data in {**FILES_BEFORE, "OLD.BIN": bytes(old)}.items():
        (work / name).write_bytes(data)
        subprocess.run(["mcopy", "-i", str(fs_image), str(work / name), f"::/{name}"], check=True, env=ENV)
    old_sectors = _sectors(fs_image, _inode(fs_image, "OLD.BIN"))
    subprocess.run(["mdel", "-i", str(fs_image), "::/OLD.BIN"], check=True, env=ENV)
    (work / "NOTE.TXT").write_bytes(SHORT)
    subprocess.run(["mcopy", "-i", str(fs_image), str(work / "NOTE.TXT"), "::/NOTE.TXT"], check=True, env=ENV)
    assert old_sectors == list(range(old_sectors[0], old_sectors[0] + CLUSTER // 512))  # one whole cluster
    assert _sectors(fs_image, _inode(fs_image, "NOTE.TXT")) == old_sectors[:1]  # the premise: B took A's cluster
    assert "OLD.BIN" not in subprocess.run(["fls", "-r", str(fs_image)], check=True, capture_output=True,
                                           text=True).stdout  # and no listing names the deleted file
    return one_volume_disk(fs_image, work / "disk.img", START_SECTOR, "1"), fs_image


def _blkls_slack(disk: Path, work: Path) -> Path:
    out = work / "blkls-slack.raw"
    with open(out, "wb") as handle:
        subprocess.run(["blkls", "-s", "-o", str(START_SECTOR), str(disk)], check=True, stdout=handle)
    return out


def _photorec_sums(source: Path, work: Path) -> set[str]:
    """sha256sum of every file PhotoRec carves from `source` as one unknown volume."""
    out = work / "reference"
    out.mkdir()
    subprocess.run(["photorec", "/log", "/d", str(out / "recup"), "/cmd", str(source),
                    "partition_none,options,paranoid,fileopt,everything,enable,search"],
                   cwd=work, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    carved = [str(p) for p in out.glob("recup.*/*") if p.name != "report.xml"]
    sums = subprocess.run(["sha256sum", *carved], check=True, capture_output=True, text=True).stdout if carved else ""
    return {line.split()[0] for line in sums.splitlines()}


def test_a_picture_in_file_slack_is_carved_with_its_image_ranges(slack_image: tuple[Path, Path],
                                                                  tmp_path: Path) -> None:
    disk, _ = slack_image
    picture_sha256 = hashlib.sha256(PICTURE).hexdigest()
    assert picture_sha256 in _photorec_sums(_blkls_slack(disk, tmp_path), tmp_path)  # Sleuth Kit + PhotoRec alone

    case = tmp_path / "case"
    result = run_cli("scan", disk, "--case", case, "--carve-slack", "--quiet", "--no-yara")
    assert result.code == 0, result.stderr
    db = sqlite3.connect(case / "case.db")
    db.row_factory = sqlite3.Row
    carved = [dict(row) for row in db.execute("SELECT * FROM files WHERE path LIKE '$Carved/%'")]
    found = [row for row in carved if row["sha256"] == picture_sha256]
    assert len(found) == 1 and found[0]["path"].startswith("$Carved/slack/f") and found[0]["mime"] == "image/png"
    assert found[0]["deleted"] == 1 and found[0]["partition_offset"] == START_SECTOR * 512

    artefact = db.execute("SELECT \"values\" FROM artifacts WHERE type = 'carving.file' AND file_id = ?",
                          (found[0]["id"],)).fetchone()
    values = json.loads(artefact["values"])
    assert values["space"] == "slack" and values["carver"] == "PhotoRec"
    with open(disk, "rb") as image:
        data = b""
        for offset, length in values["ranges"]:
            image.seek(offset)
            data += image.read(length)
    assert data == PICTURE
    ledger = db.execute("SELECT attempted, processed, skipped FROM ledger WHERE stage = 'slack carving'").fetchone()
    assert tuple(ledger) == (1, 1, 0)
    assert tuple(db.execute("SELECT count(*) FROM ledger WHERE stage = 'carving'").fetchone()) == (0,)  # not asked

    out = tmp_path / "extracted"
    extracted = run_cli("extract", "--case", case, "--file", str(found[0]["id"]), "-o", out)
    assert extracted.code == 0, extracted.stderr
    written = subprocess.run(["sha256sum", str(out / found[0]["name"])], check=True, capture_output=True, text=True)
    assert written.stdout.split()[0] == picture_sha256


def test_unallocated_carving_alone_does_not_find_it(slack_image: tuple[Path, Path], tmp_path: Path) -> None:
    case = tmp_path / "case"
    result = run_cli("scan", slack_image[0], "--case", case, "--carve", "--no-carve-slack", "--quiet", "--no-yara")
    assert result.code == 0, result.stderr
    db = sqlite3.connect(case / "case.db")
    assert db.execute("SELECT count(*) FROM files WHERE sha256 = ?",
                      (hashlib.sha256(PICTURE).hexdigest(),)).fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM files WHERE path LIKE '$Carved/slack/%'").fetchone() == (0,)
    assert db.execute("SELECT attempted FROM ledger WHERE stage = 'carving'").fetchone() == (1,)
    assert db.execute("SELECT count(*) FROM ledger WHERE stage = 'slack carving'").fetchone() == (0,)


def test_the_slack_stream_holds_blkls_sectors_mapped_to_the_image(slack_image: tuple[Path, Path],
                                                                  tmp_path: Path) -> None:
    """The stream holds the sectors `blkls -s` writes (in image order rather than blkls's inode order), and every
    byte the map places is the image's byte there; the bytes it does not place (the files' own) are zeros."""
    disk, _ = slack_image
    reference = _blkls_slack(disk, tmp_path).read_bytes()
    work = tmp_path / "work"
    work.mkdir()
    volume = carving.Volume(START_SECTOR * 512, 512)
    stream = carving.slack_stream(disk, pytsk3.Img_Info(str(disk)), volume, work, 60.0, threading.Event())
    written = stream.path.read_bytes()
    # Sleuth Kit's FAT blocks are sectors: NOTE.TXT's whole cluster, and LONG.BIN's second cluster from the sector
    # that holds the end of its 7000 bytes there
    assert stream.size == len(written) == len(reference) == CLUSTER + CLUSTER - 7000 // 512 * 512

    def sectors(data: bytes) -> collections.Counter[bytes]:
        return collections.Counter(data[at:at + 512] for at in range(0, len(data), 512))

    assert sectors(written) == sectors(reference)
    image = disk.read_bytes()
    placed = bytearray(len(written))
    for run in stream.blocks.runs:
        assert written[run.output_offset:run.output_offset + run.length] == \
            image[run.image_offset:run.image_offset + run.length]
        placed[run.output_offset:run.output_offset + run.length] = b"\1" * run.length
    assert all(byte == 0 for byte, mapped in zip(written, placed, strict=True) if not mapped)
    assert placed.count(0) == len(SHORT) + 7000 % 512  # exactly the two files' own bytes in their last sectors


def test_a_span_over_a_files_own_bytes_has_no_image_ranges() -> None:
    """A carved file that runs from one file's slack into the next piece's zeroed bytes cannot be read back from
    the image: the map gives it fewer bytes than asked and counts it."""
    blocks = carving.UnallocatedMap([carving.UnallocatedRun(0, 10_240, 512),
                                     carving.UnallocatedRun(512 + 100, 20_580, 412)])  # 100 zeroed bytes between
    assert blocks.image_ranges(0, 512) == [(10_240, 512)] and blocks.short == 0
    assert blocks.image_ranges(400, 300) == [(10_640, 112)] and blocks.short == 1
    assert blocks.image_ranges(700, 100) == [(20_668, 100)] and blocks.short == 1


def test_slack_carving_without_photorec_is_a_ledger_line(slack_image: tuple[Path, Path], tmp_path: Path) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("blkls", "fls", "file"):
        found = shutil.which(tool)
        if found:
            (tools / tool).symlink_to(found)
    env = {**os.environ, "PATH": str(tools), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "cybertriage", "scan", str(slack_image[0]), "--case",
                           str(tmp_path / "case"), "--carve-slack", "--quiet", "--no-yara"],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    db = sqlite3.connect(tmp_path / "case" / "case.db")
    skipped, reasons = db.execute("SELECT skipped, reasons FROM ledger WHERE stage = 'slack carving'").fetchone()
    assert skipped == 1 and list(json.loads(reasons)) == [
        "not carved: photorec not installed (photorec: apt testdisk)"]
    assert db.execute("SELECT count(*) FROM files WHERE path LIKE '$Carved/%'").fetchone() == (0,)


def test_the_option_reaches_distributed_workers() -> None:
    """The recipe a worker rebuilds the scan's options from carries the slack option, through its message form."""
    from dataclasses import asdict

    from cybertriage.pipeline.distributed import Recipe
    from cybertriage.pipeline.options import ScanOptions

    for wanted in (True, False):
        recipe = Recipe.of(ScanOptions(carve=False, carve_slack=wanted))
        assert Recipe.from_message(json.loads(json.dumps(asdict(recipe)))).options(1).carve_slack is wanted
