"""The Recycle Bin: what a user deleted, from where, how big it was and when. Windows Vista and later keep one `$I`
file per deleted file (its content is the sibling `$R` file of the same suffix, in `$Recycle.Bin\\<SID>\\`);
Windows 2000 to XP keep one `INFO2` file of records in `RECYCLER\\<SID>\\` (the content is `D<drive><index><ext>`).

No maintained library reads these; the layouts, from libyal dtformats ('Windows Recycle.Bin file formats' and
'Windows Recycler file formats', as plaso's recycler parser reads them), are short enough for `struct`:

`$I` (little-endian): version (uint64: 1 Vista to 8.1, 2 Windows 10 and later), original file size (uint64),
deletion time (FILETIME); version 1 then holds the original path as 260 UTF-16LE characters, NUL-terminated;
version 2 holds the number of characters of the path (uint32, NUL included) and the path (UTF-16LE).

`INFO2`: a 20-byte header (unknown, number of entries, previous number, entry size: 280 on Windows Me, 800 on 2000
and later; unknown), then entries of that size: the original path (260 bytes, ANSI, NUL-terminated, remnants after
the NUL), the entry's index (uint32), the drive number (uint32, 0 = A:), the deletion time (FILETIME), the size
(uint32, seen rounded up to the cluster: dtformats calls it 'original file size?'), and in 800-byte entries the
original path again as 260 UTF-16LE characters."""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from ..base import Finding, Item
from ..results import Artefact
from .base import ArtefactParser, Deadline, content_bytes, filetime

_I_HEADER = struct.Struct("<QQQ")  # version, original size, deletion time
_INFO2_HEADER = struct.Struct("<IIIII")
_INFO2_ENTRY = struct.Struct("<260sIIQI")  # ANSI path, index, drive number, deletion time, size
_I_NAME = re.compile(r"\$I[^\\/]*", re.I)
_PATH_CHARACTERS = 260
I_SIZE_LIMIT = 128 * 1024  # a $I file holds one path of at most 32,767 characters
INFO2_SIZE_LIMIT = 64 * 1024 * 1024


class RecycleBin(ArtefactParser):
    """One `recycle` record per deleted file (ts = its deletion time)."""

    NAME: ClassVar[str] = "recycle"
    NEEDS_PATH: ClassVar[bool] = False

    def recognise(self, item: Item) -> bool:
        head, name = item.head, item.obj.name
        if _I_NAME.fullmatch(name):
            return len(head) >= _I_HEADER.size + 2 and int.from_bytes(head[:8], "little") in (1, 2)
        return name.upper() == "INFO2" and len(head) >= 20 and int.from_bytes(head[12:16], "little") in (280, 800)

    def parse(self, item: Item, path: Path | None, deadline: Deadline) -> Iterator[Artefact | Finding]:
        info2 = item.obj.name.upper() == "INFO2"
        if item.obj.size > (INFO2_SIZE_LIMIT if info2 else I_SIZE_LIMIT):
            raise ValueError(f"{item.obj.size} bytes, far more than a Recycle Bin record file holds")
        data = content_bytes(item)
        if info2:
            yield from _info2(data, item.obj.path, deadline)
        else:
            yield _i_file(data, item.obj.path)


def _i_file(data: bytes, where: str) -> Artefact:
    version, size, deleted = _I_HEADER.unpack_from(data)
    if version == 1:
        raw = data[24:24 + _PATH_CHARACTERS * 2]
    else:
        (characters,) = struct.unpack_from("<I", data, 24)
        raw = data[28:28 + characters * 2]
        if len(raw) < characters * 2:
            raise ValueError(f"the path of {characters} characters runs past the file's {len(data)} bytes")
    original = _utf16(raw)
    folder = PurePosixPath(where).parent
    name = PurePosixPath(where).name
    values: dict[str, Any] = {"format_version": version, "original_path": original, "original_size": size,
                              "deleted": filetime(deleted), "data_file": str(folder / ("$R" + name[2:]))}
    return Artefact("recycle", values["deleted"], f"Deleted {original} ({size} bytes)", values)


def _info2(data: bytes, where: str, deadline: Deadline) -> Iterator[Artefact]:
    _, _, _, entry_size, _ = _INFO2_HEADER.unpack_from(data)
    if entry_size not in (280, 800):
        raise ValueError(f"INFO2 entry size {entry_size}, not 280 or 800")
    folder = PurePosixPath(where).parent
    for offset in range(_INFO2_HEADER.size, len(data) - entry_size + 1, entry_size):
        deadline.check()
        ansi, index, drive, deleted, size = _INFO2_ENTRY.unpack_from(data, offset)
        ansi_path = ansi.split(b"\0", 1)[0].decode("cp1252", "replace")
        unicode_path = _utf16(data[offset + 280:offset + 800]) if entry_size == 800 else None
        original = unicode_path or ansi_path
        letter = chr(ord("a") + drive) if drive < 26 else None
        extension = PurePosixPath(original.replace("\\", "/")).suffix
        values: dict[str, Any] = {
            "index": index, "drive_number": drive, "original_path": original, "original_path_ansi": ansi_path,
            "original_path_unicode": unicode_path, "size": size, "deleted": filetime(deleted),
            "data_file": str(folder / f"D{letter}{index}{extension}") if letter else None}
        yield Artefact("recycle", values["deleted"], f"Deleted {original} (record {index})", values)
    if (len(data) - _INFO2_HEADER.size) % entry_size:
        raise ValueError(f"INFO2 ends inside an entry ({len(data)} bytes, entries of {entry_size})")


def _utf16(raw: bytes) -> str:
    """A NUL-terminated UTF-16LE string; what follows the NUL is remnant data."""
    text = raw.decode("utf-16-le", "replace")
    return text.split("\0", 1)[0]
