"""What the registry tests share: the committed hives decompressed once, the analyzer run on one, and `reglookup`
(Debian's reglookup 1.0.1, libregfi: not regipy, the library the code under test uses) read into keys and raw
values, which the tests decode themselves (FILETIMEs, DWORDs, UTF-16 text, ROT13)."""

from __future__ import annotations

import atexit
import datetime as dt
import functools
import lzma
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, unquote_to_bytes

from cybertriage.analyzers.artefacts.hives import RegistryHives
from cybertriage.analyzers.base import Finding, Item, Settings
from cybertriage.analyzers.results import Artefact
from cybertriage.evidence.base import BytesContent, EvidenceObject

DATA = Path(__file__).resolve().parents[2] / "data" / "artefacts" / "registry"
HIVES = ["SYSTEM", "SYSTEM_WIN_10_1709", "SAM", "NTUSER-WIN7.DAT", "NTUSER.DAT", "Amcache.hve", "win10-Amcache.hve",
         "UsrClass.dat", "SOFTWARE-made"]


@functools.cache
def hive_folder() -> Path:
    """The hives under their own names in one temporary folder (removed when the test process ends)."""
    folder = Path(tempfile.mkdtemp(prefix="cybertriage-hives-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    for name in HIVES:
        packed = DATA / f"{name}.xz"
        if packed.exists():
            (folder / name).write_bytes(lzma.decompress(packed.read_bytes()))
        else:
            shutil.copy(DATA / name, folder / name)
    return folder


def hive(name: str) -> Path:
    return hive_folder() / name


def item_of(name: str, data: bytes) -> Item:
    obj = EvidenceObject(path=f"/Windows/System32/config/{name}", name=name, size=len(data), content=BytesContent(data))
    return Item(obj, head=data[:1024 * 1024], data=data, content_read=True)


def run(name: str, data: bytes, time_limit: float | None = None) -> tuple[list[Artefact], list[Finding], Item]:
    item = item_of(name, data)
    parser = RegistryHives(Settings())
    if time_limit is not None:
        parser.time_limit = time_limit
    records = list(parser.analyze(item))
    return ([r for r in records if isinstance(r, Artefact)], [r for r in records if isinstance(r, Finding)], item)


@functools.cache
def parsed(name: str) -> tuple[list[Artefact], list[Finding], list[tuple[str, str]]]:
    """The analyzer's rows and findings for a committed hive, and the problems it recorded."""
    rows, findings, item = run(name, hive(name).read_bytes())
    return rows, findings, item.skipped


def rows_of(name: str, kind: str) -> list[Artefact]:
    return [row for row in parsed(name)[0] if row.type == kind]


@dataclass
class Key:
    mtime: str  # reglookup's 'YYYY-MM-DD HH:MM:SS', UTC
    values: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # name ('' = default) -> (type, raw bytes)
    subkeys: list[str] = field(default_factory=list)

    def text(self, name: str) -> str | None:
        found = self.values.get(name)
        return found[1].decode("utf-8") if found else None

    def dword(self, name: str) -> int | None:
        found = self.values.get(name)
        return int(found[1].decode(), 16) if found else None


@functools.cache
def reglookup(name: str, prefix: str) -> dict[str, Key]:
    """Every key below `prefix` (reglookup's '/'-separated path, as given, e.g. '/ControlSet001/Enum/USBSTOR'),
    with its values as reglookup quotes them (percent-escaped raw bytes, text converted to UTF-8)."""
    output = subprocess.run(["reglookup", "-H", "-p", prefix, str(hive(name))], capture_output=True,
                            check=True).stdout
    keys: dict[str, Key] = {}
    for line in output.decode("ascii", "replace").splitlines():
        path, kind, value, mtime = line.split(",")[:4]
        if kind == "KEY":
            keys[unquote(path)] = Key(mtime)
            parent, _, child = unquote(path).rpartition("/")
            if parent in keys:
                keys[parent].subkeys.append(child)
        else:
            key, _, value_name = path.rpartition("/")
            keys[unquote(key)].values[unquote(value_name)] = (kind, unquote_to_bytes(value))
    return keys


def iso(moment: dt.datetime) -> str:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{moment.microsecond:06d}".rstrip("0") if moment.microsecond else "") + "Z"


def filetime(raw: bytes, offset: int = 0) -> str | None:
    """A FILETIME in raw bytes as ISO 8601 UTC (None for 0), to the microsecond (100 ns ticks truncated)."""
    ticks, = struct.unpack_from("<Q", raw, offset)
    return iso(dt.datetime(1601, 1, 1) + dt.timedelta(microseconds=ticks // 10)) if ticks else None


def key_seconds(mtime: str) -> str:
    """reglookup's key time as the analyzer's ISO text cut to the second."""
    return mtime.replace(" ", "T")
