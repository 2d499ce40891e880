"""Carving: files found in a volume's unallocated space by PhotoRec (testdisk), the carver Autopsy uses.

Sleuth Kit's `blkls` writes the volume's unallocated blocks, in order, to a private work file (PhotoRec cannot
read EWF or a split image itself; blkls reads every image kind the scan does), and `blkls -l` lists which
blocks those are, so that every carved byte is traced back to where it lies in the image. PhotoRec carves the
work file and says in its DFXML report (report.xml) which bytes of it each file came from. Both tools run as
watched processes: one that makes no progress (reads nothing, writes nothing) for the stall time, as a disk
listing that hangs, is stopped, and what was carved before is kept.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytsk3

from ..errors import Cancelled
from .base import Content

PHOTOREC = "photorec"
BLKLS = "blkls"
CARVED_PREFIX = "$Carved/"  # carved objects' paths: never a filesystem's, whose paths start with '/'
POLL_SECONDS = 0.2
SECTOR = 512
FREE_MARGIN = 1024 * 1024 * 1024  # left free on the case folder's disk beside the copy of the unallocated space
# PhotoRec's options: the whole work file as one unknown volume, every file type it knows, paranoid checks
# (a file whose structure does not hold is dropped rather than kept broken).
PHOTOREC_COMMAND = "partition_none,options,paranoid,fileopt,everything,enable,search"
_FREE_BLOCK = re.compile(rb"^(\d+)\|f\r?$", re.MULTILINE)
_CARVED_NAME = re.compile(r"^f(?P<sector>\d+)(?P<rest>.*)$")


class CarvingStopped(Exception):
    """A carving tool made no progress for the stall time, or failed; what it carved before is kept."""


class NoRoom(CarvingStopped):
    """The unallocated space, copied for PhotoRec into the case folder while it carves, would not fit there."""


def carver_missing() -> str | None:
    """Why carving cannot run here (a tool it needs is not installed), or None when it can."""
    missing = [tool for tool in (PHOTOREC, BLKLS) if shutil.which(tool) is None]
    if not missing:
        return None
    return f"{' and '.join(missing)} not installed (photorec: apt testdisk; blkls: apt sleuthkit)"


def is_carved(path: str) -> bool:
    """Whether an object's path is a carved file's (`$Carved/f0001234.jpg`)."""
    return path.startswith(CARVED_PREFIX)


@dataclass(frozen=True)
class UnallocatedRun:
    """Consecutive unallocated blocks: where they are in blkls's output and in the image."""

    output_offset: int
    image_offset: int
    length: int


@dataclass(frozen=True)
class CarvedFile:
    """One file PhotoRec carved: its name (by the image sector it starts at), its bytes in the work folder,
    and the (image offset, length) ranges they were read from, in file order."""

    name: str
    file: Path
    size: int
    ranges: tuple[tuple[int, int], ...]
    partition_offset: int


@dataclass(frozen=True)
class Volume:
    """A volume to carve: where it lies in the image and the filesystem's block size."""

    offset: int
    block_size: int


class UnallocatedMap:
    """blkls's output offsets turned into image offsets, from the block list `blkls -l` prints."""

    def __init__(self, runs: list[UnallocatedRun]) -> None:
        self.runs = runs
        self._starts = [run.output_offset for run in runs]

    @property
    def size(self) -> int:
        return self.runs[-1].output_offset + self.runs[-1].length if self.runs else 0

    def image_ranges(self, offset: int, length: int) -> list[tuple[int, int]]:
        """The image ranges that hold `length` bytes from `offset` of blkls's output."""
        ranges: list[tuple[int, int]] = []
        index = bisect.bisect_right(self._starts, offset) - 1
        while length > 0 and 0 <= index < len(self.runs):
            run = self.runs[index]
            within = offset - run.output_offset
            take = min(length, run.length - within)
            if take <= 0:
                break
            start = run.image_offset + within
            if ranges and ranges[-1][0] + ranges[-1][1] == start:
                ranges[-1] = (ranges[-1][0], ranges[-1][1] + take)
            else:
                ranges.append((start, take))
            offset += take
            length -= take
            index += 1
        return ranges


def unallocated_map(listing: bytes, volume: Volume) -> UnallocatedMap:
    """Read `blkls -l` (a header, then `address|f` per unallocated block, in order) into runs of consecutive
    blocks. A volume has millions of blocks: the addresses are found by one regular expression over the whole text,
    and a run is made only where they stop being consecutive."""
    runs: list[UnallocatedRun] = []
    block = volume.block_size
    first = previous = -2
    output = 0
    for found in _FREE_BLOCK.finditer(listing):
        address = int(found[1])
        if address != previous + 1:
            if first >= 0:
                runs.append(UnallocatedRun(output, volume.offset + first * block, (previous - first + 1) * block))
                output += (previous - first + 1) * block
            first = address
        previous = address
    if first >= 0:
        runs.append(UnallocatedRun(output, volume.offset + first * block, (previous - first + 1) * block))
    return UnallocatedMap(runs)


class _Watched:
    """One tool's process, stopped when it makes no progress (its reads and the work folder's growth) for
    `stall_seconds`, or when the scan is cancelled."""

    def __init__(self, command: Sequence[str], cwd: Path, stdout: int | object, stall_seconds: float,
                 cancelled: threading.Event, watched_folder: Path | None = None) -> None:
        self.command = list(command)
        self.cwd = cwd
        self.stdout = stdout
        self.stall_seconds = stall_seconds
        self.cancelled = cancelled
        self.folder = watched_folder

    def run(self) -> None:
        process = subprocess.Popen(self.command, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=self.stdout,  # type: ignore[arg-type]  # a file object or DEVNULL
                                   stderr=subprocess.DEVNULL, start_new_session=True,
                                   env={**os.environ, "TERM": "dumb"})
        try:
            self._wait(process)
        finally:
            if process.poll() is None:
                _kill(process)
        if process.returncode != 0:
            raise CarvingStopped(f"{self.command[0]} failed (exit code {process.returncode})")

    def _wait(self, process: subprocess.Popen) -> None:
        last_change, last_seen = time.monotonic(), None
        while process.poll() is None:
            try:
                process.wait(POLL_SECONDS)
                return
            except subprocess.TimeoutExpired:
                pass
            if self.cancelled.is_set():
                raise Cancelled()
            seen = (_reads(process.pid), _folder_bytes(self.folder))
            if seen != last_seen:
                last_change, last_seen = time.monotonic(), seen
            elif time.monotonic() - last_change >= self.stall_seconds:
                raise CarvingStopped(f"{self.command[0]} made no progress for {self.stall_seconds:g} s")


def _kill(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _reads(pid: int) -> int | None:
    """Bytes the process has read so far (Linux's /proc; None elsewhere: only the work folder's growth counts)."""
    try:
        with open(f"/proc/{pid}/io", encoding="ascii") as io_file:
            for line in io_file:
                if line.startswith("rchar:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _folder_bytes(folder: Path | None) -> int | None:
    if folder is None:
        return None
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(root, name)).st_size
    return total


def carve_volume(image_files: list[Path], volume: Volume, work: Path, stall_seconds: float,
                 cancelled: threading.Event) -> Iterator[CarvedFile]:
    """The files PhotoRec carves from one volume's unallocated space, each traced back to the image.

    `work` is an empty private folder the caller removes afterwards; CarvingStopped when a tool stalls or fails
    (the files carved before a stall are yielded first), Cancelled when the scan is."""
    work = work.resolve()  # the tools run in it: every path given to them is absolute
    sector_offset = str(volume.offset // SECTOR)
    images = [str(path.resolve()) for path in image_files]
    listing = work / "unallocated.list"
    unallocated = work / "unallocated.raw"
    with open(listing, "wb") as out:
        _Watched([BLKLS, "-l", "-o", sector_offset, *images], work, out, stall_seconds, cancelled).run()
    blocks = unallocated_map(listing.read_bytes(), volume)
    if blocks.size == 0:
        return
    room = shutil.disk_usage(work).free - FREE_MARGIN
    if blocks.size > room:
        raise NoRoom(f"unallocated space of {blocks.size} bytes, more than the case folder's disk has free "
                     f"({max(0, room)} bytes past a margin of {FREE_MARGIN})")
    with open(unallocated, "wb") as out:
        _Watched([BLKLS, "-o", sector_offset, *images], work, out, stall_seconds, cancelled).run()
    if unallocated.stat().st_size != blocks.size:
        raise CarvingStopped(f"blkls wrote {unallocated.stat().st_size} bytes of unallocated space, "
                             f"its block list {blocks.size}")
    carved = work / "carved"
    carved.mkdir()
    stopped: CarvingStopped | None = None
    try:
        _Watched([PHOTOREC, "/log", "/d", str(carved / "recup"), "/cmd", str(unallocated), PHOTOREC_COMMAND],
                 work, subprocess.DEVNULL, stall_seconds, cancelled, watched_folder=carved).run()
    except CarvingStopped as error:
        stopped = error
    finally:
        unallocated.unlink(missing_ok=True)  # the copy goes before the carved files are handed out: less room needed
    for folder in sorted(carved.glob("recup.*"), key=lambda p: int(p.suffix[1:]) if p.suffix[1:].isdigit() else 0):
        yield from _reported(folder, blocks, volume)
    if stopped is not None:
        raise stopped


def _reported(folder: Path, blocks: UnallocatedMap, volume: Volume) -> Iterator[CarvedFile]:
    """The files of one of PhotoRec's output folders, as its report.xml describes them. A report cut short (a
    stopped PhotoRec) gives the files it completed; a file it names but did not finish writing is left out."""
    report = folder / "report.xml"
    if not report.is_file():
        return
    try:
        root = ElementTree.parse(report).getroot()
    except ElementTree.ParseError:
        root = _partial_report(report)
    for element in root.iter():
        if _local(element.tag) != "fileobject":
            continue
        carved = _carved_file(element, folder, blocks, volume)
        if carved is not None:
            yield carved


def _partial_report(report: Path) -> ElementTree.Element:
    """The fileobjects of a report whose writing stopped part-way, up to the last complete one."""
    text = report.read_text(encoding="utf-8", errors="replace")
    objects = re.findall(r"<fileobject>.*?</fileobject>", text, flags=re.DOTALL)
    try:
        return ElementTree.fromstring(f"<dfxml>{''.join(objects)}</dfxml>")
    except ElementTree.ParseError:
        return ElementTree.Element("dfxml")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _carved_file(element: ElementTree.Element, folder: Path, blocks: UnallocatedMap,
                 volume: Volume) -> CarvedFile | None:
    fields = {_local(child.tag): child for child in element}
    name = (fields["filename"].text or "") if "filename" in fields else ""
    try:
        size = int(fields["filesize"].text or "") if "filesize" in fields else -1
    except ValueError:
        return None
    file = folder / Path(name).name
    if size < 0 or not file.is_file() or file.stat().st_size != size:
        return None
    ranges: list[tuple[int, int]] = []
    remaining = size
    for run in fields["byte_runs"] if "byte_runs" in fields else ():
        try:
            offset, length = int(run.get("img_offset", "")), int(run.get("len", ""))
        except ValueError:
            return None
        taken = min(length, remaining)  # PhotoRec's runs are whole blocks: the last one ends past the file
        ranges += blocks.image_ranges(offset, taken)
        remaining -= taken
    if remaining > 0 or not ranges:
        return None
    match = _CARVED_NAME.match(file.name)
    suffix = match["rest"] if match else f"_{file.name}"
    return CarvedFile(f"f{ranges[0][0] // SECTOR:07d}{suffix}", file, size, tuple(ranges), volume.offset)


class FileContent(Content):
    """A carved file's bytes, where the case keeps them."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self.size = path.stat().st_size

    def read_at(self, offset: int, length: int) -> bytes:
        with open(self._path, "rb") as handle:
            handle.seek(offset)
            return handle.read(length)


def block_size(image: pytsk3.Img_Info, offset: int) -> int | None:
    """The block size of the filesystem at `offset` (blkls's unit), or None when Sleuth Kit cannot open it."""
    try:
        return int(pytsk3.FS_Info(image, offset=offset).info.block_size)
    except (OSError, RuntimeError):
        return None
