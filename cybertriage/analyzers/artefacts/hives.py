"""Windows registry hives (SYSTEM, SOFTWARE, SAM, SECURITY, NTUSER.DAT, UsrClass.dat, Amcache.hve), read with
regipy: who the computer is, its users and devices, what starts by itself, what ran, and what a user opened.

A hive is recognised by its `regf` signature (a primary file, not a transaction log) and told apart by its keys,
whatever its name: SYSTEM has Select and ControlSet00x, SOFTWARE Microsoft\\Windows NT\\CurrentVersion, SAM
SAM\\Domains, NTUSER.DAT Software with Environment or Console, UsrClass.dat Local Settings, Amcache.hve
Root\\InventoryApplicationFile or Root\\File.

The analyzer sees one file at a time, so a hive's .LOG1/.LOG2 transaction logs are not at hand: a hive Windows did
not finish writing (its two sequence numbers differ) is read as it is on disk, and that is a recorded problem.
Each piece (profile, users, devices, …) reads on its own: a damaged key stops that piece, says so, and the
others still read."""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

from ..base import Finding, Item
from ..results import Artefact
from .base import ArtefactParser, Deadline, OutOfTime
from .hive_autostart import ifeo, run_keys, services, winlogon
from .hive_common import Hive, Record, open_hive
from .hive_devices import mounted_devices, portable_devices, usb, usbstor
from .hive_execution import amcache, bam, shimcache, userassist
from .hive_mru import officemru, recentdocs, runmru, typedpaths, typedurls
from .hive_system import profile_list, sam_users, software_profile, system_profile

# regipy logs a warning for every value it can only show as hex (a fact of the data, kept as hex in the values): on a
# real SOFTWARE hive that is thousands of lines on the examiner's terminal, said nowhere useful.
logging.getLogger("regipy").setLevel(logging.ERROR)

Piece = Callable[[Hive], Iterator[Record]]

# What each kind of hive tells, in the order an examiner reads it.
PIECES: dict[str, tuple[Piece, ...]] = {
    "SYSTEM": (system_profile, usbstor, usb, mounted_devices, services, shimcache, bam),
    "SOFTWARE": (software_profile, profile_list, run_keys, winlogon, ifeo, portable_devices),
    "SAM": (sam_users,),
    "SECURITY": (),
    "NTUSER": (run_keys, winlogon, userassist, recentdocs, runmru, typedpaths, typedurls, officemru),
    "UsrClass": (),
    "Amcache": (amcache,),
}
_NAMES = {"system": "SYSTEM", "software": "SOFTWARE", "sam": "SAM", "security": "SECURITY", "ntuser.dat": "NTUSER",
          "usrclass.dat": "UsrClass", "amcache.hve": "Amcache"}
_LOG_SUFFIXES = (".log", ".log1", ".log2", ".sav", ".tmp")


class RegistryHives(ArtefactParser):
    """Registry rows (`registry.*` and `service`) from a hive, and findings about autostart commands."""

    NAME: ClassVar[str] = "registry"
    NEEDS_PATH: ClassVar[bool] = True

    def recognise(self, item: Item) -> bool:
        """A primary hive file: `regf`, file type 0 (transaction logs copy the base block with type 1, 2 or 6) and
        not named as a log."""
        head = item.head
        if len(head) < 4096 or head[:4] != b"regf" or struct.unpack_from("<I", head, 28)[0] != 0:
            return False
        return not item.obj.name.lower().endswith(_LOG_SUFFIXES)

    def parse(self, item: Item, path: Path | None, deadline: Deadline) -> Iterator[Artefact | Finding]:
        assert path is not None
        for problem in _header_problems(item.head, item.obj.size):
            item.skipped.append((self.NAME, problem))
        hive = Hive(open_hive(str(path)), "", deadline)
        hive.kind = hive_kind(hive, item.obj.name)
        failed: dict[str, list[str]] = {}  # one damage often stops several pieces: said once, with their names
        try:
            for piece in PIECES.get(hive.kind, ()):
                try:
                    yield from piece(hive)
                except OutOfTime:
                    raise
                except Exception as error:  # damaged keys: this piece stops here, the others still read
                    failed.setdefault(f"{type(error).__name__}: {error}", []).append(piece.__name__)
        finally:
            for damage, pieces in failed.items():
                item.skipped.append((self.NAME, f"{hive.kind} hive: {', '.join(pieces)} unreadable past a damaged "
                                                f"key ({damage}); what was read before is kept"))


def _header_problems(head: bytes, size: int) -> list[str]:
    """What the base block says about the file: a hive Windows did not finish writing (its two sequence numbers
    differ: the changes are in the .LOG1/.LOG2 files, which are not read with it) and a hive shorter than its
    header says (a truncated copy or carving)."""
    problems = []
    primary, secondary = struct.unpack_from("<II", head, 4)
    if primary != secondary:
        problems.append(f"hive is dirty: transaction logs not applied (sequence numbers {primary} and {secondary}; "
                        f"the .LOG1/.LOG2 files beside it are not read with it), read as it is on disk")
    bins_size, = struct.unpack_from("<I", head, 40)
    if size < 4096 + bins_size:
        problems.append(f"hive is truncated: {size} bytes of the {4096 + bins_size} its header gives; keys stored "
                        f"past the end are not read")
    return problems


def hive_kind(hive: Hive, name: str) -> str:
    """The hive's kind, by its keys first (a renamed or carved hive is still told), by its name otherwise."""
    root = {key.name.lower() for key in hive.subkeys(hive.reg.root)}
    if "select" in root and any(key.startswith("controlset") for key in root):
        return "SYSTEM"
    if "sam" in root and hive.key(r"SAM\Domains") is not None:
        return "SAM"
    if "root" in root and (hive.key(r"Root\InventoryApplicationFile") or hive.key(r"Root\File")) is not None:
        return "Amcache"
    if "software" in root and root & {"environment", "console"}:
        return "NTUSER"
    if "local settings" in root:
        return "UsrClass"
    if "microsoft" in root and hive.key(r"Microsoft\Windows NT\CurrentVersion") is not None:
        return "SOFTWARE"
    if "policy" in root and root & {"rxact", "cache"}:
        return "SECURITY"
    return _NAMES.get(name.lower(), "other")
