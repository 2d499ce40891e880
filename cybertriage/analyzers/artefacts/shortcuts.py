"""Windows shortcuts (LNK) and jump lists: what a user opened, where it was (path, volume serial and label, network
share), the target's own times and size as they were when the shortcut was last updated, and the machine and network
card the target lived on (the distributed link tracker block: its NetBIOS name, and the MAC address inside the
version 1 UUID of its object identifier).

LnkParse3 reads the shortcut; olefile opens an automaticDestinations-ms jump list (an OLE compound file whose
numbered streams are shortcuts and whose DestList stream says when and how often each was used, and whether it is
pinned); a customDestinations-ms jump list is shortcuts one after another, found by their header. A shortcut with
lying offsets keeps what parsed before the lie, and the problem is recorded."""

from __future__ import annotations

import io
import re
import struct
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import LnkParse3
import olefile
from LnkParse3.info.network import Network

from ..base import Finding, Item
from ..results import Artefact
from .base import ArtefactParser, Deadline, content_bytes, filetime

SHORTCUT_SIZE_LIMIT = 1024 * 1024  # a shortcut is a few kilobytes: of a larger file only its first mebibyte is read
JUMP_LIST_SIZE_LIMIT = 64 * 1024 * 1024
LNK_HEADER = b"\x4c\x00\x00\x00" + uuid.UUID("00021401-0000-0000-c000-000000000046").bytes_le
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_TIMES = struct.Struct("<QQQ")  # ShellLinkHeader (MS-SHLLINK 2.1): creation, access, write FILETIMEs at offset 28
# LnkParse3 warns of each string it cannot decode; the string is kept with U+FFFD where it failed, which says it.
warnings.filterwarnings("ignore", category=UserWarning, module="LnkParse3")
_APP_ID = re.compile(r"^([0-9a-f]{16})\.(automatic|custom)destinations-ms$", re.I)


class Shortcut(ArtefactParser):
    """One `lnk` record per shortcut file; ts = the target's modified time as the shortcut recorded it (the
    shortcut file's own times are already on the timeline as the file's)."""

    NAME: ClassVar[str] = "lnk"
    NEEDS_PATH: ClassVar[bool] = False

    def recognise(self, item: Item) -> bool:
        """The shortcut header: its size (0x4C) and the shell link CLSID, whatever the file's name (a shortcut
        renamed, or carried inside something else, is still one)."""
        return item.head.startswith(LNK_HEADER)

    def parse(self, item: Item, path: Path | None, deadline: Deadline) -> Iterator[Artefact | Finding]:
        data = item.head[:SHORTCUT_SIZE_LIMIT] if item.obj.size > SHORTCUT_SIZE_LIMIT else content_bytes(item)
        values, problem = shortcut_values(data)
        if item.obj.size > SHORTCUT_SIZE_LIMIT:
            cut = f"only the first {SHORTCUT_SIZE_LIMIT} of {item.obj.size} bytes read"
            problem = f"{cut}; {problem}" if problem else cut
        if problem:
            item.skipped.append((self.NAME, f"shortcut partly read: {problem}"))
        yield Artefact("lnk", values.get("target_modified"), _summary("Shortcut to", values), values)


class JumpList(ArtefactParser):
    """One `jumplist` record per entry of an automatic or custom destinations jump list: the shortcut's fields,
    the application id (the file name), and for automatic ones the DestList entry (ts = when it was last used)."""

    NAME: ClassVar[str] = "jumplist"
    NEEDS_PATH: ClassVar[bool] = False

    def recognise(self, item: Item) -> bool:
        name = item.obj.name.lower()
        if name.endswith(".automaticdestinations-ms"):
            return item.head.startswith(_OLE)
        return name.endswith(".customdestinations-ms") and item.head[:4] == b"\x02\x00\x00\x00"  # format version 2

    def parse(self, item: Item, path: Path | None, deadline: Deadline) -> Iterator[Artefact | Finding]:
        if item.obj.size > JUMP_LIST_SIZE_LIMIT:
            raise ValueError(f"{item.obj.size} bytes, far more than a jump list holds")
        data = content_bytes(item)
        match = _APP_ID.match(item.obj.name)
        app_id = match[1].lower() if match else None
        if item.obj.name.lower().endswith(".automaticdestinations-ms"):
            entries = _automatic(data, item, deadline)
        else:
            entries = _custom(data, item, deadline)
        for values in entries:
            values = {"app_id": app_id, **values}
            if values.get("last_used"):
                values["ts_is"] = "when the application last used the entry (DestList)"
            yield Artefact("jumplist", values.get("last_used") or values.get("target_modified"),
                           _summary(f"Jump list {app_id or '?'}:", values), values)


def shortcut_values(data: bytes) -> tuple[dict[str, Any], str | None]:
    """A shortcut's fields, and what stopped its reading or does not hold together (None when all was read)."""
    lnk = LnkParse3.lnk_file.__new__(LnkParse3.lnk_file)  # parsed step by step so that a lie keeps what came before
    lnk.indata, lnk.cp, lnk.allow_terminal_blocks = data, None, True
    problems = []
    try:
        lnk.process()
    except Exception as error:  # offsets or sizes that point outside the shortcut
        problems.append(f"{type(error).__name__}: {error}")
    values: dict[str, Any] = {"ts_is": "the target's modified time"}
    for step in (_header, _link_info, _strings, _tracker):
        try:
            values.update(step(lnk, data, problems))
        except Exception as error:  # a section whose fields lie; the others are kept
            problems.append(f"{step.__name__.strip('_')}: {type(error).__name__}: {error}")
    values["target_path"] = values.get("local_path") or values.get("network_path")
    return values, "; ".join(problems) or None


def _header(lnk: Any, data: bytes, problems: list[str]) -> dict[str, Any]:
    created, accessed, modified = _TIMES.unpack_from(data, 28)
    header = lnk.header
    return {"target_created": filetime(created), "target_accessed": filetime(accessed),
            "target_modified": filetime(modified), "target_size": header.file_size(),
            "target_attributes": header.r_file_flags(), "target_attribute_names": header.file_flags()}


def _link_info(lnk: Any, data: bytes, problems: list[str]) -> dict[str, Any]:
    info = getattr(lnk, "info", None)
    if info is None:
        if "HasLinkInfo" in lnk.header.link_flags() and "ForceNoLinkInfo" not in lnk.header.link_flags():
            problems.append("the link information is flagged but unreadable")
        return {}
    size = info.size()
    offsets = {"volume": info.volume_id_offset(), "local path": info.local_base_path_offset(),
               "network link": info.common_network_relative_link_offset(),
               "path suffix": info.common_path_suffix_offset()}
    lying = [name for name, offset in offsets.items() if offset and not 0 < offset < size]
    if lying:  # LnkParse3 reads past the structure without complaint; say so, and keep the fields that hold
        problems.append(f"link information offsets point past its {size} bytes: {', '.join(lying)}")
    # The ANSI suffix: LnkParse3 1.x reads the Unicode one 4 bytes past its offset.
    suffix = None if "path suffix" in lying else _text(info.common_path_suffix() if offsets["path suffix"] else None)
    values: dict[str, Any] = {}
    if info.flags() & 2 and "network link" not in lying:  # CommonNetworkRelativeLink: the target on a share
        # LnkParse3 reads one location per shortcut, the local one when there are both: the network one is read
        # from the same link information bytes.
        network = info if type(info).__name__ == "Network" else Network(indata=info._raw, cp=None)
        share = _text(network.net_name_unicode() if network.net_name_offset_unicode() else network.net_name())
        values.update({"network_share": share, "network_device": _text(network.device_name()),
                       "network_path": "\\".join(part for part in (share, suffix) if part) or None})
    if info.flags() & 1:  # VolumeIDAndLocalBasePath: the target on a local volume
        if "local path" not in lying:
            base = _text(info.local_base_path_unicode() if info.local_base_path_offset_unicode()
                         else info.local_base_path() if offsets["local path"] else None)
            values["local_path"] = (base or "") + (suffix or "") or None
        if "volume" not in lying:
            label = _text(info.volume_label_unicode() if info.volume_label_unicode_offset() else info.volume_label())
            values.update({"drive_type": info.r_drive_type(), "drive_type_name": info.drive_type(),
                           "volume_serial": f"0x{int(info.drive_serial_number(), 16):08x}", "volume_label": label})
    return values


_STRING_FLAGS = {"HasName": "description", "HasRelativePath": "relative_path", "HasWorkingDir": "working_directory",
                 "HasArguments": "arguments", "HasIconLocation": "icon_location"}


def _strings(lnk: Any, data: bytes, problems: list[str]) -> dict[str, Any]:
    strings = getattr(lnk, "string_data", None)
    if strings is None:
        return {}
    values: dict[str, Any] = {"description": strings.description(), "relative_path": strings.relative_path(),
              "working_directory": strings.working_directory(), "arguments": strings.command_line_arguments(),
              "icon_location": strings.icon_location()}
    flags = lnk.header.link_flags()
    unread = [name for flag, name in _STRING_FLAGS.items() if flag in flags and values[name] is None]
    if unread:  # LnkParse3 stops at a string that runs past the end, with a warning only
        problems.append(f"strings flagged but unreadable: {', '.join(unread)}")
    blocks = _blocks(lnk)
    # The icon location block holds the path as written, environment variables unexpanded (what lnkinfo shows).
    icon = blocks.get("ICON_LOCATION_BLOCK", {})
    values["icon_location"] = _text(icon.get("target_unicode") or icon.get("target_ansi")) or values["icon_location"]
    environment = blocks.get("ENVIRONMENTAL_VARIABLES_LOCATION_BLOCK", {})
    values["environment_location"] = _text(environment.get("target_unicode") or environment.get("target_ansi"))
    return {key: _text(value) for key, value in values.items()}


def _tracker(lnk: Any, data: bytes, problems: list[str]) -> dict[str, Any]:
    tracker = _blocks(lnk).get("DISTRIBUTED_LINK_TRACKER_BLOCK")
    if not tracker:
        return {}
    return tracker_values(tracker["machine_identifier"], tracker["droid_volume_identifier"],
                          tracker["droid_file_identifier"], tracker["birth_droid_volume_identifier"],
                          tracker["birth_droid_file_identifier"])


def tracker_values(machine: str | None, volume: str, file: str, birth_volume: str,
                   birth_file: str) -> dict[str, Any]:
    """The distributed link tracker's identifiers; the MAC address and time come from the file identifier when
    it is a version 1 UUID (time-based, with the card's address as its node)."""
    droid = uuid.UUID(file)
    values: dict[str, Any] = {"machine_id": _text(machine) or None, "droid_volume_id": str(uuid.UUID(volume)),
                              "droid_file_id": str(droid), "birth_droid_volume_id": str(uuid.UUID(birth_volume)),
                              "birth_droid_file_id": str(uuid.UUID(birth_file))}
    if droid.version == 1:
        values["mac_address"] = ":".join(f"{byte:02x}" for byte in droid.node.to_bytes(6, "big"))
        # UUID time: 100 ns ticks since 1582-10-15; FILETIME counts from 1601-01-01.
        values["droid_created"] = filetime(droid.time - 5748192000000000)
    return values


def _blocks(lnk: Any) -> dict[str, Any]:
    extras = getattr(lnk, "extras", None)
    return extras.as_dict() if extras is not None else {}


def _text(value: Any) -> Any:
    """A string as the examiner reads it: NUL padding gone; non-strings as they are."""
    return value.rstrip("\x00") if isinstance(value, str) else value


def _summary(prefix: str, values: dict[str, Any]) -> str:
    target = (values.get("target_path") or values.get("path") or values.get("relative_path")
              or values.get("description") or "an unnamed target")
    arguments = f" {values['arguments']}" if values.get("arguments") else ""
    return f"{prefix} {target}{arguments}"


def _automatic(data: bytes, item: Item, deadline: Deadline) -> Iterator[dict[str, Any]]:
    """Each DestList entry with the shortcut of its numbered stream (the entry number in hexadecimal), then any
    shortcut stream no entry names."""
    try:
        ole = olefile.OleFileIO(io.BytesIO(data), raise_defects=olefile.DEFECT_INCORRECT)
    except OSError as error:  # olefile's OleFileError (not exported): damaged; its lenient reading gets what is left
        item.skipped.append((JumpList.NAME, f"damaged OLE file ({error}); the streams still readable were read"))
        ole = olefile.OleFileIO(io.BytesIO(data))
    with ole:
        streams = {entry[0].lower(): entry[0] for entry in ole.listdir(streams=True, storages=False)
                   if len(entry) == 1}
        entries: list[dict[str, Any]] = []
        if "destlist" in streams:
            try:
                entries.extend(destlist(ole.openstream(streams["destlist"]).read()))
            except (struct.error, ValueError) as error:
                item.skipped.append((JumpList.NAME, f"DestList read to entry {len(entries)}: {error}"))
        named = set()
        for entry in entries:
            deadline.check()
            stream = f"{entry['entry_number']:x}"
            named.add(stream)
            if stream not in streams:
                item.skipped.append((JumpList.NAME, f"DestList entry {entry['entry_number']} has no stream"))
            yield {**entry, **_stream_shortcut(ole, streams.get(stream), item)}
        for stream in sorted(set(streams) - named - {"destlist"}, key=lambda name: (len(name), name)):
            deadline.check()
            yield {"stream": stream, **_stream_shortcut(ole, streams[stream], item)}


def _stream_shortcut(ole: Any, stream: str | None, item: Item) -> dict[str, Any]:
    if stream is None:
        return {}
    values, problem = shortcut_values(ole.openstream(stream).read())
    if problem:
        item.skipped.append((JumpList.NAME, f"stream {stream} partly read: {problem}"))
    return {"stream": stream, **values}


_DESTLIST_HEADER = struct.Struct("<IIIfIIII")
_DESTLIST_ENTRY = struct.Struct("<Q16s16s16s16s16sIIfQi")  # the fields every version shares, 112 bytes


def destlist(stream: bytes) -> Iterator[dict[str, Any]]:
    """The DestList stream (libyal dtformats, 'Jump lists format', DestList stream).

    Header, 32 bytes: format version (1 Windows 7/8, 3 and 4 Windows 10), number of entries, number of pinned
    entries, a float, last entry number, 0, last revision number, 0. Each entry: 8 unknown bytes; droid volume,
    droid file, birth droid volume and birth droid file identifiers (16-byte GUIDs); the NetBIOS host name (16
    ASCII bytes, NUL padded); entry number (uint32); 4 unknown; a float; last used time (FILETIME); pin status
    (int32, -1 unpinned, else the pin's position). Version 1 then has the path size (uint16, characters) and the
    path (UTF-16LE, no terminator). Version 2 and later add, before the path size, an unknown uint32, the access
    count (uint32) and 8 unknown bytes; after the path, 4 bytes of padding."""
    if len(stream) < _DESTLIST_HEADER.size:
        return
    version, count = _DESTLIST_HEADER.unpack_from(stream)[:2]
    offset = _DESTLIST_HEADER.size
    for _ in range(count):
        (_, volume, file, birth_volume, birth_file, host, number, _, _, used,
         pin) = _DESTLIST_ENTRY.unpack_from(stream, offset)
        entry: dict[str, Any] = {"destlist_version": version, "entry_number": number, "last_used": filetime(used),
                                 "pinned": pin >= 0, "pin_position": pin if pin >= 0 else None,
                                 "hostname": host.split(b"\0", 1)[0].decode("ascii", "replace") or None}
        at = offset + _DESTLIST_ENTRY.size
        if version >= 2:
            entry["access_count"] = struct.unpack_from("<I", stream, at + 4)[0]
            at += 16
        (size,) = struct.unpack_from("<H", stream, at)
        raw = stream[at + 2:at + 2 + size * 2]
        if len(raw) < size * 2:
            raise ValueError(f"DestList entry {number} ends past the stream ({len(stream)} bytes)")
        entry["path"] = raw.decode("utf-16-le", "surrogatepass").encode("utf-8", "replace").decode("utf-8")
        ids = [str(uuid.UUID(bytes_le=raw_id)) for raw_id in (volume, file, birth_volume, birth_file)]
        entry.update({"destlist_" + key: value for key, value in tracker_values(None, *ids).items()
                      if key != "machine_id"})
        offset = at + 2 + size * 2 + (4 if version >= 2 else 0)
        yield entry


def _custom(data: bytes, item: Item, deadline: Deadline) -> Iterator[dict[str, Any]]:
    """Each shortcut of a customDestinations-ms file, from its header to the next one's."""
    starts = [match.start() for match in re.finditer(re.escape(LNK_HEADER), data)]
    for index, start in enumerate(starts):
        deadline.check()
        end = starts[index + 1] if index + 1 < len(starts) else len(data)
        values, problem = shortcut_values(data[start:end])
        if problem:
            item.skipped.append((JumpList.NAME, f"shortcut at offset {start} partly read: {problem}"))
        yield {"offset": start, **values}
