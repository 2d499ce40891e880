"""Files, folders, commands and addresses a user typed or opened, most recent first: RecentDocs (Explorer's recent
items, per extension too), RunMRU (the Run dialog), TypedPaths (Explorer's address bar), TypedURLs (Internet
Explorer's) and the Office MRU lists (each item with the time Office wrote in it).

Each row: value name, value, MRU position (0 = most recent) and the key's last-written time, which is the time of
position 0."""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from typing import Any

from regipy.registry import NKRecord

from ..results import Artefact
from .base import filetime
from .hive_common import Hive, Record, binary, filetime_at, key_time, text, values

_EXPLORER = r"Software\Microsoft\Windows\CurrentVersion\Explorer"
_OFFICE_ITEM = re.compile(r"\[F[0-9A-Fa-f]+\]\[T(?P<time>[0-9A-Fa-f]{16})\](\[O[0-9A-Fa-f]+\])?\*(?P<path>.*)")


def recentdocs(hive: Hive) -> Iterator[Record]:
    """RecentDocs and its per-extension subkeys: each item's name, in MRUListEx order."""
    top = hive.key(f"{_EXPLORER}\\RecentDocs")
    for key in [top, *hive.subkeys(top)] if top is not None else []:
        found = values(key)
        order = _mru_list_ex(binary(found.get("MRUListEx")))
        where = "RecentDocs" if key is top else f"RecentDocs\\{key.name}"
        for name, data in found.items():
            hive.deadline.check()
            if name == "MRUListEx" or not name.isdigit():
                continue
            item = binary(data)
            document = item.decode("utf-16-le", "replace").split("\x00", 1)[0] if item else text(data)
            yield _row("registry.recentdocs", key, where, name, document, order.get(int(name)))


def _mru_list_ex(data: bytes) -> dict[int, int]:
    """MRUListEx: value numbers, most recent first, ended by 0xFFFFFFFF; gives each number its position."""
    order: dict[int, int] = {}
    for position in range(len(data) // 4):
        entry, = struct.unpack_from("<I", data, position * 4)
        if entry == 0xFFFFFFFF:
            break
        order.setdefault(entry, position)
    return order


def runmru(hive: Hive) -> Iterator[Record]:
    """The Run dialog's commands (a, b, c, … in MRUList order); Windows ends each with '\\1'."""
    key = hive.key(f"{_EXPLORER}\\RunMRU")
    found = values(key)
    order = {letter: position for position, letter in enumerate(text(found.get("MRUList")) or "")}
    for name, value in found.items():
        hive.deadline.check()
        if name != "MRUList":
            command = text(value) or ""
            yield _row("registry.runmru", key, "RunMRU", name, command[:-2] if command.endswith("\\1") else command,
                       order.get(name))


def typedpaths(hive: Hive) -> Iterator[Record]:
    """Explorer's address bar history: url1 is the most recent."""
    key = hive.key(f"{_EXPLORER}\\TypedPaths")
    yield from _numbered(hive, key, "registry.typedpaths", "TypedPaths", {})


def typedurls(hive: Hive) -> Iterator[Record]:
    """Internet Explorer's typed addresses: url1 is the most recent; TypedURLsTime (Windows 8 and later) holds the
    time each was typed."""
    key = hive.key(r"Software\Microsoft\Internet Explorer\TypedURLs")
    times = values(hive.key(r"Software\Microsoft\Internet Explorer\TypedURLsTime"))
    yield from _numbered(hive, key, "registry.typedurls", "TypedURLs",
                         {name: filetime_at(binary(value), 0) for name, value in times.items()})


def _numbered(hive: Hive, key: NKRecord | None, kind: str, where: str, times: dict[str, Any]) -> Iterator[Record]:
    for name, value in values(key).items():
        hive.deadline.check()
        match = re.fullmatch(r"url(\d+)", name, re.I)
        if match:
            yield _row(kind, key, where, name, text(value), int(match.group(1)) - 1, times.get(name))


def officemru(hive: Hive) -> Iterator[Record]:
    """Office's File MRU and Place MRU lists, every version and application (and Office 365's per-account User
    MRU): 'Item N' = [F…][T<FILETIME>][O…]*path."""
    office = hive.key(r"Software\Microsoft\Office")
    for version in hive.subkeys(office):
        for application in hive.subkeys(version):
            lists = [application, *[account for user_mru in [hive.subkey(application, "User MRU")]
                                    for account in hive.subkeys(user_mru)]]
            for holder in lists:
                for list_name in ("File MRU", "Place MRU"):
                    key = hive.subkey(holder, list_name)
                    if key is not None:
                        yield from _office_items(hive, key, f"{version.name}\\{application.name}\\{list_name}")


def _office_items(hive: Hive, key: NKRecord, where: str) -> Iterator[Record]:
    for name, value in values(key).items():
        hive.deadline.check()
        match = re.fullmatch(r"Item (\d+)", name)
        if not match:
            continue
        item = text(value) or ""
        parts = _OFFICE_ITEM.fullmatch(item)
        opened = filetime(int(parts["time"], 16)) if parts else None
        yield _row("registry.officemru", key, where, name, parts["path"] if parts else item, int(match.group(1)) - 1,
                   opened)


def _row(kind: str, key: NKRecord | None, where: str, name: str, value: str | None, position: int | None,
         ts: str | None = None) -> Artefact:
    written = key_time(key)
    row = {"name": name, "value": value, "position": position, "key": where, "key_time": written, "time": ts}
    row = {field: item for field, item in row.items() if item is not None}
    moment = ts or (written if position == 0 else None)
    return Artefact(kind, moment, f"{where} #{position if position is not None else '?'}: {value}", row)
