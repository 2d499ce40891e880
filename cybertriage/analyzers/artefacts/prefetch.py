"""Windows Prefetch files (`C:\\Windows\\Prefetch\\NAME-HASH.pf`): a program that ran, how often, when it last ran
(up to eight times since Windows 8), from which volume, and the files it loaded in its first seconds.

libscca reads every version (17 XP, 23 Vista/7, 26 8.1, 30/31 Windows 10/11), the MAM-compressed ones included.
The program's full path is not stored as such: like plaso's `path_hints`, it is the loaded file whose name is the
executable's (Prefetch truncates the name to 29 characters, so a truncated name matches the start)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pyscca

from ..base import Finding, Item
from ..results import Artefact
from .base import ArtefactParser, Deadline, content_bytes, filetime

PREFETCH_SIZE_LIMIT = 64 * 1024 * 1024  # the largest are a few megabytes; a bigger ".pf" is not held in memory
LOADED_FILES_KEPT = 1000  # a program can load thousands; the first ones are the program and its own libraries
_VERSIONS = {version.to_bytes(4, "little") for version in (17, 23, 26, 30, 31)}
_WINDOWS_NAME = re.compile(r".+-[0-9A-Fa-f]{8}\.pf", re.I)
_NAME_LIMIT = 29  # Prefetch keeps the first 29 characters of the executable's name


class Prefetch(ArtefactParser):
    """One `prefetch` record per .pf file: the program, its run count and last run times (ts = the newest)."""

    NAME: ClassVar[str] = "prefetch"
    NEEDS_PATH: ClassVar[bool] = False

    def recognise(self, item: Item) -> bool:
        """A .pf file with the SCCA or MAM signature; also one named as Windows names them (NAME-HASH.pf) that
        starts with a Prefetch format version, so a damaged signature is reported rather than passed over."""
        head, name = item.head, item.obj.name
        if not name.lower().endswith(".pf"):
            return False
        if head[4:8] == b"SCCA" or head[:4] == b"MAM\x04":
            return True
        return head[:4] in _VERSIONS and _WINDOWS_NAME.fullmatch(name) is not None

    def parse(self, item: Item, path: Path | None, deadline: Deadline) -> Iterator[Artefact | Finding]:
        if item.obj.size > PREFETCH_SIZE_LIMIT:
            raise ValueError(f"{item.obj.size} bytes, far more than a prefetch file holds")
        scca = pyscca.file()
        scca.open_file_object(io.BytesIO(content_bytes(item)))
        try:
            yield _record(scca, deadline)
        finally:
            scca.close()


def _record(scca: Any, deadline: Deadline) -> Artefact:
    executable = _text(scca.executable_filename)
    version = scca.format_version
    runs = [filetime(scca.get_last_run_time_as_integer(index)) for index in range(8 if version >= 26 else 1)]
    last_runs = sorted((run for run in runs if run), reverse=True)
    loaded = []
    for index in range(scca.number_of_filenames):
        if index % 256 == 0:
            deadline.check()
        loaded.append(_text(scca.get_filename(index)))
    volumes = [_volume(scca.get_volume_information(index)) for index in range(scca.number_of_volumes)]
    full_paths = _executable_paths(executable, loaded, [volume["device_path"] for volume in volumes])
    values: dict[str, Any] = {
        "executable": executable,
        "path": full_paths[0][1] if full_paths else executable,
        "device_path": full_paths[0][0] if full_paths else None,
        "prefetch_hash": f"0x{scca.prefetch_hash:08x}",
        "format_version": version,
        "run_count": scca.run_count,
        "last_run_times": last_runs,
        "volumes": volumes,
        "loaded_files_count": len(loaded),
        "loaded_files": loaded[:LOADED_FILES_KEPT],
    }
    if len(loaded) > LOADED_FILES_KEPT:
        values["loaded_files_note"] = f"first {LOADED_FILES_KEPT} of {len(loaded)} kept"
    when = f", last {last_runs[0]}" if last_runs else ""
    summary = f"{executable} ran {scca.run_count} time(s){when} ({values['path']})"
    return Artefact("prefetch", last_runs[0] if last_runs else None, summary, values)


def _volume(volume: Any) -> dict[str, Any]:
    return {"device_path": _text(volume.device_path), "serial_number": f"0x{volume.serial_number:08x}",
            "creation_time": filetime(volume.get_creation_time_as_integer())}


def _text(value: str | None) -> str:
    """A name as libscca decoded it, with any unpaired UTF-16 surrogate (damaged or hostile names) as U+FFFD: the
    case stores text as UTF-8, which cannot hold one."""
    if not value:
        return ""
    return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _executable_paths(executable: str, loaded: list[str], devices: list[str]) -> list[tuple[str | None, str]]:
    """(volume device, path on that volume) of each loaded file named as the executable; a truncated name matches
    the start of the file's name."""
    name = executable.lower()
    found: list[tuple[str | None, str]] = []
    for file in loaded:
        base = file.rpartition("\\")[2].lower()
        if not (base == name or (len(name) == _NAME_LIMIT and base.startswith(name))):
            continue
        device = next((device for device in devices if device and file.startswith(device + "\\")), None)
        found.append((device, file[len(device):] if device else file))
    return found
