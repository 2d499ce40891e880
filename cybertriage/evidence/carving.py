"""Carving: files found in a volume's unallocated space by PhotoRec (testdisk), the carver Autopsy uses.

Where PhotoRec can read the volume's free space itself (a single raw image; FAT, exFAT, NTFS or ext2/3/4, those
whose allocation it reads; a volume it can be pointed at: a bare filesystem, an MBR or GPT partition), it carves
the image in place (`freespace`), and its DFXML report (report.xml) says at which image bytes each file lies. Its
report also says which volume it read: a volume other than the one asked for is not carved that way.

Elsewhere (EWF and split images, which PhotoRec here cannot read, and other filesystems) Sleuth Kit's `blkls`
writes the volume's unallocated blocks, in order, to a private work file, and `blkls -l` lists which blocks those
are, so that every carved byte is traced back to where it lies in the image; PhotoRec carves the work file.

File slack (an option): the bytes from the end of each allocated regular file's content to the end of its last
block, and any whole blocks it holds past that end, as Sleuth Kit's `blkls -s` writes them: whole blocks, the
file's own bytes zeroed, so that PhotoRec's header search stays block (sector) aligned. The stream is built here
rather than by `blkls -s`, which does not say which blocks it wrote: a pytsk3 directory walk, in a watched child
process as the disk listing is (Sleuth Kit can hang in C on a corrupt inode), sends each file's slack blocks from
its data attributes' runs (resident NTFS data, sparse and filler runs, compressed and encrypted streams have
none), and the blocks are read from the image into a private work file with the image offset of each, so that a
carved file's ranges are true image ranges. A file PhotoRec carves across a file's zeroed bytes has no such
ranges and is not handed out (counted). Reading every file's metadata costs about what listing it did.

PhotoRec flushes its report after each file it completes: the files are handed out as the report grows, while it
carves on. Every tool runs as a watched process: one that makes no progress (reads nothing, writes nothing) for
the stall time, as a disk listing that hangs, is stopped, and what was carved before is kept.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytsk3

from ..errors import Cancelled
from .base import Content
from .disk import DiskImage
from .watchdog import ChildFailed, Stalled, watched

PHOTOREC = "photorec"
BLKLS = "blkls"
CARVED_PREFIX = "$Carved/"  # carved objects' paths: never a filesystem's, whose paths start with '/'
SLACK_FOLDER = "slack/"  # files carved from file slack: `$Carved/slack/f0002212.jpg`
# How often the caller reads what a tool wrote so far (PhotoRec's report: the files it completed are hashed while it
# goes on, on the other core), and how often its progress is checked (its reads, and a walk of its output folder).
POLL_SECONDS = 0.05
PROGRESS_SECONDS = 1.0
SECTOR = 512
FREE_MARGIN = 1024 * 1024 * 1024  # left free on the case folder's disk beside the copy of the unallocated space
# PhotoRec's options: every file type it knows, paranoid checks (a file whose structure does not hold is dropped
# rather than kept broken). Over blkls's copy, the whole work file is one unknown volume; in the image, the chosen
# volume's free space only.
PHOTOREC_OPTIONS = "options,paranoid,fileopt,everything,enable"
PHOTOREC_COMMAND = f"partition_none,{PHOTOREC_OPTIONS},search"
# The filesystems whose allocation PhotoRec reads (photorec.c, remove_used_space), and the library it needs for them.
PHOTOREC_FREE_SPACE = {"FAT12": None, "FAT16": None, "FAT32": None, "exFAT": None, "NTFS": "ntfs lib",
                       "ext2": "ext2fs lib", "ext3": "ext2fs lib", "ext4": "ext2fs lib"}
_FREE_BLOCK = re.compile(rb"^(\d+)\|f\r?$", re.MULTILINE)
_CARVED_NAME = re.compile(r"^f(?P<sector>\d+)(?P<rest>.*)$")
_REPORTED_VOLUME = re.compile(rb"<volume>\s*<byte_runs>\s*<byte_run offset='0' img_offset='(\d+)'")
_FILE_OBJECT = re.compile(rb"<fileobject>.*?</fileobject>", re.DOTALL)


class CarvingStopped(Exception):
    """A carving tool made no progress for the stall time, or failed; what it carved before is kept."""


class NoRoom(CarvingStopped):
    """The unallocated space, copied for PhotoRec into the case folder while it carves, would not fit there."""


class _OtherVolume(Exception):
    """PhotoRec, carving the image in place, read another volume than the one asked for (or none): nothing it carved
    is handed out, and the volume is carved from blkls's copy instead."""


def carver_missing(tools: Sequence[str] = (PHOTOREC, BLKLS)) -> str | None:
    """Why carving cannot run here (a tool it needs is not installed), or None when it can. Slack carving
    needs PhotoRec only."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if not missing:
        return None
    packages = {PHOTOREC: "apt testdisk", BLKLS: "apt sleuthkit"}
    return f"{' and '.join(missing)} not installed ({'; '.join(f'{tool}: {packages[tool]}' for tool in missing)})"


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
    """A volume to carve: where it lies in the image, the filesystem's block size, and how PhotoRec names it when
    it can carve the volume's free space in the image itself (`partition_i386,2`), else None."""

    offset: int
    block_size: int
    photorec_partition: str | None = None


class UnallocatedMap:
    """A work file's offsets (blkls's copy of the unallocated space, or the file slack stream) turned into image
    offsets. The slack stream's zeroed bytes (files' own) are gaps in it: a span that meets one is counted in
    `short`, and gets fewer image bytes than asked."""

    def __init__(self, runs: list[UnallocatedRun]) -> None:
        self.runs = runs
        self._starts = [run.output_offset for run in runs]
        self.short = 0

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
            if take <= 0 or within < 0:
                break
            start = run.image_offset + within
            if ranges and ranges[-1][0] + ranges[-1][1] == start:
                ranges[-1] = (ranges[-1][0], ranges[-1][1] + take)
            else:
                ranges.append((start, take))
            offset += take
            length -= take
            index += 1
        self.short += length > 0
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


@functools.cache
def _photorec_libraries() -> str:
    """PhotoRec's `/version` text, which names the filesystem libraries it was built with ('ntfs lib: none')."""
    try:
        return subprocess.run([PHOTOREC, "/version"], capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL, env={**os.environ, "TERM": "dumb"}).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def photorec_partition(image: pytsk3.Img_Info, offset: int, filesystem: str | None) -> str | None:
    """How PhotoRec names the volume at `offset` when it can carve that volume's free space in the image itself:
    a bare filesystem (`partition_none`), or an MBR or GPT partition by its number as PhotoRec counts them
    (primary MBR entries by slot, 1 to 4, logical ones from 5 in chain order; GPT entries by slot from 1). None
    when it cannot: a filesystem whose allocation PhotoRec does not read, or another kind of partition table."""
    if filesystem not in PHOTOREC_FREE_SPACE:
        return None
    library = PHOTOREC_FREE_SPACE[filesystem]
    if library is not None and re.search(rf"{library}: (?!none)", _photorec_libraries()) is None:
        return None
    if offset == 0:
        return "partition_none"
    try:
        volumes = pytsk3.Volume_Info(image)
    except (OSError, RuntimeError):
        return None
    kind, block, logical = int(volumes.info.vstype), volumes.info.block_size, 0
    for part in volumes:
        if not int(part.flags) & pytsk3.TSK_VS_PART_FLAG_ALLOC:
            continue
        logical += kind == int(pytsk3.TSK_VS_TYPE_DOS) and part.table_num > 0
        if part.start * block != offset:
            continue
        if kind == int(pytsk3.TSK_VS_TYPE_GPT):
            return f"partition_gpt,{part.slot_num + 1}"
        if kind == int(pytsk3.TSK_VS_TYPE_DOS):
            return f"partition_i386,{part.slot_num + 1 if part.table_num == 0 else 4 + logical}"
        return None
    return None


@dataclass(frozen=True)
class _Watching:
    """How a tool is watched: the time it may make no progress, and the scan's cancellation."""

    stall_seconds: float
    cancelled: threading.Event


class _Watched:
    """One tool's process, stopped when it makes no progress (its reads and the work folder's growth) for the
    stall time, or when the scan is cancelled."""

    def __init__(self, command: Sequence[str], cwd: Path, stdout: int | object, watching: _Watching,
                 watched_folder: Path | None = None) -> None:
        self.command = list(command)
        self.cwd = cwd
        self.stdout = stdout
        self.stall_seconds = watching.stall_seconds
        self.cancelled = watching.cancelled
        self.folder = watched_folder

    def run(self) -> None:
        for _ in self.ticks():
            pass

    def ticks(self) -> Generator[None, None, None]:
        """Run the tool, yielding every POLL_SECONDS while it runs (the caller reads what it wrote so far)."""
        process = subprocess.Popen(self.command, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=self.stdout,  # type: ignore[arg-type]  # a file object or DEVNULL
                                   stderr=subprocess.DEVNULL, start_new_session=True,
                                   env={**os.environ, "TERM": "dumb"})
        try:
            yield from self._wait(process)
        finally:
            if process.poll() is None:
                _kill(process)
        if process.returncode != 0:
            raise CarvingStopped(f"{self.command[0]} failed (exit code {process.returncode})")

    def _wait(self, process: subprocess.Popen) -> Generator[None, None, None]:
        last_change, last_seen = time.monotonic(), None
        checked = last_change - PROGRESS_SECONDS
        while process.poll() is None:
            try:
                process.wait(POLL_SECONDS)
                return
            except subprocess.TimeoutExpired:
                pass
            if self.cancelled.is_set():
                raise Cancelled()
            now = time.monotonic()
            if now - checked >= PROGRESS_SECONDS:
                checked = now
                seen = (_reads(process.pid), _folder_bytes(self.folder))
                if seen != last_seen:
                    last_change, last_seen = now, seen
                elif now - last_change >= self.stall_seconds:
                    raise CarvingStopped(f"{self.command[0]} made no progress for {self.stall_seconds:g} s")
            yield


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
    """The files PhotoRec carves from one volume's unallocated space, each traced back to the image, handed out
    as PhotoRec reports them.

    `work` is an empty private folder the caller removes afterwards; CarvingStopped when a tool stalls or fails
    (the files carved before a stall are yielded first), Cancelled when the scan is."""
    work = work.resolve()  # the tools run in it: every path given to them is absolute
    images = [str(path.resolve()) for path in image_files]
    watching = _Watching(stall_seconds, cancelled)
    if volume.photorec_partition is not None and len(images) == 1:
        command = f"{volume.photorec_partition},{PHOTOREC_OPTIONS},freespace,search"
        try:
            yield from _photorec(images[0], command, work, volume, watching, in_place=True)
            return
        except _OtherVolume:
            shutil.rmtree(work / "carved", ignore_errors=True)
    yield from _carve_copy(images, volume, work, watching)


def _carve_copy(images: list[str], volume: Volume, work: Path, watching: _Watching) -> Iterator[CarvedFile]:
    """The volume's unallocated blocks copied by blkls into the work folder, and carved there."""
    sector_offset = str(volume.offset // SECTOR)
    listing = work / "unallocated.list"
    unallocated = work / "unallocated.raw"
    with open(listing, "wb") as out:
        _Watched([BLKLS, "-l", "-o", sector_offset, *images], work, out, watching).run()
    blocks = unallocated_map(listing.read_bytes(), volume)
    if blocks.size == 0:
        return
    _check_room(work, blocks.size, "unallocated space")
    with open(unallocated, "wb") as out:
        _Watched([BLKLS, "-o", sector_offset, *images], work, out, watching).run()
    if unallocated.stat().st_size != blocks.size:
        raise CarvingStopped(f"blkls wrote {unallocated.stat().st_size} bytes of unallocated space, "
                             f"its block list {blocks.size}")
    try:
        yield from _photorec(str(unallocated), PHOTOREC_COMMAND, work, volume, watching, in_place=False,
                             to_image=blocks.image_ranges, ended=lambda: unallocated.unlink(missing_ok=True))
    finally:
        unallocated.unlink(missing_ok=True)


def _check_room(work: Path, size: int, what: str) -> None:
    """NoRoom when `size` bytes of `what`, copied into the work folder, would leave less than FREE_MARGIN free."""
    room = shutil.disk_usage(work).free - FREE_MARGIN
    if size > room:
        raise NoRoom(f"{what} of {size} bytes, more than the case folder's disk has free "
                     f"({max(0, room)} bytes past a margin of {FREE_MARGIN})")


def _photorec(source: str, command: str, work: Path, volume: Volume, watching: _Watching, in_place: bool,
              to_image: Callable[[int, int], list[tuple[int, int]]] = lambda offset, length: [(offset, length)],
              ended: Callable[[], None] = lambda: None) -> Iterator[CarvedFile]:
    """PhotoRec over `source`, each file it completes handed out as its report names it. In place, the report must
    say that PhotoRec read the volume asked for (else _OtherVolume, before any file is handed out)."""
    carved = work / "carved"
    carved.mkdir()
    report = _Report(carved, volume.offset if in_place else None)
    watched = _Watched([PHOTOREC, "/log", "/d", str(carved / "recup"), "/cmd", source, command], work,
                       subprocess.DEVNULL, watching, watched_folder=carved)
    stopped: CarvingStopped | None = None
    try:
        with contextlib.closing(watched.ticks()) as ticks:  # closed: PhotoRec stopped, also on _OtherVolume
            for _ in ticks:
                yield from _files(report, to_image, volume)
    except CarvingStopped as error:
        stopped = error
    ended()
    yield from _files(report, to_image, volume)
    if stopped is not None:
        raise stopped
    if in_place and not report.checked:
        raise _OtherVolume("PhotoRec wrote no report")


def _files(report: _Report, to_image: Callable[[int, int], list[tuple[int, int]]],
           volume: Volume) -> Iterator[CarvedFile]:
    for element in report.completed():
        carved = _carved_file(element, report, to_image, volume)
        if carved is not None:
            yield carved


class _Report:
    """PhotoRec's DFXML report, read as it grows: it is written in its first output folder (recup.1), flushed
    after each file PhotoRec completes (a file is closed and named before its entry is written), and names the
    files of later folders by their whole path. A report cut short (a stopped PhotoRec) gives the files it
    completed."""

    def __init__(self, carved: Path, volume_offset: int | None) -> None:
        self.carved = carved.resolve()
        self.first = self.carved / "recup.1"
        self.volume_offset = volume_offset
        self.checked = False  # the report's source (the volume PhotoRec read) is read, and the one asked for
        self._read = 0
        self._pending = b""

    def completed(self) -> Iterator[ElementTree.Element]:
        """The file entries written since the last call."""
        try:
            with open(self.first / "report.xml", "rb") as handle:
                handle.seek(self._read)
                data = handle.read()
        except OSError:
            return
        self._read += len(data)
        self._pending += data
        if not self.checked:
            source_end = self._pending.find(b"</source>")
            if source_end < 0:
                return
            self._check(self._pending[:source_end])
        last = 0
        elements = []
        for found in _FILE_OBJECT.finditer(self._pending):
            with contextlib.suppress(ElementTree.ParseError):
                elements.append(ElementTree.fromstring(found[0]))
            last = found.end()
        self._pending = self._pending[last:]
        yield from elements

    def _check(self, source: bytes) -> None:
        if self.volume_offset is not None:
            found = _REPORTED_VOLUME.search(source)
            if found is None or int(found[1]) != self.volume_offset or b"<block_size>" not in source:
                raise _OtherVolume(f"PhotoRec read the volume at byte {found[1].decode() if found else '?'}, "
                                   f"not {self.volume_offset}, or not its filesystem")
        self.checked = True

    def file(self, name: str) -> Path | None:
        """The file an entry names, when it lies in PhotoRec's output folders."""
        path = (self.first / name).resolve()
        return path if path.is_relative_to(self.carved) else None


def _carved_file(element: ElementTree.Element, report: _Report, to_image: Callable[[int, int], list[tuple[int, int]]],
                 volume: Volume) -> CarvedFile | None:
    fields = {_local(child.tag): child for child in element}
    name = (fields["filename"].text or "") if "filename" in fields else ""
    try:
        size = int(fields["filesize"].text or "") if "filesize" in fields else -1
    except ValueError:
        return None
    file = report.file(name) if name else None
    if size < 0 or file is None or not file.is_file() or file.stat().st_size != size:
        return None
    ranges: list[tuple[int, int]] = []
    remaining = size
    for run in fields["byte_runs"] if "byte_runs" in fields else ():
        try:
            offset, length = int(run.get("img_offset", "")), int(run.get("len", ""))
        except ValueError:
            return None
        taken = min(length, remaining)  # PhotoRec's runs are whole blocks: the last one ends past the file
        for start, count in to_image(offset, taken):
            if ranges and ranges[-1][0] + ranges[-1][1] == start:
                ranges[-1] = (ranges[-1][0], ranges[-1][1] + count)
            else:
                ranges.append((start, count))
        remaining -= taken
    if remaining > 0 or not ranges or sum(length for _, length in ranges) != size:  # a byte the map cannot place
        return None
    match = _CARVED_NAME.match(file.name)
    suffix = match["rest"] if match else f"_{file.name}"
    return CarvedFile(f"f{ranges[0][0] // SECTOR:07d}{suffix}", file, size, tuple(ranges), volume.offset)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


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


# The data attributes whose blocks hold a file's content (Sleuth Kit's ext and UFS indirect-block and extent-tree
# attributes hold metadata, not content; NTFS's other non-resident attributes are not file content either).
_DATA_ATTRIBUTES = {int(pytsk3.TSK_FS_ATTR_TYPE_DEFAULT), int(pytsk3.TSK_FS_ATTR_TYPE_NTFS_DATA),
                    int(pytsk3.TSK_FS_ATTR_TYPE_HFS_DATA), int(pytsk3.TSK_FS_ATTR_TYPE_APFS_DATA)}
_NONRESIDENT = int(pytsk3.TSK_FS_ATTR_NONRES)
_NOT_AS_STORED = int(pytsk3.TSK_FS_ATTR_COMP) | int(pytsk3.TSK_FS_ATTR_ENC)  # blocks that do not hold the bytes
_NO_BLOCKS = int(pytsk3.TSK_FS_ATTR_RUN_FLAG_SPARSE) | int(pytsk3.TSK_FS_ATTR_RUN_FLAG_FILLER)
_ALLOCATED_META = int(pytsk3.TSK_FS_META_FLAG_ALLOC)
_UNALLOCATED_NAME = int(pytsk3.TSK_FS_NAME_FLAG_UNALLOC)
_REGULAR, _DIRECTORY = int(pytsk3.TSK_FS_META_TYPE_REG), int(pytsk3.TSK_FS_META_TYPE_DIR)
SLACK_DEPTH = 512  # directories deeper than this (a loop a corrupt filesystem makes) are not entered
SLACK_READ = 4 * 1024 * 1024  # image bytes read at once while the slack stream is written


@dataclass(frozen=True)
class SlackPiece:
    """One file's slack blocks that lie together: where they start in the image, their length (whole blocks),
    and how many bytes at their start are the file's own (zeroed in the stream)."""

    image_offset: int
    length: int
    zeroed: int


@dataclass
class SlackStream:
    """A volume's file slack written to a work file, its offsets mapped to the image (the zeroed bytes are
    not), and the directories the walk could not read."""

    path: Path
    size: int
    blocks: UnallocatedMap
    unread: list[str]


def file_slack(fs_file: pytsk3.File, partition_offset: int) -> Iterator[SlackPiece]:
    """The slack blocks of one allocated file, from its data attributes' runs: the block holding the end of the
    content (its part zeroed) and every block past it, as `blkls -s` writes them."""
    block = int(fs_file.info.fs_info.block_size)
    blocks = int(fs_file.info.fs_info.block_count)
    for attribute in fs_file:
        flags = int(attribute.info.flags)
        if int(attribute.info.type) not in _DATA_ATTRIBUTES or not flags & _NONRESIDENT or flags & _NOT_AS_STORED:
            continue
        size = int(attribute.info.size)
        ending = size // block  # the first block that is not wholly content
        for run in attribute:
            first, end = max(int(run.offset), ending), int(run.offset) + int(run.len)
            if int(run.flags) & _NO_BLOCKS or first >= end:
                continue
            address = int(run.addr) + first - int(run.offset)
            if address + end - first > blocks:  # a run past the filesystem's end (damage)
                continue
            yield SlackPiece(partition_offset + address * block, (end - first) * block, max(0, size - first * block))


def _slack_of_files(send: Callable[[object], None], stop: threading.Event, path: str, offset: int) -> None:
    """In a watched child process: walk the filesystem at `offset` and send each allocated regular file's slack
    pieces (each file once, by its inode), ("at", directory) as it enters one (the watchdog's sign of progress where
    no file has slack, as in a folder of resident NTFS files), and ("unread", directory, why) for one Sleuth Kit
    cannot read."""
    disk = DiskImage(Path(path))
    try:
        fs = pytsk3.FS_Info(disk.image, offset=offset)
        seen: set[int] = set()
        folders = [(int(fs.info.root_inum), "/", 0)]
        while folders and not stop.is_set():
            address, where, depth = folders.pop()
            send(("at", where))
            try:
                directory = fs.open_dir(inode=address)
            except (OSError, RuntimeError) as error:
                send(("unread", where, str(error).splitlines()[0] if str(error) else type(error).__name__))
                continue
            for entry in directory:
                meta, name = entry.info.meta, entry.info.name
                if meta is None or not int(meta.flags) & _ALLOCATED_META or int(name.flags) & _UNALLOCATED_NAME:
                    continue
                text = name.name.decode("utf-8", "replace")
                if text in (".", "..") or int(meta.addr) in seen:
                    continue
                seen.add(int(meta.addr))
                if int(meta.type) == _DIRECTORY and depth < SLACK_DEPTH:
                    folders.append((int(meta.addr), f"{where}{text}/", depth + 1))
                elif int(meta.type) == _REGULAR:
                    with contextlib.suppress(OSError, RuntimeError):
                        for piece in file_slack(entry, offset):
                            send((piece.image_offset, piece.length, piece.zeroed))
    finally:
        disk.close()


def slack_stream(image_path: Path, image: pytsk3.Img_Info, volume: Volume, work: Path, stall_seconds: float,
                 cancelled: threading.Event) -> SlackStream:
    """The volume's file slack written to `work`/slack.raw in image order, each piece read from `image`.

    NoRoom when it would not fit on the case folder's disk (nothing is written), CarvingStopped when the walk
    stalls or Sleuth Kit crashes, Cancelled when the scan is."""
    pieces: list[SlackPiece] = []
    unread: list[str] = []
    try:
        for message in watched(_slack_of_files, (str(image_path), volume.offset), stall_seconds, cancelled):
            if message[0] == "unread":
                unread.append(f"{message[1]}: {message[2]}")
            elif message[0] != "at":
                pieces.append(SlackPiece(*message))
    except (Stalled, ChildFailed) as error:
        raise CarvingStopped(f"the walk of the files for their slack stopped: {error}") from None
    if cancelled.is_set():
        raise Cancelled()
    pieces.sort(key=lambda piece: piece.image_offset)
    kept, end = [], -1
    for piece in pieces:  # blocks two files claim (damage) are written once
        if piece.image_offset >= end:
            kept.append(piece)
            end = piece.image_offset + piece.length
    size = sum(piece.length for piece in kept)
    _check_room(work, size, "file slack")
    stream = work / "slack.raw"
    runs = _write_slack(image, kept, stream, cancelled)
    return SlackStream(stream, stream.stat().st_size, UnallocatedMap(runs), unread)


def _write_slack(image: pytsk3.Img_Info, pieces: list[SlackPiece], stream: Path,
                 cancelled: threading.Event) -> list[UnallocatedRun]:
    """Each piece's image bytes, its file's own zeroed, appended to `stream`; the map's runs (a piece the image
    cannot give whole is left out)."""
    runs: list[UnallocatedRun] = []
    written = 0
    with open(stream, "wb") as out:
        for number, piece in enumerate(pieces):
            if number % 1024 == 0 and cancelled.is_set():
                raise Cancelled()
            try:
                data = b"".join(image.read(at, min(SLACK_READ, piece.image_offset + piece.length - at))
                                for at in range(piece.image_offset, piece.image_offset + piece.length, SLACK_READ))
            except (OSError, RuntimeError):
                continue
            if len(data) != piece.length:
                continue
            out.write(bytes(piece.zeroed) + data[piece.zeroed:])
            if piece.zeroed < piece.length:
                runs.append(UnallocatedRun(written + piece.zeroed, piece.image_offset + piece.zeroed,
                                           piece.length - piece.zeroed))
            written += piece.length
    return runs


def carve_slack(stream: SlackStream, volume: Volume, work: Path, stall_seconds: float,
                cancelled: threading.Event) -> Iterator[CarvedFile]:
    """The files PhotoRec carves from a volume's slack stream, each traced back to the image (stream.blocks.short
    counts those that cross a file's zeroed bytes, not handed out); the stream is removed once PhotoRec is done."""
    watching = _Watching(stall_seconds, cancelled)
    try:
        yield from _photorec(str(stream.path.resolve()), PHOTOREC_COMMAND, work.resolve(), volume, watching,
                             in_place=False, to_image=stream.blocks.image_ranges,
                             ended=lambda: stream.path.unlink(missing_ok=True))
    finally:
        stream.path.unlink(missing_ok=True)
