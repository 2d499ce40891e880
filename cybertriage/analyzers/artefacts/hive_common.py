"""What every piece of the registry analyzer shares: a read hive with the parse's time limit, keys looked up by path
(None when absent), a key's values by name, its last-written time, and the current control set of a SYSTEM hive.

regipy reads the hive; the pieces only decide which keys matter and what their values mean to an examiner."""

from __future__ import annotations

import datetime as dt
import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from regipy.exceptions import NoRegistrySubkeysException, RegistryKeyNotFoundException
from regipy.registry import NKRecord, RegistryHive
from regipy.structs import REGF_HEADER_SIZE, VALUE_KEY

from ..base import Finding
from ..results import Artefact
from .base import Deadline, filetime, utc
from .persistence import severity, suspicious_command

Record = Artefact | Finding
MAX_VALUES = 65536  # more values than any key Windows writes holds
_INLINE = 0x80000000  # a value's size with this bit set: its data (up to 4 bytes) is kept in the value record


class _HiveBytes(io.BytesIO):
    """The hive in memory, for regipy: it reads a value's declared size before it looks whether the data is inline,
    and an inline size (2 GiB and more) made it copy the rest of the hive for every small value (20 s for a
    Windows 10 SYSTEM hive's services instead of half a second). The bytes it reads there are never used."""

    def read(self, size: int | None = -1, /) -> bytes:
        return super().read(4 if size is not None and size >= _INLINE else size)


def open_hive(path: str) -> RegistryHive:
    """regipy's hive over the content in memory, its small values read without copying the whole hive."""
    reg = RegistryHive(path)
    reg._stream = _HiveBytes(reg._stream.getbuffer())
    reg.root._stream = reg._stream  # the root key was read before; every other key is reached through it
    return reg


@dataclass
class Hive:
    """One hive as regipy reads it, the kind it was recognised as (SYSTEM, SOFTWARE, NTUSER, …) and the time limit
    every walk checks."""

    reg: RegistryHive
    kind: str
    deadline: Deadline

    def key(self, path: str) -> NKRecord | None:
        """The key at `path` (backslashes, from the hive's root, case-insensitive); None when it is not there."""
        try:
            return self.reg.get_key("\\" + path.strip("\\")) if path.strip("\\") else self.reg.root
        except (RegistryKeyNotFoundException, NoRegistrySubkeysException):
            return None

    def subkeys(self, key: NKRecord | None) -> Iterator[NKRecord]:
        """A key's subkeys, the time limit checked between them."""
        if key is None or not key.subkey_count:
            return
        for subkey in key.iter_subkeys():
            self.deadline.check()
            if isinstance(subkey, NKRecord):
                yield subkey

    def subkey(self, key: NKRecord | None, name: str) -> NKRecord | None:
        if key is None or not key.subkey_count:
            return None
        found: NKRecord | None = key.get_subkey(name, raise_on_missing=False)
        return found

    def control_set(self) -> str | None:
        """The control set Windows booted with (`Select\\Current`), e.g. `ControlSet001`; else the first there is."""
        current = values(self.key("Select")).get("Current")
        if isinstance(current, int) and self.key(f"ControlSet{current:03d}") is not None:
            return f"ControlSet{current:03d}"
        for number in range(1, 10):
            if self.key(f"ControlSet{number:03d}") is not None:
                return f"ControlSet{number:03d}"
        return None


def values(key: NKRecord | None) -> dict[str, Any]:
    """A key's values by name (`(default)` for the unnamed one): text, numbers, lists of text, bytes for binary.
    A damaged value list gives the values read before the damage."""
    found: dict[str, Any] = {}
    if key is None or not key.values_count:
        return found
    if key.values_count > MAX_VALUES:  # a damaged or crafted count: reading it would take hours
        raise ValueError(f"key {key.name!r} claims {key.values_count} values")
    for value in key.iter_values(as_json=False, trim_values=False):
        found[value.name] = value.value
    return found


def default_value_bytes(key: NKRecord | None) -> bytes:
    """A key's unnamed value as stored, unconverted: regipy turns a FILETIME-typed value (a device property's
    time) into a datetime through a float, a microsecond off at times; the bytes keep the exact 100 ns ticks."""
    if key is None or not key.values_count:
        return b""
    stream = key._stream
    stream.seek(REGF_HEADER_SIZE + 4 + key.header.values_list_offset)
    offsets = struct.unpack(f"<{key.values_count}I", stream.read(4 * key.values_count))
    for offset in offsets:
        stream.seek(REGF_HEADER_SIZE + 4 + offset)
        record = VALUE_KEY.parse_stream(stream)
        if record.name_size == 0:
            if record.data_size >= _INLINE:
                return struct.pack("<I", record.data_offset)[:record.data_size - _INLINE]
            stream.seek(REGF_HEADER_SIZE + 4 + record.data_offset)
            return bytes(stream.read(min(record.data_size, 16344)))
    return b""


def key_time(key: NKRecord | None) -> str | None:
    """A key's last-written time, ISO 8601 UTC."""
    return None if key is None else filetime(key.header.last_modified)


def text(value: Any) -> str | None:
    """A value as the text Windows shows: up to the first NUL (a value's buffer may hold leftovers after it), lists
    joined; None for no value."""
    if value is None:
        return None
    if isinstance(value, bytes):  # text regipy could not decode: UTF-16 up to its end
        value = value[:len(value) // 2 * 2].decode("utf-16-le", "replace")
    if isinstance(value, list):
        return "; ".join(str(item) for item in value)
    if isinstance(value, dt.datetime):
        return utc(value)
    return str(value).split("\x00", 1)[0]


def number(value: Any) -> int | None:
    return value if isinstance(value, int) else None


def signed32(value: Any) -> int | None:
    """A DWORD holding a signed number (a time zone's bias in minutes)."""
    return struct.unpack("<i", struct.pack("<I", value & 0xFFFFFFFF))[0] if isinstance(value, int) else None


def binary(value: Any) -> bytes:
    return value if isinstance(value, bytes) else b""


def filetime_at(data: bytes, offset: int) -> str | None:
    """The FILETIME stored at `offset` of a binary value; None when the value is too short or the time is 0."""
    if len(data) < offset + 8:
        return None
    return filetime(struct.unpack_from("<Q", data, offset)[0])


def autostart(kind: str, name: str, command: str | None, key: str, ts: str | None, summary: str,
              extra: dict[str, Any]) -> Iterator[Record]:
    """An autostart entry's artefact, and a finding when its command deserves a look (persistence.py)."""
    yield Artefact(kind, ts, summary, {"name": name, "command": command, "key": key, **extra})
    reasons = suspicious_command(command)
    if reasons:
        yield Finding("registry", "persistence-suspicious", severity(reasons),
                      f"Autostart entry {name}: {'; '.join(reasons)}",
                      {"type": kind, "name": name, "command": command, "reasons": reasons, "key": key})
