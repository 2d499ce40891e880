"""Recycle Bin files (plaso's test_data/recycler, Apache-2.0). No Debian tool reads them: expected values are
plaso's published test expectations (tests/parsers/recycler.py), and for the INFO2 entries plaso does not list, the
numbers as `od` reads them at the offsets libyal dtformats documents and the paths as `strings` finds them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cybertriage.analyzers.artefacts.base import filetime
from cybertriage.analyzers.artefacts.recycle_bin import RecycleBin
from cybertriage.analyzers.base import Item, Settings
from cybertriage.evidence.base import BytesContent, EvidenceObject

DATA = Path(__file__).resolve().parents[2] / "data" / "artefacts" / "recycle"
FOLDER = "/$Recycle.Bin/S-1-5-21-1-2-3-1001"


def analysed(name: str, data: bytes | None = None) -> tuple[list, Item]:
    data = (DATA / name).read_bytes() if data is None else data
    obj = EvidenceObject(path=f"{FOLDER}/{name}", name=name, size=len(data), content=BytesContent(data))
    item = Item(obj, head=data[:1024 * 1024], data=data, content_read=True)
    return list(RecycleBin(Settings()).analyze(item)), item


@pytest.mark.parametrize("name, version, path, size, deleted", [
    ("$II3DF3L.zip", 1, "C:\\Users\\nfury\\Documents\\Alloy Research\\StarFury.zip", 724919,
     "2012-03-12T20:49:58.633Z"),
    ("$I103S5F.jpg", 2, "C:\\Users\\random\\Downloads\\bunnies.jpg", 222255, "2016-06-29T21:37:45.618Z"),
])
def test_i_files_against_plaso(name, version, path, size, deleted):
    [record], item = analysed(name)
    assert item.skipped == []
    assert record.type == "recycle" and record.ts == deleted
    assert record.values["format_version"] == version
    assert record.values["original_path"] == path
    assert record.values["original_size"] == size
    assert record.values["deleted"] == deleted
    assert record.values["data_file"] == f"{FOLDER}/$R{name[2:]}"


def od(path: Path, offset: int, kind: str) -> int:
    """One little-endian number at an offset, as od reads it (this machine is little-endian)."""
    output = subprocess.run(["od", "-A", "n", "-t", kind, "-j", str(offset), "-N", kind[1:] if kind[1:] else "4",
                             str(path)], capture_output=True, text=True, check=True).stdout
    return int(output.split()[0])


def test_info2_against_plaso_and_od():
    path = DATA / "INFO2"
    records, item = analysed("INFO2")
    assert item.skipped == []
    assert len(records) == 4  # plaso: 4 event data
    first = records[0].values
    assert first["index"] == 1 and first["drive_number"] == 2
    assert first["original_path"] == "C:\\Documents and Settings\\Mr. Evil\\Desktop\\lalsetup250.exe"
    assert first["deleted"] == "2004-08-25T16:18:25.237Z" == records[0].ts
    assert first["data_file"] == f"{FOLDER}/Dc1.exe"
    entry_size = od(path, 12, "u4")
    assert entry_size == 800
    found = subprocess.run(["strings", "-n", "8", str(path)], capture_output=True, text=True, check=True).stdout
    unicode_found = subprocess.run(["strings", "-e", "l", "-n", "8", str(path)], capture_output=True, text=True,
                                   check=True).stdout
    for number, record in enumerate(records):
        start = 20 + number * entry_size
        assert record.values["index"] == od(path, start + 260, "u4")
        assert record.values["drive_number"] == od(path, start + 264, "u4")
        assert record.values["deleted"] == filetime(od(path, start + 268, "u8"))
        assert record.values["size"] == od(path, start + 276, "u4")
        # strings may take a printable byte of the field before the path with it
        assert any(line.endswith(record.values["original_path_ansi"]) for line in found.splitlines())
        assert any(line.endswith(record.values["original_path_unicode"]) for line in unicode_found.splitlines())


def test_recognised_by_content_and_name():
    data = (DATA / "$I103S5F.jpg").read_bytes()
    assert analysed("$I103S5F.jpg", data)[0]
    assert analysed("bunnies.jpg", data)[0] == []
    assert analysed("$IABCDEF.jpg", b"\x07" + data[1:])[0] == []


def test_lying_path_length_is_a_recorded_problem():
    data = bytearray((DATA / "$I103S5F.jpg").read_bytes())
    data[24:28] = (5000).to_bytes(4, "little")
    records, item = analysed("$I103S5F.jpg", bytes(data))
    assert records == []
    [(stage, reason)] = item.skipped
    assert stage == "recycle" and "runs past" in reason


def test_truncated_info2_keeps_the_whole_entries():
    data = (DATA / "INFO2").read_bytes()[:20 + 800 * 2 + 300]
    records, item = analysed("INFO2", data)
    assert [record.values["index"] for record in records] == [1, 2]
    [(stage, reason)] = item.skipped
    assert stage == "recycle" and "2 records read before" in reason
