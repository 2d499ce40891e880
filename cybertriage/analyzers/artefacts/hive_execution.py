"""Programs that ran, as the registry remembers them: UserAssist (what a user started from Explorer, ROT13-hidden,
with a run count and last run), ShimCache / AppCompatCache (executables Windows checked for compatibility, with
their modification time), Amcache (programs with their SHA-1 and first run) and BAM/DAM (each user's programs and
their last run, Windows 10 1709 and later).

Every row has `path`: the program as recorded, which the correlation pass matches to files on the disk."""

from __future__ import annotations

import codecs
import re
import struct
from collections.abc import Iterator
from typing import Any

from regipy.plugins.system.external.ShimCacheParser import get_shimcache_entries

from ..results import Artefact
from .base import utc
from .hive_common import Hive, Record, binary, filetime_at, key_time, number, text, values

_USERASSIST = r"Software\Microsoft\Windows\CurrentVersion\Explorer\UserAssist"
# Known-folder GUIDs that UserAssist names start with (Microsoft's KNOWNFOLDERID list).
KNOWN_FOLDERS = {
    "{1AC14E77-02E7-4E5D-B744-2EB1AE5198B7}": "C:\\Windows\\System32",
    "{D65231B0-B2F1-4857-A4CE-A8E7C6EA7D27}": "C:\\Windows\\SysWOW64",
    "{F38BF404-1D43-42F2-9305-67DE0B28FC23}": "C:\\Windows",
    "{6D809377-6AF0-444B-8957-A3773F02200E}": "C:\\Program Files",
    "{7C5A40EF-A0FB-4BFC-874A-C0F2E0B9FA8E}": "C:\\Program Files (x86)",
    "{905E63B6-C1BF-494E-B29C-65B732D3D21A}": "C:\\Program Files",
    "{0139D44E-6AFE-49F2-8690-3DAFCAE6FFB8}": "%ProgramData%\\Microsoft\\Windows\\Start Menu\\Programs",
    "{A77F5D77-2E2B-44C3-A6A2-ABA601054A51}": "%AppData%\\Microsoft\\Windows\\Start Menu\\Programs",
    "{9E3995AB-1F9C-4F13-B827-48B24B6C7174}": "%AppData%\\Microsoft\\Internet Explorer\\Quick Launch\\User Pinned",
    "{B4BFCC3A-DB2C-424C-B029-7FE99A87C641}": "%UserProfile%\\Desktop",
    "{FDD39AD0-238F-46AF-ADB4-6C85480369C7}": "%UserProfile%\\Documents",
    "{374DE290-123F-4565-9164-39C4925E467B}": "%UserProfile%\\Downloads",
    "{62AB5D82-FDC1-4DC3-A9DD-070D1D495D97}": "C:\\ProgramData",
}
_WINDOWS7_MAGIC = 0xBADC0FEE
_GUID_PREFIX = re.compile(r"^\{[0-9A-Fa-f-]{36}\}")


def userassist(hive: Hive) -> Iterator[Record]:
    """Each UserAssist entry: the ROT13-decoded name, run count, focus count and time, last run. Windows 7 and later
    write 72-byte records; XP and Vista 16-byte ones whose count starts at 5."""
    for guid in hive.subkeys(hive.key(_USERASSIST)):
        count = hive.subkey(guid, "Count")
        for encoded, data in values(count).items():
            hive.deadline.check()
            name = codecs.decode(encoded, "rot13")
            raw = binary(data)
            if name.startswith("UEME_CTL") or len(raw) < 16:
                continue  # the session counters, not a program
            row: dict[str, Any] = {"name": name, "path": _resolve(name), "guid": guid.name}
            if len(raw) >= 68:
                row.update(run_count=struct.unpack_from("<I", raw, 4)[0], focus_count=struct.unpack_from("<I", raw, 8)[0],
                           focus_time_ms=struct.unpack_from("<I", raw, 12)[0], last_run=filetime_at(raw, 60))
            else:
                run_count = struct.unpack_from("<I", raw, 4)[0]
                row.update(run_count=run_count - 5 if run_count >= 5 else run_count, last_run=filetime_at(raw, 8))
            row = {field: value for field, value in row.items() if value is not None}
            yield Artefact("registry.userassist", row.get("last_run") or key_time(count),
                           f"UserAssist: {row['path']} run {row['run_count']} times, last {row.get('last_run', 'never')}",
                           row)


def _resolve(name: str) -> str:
    """The program's path: a known-folder GUID replaced by its folder, XP's UEME_RUNPATH: prefix removed."""
    if name.startswith("UEME_") and ":" in name:
        name = name.split(":", 1)[1]
    match = _GUID_PREFIX.match(name)
    if match and match.group(0).upper() in KNOWN_FOLDERS:
        return KNOWN_FOLDERS[match.group(0).upper()] + name[match.end():]
    return name


def shimcache(hive: Hive) -> Iterator[Record]:
    """The current control set's AppCompatCache, in its order (position 0 = most recent): each executable's path
    and last-modified time. Windows 7 and Windows 10/11 entries are read here (libyal's documented layouts): regipy's
    ShimCacheParser (after Mandiant's) skips Windows 10 entries without a time (packaged apps), shifting every
    position after them, and turns FILETIMEs into times through a float (a microsecond off at times); it reads the
    rarer XP, 2003/Vista and 8.x formats."""
    control_set = hive.control_set()
    if control_set is None:
        return
    session = f"{control_set}\\Control\\Session Manager"
    data = values(hive.key(f"{session}\\AppCompatCache")).get("AppCompatCache") \
        or values(hive.key(f"{session}\\AppCompatibility")).get("AppCompatCache")
    if not isinstance(data, bytes) or len(data) < 0x38:
        return
    header, = struct.unpack_from("<I", data, 0)
    entries: Iterator[tuple[str | None, str | None, bool | None]]
    if header in (0x30, 0x34) and data[header:header + 4] == b"10ts":
        entries = _windows10_entries(data, header)
    elif header == _WINDOWS7_MAGIC and len(data) >= 136:
        entries = _windows7_entries(data)
    else:
        entries = ((entry.get("path"), utc(entry.get("last_mod_date")),
                    {"True": True, "False": False}.get(str(entry.get("exec_flag"))))
                   for entry in get_shimcache_entries(data) or ())
    for position, (path, modified, executed) in enumerate(entries):
        hive.deadline.check()
        row = {"path": path, "last_modified": modified, "position": position, "executed": executed}
        row = {field: value for field, value in row.items() if value is not None}
        yield Artefact("registry.shimcache", modified, f"ShimCache #{position}: {path}", row)


def _windows7_entries(data: bytes) -> Iterator[tuple[str | None, str | None, bool | None]]:
    """A 128-byte header holding the entry count at 4, then 32-byte (32-bit Windows) or 48-byte (64-bit) entries:
    path length, maximum length, path offset, FILETIME, insertion flags (2: the program ran), shim flags, data."""
    count, = struct.unpack_from("<I", data, 4)
    length, maximum, after = struct.unpack_from("<HHI", data, 128)
    wide = maximum - length == 2 and after == 0  # 64-bit: the path offset is 8 bytes, aligned after 4 of padding
    size, time_at = (48, 16) if wide else (32, 8)
    for index in range(min(count, (len(data) - 128) // size)):
        entry = 128 + index * size
        length, = struct.unpack_from("<H", data, entry)
        offset = struct.unpack_from("<Q" if wide else "<I", data, entry + (8 if wide else 4))[0]
        flags, = struct.unpack_from("<I", data, entry + time_at + 8)
        path = data[offset:offset + length].decode("utf-16-le", "replace")
        yield path, filetime_at(data, entry + time_at), bool(flags & 2)


def _windows10_entries(data: bytes, offset: int) -> Iterator[tuple[str | None, str | None, bool | None]]:
    """'10ts', checksum, entry size; then path size, UTF-16 path, FILETIME, data size, data."""
    while offset + 14 <= len(data) and data[offset:offset + 4] == b"10ts":
        size, path_size = struct.unpack_from("<IH", data, offset + 8)
        path = data[offset + 14:offset + 14 + path_size].decode("utf-16-le", "replace")
        yield path, filetime_at(data, offset + 14 + path_size), None
        offset += 12 + size


def amcache(hive: Hive) -> Iterator[Record]:
    """Amcache.hve's programs: Windows 10's InventoryApplicationFile and Windows 8's File entries (path, SHA-1 with
    its 0000 prefix removed, size, publisher, product; the key's time is when Windows first recorded it)."""
    for key in hive.subkeys(hive.key(r"Root\InventoryApplicationFile")):
        found = values(key)
        path = text(found.get("LowerCaseLongPath"))
        if path:
            yield _amcache_row(key, path, found.get("FileId"), found.get("Size"), found.get("Publisher"),
                               found.get("ProductName"), found.get("Name"))
    for volume in hive.subkeys(hive.key(r"Root\File")):
        for key in hive.subkeys(volume):
            found = values(key)
            path = text(found.get("15"))
            if path:
                yield _amcache_row(key, path, found.get("101"), found.get("6"), found.get("1"), found.get("0"),
                                   None, modified=filetime_at(struct.pack("<Q", found["17"]), 0)
                                   if isinstance(found.get("17"), int) else None)


def _amcache_row(key: Any, path: str, file_id: Any, size: Any, publisher: Any, product: Any, name: Any,
                 modified: str | None = None) -> Artefact:
    sha1 = (text(file_id) or "").lower()
    sha1 = sha1[4:] if len(sha1) == 44 and sha1.startswith("0000") else sha1
    first_run = key_time(key)
    row = {"path": path, "sha1": sha1 or None, "size": number(size), "publisher": text(publisher),
           "product": text(product), "name": text(name), "first_run": first_run, "last_modified": modified}
    row = {field: value for field, value in row.items() if value not in (None, "")}
    return Artefact("registry.amcache", first_run, f"Amcache: {path}" + (f" sha1 {sha1}" if sha1 else ""), row)


def bam(hive: Hive) -> Iterator[Record]:
    """BAM and DAM (Background / Desktop Activity Moderator): per user SID, each program and when it last ran."""
    control_set = hive.control_set()
    if control_set is None:
        return
    for service in ("bam", "dam"):
        for settings in (f"{service}\\UserSettings", f"{service}\\State\\UserSettings"):
            for user in hive.subkeys(hive.key(f"{control_set}\\Services\\{settings}")):
                for path, data in values(user).items():
                    hive.deadline.check()
                    raw = binary(data)
                    if len(raw) < 8:
                        continue  # Version, SequenceNumber
                    last_run = filetime_at(raw, 0)
                    yield Artefact("registry.bam", last_run, f"{service.upper()}: {path} last ran {last_run} "
                                   f"(user {user.name})", {"sid": user.name, "path": path, "last_run": last_run,
                                                            "source": service.upper(), "key": f"{settings}\\{user.name}"})
