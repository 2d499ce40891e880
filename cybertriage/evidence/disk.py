"""Disk images (raw, split raw, EWF, virtual disks) read through Sleuth Kit (pytsk3), libewf (pyewf) and vdisk.py.

The image handle is a pytsk3.Img_Info subclass in the way dfvfs bridges pyewf to
pytsk3: Sleuth Kit asks for byte ranges and we serve them from the segment
files or from libewf. Every file is opened read-only.
"""

from __future__ import annotations

import hashlib
import os
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypedDict

import pyewf
import pytsk3

from ..errors import Cancelled, EvidenceError
from .base import OBJECT_FIELDS, Content, EvidenceObject, EvidenceSource, ObjectRef, Partition, iso_utc, written_down
from .ewf_chunks import EWF_SIGNATURE
from .segments import ewf_number, ewf_suffix, split_raw_segments
from .vdisk import VirtualDisk, format_of_file
from .watchdog import ChildFailed, Stalled, watched

SECTOR = 512

FILESYSTEM_NAMES = {
    int(pytsk3.TSK_FS_TYPE_NTFS): "NTFS",
    int(pytsk3.TSK_FS_TYPE_FAT12): "FAT12",
    int(pytsk3.TSK_FS_TYPE_FAT16): "FAT16",
    int(pytsk3.TSK_FS_TYPE_FAT32): "FAT32",
    int(pytsk3.TSK_FS_TYPE_EXFAT): "exFAT",
    int(pytsk3.TSK_FS_TYPE_EXT2): "ext2",
    int(pytsk3.TSK_FS_TYPE_EXT3): "ext3",
    int(pytsk3.TSK_FS_TYPE_EXT4): "ext4",
    int(pytsk3.TSK_FS_TYPE_HFS): "HFS+",
    int(pytsk3.TSK_FS_TYPE_ISO9660): "ISO 9660",
    int(pytsk3.TSK_FS_TYPE_FFS1): "UFS1",
    int(pytsk3.TSK_FS_TYPE_FFS2): "UFS2",
    int(pytsk3.TSK_FS_TYPE_YAFFS2): "YAFFS2",
}

_META_KIND = {
    int(pytsk3.TSK_FS_META_TYPE_REG): "file",
    int(pytsk3.TSK_FS_META_TYPE_DIR): "directory",
    int(pytsk3.TSK_FS_META_TYPE_LNK): "link",
    int(pytsk3.TSK_FS_META_TYPE_VIRT): "virtual",
    int(pytsk3.TSK_FS_META_TYPE_VIRT_DIR): "directory",
}
_NAME_KIND = {
    int(pytsk3.TSK_FS_NAME_TYPE_REG): "file",
    int(pytsk3.TSK_FS_NAME_TYPE_DIR): "directory",
    int(pytsk3.TSK_FS_NAME_TYPE_LNK): "link",
    int(pytsk3.TSK_FS_NAME_TYPE_VIRT): "virtual",
    int(pytsk3.TSK_FS_NAME_TYPE_VIRT_DIR): "directory",
}
_DIRECTORY_META = {int(pytsk3.TSK_FS_META_TYPE_DIR), int(pytsk3.TSK_FS_META_TYPE_VIRT_DIR)}
_NTFS_DATA = int(pytsk3.TSK_FS_ATTR_TYPE_NTFS_DATA)
_NTFS_INDEX_ROOT = int(pytsk3.TSK_FS_ATTR_TYPE_NTFS_IDXROOT)
_NAME_UNALLOC = int(pytsk3.TSK_FS_NAME_FLAG_UNALLOC)
_META_ALLOC = int(pytsk3.TSK_FS_META_FLAG_ALLOC)
_PART_ALLOC = int(pytsk3.TSK_VS_PART_FLAG_ALLOC)
_VS_GPT = int(pytsk3.TSK_VS_TYPE_GPT)
# pytsk3's Sleuth Kit lists no more GPT partitions than this; mmls (and the GPT itself) may hold more.
PYTSK_GPT_LIMIT = 8192
GPT_ENTRIES_PER_READ = 8192  # 1 MiB of 128-byte entries
# What Sleuth Kit reads past a volume's start for its entropy (encryption) check when it finds no filesystem.
ENCRYPTION_CHECK_BYTES = 100 * 64 * 1024
_EXT_TYPES = {int(pytsk3.TSK_FS_TYPE_EXT2), int(pytsk3.TSK_FS_TYPE_EXT3), int(pytsk3.TSK_FS_TYPE_EXT4)}
MAX_DIRECTORY_DEPTH = 512
# A filesystem whose listing makes no progress for this long is stopped (Sleuth Kit can spend hours in C on
# one corrupt inode: a symbolic link declaring a 1 GiB target has its whole block map built when it is listed).
LISTING_STALL_SECONDS = 60.0
# Streams whose size is the whole volume but hold no data worth hashing (NTFS bad-cluster map).
SPARSE_SYSTEM_STREAMS = {"/$BadClus:$Bad"}
# What pytsk3 raises when Sleuth Kit cannot read: OSError from its own reads, RuntimeError when a read it
# asked of our image handle raised (a bad sector of a split or EWF image).
_TSK_ERRORS = (OSError, RuntimeError)
_ATTR_NONRESIDENT = int(pytsk3.TSK_FS_ATTR_NONRES)
_RUN_SPARSE, _RUN_FILLER = int(pytsk3.TSK_FS_ATTR_RUN_FLAG_SPARSE), int(pytsk3.TSK_FS_ATTR_RUN_FLAG_FILLER)


class _SegmentedFiles:
    """Raw and split raw images: one or more files read with pread (no shared file offset)."""

    def __init__(self, segments: list[Path]) -> None:
        self._fds: list[int] = []
        self._starts: list[int] = []
        self.size = 0
        for segment in segments:
            fd = os.open(segment, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            self._fds.append(fd)
            self._starts.append(self.size)
            self.size += os.fstat(fd).st_size

    def read(self, offset: int, size: int) -> bytes:
        parts = []
        index = max(i for i, start in enumerate(self._starts) if start <= offset)
        while size > 0 and index < len(self._fds):
            data = os.pread(self._fds[index], size, offset - self._starts[index])
            if not data:
                index += 1
                continue
            parts.append(data)
            offset += len(data)
            size -= len(data)
            if index + 1 < len(self._starts) and offset >= self._starts[index + 1]:
                index += 1
        return b"".join(parts)

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []


class _EwfMedia:
    """Expert Witness (E01) images through libewf; reads are serialised for libewf's sake."""

    def __init__(self, segments: list[Path]) -> None:
        self.ewf = pyewf.handle()
        self.ewf.open([str(p) for p in segments], "r")
        self._lock = threading.Lock()
        self.size = self.ewf.get_media_size()

    def read(self, offset: int, size: int) -> bytes:
        with self._lock:
            return self.ewf.read_buffer_at_offset(size, offset)

    def close(self) -> None:
        self.ewf.close()


class _ImageHandle(pytsk3.Img_Info):
    """Serves Sleuth Kit's reads from the media. It can pretend to be longer than a truncated image so that its
    partition table still opens; reads past the real end (and a truncated virtual disk's missing clusters) then
    count (per thread) so that content from there is reported unreadable rather than hashed as zeros."""

    def __init__(self, media: _SegmentedFiles | _EwfMedia | VirtualDisk, presented_size: int | None = None) -> None:
        self.media = media
        self.real_size = media.size
        self.presented_size = presented_size or media.size  # Sleuth Kit reads it once, at construction
        self._past_end = threading.local()
        super().__init__(url="", type=pytsk3.TSK_IMG_TYPE_EXTERNAL)

    def get_size(self) -> int:
        return self.presented_size

    def read(self, offset: int, size: int) -> bytes:
        if offset + size <= self.real_size:
            return self.media.read(offset, size)
        self._past_end.count = self.past_end_reads() + 1
        if offset >= self.real_size:
            return b"\0" * min(size, max(0, self.presented_size - offset))
        data = self.media.read(offset, self.real_size - offset)
        return data + b"\0" * (size - len(data))

    def past_end_reads(self) -> int:
        missing = self.media.failed_reads() if isinstance(self.media, VirtualDisk) else 0
        return getattr(self._past_end, "count", 0) + missing


class TskContent(Content):
    """One attribute (data stream) of one file, read through Sleuth Kit."""

    def __init__(self, fs_file: pytsk3.File, size: int, image: pytsk3.Img_Info,
                 attr_type: int | None = None, attr_id: int | None = None, partition_offset: int = 0) -> None:
        self._fs_file = fs_file
        self._attr = (attr_type, attr_id) if attr_type is not None else None
        self._partition_offset = partition_offset
        self._past_end_reads = getattr(image, "past_end_reads", None)  # only a padded image has them
        self.size = size

    def read_at(self, offset: int, length: int) -> bytes:
        before = self._past_end_reads() if self._past_end_reads else 0
        if self._attr is None:
            data = self._file().read_random(offset, length)
        else:
            data = self._file().read_random(offset, length, self._attr[0], self._attr[1])
        if self._past_end_reads and self._past_end_reads() != before:
            raise OSError("content lies beyond the end of the (truncated) image")
        return data

    def image_ranges(self) -> list[tuple[int, int]]:
        """(offset, length) of the image bytes that hold this content, from Sleuth Kit's block runs; empty
        when the content is resident in a metadata record (NTFS) rather than in blocks of its own."""
        fs_file = self._file()
        block = fs_file.info.fs_info.block_size
        ranges = []
        for attribute in fs_file:
            if self._attr is not None and (int(attribute.info.type), attribute.info.id) != self._attr:
                continue
            if not int(attribute.info.flags) & _ATTR_NONRESIDENT:
                continue
            for run in attribute:
                if not int(run.flags) & (_RUN_SPARSE | _RUN_FILLER):
                    ranges.append((self._partition_offset + run.addr * block, run.len * block))
            if self._attr is None:
                break  # the first data attribute is the one read_random reads
        return ranges

    def _file(self) -> pytsk3.File:
        return self._fs_file


class _ReopenedContent(TskContent):
    """Content of a file that the listing process found: opened here, by its inode address, on first read.
    Opening it cannot hang where listing it did not: Sleuth Kit does the same work on the same bytes."""

    def __init__(self, fs: pytsk3.FS_Info, address: int, size: int, image: pytsk3.Img_Info,
                 attr: tuple[int, int] | None, partition_offset: int) -> None:
        attr_type, attr_id = attr or (None, None)
        super().__init__(None, size, image, attr_type, attr_id, partition_offset)
        self._fs = fs
        self._address = address

    def _file(self) -> pytsk3.File:
        if self._fs_file is None:
            try:
                self._fs_file = self._fs.open_meta(inode=self._address)
            except ValueError as error:
                raise OSError(f"inode {self._address} cannot be opened: {error}") from None
        return self._fs_file


class DiskImage(EvidenceSource):
    """A raw, split raw, EWF or virtual disk image: volumes, then filesystems, then every file."""

    KIND = "disk"
    IN_PARTS = True

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        with open(path, "rb") as handle:
            head = handle.read(len(EWF_SIGNATURE))
        if head == EWF_SIGNATURE:
            self.format = "ewf"
            try:
                self._segments = [Path(p) for p in pyewf.glob(str(path))]
                self._check_ewf_segments()
            except OSError:  # an EWF file renamed away from .E01: it can only be one segment
                self._segments = [path]
            try:
                media: _SegmentedFiles | _EwfMedia | VirtualDisk = _EwfMedia(self._segments)
            except OSError as error:
                raise EvidenceError(f"cannot open EWF image: {_first_line(error)}") from None
        elif (virtual := format_of_file(path)) is not None:
            media = VirtualDisk(path, virtual)
            self.format, self._segments = virtual, media.files
        else:
            split = split_raw_segments(path)
            self.format = "split raw" if split else "raw"
            self._segments = split or [path]
            media = _SegmentedFiles(self._segments)
        self.media = media
        self.size = media.size
        if self.size == 0:
            raise EvidenceError("disk image is empty")
        # Sleuth Kit reads a plain raw file itself, in C, without calling back into Python.
        self.image = pytsk3.Img_Info(str(path)) if self.format == "raw" else _ImageHandle(media)
        self._volumes_read = False
        self._filesystems: dict[int, pytsk3.FS_Info] = {}
        self.listing_stall_seconds = LISTING_STALL_SECONDS

    @property
    def container_files(self) -> list[Path]:
        return self._segments

    def _check_ewf_segments(self) -> None:
        """EWF segments go .E01 ... .E99, .EAA ...; a hole in that run is a missing segment."""
        names = [p.suffix.upper() for p in self._segments]
        expected = [ewf_suffix(i) for i in range(1, len(names) + 1)]
        for have, want in zip(sorted(names, key=ewf_number), expected, strict=True):
            if have.upper() != want.upper():
                raise EvidenceError(f"EWF image: segment {want} is missing")

    # -- integrity -----------------------------------------------------------------

    def stored_hashes(self) -> dict[str, str]:
        """The MD5/SHA-1 the acquisition tool stored in the EWF container (empty for raw)."""
        if not isinstance(self.media, _EwfMedia):
            return {}
        stored = {}
        for name in ("MD5", "SHA1"):
            value = self.media.ewf.get_hash_value(name)
            if value:
                stored[name.lower()] = value.lower()
        return stored

    def verify_media(self, wanted: set[str], progress: Callable[[int], None],
                     cancelled: threading.Event) -> dict[str, str]:
        """Hash the whole acquired media stream (what EWF stores hashes of)."""
        hashers = {name: hashlib.new(name) for name in wanted}
        offset = 0
        size = self.size
        while offset < size:
            if cancelled.is_set():
                raise Cancelled()
            try:
                data = self.media.read(offset, min(4 * 1024 * 1024, size - offset))
            except OSError as error:
                raise EvidenceError(f"read error at byte {offset}: {_first_line(error)}") from None
            if not data:
                raise EvidenceError(f"media ends early at byte {offset} of {size}")
            for hasher in hashers.values():
                hasher.update(data)
            offset += len(data)
            progress(len(data))
        return {name: hasher.hexdigest() for name, hasher in hashers.items()}

    # -- volumes and filesystems ---------------------------------------------------

    def _volumes(self) -> list[Partition]:
        """Allocated partitions of the volume system, or one bare filesystem at offset 0.

        A filesystem's boot sector can read as a partition table (exFAT's boot code, for one, ends in the
        same 0x55AA signature): when the table's entries fall outside the image or overlap, the filesystem
        at offset 0 is tried as well, and only the entries that lie in the image beside it are kept.
        """
        try:
            volumes = pytsk3.Volume_Info(self.image)
        except _TSK_ERRORS:  # a read failed, or Sleuth Kit refuses a table pointing past the image's end: read it anyway
            try:
                volumes = pytsk3.Volume_Info(_ImageHandle(self.media, presented_size=1 << 44))
            except _TSK_ERRORS:
                volumes = None
        if volumes is None:
            return [Partition(0, self.size, "whole image (no partition table)")]
        block = volumes.info.block_size
        entries = [
            Partition(part.start * block, part.len * block, _text(part.desc))
            for part in volumes
            if int(part.flags) & _PART_ALLOC
        ]
        if int(volumes.info.vstype) == _VS_GPT and len(entries) >= PYTSK_GPT_LIMIT:
            entries += self._gpt_entries_past_limit(volumes, entries)
        senseless = self._senseless_entries(entries)
        if senseless and not any(entry.offset == 0 for entry in entries):
            bare = self._filesystem_at_start()
            if bare is not None:
                kept = [entry for entry in entries if id(entry) not in senseless and entry.offset >= bare.length]
                self.ledger.warn("volumes", "partition table", f"{len(entries) - len(kept)} entries that fall "
                                 "outside the image or overlap ignored: the image holds a filesystem at offset 0")
                return [bare, *kept]
        declared_end = max((entry.offset + entry.length for entry in entries), default=0)
        if declared_end > self.size:  # a truncated acquisition still deserves the partitions that are there
            self.image = _ImageHandle(self.media, presented_size=declared_end)
            self.problems.append(f"image is truncated: {self.size} bytes, its partition table describes {declared_end}")
        return entries

    def _filesystem(self, partition: Partition) -> pytsk3.FS_Info:
        """The filesystem in a partition, as fls -o finds it. A partition smaller than the stretch that Sleuth
        Kit reads for its encryption check when it finds no filesystem (99 blocks of 64 KiB past the start) is
        first searched alone, so that 10,000 small empty partitions cost seconds, not many minutes."""
        if partition.length < ENCRYPTION_CHECK_BYTES:
            # No filesystem within the partition's bounds raises OSError, which ends the search here; one found is
            # opened again below on the whole image, so that reads past the partition's end stay possible.
            try:
                pytsk3.FS_Info(_ImageHandle(self.media, presented_size=partition.offset + partition.length),
                               offset=partition.offset)
            except RuntimeError:  # a read failed: the full search below says what it says
                pass
        return pytsk3.FS_Info(self.image, offset=partition.offset)

    def _senseless_entries(self, entries: list[Partition]) -> set[int]:
        """ids of the partition table entries that make no sense: reaching past the image or overlapping another."""
        senseless = {id(entry) for entry in entries if entry.offset + entry.length > self.size}
        reach: Partition | None = None  # of the entries so far (by start), the one that ends last
        for entry in sorted(entries, key=lambda e: e.offset):
            if reach is not None and entry.offset < reach.offset + reach.length:
                senseless |= {id(entry), id(reach)}
            if reach is None or entry.offset + entry.length > reach.offset + reach.length:
                reach = entry
        return senseless

    def _filesystem_at_start(self) -> Partition | None:
        """The filesystem at offset 0 that Sleuth Kit recognises, as a volume, or None."""
        try:
            fs = pytsk3.FS_Info(self.image, offset=0)
        except _TSK_ERRORS:
            return None
        length = min(int(fs.info.block_count) * int(fs.info.block_size), self.size)
        return Partition(0, length, "whole image (filesystem at offset 0; its boot sector reads as a partition table)")

    def _gpt_entries_past_limit(self, volumes: pytsk3.Volume_Info, listed: list[Partition]) -> list[Partition]:
        """The GPT entries that pytsk3's Sleuth Kit leaves out once it has listed PYTSK_GPT_LIMIT partitions.

        No maintained library reads them: libvsgpt refuses tables of more than 128 entries and dissect.volume
        is AGPL-licensed. So the table is read here by the UEFI specification's layout (header at LBA 1: the
        table's LBA at byte 72, its entry count at 80 and entry size at 84; an entry's first and last LBA at
        bytes 32 and 40 and its UTF-16 name at 56), and every used entry that Sleuth Kit did not list is added.
        """
        block = int(volumes.info.block_size)
        header = self.image.read(block, 92)
        if header[:8] != b"EFI PART":  # Sleuth Kit read the backup table: say what is missing
            self.ledger.skipped("volumes", "GPT entries past pytsk3's limit not read", None,
                                f"the primary GPT header is damaged; only {len(listed)} partitions listed")
            return []
        table_lba, count, entry_size = struct.unpack_from("<QII", header, 72)
        if entry_size < 128:
            self.ledger.skipped("volumes", "GPT entries past pytsk3's limit not read", None,
                                f"the GPT header gives an entry size of {entry_size} bytes")
            return []
        in_image = max(0, min(count, (self.size - table_lba * block) // entry_size))
        known = {(entry.offset, entry.length) for entry in listed}
        found = []
        for start in range(0, in_image, GPT_ENTRIES_PER_READ):  # a damaged count must not fill the memory
            chunk = self.image.read(table_lba * block + start * entry_size,
                                    min(GPT_ENTRIES_PER_READ, in_image - start) * entry_size)
            for at in range(0, len(chunk) - entry_size + 1, entry_size):
                first, last = struct.unpack_from("<QQ", chunk, at + 32)
                name = chunk[at + 56:at + 128].decode("utf-16-le", "replace").split("\0", 1)[0]
                if first and last >= first and (first * block, (last - first + 1) * block) not in known:
                    found.append(Partition(first * block, (last - first + 1) * block, name))
        if in_image < count:
            self.ledger.skipped("volumes", "GPT entries past the end of the image", None,
                                f"{count - in_image} of {count} entries not read")
        return found

    def objects(self, cancelled: threading.Event) -> Iterator[EvidenceObject]:
        self.partitions = self._volumes()
        found_filesystem = False
        for partition in self.partitions:
            self.ledger.attempted("volumes")
            if partition.offset >= self.size:
                partition.status = "beyond end of image"
                self.ledger.skipped("volumes", "partition beyond end of truncated image", partition.description)
                continue
            try:
                fs = self._filesystem(partition)
            except _TSK_ERRORS as error:
                unreadable = isinstance(error, RuntimeError)  # the image read failed, not the filesystem check
                partition.status = "unreadable" if unreadable else "no filesystem"
                partition.note = _first_line(error)
                self.ledger.skipped("volumes", "unreadable" if unreadable else "no filesystem Sleuth Kit recognises",
                                    f"{partition.description} at byte {partition.offset}", partition.note if unreadable else None)
                continue
            damage = _ext_superblock_damage(self.image, partition.offset, fs)
            if damage:
                partition.status, partition.note = "no filesystem", damage
                self.ledger.skipped("volumes", "corrupt superblock", f"{partition.description} at byte {partition.offset}",
                                    damage)
                continue
            found_filesystem = True
            partition.filesystem = FILESYSTEM_NAMES.get(int(fs.info.ftype), f"type {int(fs.info.ftype)}")
            self.ledger.processed("volumes")
            yield from self._listing(fs, partition.offset, cancelled)
        media_damage = self.media.unreadable if isinstance(self.media, VirtualDisk) else None
        if not found_filesystem:
            raise EvidenceError(media_damage or "no partition or filesystem that Sleuth Kit recognises")
        if media_damage:
            self.problems.append(media_damage)

    def open(self, ref: ObjectRef) -> Content:
        """One data stream, by the partition offset and inode a scan recorded (NTFS: addr-type-id),
        read as Sleuth Kit's icat reads it: for the content viewer and for exporting files."""
        if ref.inode is None:
            raise EvidenceError(f"{ref.display()}: no inode recorded")
        fs, inode = self._filesystem_of(ref.partition_offset), ref.inode
        address, _, stream = inode.partition("-")
        try:
            fs_file = fs.open_meta(inode=int(address))
        except (OSError, ValueError) as error:
            raise EvidenceError(f"inode {inode} cannot be opened: {_first_line(error)}") from None
        if not stream:
            return TskContent(fs_file, fs_file.info.meta.size, self.image)
        attr_type, _, attr_id = stream.partition("-")
        for attribute in fs_file:
            if int(attribute.info.type) == int(attr_type) and attribute.info.id == int(attr_id):
                return TskContent(fs_file, attribute.info.size, self.image, int(attr_type), int(attr_id))
        raise EvidenceError(f"inode {inode}: no such data stream")

    def _filesystem_of(self, partition_offset: int) -> pytsk3.FS_Info:
        """The filesystem at this offset, opened once, through the handle a scan reads the image by."""
        if not self._volumes_read:
            self._volumes()  # a truncated image gets its padded handle here, as in a scan
            self._volumes_read = True
        fs = self._filesystems.get(partition_offset)
        if fs is None:
            try:
                fs = pytsk3.FS_Info(self.image, offset=partition_offset)
            except OSError as error:
                raise EvidenceError(f"no filesystem at byte {partition_offset}: {_first_line(error)}") from None
            self._filesystems[partition_offset] = fs
        return fs

    def entry(self, obj: EvidenceObject) -> list:
        """An object of this image's listing as plain values (JSON): its content by its inode address."""
        content = obj.content
        reopen = [content._address, content.size, content._attr] if isinstance(content, _ReopenedContent) else None
        return [written_down(obj), reopen]

    def listed(self, entry: list) -> EvidenceObject:
        """An object its listing wrote down (`entry`), its content reopened here: by another worker, on its own
        copy of the image."""
        fields, reopen = entry
        obj = EvidenceObject(*fields)
        if reopen is not None:
            address, size, attr = reopen
            obj.content = _ReopenedContent(self._filesystem_of(obj.partition_offset), address, size, self.image,
                                           tuple(attr) if attr else None, obj.partition_offset)
        return obj
    def objects_stored_in(self, ranges: list[tuple[int, int]], cancelled: threading.Event) -> Iterator[EvidenceObject]:
        """Files whose content lies (partly) in these (offset, length) ranges of the image. Sleuth Kit's own
        reader of a raw image hands back zeros where the medium failed to read, without an error, so files
        there are found again by their block runs once the unreadable ranges are known."""
        for partition in self.partitions:
            if partition.filesystem is None:
                continue
            try:
                fs = pytsk3.FS_Info(self.image, offset=partition.offset)
            except _TSK_ERRORS:
                continue
            for obj in self._listing(fs, partition.offset, cancelled):
                if isinstance(obj.content, TskContent) and any(
                        start < bad + length and bad < start + size
                        for start, size in obj.content.image_ranges() for bad, length in ranges):
                    yield obj

    def _listing(self, fs: pytsk3.FS_Info, offset: int, cancelled: threading.Event) -> Iterator[EvidenceObject]:
        """The walk of one filesystem, run in a child process: a listing that makes no progress for
        listing_stall_seconds, or that crashes Sleuth Kit, is stopped and recorded, what it listed before is
        kept, and the scan goes on with the other volumes. Content is read here, through `fs`."""
        at, last = "/", None
        try:
            for message in watched(_list_filesystem, (str(self.path), offset), self.listing_stall_seconds, cancelled):
                kind = message[0]
                if kind == "object":
                    obj, content = EvidenceObject(*message[1]), message[2]
                    if content is not None:
                        address, size, attr = content
                        obj.content = _ReopenedContent(fs, address, size, self.image, attr, offset)
                    last = obj.path
                    yield obj
                elif kind == "at":
                    at = message[1]
                elif kind == "ledger":
                    getattr(self.ledger, message[1])(*message[2])
                elif kind == "problem":
                    self.problems.append(message[1])
        except (Stalled, ChildFailed) as stop:
            if isinstance(stop, ChildFailed) and not stop.crashed:  # a bug in the walk, not hostile evidence
                raise RuntimeError(f"listing of the filesystem at byte {offset} failed: {stop}") from None
            why = str(stop) if isinstance(stop, Stalled) else f"Sleuth Kit crashed: {stop}"
            self.ledger.skipped("files", "listing stopped", at, why + (f"; last listed {last}" if last else ""))
            self.problems.append(f"listing stopped: {why} at {at} (filesystem at byte {offset}); what was listed before is kept")

    def close(self) -> None:
        self.media.close()


class _LedgerRelay:
    """The listing process's ledger: each entry is sent to the scan's ledger at once, so none is lost
    when the listing is stopped."""

    def __init__(self, send: Callable[[object], None]) -> None:
        self._send = send

    def __getattr__(self, method: str) -> Callable[..., None]:
        return lambda *args: self._send(("ledger", method, args))


class _ProblemRelay(list):
    """The listing process's evidence problems, sent to the scan's as they are recorded."""

    def __init__(self, send: Callable[[object], None]) -> None:
        super().__init__()
        self._send = send

    def append(self, problem: str) -> None:
        self._send(("problem", problem))


def _list_filesystem(send: Callable[[object], None], stop: threading.Event, path: str, offset: int) -> None:
    """In the listing process: walk the filesystem at `offset` and send every object (content as the
    inode address, size and stream to reopen it by), and each directory as the walk enters or resumes it,
    until the walk ends or the scan asks it to stop."""
    disk = DiskImage(Path(path))
    try:
        disk._volumes()  # a truncated image gets the padded handle that the scan reads through
        disk.ledger = _LedgerRelay(send)  # type: ignore[assignment]  # a stand-in: the ledger's methods, relayed
        disk.problems = _ProblemRelay(send)
        fs = pytsk3.FS_Info(disk.image, offset=offset)
        for obj in _FilesystemWalk(fs, offset, disk, stop, at=lambda where: send(("at", where))).objects():
            content = None
            if isinstance(obj.content, TskContent):
                assert obj.inode is not None  # the walk gives every object with Sleuth Kit content its inode
                content = (int(obj.inode.split("-")[0]), obj.content.size, obj.content._attr)
            obj.content = None
            send(("object", tuple(getattr(obj, name) for name in OBJECT_FIELDS), content))  # cheaper than pickling it
    finally:
        disk.close()  # the process stays for the next listing: it must not keep the evidence open


class _EntryFacts(TypedDict):
    """What every object of one filesystem entry (its NTFS streams, its index) shares."""

    partition_offset: int
    deleted: bool
    mtime: str | None
    atime: str | None
    ctime: str | None
    crtime: str | None


class _FilesystemWalk:
    """Recursive walk of one filesystem, listing what Sleuth Kit's `fls -r -p` lists."""

    def __init__(self, fs: pytsk3.FS_Info, offset: int, disk: DiskImage, cancelled: threading.Event,
                 at: Callable[[str], None] = lambda where: None) -> None:
        self.fs = fs
        self.at = at  # told the directory being read, before Sleuth Kit is asked for its next entry
        self.offset = offset
        self.disk = disk
        self.cancelled = cancelled
        self.is_ntfs = int(fs.info.ftype) == int(pytsk3.TSK_FS_TYPE_NTFS)
        self.corrupt_records = 0  # NTFS file records in use whose data Sleuth Kit cannot find
        self.volume_size = min(int(fs.info.block_count) * int(fs.info.block_size), disk.size - offset)

    def objects(self) -> Iterator[EvidenceObject]:
        """Depth first, a directory's content right after the directory, as `fls -r` lists: what was listed
        before an entry that Sleuth Kit hangs on is then what fls lists before it."""
        root = self.fs.info.root_inum
        self.at("/")
        try:
            top = self.fs.open_dir(inode=root)
        except _TSK_ERRORS as error:  # e.g. a bad sector under the root directory: the other volumes still count
            self.disk.ledger.skipped("files", "unreadable directory", "/", _first_line(error))
            self.disk.problems.append(f"root directory of the filesystem at byte {self.offset} is unreadable")
            return
        # (entries still to read, path prefix, meta addresses of the directories above them)
        stack: list[tuple[Iterator[pytsk3.File], str, frozenset[int]]] = [(iter(top), "", frozenset([root]))]
        while stack:
            entries, prefix, ancestors = stack[-1]
            try:
                entry = next(entries, None)
            except _TSK_ERRORS as error:
                self.disk.ledger.skipped("files", "unreadable directory", prefix or "/", _first_line(error))
                entry = None
            if entry is None:
                stack.pop()
                if stack:
                    self.at(stack[-1][1] or "/")
                continue
            if self.cancelled.is_set():
                return
            name_info = entry.info.name
            name = _text(name_info.name)
            if name in (".", ".."):
                continue
            path = f"{prefix}/{name}"
            entry = self._with_metadata(entry, name_info)
            yield from self._entry_objects(entry, name_info, path)
            meta = entry.info.meta
            if meta is None or int(meta.type) not in _DIRECTORY_META:
                continue
            if int(name_info.flags) & _NAME_UNALLOC and int(meta.flags) & _META_ALLOC:
                continue  # deleted name whose inode now belongs to another directory
            if meta.addr in ancestors:
                self.disk.ledger.warn("files", path, "directory loop: not followed")
                continue
            if len(ancestors) >= MAX_DIRECTORY_DEPTH:
                self.disk.ledger.skipped("files", "directory nesting too deep", path)
                continue
            if 0 < self.volume_size < meta.size:  # Sleuth Kit would spend seconds per corrupt directory
                self.disk.ledger.skipped("files", "directory larger than the filesystem", path)
                continue
            self.at(path)
            try:
                stack.append((iter(entry.as_directory()), path, ancestors | {meta.addr}))
            except _TSK_ERRORS as error:
                self.disk.ledger.skipped("files", "unreadable directory", path, _first_line(error))
                self.at(prefix or "/")
        if self.corrupt_records:
            self.disk.problems.append(f"{self.corrupt_records} NTFS file records in use have a damaged attribute: their "
                                      f"content is not read (filesystem at byte {self.offset}; each is noted on its file)")

    def _with_metadata(self, entry: pytsk3.File, name_info: pytsk3.TSK_FS_NAME) -> pytsk3.File:
        """The entry with the metadata that fls shows for it. pytsk3 drops the metadata of a deleted name whose
        sequence number differs from its record's (NTFS raises it on deletion; Sleuth Kit's $OrphanFiles names
        carry none), where fls keeps it: the record is then opened by its address, as icat opens it. A record
        allocated again belongs to another file now (fls's "realloc") and is not taken for the deleted one."""
        if entry.info.meta is not None or not name_info.meta_addr or not int(name_info.flags) & _NAME_UNALLOC:
            return entry
        try:
            record = self.fs.open_meta(inode=name_info.meta_addr)
        except (*_TSK_ERRORS, ValueError):
            return entry
        meta = record.info.meta
        return entry if meta is None or int(meta.flags) & _META_ALLOC else record

    def _entry_objects(self, entry: pytsk3.File, name_info: pytsk3.TSK_FS_NAME, path: str) -> Iterator[EvidenceObject]:
        meta = entry.info.meta
        deleted = bool(int(name_info.flags) & _NAME_UNALLOC)
        if meta is None:
            kind = _NAME_KIND.get(int(name_info.type), "other")
            yield EvidenceObject(
                path=path, name=path.rsplit("/", 1)[1], size=0, kind=kind,
                partition_offset=self.offset, inode=str(name_info.meta_addr), deleted=deleted,
                unreadable="no metadata (deleted entry)" if kind == "file" else None,
            )
            return
        kind = _META_KIND.get(int(meta.type), "other")
        common = _EntryFacts(
            partition_offset=self.offset, deleted=deleted,
            mtime=iso_utc(meta.mtime, meta.mtime_nano), atime=iso_utc(meta.atime, meta.atime_nano),
            ctime=iso_utc(meta.ctime, meta.ctime_nano), crtime=iso_utc(meta.crtime, meta.crtime_nano),
        )
        if not self.is_ntfs:
            content = TskContent(entry, meta.size, self.disk.image, partition_offset=self.offset) \
                if kind in ("file", "virtual") else None
            yield self._bounded(EvidenceObject(path=path, name=path.rsplit("/", 1)[1], size=meta.size, kind=kind,
                                               inode=str(meta.addr), content=content, **common))
            return
        # NTFS: every $DATA stream is its own object (path:stream); directories show their index.
        listed = False
        for attribute in entry:
            attr_type = int(attribute.info.type)
            if attr_type not in (_NTFS_DATA, _NTFS_INDEX_ROOT):
                continue
            listed = True
            stream = _text(attribute.info.name) if attribute.info.name else ""
            shown = f"{path}:{stream}" if stream and not (attr_type == _NTFS_INDEX_ROOT and stream == "$I30") else path
            inode = f"{meta.addr}-{attr_type}-{attribute.info.id}"
            if attr_type == _NTFS_INDEX_ROOT and shown == path:
                yield EvidenceObject(path=shown, name=shown.rsplit("/", 1)[1], size=0, kind="directory",
                                     inode=inode, **common)
                continue
            is_stream = shown != path
            content = TskContent(entry, attribute.info.size, self.disk.image, attr_type, attribute.info.id, self.offset)
            obj = EvidenceObject(path=shown, name=shown.rsplit("/", 1)[1], size=attribute.info.size,
                                 kind="file" if is_stream else kind, inode=inode, content=content, **common)
            if shown in SPARSE_SYSTEM_STREAMS:
                obj.content, obj.unreadable = None, "bad-cluster map spans the volume; not read"
            yield self._bounded(obj)
        if not listed:
            obj = EvidenceObject(path=path, name=path.rsplit("/", 1)[1], size=meta.size, kind=kind,
                                 inode=str(meta.addr), **common)
            if kind == "file" and int(meta.flags) & _META_ALLOC:  # every file record in use holds a $DATA attribute
                obj.unreadable = "corrupt NTFS record: Sleuth Kit reads no $DATA attribute from it (its attributes are damaged)"
                self.corrupt_records += 1
            yield obj


    def _bounded(self, obj: EvidenceObject) -> EvidenceObject:
        """A size larger than the whole filesystem (or what the image holds of it) comes from corrupt
        metadata or a sparse file: reading it would hash zeros for hours, so its content is not read."""
        if obj.content is not None and 0 < self.volume_size < obj.size:
            obj.content = None
            obj.unreadable = f"declared size larger than the filesystem or the image holds of it ({self.volume_size} bytes); not read"
        return obj


def _ext_superblock_damage(image: pytsk3.Img_Info, offset: int, fs: pytsk3.FS_Info) -> str | None:
    """An ext2/3/4 inode size that is no power of two from 128 to the block size: Sleuth Kit loops on it."""
    if int(fs.info.ftype) not in _EXT_TYPES:
        return None
    superblock = image.read(offset + 1024, 90)
    revision, inode_size = int.from_bytes(superblock[76:80], "little"), int.from_bytes(superblock[88:90], "little")
    if revision == 0 or (128 <= inode_size <= int(fs.info.block_size) and not inode_size & (inode_size - 1)):
        return None
    return f"corrupt ext superblock: inode size {inode_size}"


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else error.__class__.__name__
