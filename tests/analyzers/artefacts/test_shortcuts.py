"""Shortcuts and jump lists (plaso's test_data, Apache-2.0) against `lnkinfo` (liblnk-utils): each shortcut, each
numbered stream of an automaticDestinations-ms file (taken out of the OLE file by olefile, read by lnkinfo) and each
shortcut of a customDestinations-ms file. The DestList fields, which no Debian tool reads, against plaso's published
expectations (tests/parsers/olecf_plugins/automatic_destinations.py, tests/parsers/custom_destinations.py)."""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import olefile
import pytest

from cybertriage.analyzers.artefacts.shortcuts import LNK_HEADER, JumpList, Shortcut
from cybertriage.analyzers.base import Item, Settings
from cybertriage.evidence.base import BytesContent, EvidenceObject
from tests.analyzers.artefacts.libyal import libyal_time

DATA = Path(__file__).resolve().parents[2] / "data" / "artefacts" / "lnk"
AUTOMATIC = ["1b4dd67f29cb1962.automaticDestinations-ms", "9d1f905ce5044aee.automaticDestinations-ms"]
CUSTOM = ["5afe4de1b92fc382.customDestinations-ms", "368d807282ccde9d.customDestinations-ms"]


def item_of(name: str, data: bytes) -> Item:
    obj = EvidenceObject(path=f"/Users/u/{name}", name=name, size=len(data), content=BytesContent(data))
    return Item(obj, head=data[:1024 * 1024], data=data, content_read=True)


def analysed(parser: type, name: str, data: bytes | None = None) -> tuple[list, Item]:
    item = item_of(name, (DATA / name).read_bytes() if data is None else data)
    return list(parser(Settings()).analyze(item)), item




# lnkinfo's label -> (our value's name, conversion)
LNKINFO_FIELDS = {
    "Creation time": ("target_created", libyal_time),
    "Modification time": ("target_modified", libyal_time),
    "Access time": ("target_accessed", libyal_time),
    "File size": ("target_size", lambda text: int(text.split()[0])),
    "File attribute flags": ("target_attributes", lambda text: int(text, 16)),
    "Drive type": ("drive_type", lambda text: int(re.search(r"\((\d+)\)", text)[1])),
    "Drive serial number": ("volume_serial", str),
    "Volume label": ("volume_label", str),
    "Local path": ("local_path", str),
    "Network path": ("network_path", str),
    "Description": ("description", str),
    "Relative path": ("relative_path", str),
    "Working directory": ("working_directory", str),
    "Command line arguments": ("arguments", str),
    "Icon location": ("icon_location", str),
    "Environment variables location": ("environment_location", str),
    "Machine identifier": ("machine_id", lambda text: text or None),  # an empty name is no name
    "Droid volume identifier": ("droid_volume_id", str),
    "Droid file identifier": ("droid_file_id", str),
    "Birth droid volume identifier": ("birth_droid_volume_id", str),
    "Birth droid file identifier": ("birth_droid_file_id", str),
}


def lnkinfo(data: bytes, tmp_path: Path) -> dict:
    """What lnkinfo reads in the shortcut's header, link information, strings and link tracker block."""
    path = tmp_path / "shortcut.lnk"
    path.write_bytes(data)
    output = subprocess.run(["lnkinfo", str(path)], capture_output=True, check=True).stdout.decode("utf-8", "replace")
    expected = {}
    section = ""
    for line in output.splitlines():
        if line and not line.startswith("\t"):
            section = line
        match = re.fullmatch(r"\t([^\t]+?)\t+: ?(.*)", line)
        if match and section in ("Link information:", "Distributed link tracking data:"):
            name, convert = LNKINFO_FIELDS.get(match[1], (None, None))
            if name:
                expected[name] = convert(match[2])
    if "local_path" not in expected and expected.get("drive_type") == 0:  # lnkinfo prints an absent volume as zeros
        del expected["drive_type"], expected["volume_serial"]
    return expected


def assert_as_lnkinfo(values: dict, expected: dict) -> None:
    assert expected, "lnkinfo read nothing"
    got = {name: values.get(name) for name in expected}
    assert got == expected


@pytest.mark.parametrize("name", ["example.lnk", "NeroInfoTool.lnk", "network_info.lnk", "sample16.lnk",
                                  "decoding_error3.lnk", "invalid_date3.lnk"])
def test_shortcut_equals_lnkinfo(name, tmp_path):
    [record], item = analysed(Shortcut, name)
    assert item.skipped == []
    assert record.type == "lnk"
    assert_as_lnkinfo(record.values, lnkinfo((DATA / name).read_bytes(), tmp_path))
    assert record.ts == record.values["target_modified"]


def test_shortcut_fields_lnkinfo_does_not_print():
    [nero], _ = analysed(Shortcut, "NeroInfoTool.lnk")
    assert nero.values["target_path"] == r"C:\Program Files (x86)\Nero\Nero 9\Nero InfoTool\InfoTool.exe"
    # The MAC address is the node of the version 1 UUID lnkinfo prints as the droid file identifier.
    assert nero.values["droid_file_id"].endswith("705ab616a5f3")
    assert nero.values["mac_address"] == "70:5a:b6:16:a5:f3"
    # plaso's published expectation for example.lnk's link tracker (tests/parsers/winlnk.py).
    [example], _ = analysed(Shortcut, "example.lnk")
    assert example.values["mac_address"] == "00:1d:09:fa:5a:1c"
    assert example.values["droid_created"] == "2009-07-14T05:45:20.500012Z"


def test_shortcut_to_a_share():
    [record], _ = analysed(Shortcut, "network_info.lnk")
    assert record.values["network_share"] == "\\\\10.0.0.150\\LMmetal"
    assert record.values["network_device"] == "Z:"
    assert record.values["target_path"] == record.values["network_path"]
    assert "local_path" not in record.values and "volume_serial" not in record.values


def test_unpaired_surrogate_as_plaso_reads_it():
    """lnkinfo drops the character after the lone surrogate; plaso (tests/parsers/winlnk.py) keeps the name whole,
    as we do, with U+FFFD for the surrogate that JSON cannot hold."""
    [record], item = analysed(Shortcut, "unpaired_surrogate.lnk")
    assert item.skipped == []
    assert record.values["local_path"] == "C:\\test\\unicode_U+0000d800_\ufffd.exe"
    assert record.values["relative_path"] == ".\\unicode_U+0000d800_\ufffd.exe"
    assert record.values["working_directory"] == "C:\\test"
    assert record.values["target_created"] == "2023-07-10T04:01:20.797107Z"
    assert record.values["target_size"] == 11264
    assert record.values["volume_serial"] == "0x2ca3d1ae"


@pytest.mark.parametrize("name", AUTOMATIC)
def test_automatic_destinations_streams_equal_lnkinfo(name, tmp_path):
    records, item = analysed(JumpList, name)
    assert item.skipped == []
    with olefile.OleFileIO(io.BytesIO((DATA / name).read_bytes())) as ole:
        streams = {entry[0]: ole.openstream(entry[0]).read() for entry in ole.listdir() if entry[0] != "DestList"}
    assert sorted(record.values["stream"] for record in records) == sorted(streams)
    for record in records:
        assert record.type == "jumplist" and record.values["app_id"] == name[:16]
        assert_as_lnkinfo(record.values, lnkinfo(streams[record.values["stream"]], tmp_path))


def test_destlist_version_1_against_plaso():
    records, _ = analysed(JumpList, AUTOMATIC[0])
    entry = next(record for record in records if record.values["entry_number"] == 7)
    values = entry.values
    assert values["destlist_version"] == 1
    assert values["hostname"] == "student-pc1"
    assert values["path"] == "C:\\Users\\bperry\\Downloads"
    assert values["last_used"] == "2015-08-29T15:32:44.0343Z" == entry.ts
    assert values["pinned"] is False
    assert values["destlist_droid_volume_id"] == "fb6af886-05d7-402d-9741-d1ee9e64c41f"
    assert values["destlist_droid_file_id"] == "9b1ce584-4a4c-11e5-b5c9-080027ac3d7f"
    assert values["destlist_mac_address"] == "08:00:27:ac:3d:7f"
    assert values["destlist_droid_created"] == "2015-08-24T10:40:58.500032Z"
    documents = next(record for record in records if record.values["entry_number"] == 1).values
    assert documents["local_path"] == (
        "C:\\Users\\bperry\\AppData\\Roaming\\Microsoft\\Windows\\Libraries\\Documents.library-ms")
    assert documents["target_accessed"] == "2015-08-25T10:30:31.729469Z"
    assert documents["target_size"] == 3541 and documents["target_attributes"] == 0x2020


def test_destlist_version_3_against_plaso():
    records, _ = analysed(JumpList, AUTOMATIC[1])
    assert len(records) == 2
    entry = next(record for record in records if record.values["entry_number"] == 2).values
    assert entry["destlist_version"] == 3
    assert entry["path"] == "http://support.microsoft.com/kb/3124263"
    assert entry["last_used"] == "2016-01-17T13:08:08.247504Z"
    assert entry["hostname"] is None and entry["pinned"] is False
    assert entry["destlist_droid_file_id"] == "00000000-0000-0000-0000-000000000000"
    assert entry["target_created"] is None and entry["target_size"] == 0


@pytest.mark.parametrize("name", CUSTOM)
def test_custom_destinations_equal_lnkinfo(name, tmp_path):
    data = (DATA / name).read_bytes()
    records, item = analysed(JumpList, name)
    assert item.skipped == []
    starts = [match.start() for match in re.finditer(re.escape(LNK_HEADER), data)]
    assert [record.values["offset"] for record in records] == starts
    for record, end in zip(records, [*starts[1:], len(data)], strict=True):
        assert_as_lnkinfo(record.values, lnkinfo(data[record.values["offset"]:end], tmp_path))


def test_custom_destinations_against_plaso():
    records, _ = analysed(JumpList, CUSTOM[0])
    display = records[-1].values
    assert display["arguments"] == (
        "{DE3895CB-077B-4C38-B6E3-F3DE1E0D84FC} %systemroot%\\system32\\control.exe /name Microsoft.Display")
    assert display["local_path"] == "C:\\Windows\\System32\\GettingStarted.exe"
    assert display["description"] == "@%systemroot%\\system32\\oobefldr.dll,-1262"
    assert display["icon_location"] == "%systemroot%\\system32\\display.dll"
    assert display["environment_location"] == "%SystemRoot%\\system32\\GettingStarted.exe"
    assert display["target_modified"] == "2009-07-14T01:39:11.388Z"
    assert any(record.values.get("mac_address") == "00:1d:09:fa:5a:1c" for record in records)
    empty, item = analysed(JumpList, "c98dce577f884ef8.customDestinations-ms")
    assert empty == [] and item.skipped == []


def test_recognised_by_content():
    data = (DATA / "example.lnk").read_bytes()
    assert Shortcut(Settings()).recognise(item_of("renamed.bin", data))
    assert not Shortcut(Settings()).recognise(item_of("x.lnk", b"L\0\0\0" + b"\0" * 80))
    ole = (DATA / AUTOMATIC[0]).read_bytes()
    assert JumpList(Settings()).recognise(item_of(AUTOMATIC[0], ole))
    assert not JumpList(Settings()).recognise(item_of("document.doc", ole))


def test_lying_offsets_keep_what_parsed():
    """The link information's offset of its local path points far past the end: the header's fields and the
    strings before the lie are kept, the problem is recorded."""
    data = bytearray((DATA / "NeroInfoTool.lnk").read_bytes())
    id_list_size = int.from_bytes(data[76:78], "little")
    link_info = 76 + 2 + id_list_size
    data[link_info + 16:link_info + 20] = (0x7FFFFFF0).to_bytes(4, "little")  # LocalBasePathOffset
    data[link_info + 28:link_info + 32] = (0x7FFFFFF0).to_bytes(4, "little")  # LocalBasePathOffsetUnicode
    [record], item = analysed(Shortcut, "lying.lnk", bytes(data))
    assert record.values["target_size"] == 4635160
    assert record.values["target_modified"] == "2009-06-05T20:13:20Z"
    assert record.values["machine_id"] == "win-3qmdjgkf3g9"
    [(stage, reason)] = item.skipped
    assert stage == "lnk" and "partly read" in reason


def test_truncated_shortcut_keeps_its_header():
    data = (DATA / "NeroInfoTool.lnk").read_bytes()[:120]
    [record], item = analysed(Shortcut, "cut.lnk", data)
    assert record.values["target_size"] == 4635160
    assert item.skipped and "partly read" in item.skipped[0][1]


def test_truncated_jump_list_keeps_the_streams_left():
    whole, _ = analysed(JumpList, AUTOMATIC[0])
    records, item = analysed(JumpList, AUTOMATIC[0], (DATA / AUTOMATIC[0]).read_bytes()[:9000])
    assert item.skipped and all(stage == "jumplist" for stage, _ in item.skipped)
    assert "damaged OLE file" in item.skipped[0][1]
    kept = {record.values["stream"]: record.values for record in records if record.values.get("target_size")}
    assert len(kept) >= 4
    for before in whole:
        if before.values["stream"] in kept:
            assert kept[before.values["stream"]]["local_path"] == before.values["local_path"]


def test_oversized_shortcut_reads_its_first_mebibyte():
    data = (DATA / "NeroInfoTool.lnk").read_bytes() + b"\0" * (1024 * 1024)
    [record], item = analysed(Shortcut, "padded.lnk", data)
    assert record.values["target_path"] == r"C:\Program Files (x86)\Nero\Nero 9\Nero InfoTool\InfoTool.exe"
    [(stage, reason)] = item.skipped
    assert stage == "lnk" and "only the first 1048576" in reason
