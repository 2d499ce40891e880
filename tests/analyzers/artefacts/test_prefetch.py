"""Prefetch files (plaso's test_data/winprefetch, versions 17 to 31, MAM-compressed ones included) against
`sccainfo` (libscca-utils, Debian's build), and the version 31 file it cannot read against plaso's published test
expectations (tests/parsers/winprefetch.py)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from cybertriage.analyzers.artefacts.prefetch import Prefetch
from cybertriage.analyzers.base import Item, Settings
from cybertriage.evidence.base import BytesContent, EvidenceObject
from tests.analyzers.artefacts.libyal import libyal_time

DATA = Path(__file__).resolve().parents[2] / "data" / "artefacts" / "prefetch"
READ_BY_SCCAINFO = sorted(path.name for path in DATA.glob("*.pf") if not path.name.startswith("AM_DELTA"))


def item_of(name: str, data: bytes) -> Item:
    obj = EvidenceObject(path=f"/Windows/Prefetch/{name}", name=name, size=len(data), content=BytesContent(data))
    return Item(obj, head=data[:1024 * 1024], data=data, content_read=True)


def parsed(name: str, data: bytes | None = None) -> tuple[list, Item]:
    item = item_of(name, (DATA / name).read_bytes() if data is None else data)
    return list(Prefetch(Settings()).analyze(item)), item




def sccainfo(path: Path) -> dict:
    output = subprocess.run(["sccainfo", str(path)], capture_output=True, text=True, check=True).stdout
    fields = [(key.strip().rstrip(":"), value) for key, value in
              (re.split(r"\t+: ", line, maxsplit=1) for line in output.splitlines() if "\t: " in line)]
    info: dict = {"runs": [], "files": [], "volumes": []}
    for key, value in fields:
        if key == "Format version":
            info["version"] = int(value)
        elif key == "Prefetch hash":
            info["hash"] = value
        elif key == "Executable filename":
            info["executable"] = value
        elif key == "Run count":
            info["run_count"] = int(value)
        elif key.startswith("Last run time"):
            info["runs"].append(libyal_time(value))
        elif key.startswith("Filename:"):
            info["files"].append(value)
        elif key == "Device path":
            info["volumes"].append({"device_path": value})
        elif key == "Creation time":
            info["volumes"][-1]["creation_time"] = libyal_time(value)
        elif key == "Serial number":
            info["volumes"][-1]["serial_number"] = value
    return info


@pytest.mark.parametrize("name", READ_BY_SCCAINFO)
def test_prefetch_equals_sccainfo(name):
    expected = sccainfo(DATA / name)
    records, item = parsed(name)
    assert item.skipped == []
    [record] = records
    values = record.values
    assert record.type == "prefetch"
    assert values["format_version"] == expected["version"]
    assert values["prefetch_hash"] == expected["hash"]
    assert values["executable"] == expected["executable"]
    assert values["run_count"] == expected["run_count"]
    runs = sorted((run for run in expected["runs"] if run), reverse=True)
    assert values["last_run_times"] == runs
    assert record.ts == runs[0]
    assert values["loaded_files"] == expected["files"][:1000]
    assert values["loaded_files_count"] == len(expected["files"])
    assert values["volumes"] == expected["volumes"]
    # The program's own path: the loaded file named as the executable, without its volume's device path.
    own = [file for file in expected["files"] if file.rpartition("\\")[2] == expected["executable"]]
    assert values["device_path"] + values["path"] == own[0]


def test_version_31_against_plaso_expectations():
    records, item = parsed("AM_DELTA_PATCH_1.443.990.0.EX-7037CF86.pf")
    assert item.skipped == []
    [record] = records
    assert record.values["executable"] == "AM_DELTA_PATCH_1.443.990.0.EX"
    assert record.values["prefetch_hash"] == "0x7037cf86"
    assert record.values["run_count"] == 1
    assert record.values["format_version"] == 31
    # The 29-character name is truncated; the full path comes from the loaded file whose name starts with it.
    assert record.values["path"] == r"\WINDOWS\SOFTWAREDISTRIBUTION\DOWNLOAD\INSTALL\AM_DELTA_PATCH_1.443.990.0.EXE"


def test_compressed_version_30_against_plaso_expectations():
    [record], _ = parsed("BYTECODEGENERATOR.EXE-C1E9BCE6.pf")
    assert record.values["last_run_times"] == [
        "2015-05-14T22:11:58.091134Z", "2015-05-14T22:11:55.357652Z", "2015-05-14T22:11:45.513599Z",
        "2015-05-14T22:11:25.842727Z", "2015-05-14T22:11:19.858654Z", "2015-05-14T22:11:05.906654Z",
        "2015-05-14T22:10:38.251519Z"]
    assert record.values["loaded_files_count"] == 1085
    assert len(record.values["loaded_files"]) == 1000
    assert "1000 of 1085" in record.values["loaded_files_note"]


def test_recognised_by_content_and_name():
    data = (DATA / "CMD.EXE-087B4001.pf").read_bytes()
    assert Prefetch(Settings()).recognise(item_of("CMD.EXE-087B4001.pf", data))
    assert not Prefetch(Settings()).recognise(item_of("cmd.bin", data))
    assert not Prefetch(Settings()).recognise(item_of("X.pf", b"\0" * 64))
    assert not Prefetch(Settings()).recognise(item_of("notes.pf", data[:4] + b"SCCB" + data[8:]))


@pytest.mark.parametrize("damage", ["signature", "truncated"])
def test_bad_prefetch_is_a_recorded_problem(damage):
    data = (DATA / "PING.EXE-B29F6629.pf").read_bytes()
    bad = data[:4] + b"SCCB" + data[8:] if damage == "signature" else data[:200]
    records, item = parsed("PING.EXE-B29F6629.pf", bad)
    assert records == []
    [(stage, reason)] = item.skipped
    assert stage == "prefetch" and "unreadable prefetch" in reason and "0 records read before" in reason


def test_unpaired_surrogate_in_a_loaded_file_is_replaced():
    """A name holding half of a UTF-16 surrogate pair (damage, or a hostile name) cannot be stored as UTF-8 text:
    it reads as U+FFFD, and the rest of the record stands."""
    data = (DATA / "PING.EXE-B29F6629.pf").read_bytes()
    name = "NTDLL.DLL".encode("utf-16-le")
    bad = data.replace(name, "\ud941TDLL.DLL".encode("utf-16-le", "surrogatepass"), 1)
    [record], item = parsed("PING.EXE-B29F6629.pf", bad)
    assert item.skipped == []
    assert record.values["loaded_files"][0].endswith("\\\ufffdTDLL.DLL")
    assert json.dumps(record.values, ensure_ascii=False).encode("utf-8")
    assert record.values["run_count"] == 14
