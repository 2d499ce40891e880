"""What ran and what a user opened, from plaso's and regipy's hives, against `reglookup`'s raw values decoded here:
UserAssist names by `codecs` ROT13 and counts and times at the documented offsets, ShimCache entries against the
AppCompatCache buffer itself, Amcache paths and SHA-1s, BAM times, and the MRU lists in their MRU order."""

from __future__ import annotations

import codecs
import struct

import pytest

from cybertriage.analyzers.artefacts.hive_execution import _windows7_entries
from tests.analyzers.artefacts.hive_reference import filetime, reglookup, rows_of

EXPLORER = "/Software/Microsoft/Windows/CurrentVersion/Explorer"


@pytest.mark.parametrize("name, record_size", [("NTUSER-WIN7.DAT", 72), ("NTUSER.DAT", 16)])
def test_userassist_equals_reglookup(name, record_size):
    expected = {}
    for path, key in reglookup(name, f"{EXPLORER}/UserAssist").items():
        if not path.endswith("/Count"):
            continue
        for encoded, (kind, raw) in key.values.items():
            decoded = codecs.decode(encoded, "rot13")
            if decoded.startswith("UEME_CTL") or len(raw) < 16:
                continue
            if record_size == 72:  # Windows 7: count at 4, focus count at 8, focus time at 12, last run at 60
                expected[decoded] = (struct.unpack_from("<I", raw, 4)[0], filetime(raw, 60))
            else:  # XP: count at 4, started at 5, last run at 8
                count = struct.unpack_from("<I", raw, 4)[0]
                expected[decoded] = (count - 5 if count >= 5 else count, filetime(raw, 8))
    got = {row.values["name"]: (row.values["run_count"], row.values.get("last_run"))
           for row in rows_of(name, "registry.userassist")}
    assert got == expected
    assert len(expected) > 10


def test_userassist_known_folders_are_resolved():
    paths = {row.values["name"]: row.values["path"] for row in rows_of("NTUSER-WIN7.DAT", "registry.userassist")}
    system32 = [name for name in paths if name.upper().startswith("{1AC14E77-02E7-4E5D-B744-2EB1AE5198B7}")]
    assert system32
    for name in system32:
        assert paths[name] == "C:\\Windows\\System32" + name[38:]


def app_compat_cache(name: str) -> bytes:
    path = "/ControlSet001/Control/Session Manager/AppCompatCache"
    return reglookup(name, path)[path].values["AppCompatCache"][1]


def test_windows7_shimcache_equals_the_buffers_entries():
    raw = app_compat_cache("SYSTEM")  # a 32-bit Windows 7: magic 0xBADC0FEE, count, a 128-byte header, then
    magic, count = struct.unpack_from("<II", raw, 0)  # 32-byte entries: path length, maximum length, path
    assert magic == 0xBADC0FEE  # offset, FILETIME, insertion flags, shim flags, data size, data offset
    expected = []
    for index in range(count):
        length, _, offset = struct.unpack_from("<HHI", raw, 128 + index * 32)
        flags, = struct.unpack_from("<I", raw, 128 + index * 32 + 16)
        expected.append({"path": raw[offset:offset + length].decode("utf-16-le"), "position": index,
                         "last_modified": filetime(raw, 128 + index * 32 + 8), "executed": bool(flags & 2)})
    assert [row.values for row in rows_of("SYSTEM", "registry.shimcache")] == expected
    assert count == 330


def test_windows10_shimcache_equals_the_buffers_entries():
    raw = app_compat_cache("SYSTEM_WIN_10_1709")
    offset, = struct.unpack_from("<I", raw, 0)  # the header's size, then '10ts' entries
    expected = []
    while offset < len(raw):
        assert raw[offset:offset + 4] == b"10ts"
        size, path_size = struct.unpack_from("<IH", raw, offset + 8)
        expected.append({"path": raw[offset + 14:offset + 14 + path_size].decode("utf-16-le"),
                         "position": len(expected), "last_modified": filetime(raw, offset + 14 + path_size)})
        offset += 12 + size
    rows = [row.values for row in rows_of("SYSTEM_WIN_10_1709", "registry.shimcache")]
    assert rows == [{key: value for key, value in entry.items() if value is not None} for entry in expected]
    assert len(rows) == 1024 and sum(1 for entry in expected if entry["last_modified"] is None) == 156


def test_amcache_equals_reglookup():
    expected = {}
    for path, key in reglookup("win10-Amcache.hve", "/Root/InventoryApplicationFile").items():
        if key.text("LowerCaseLongPath"):
            expected[key.text("LowerCaseLongPath")] = key.text("FileId")[4:] if key.text("FileId") else None
    got = {row.values["path"]: row.values.get("sha1") for row in rows_of("win10-Amcache.hve", "registry.amcache")}
    assert got == expected and len(expected) == 30
    legacy = {}
    for path, key in reglookup("Amcache.hve", "/Root/File").items():
        if key.text("15"):
            legacy[(key.text("15"), key.mtime)] = key.text("101")[4:] if key.text("101") else None
    for path, key in reglookup("Amcache.hve", "/Root/InventoryApplicationFile").items():
        if key.text("LowerCaseLongPath"):
            legacy[(key.text("LowerCaseLongPath"), key.mtime)] = key.text("FileId")[4:] if key.text("FileId") else None
    rows = rows_of("Amcache.hve", "registry.amcache")
    assert {(row.values["path"], row.values["first_run"][:19].replace("T", " ")): row.values.get("sha1")
            for row in rows} == legacy
    assert len(rows) == len(legacy) > 1000


def test_bam_equals_reglookup():
    expected = {}
    for path, key in reglookup("SYSTEM_WIN_10_1709", "/ControlSet001/Services/bam").items():
        for program, (kind, raw) in key.values.items():
            if kind == "BINARY" and len(raw) >= 8 and "/UserSettings/" in path:
                where = path.removeprefix("/ControlSet001/Services/").replace("/", "\\")
                expected[(where, path.rsplit("/", 1)[1], program)] = filetime(raw)
    got = {(row.values["key"], row.values["sid"], row.values["path"]): row.values["last_run"]
           for row in rows_of("SYSTEM_WIN_10_1709", "registry.bam")}
    assert got == expected and len(expected) == 55


def test_recentdocs_equal_reglookup_in_mru_order():
    keys = reglookup("NTUSER-WIN7.DAT", f"{EXPLORER}/RecentDocs")
    expected = {}
    for path, key in keys.items():
        order_raw = key.values.get("MRUListEx", ("", b""))[1]
        order = list(struct.unpack(f"<{len(order_raw) // 4}I", order_raw))
        where = "RecentDocs" + path[len(f"{EXPLORER}/RecentDocs"):].replace("/", "\\")
        for name, (kind, raw) in key.values.items():
            if name.isdigit():
                document = raw.decode("utf-16-le", "replace").split("\x00")[0]
                expected[(where, name)] = (document, order.index(int(name)) if int(name) in order else None)
    got = {(row.values["key"], row.values["name"]): (row.values["value"], row.values.get("position"))
           for row in rows_of("NTUSER-WIN7.DAT", "registry.recentdocs")}
    assert got == expected and len(expected) == 38


def test_runmru_typedpaths_typedurls_equal_reglookup():
    runmru = reglookup("NTUSER-WIN7.DAT", f"{EXPLORER}/RunMRU")[f"{EXPLORER}/RunMRU"]
    order = runmru.text("MRUList")
    expected = {(name, runmru.text(name).removesuffix("\\1"), order.index(name)) for name in runmru.values
                if name != "MRUList"}
    assert {(r.values["name"], r.values["value"], r.values["position"])
            for r in rows_of("NTUSER-WIN7.DAT", "registry.runmru")} == expected
    for kind, path in (("registry.typedpaths", f"{EXPLORER}/TypedPaths"),
                       ("registry.typedurls", "/Software/Microsoft/Internet Explorer/TypedURLs")):
        key = reglookup("NTUSER-WIN7.DAT", path)[path]
        expected = {(name, key.text(name), int(name[3:]) - 1) for name in key.values}
        rows = rows_of("NTUSER-WIN7.DAT", kind)
        assert {(r.values["name"], r.values["value"], r.values["position"]) for r in rows} == expected
        assert [r.ts for r in rows if r.values["position"] == 0] == [key.mtime.replace(" ", "T") + r.ts[19:]
                                                                        for r in rows if r.values["position"] == 0]


def test_office_mru_equals_reglookup():
    expected = {}
    for path, key in reglookup("NTUSER-WIN7.DAT", "/Software/Microsoft/Office").items():
        if path.endswith(("/File MRU", "/Place MRU")):
            for name in key.values:
                if name.startswith("Item "):
                    stamp, _, document = key.text(name).partition("*")
                    ticks = int(stamp.split("[T")[1][:16], 16)
                    expected[(name, document)] = filetime(struct.pack("<Q", ticks))
    got = {(row.values["name"], row.values["value"]): row.values["time"]
           for row in rows_of("NTUSER-WIN7.DAT", "registry.officemru")}
    assert got == expected and len(expected) == 7


def test_windows7_64bit_shimcache_layout():
    """A 64-bit Windows 7 buffer made here from the documented layout (no public hive of one is small enough)."""
    paths = ["\\??\\C:\\Windows\\system32\\cmd.exe", "\\??\\C:\\Users\\bob\\AppData\\Local\\Temp\\x.exe"]
    ticks = [129_778_921_000_000_001, 0]
    strings = 128 + 48 * len(paths)
    buffer = bytearray(struct.pack("<II", 0xBADC0FEE, len(paths)) + bytes(120))
    text = b""
    for index, path in enumerate(paths):
        encoded = path.encode("utf-16-le")
        buffer += struct.pack("<HHIQQIIQQ", len(encoded), len(encoded) + 2, 0, strings + len(text), ticks[index],
                              2 if index == 0 else 0, 0, 0, 0)
        text += encoded + b"\x00\x00"
    entries = list(_windows7_entries(bytes(buffer + text)))
    assert entries == [(paths[0], filetime(struct.pack("<Q", ticks[0])), True), (paths[1], None, False)]
