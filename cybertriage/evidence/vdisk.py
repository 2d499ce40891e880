"""Virtual disks (VMDK, VHD, VHDX, QCOW2), read through libyal's libvmdk, libvhdi and libqcow as dfvfs reads them.

A virtual disk is known by its content, not its name: a VMDK sparse extent starts "KDMV", a VMDK descriptor is a
text starting "# Disk DescriptorFile", a VHDX starts "vhdxfile", a QCOW image "QFI\\xfb", and a VHD ends with a
"conectix" footer (a dynamic VHD also starts with a copy of it). What the libraries give is the guest's disk, byte
for byte; the disk image code reads it through Sleuth Kit exactly as it reads a raw image. The files that hold it
(the descriptor and its extents, a differencing image and its parents) are what is hashed and verified. A
differencing VHD's block bitmaps are read here, not by libvhdi, which misreads them (_VhdDifferencing).
"""

from __future__ import annotations

import io
import re
import struct
import threading
from collections.abc import Callable
from pathlib import Path, PureWindowsPath
from typing import Any

import pyqcow
import pyvhdi
import pyvmdk

from ..errors import EvidenceError

VMDK, VHD, VHDX, QCOW = "vmdk", "vhd", "vhdx", "qcow2"
FORMAT_NAMES = {VMDK: "VMDK", VHD: "VHD", VHDX: "VHDX", QCOW: "QCOW2"}
VMDK_DESCRIPTOR = b"# Disk DescriptorFile"
VHD_FOOTER = b"conectix"
# A differencing chain longer than this is a loop or a hostile descriptor, not a real snapshot tree.
MAX_CHAIN = 32
_NO_PARENT_CID = 0xFFFFFFFF
FIRST_READ = 64 * 1024  # the partition table and a bare filesystem's boot sector lie in it
_SECTOR = 512
_NO_BLOCK = 0xFFFFFFFF  # a VHD block the image does not hold
_BITMAPS_KEPT = 1024  # sector bitmaps of a differencing VHD kept between reads (512 bytes each for 2 MiB blocks)


def virtual_disk_format(head: bytes, tail: bytes) -> str | None:
    """The format of a virtual disk from its first and last 512 bytes, or None when it is none of them."""
    if head.startswith(b"KDMV") or head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(VMDK_DESCRIPTOR):
        return VMDK
    if head.startswith(b"vhdxfile"):
        return VHDX
    if head.startswith(b"QFI\xfb"):
        return QCOW
    if head.startswith(VHD_FOOTER) or tail.startswith(VHD_FOOTER) or tail[1:].startswith(VHD_FOOTER):
        return VHD  # (an old VHD's footer is 511 bytes)
    return None


def format_of_file(path: Path) -> str | None:
    """The virtual disk format of a file on the workstation, by its content."""
    with open(path, "rb") as handle:
        head = handle.read(512)
        size = handle.seek(0, io.SEEK_END)
        handle.seek(max(0, size - 512))
        tail = handle.read(512)
    return virtual_disk_format(head, tail)


class VirtualDisk:
    """The guest disk of a virtual disk file (and of its extents and parents), read under a lock: libyal's
    handles keep one file position. `files` are the workstation's files that hold it, the first one given first."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.format = fmt
        self.files: list[Path] = []
        self._handles: list[Any] = []  # the chain, child first; all stay open while the child is read
        self._lock = threading.Lock()
        self.unreadable: str | None = None  # the first read that failed, said once
        self._failed = threading.local()
        try:
            self._handle = self._open_chain(path, fmt)
            self.size = int(self._handle.get_media_size())
            self.read(0, min(self.size, FIRST_READ))  # a truncated or damaged image says so now, in one line
            if self.unreadable:
                raise EvidenceError(self.unreadable)
        except OSError as error:
            self.close()
            raise EvidenceError(f"cannot open {FORMAT_NAMES[fmt]} image: {library_error(error)}") from None
        except EvidenceError:
            self.close()
            raise

    def _open_chain(self, path: Path, fmt: str) -> Any:
        """The handle of `path`, with its parents (a differencing chain) opened and set under it."""
        chain: list[tuple[Path, Any]] = []
        while True:
            if len(chain) >= MAX_CHAIN or any(path.resolve() == seen.resolve() for seen, _ in chain):
                raise EvidenceError(f"{FORMAT_NAMES[fmt]} differencing chain loops or is longer than {MAX_CHAIN} images")
            handle, parent_name = _OPENERS[fmt](path, self.files)
            self._handles.append(handle)
            chain.append((path, handle))
            if not parent_name:
                break
            parent = _parent_path(path, parent_name)
            if parent is None:
                raise EvidenceError(f"{FORMAT_NAMES[fmt]} differencing image {path.name}: its parent "
                                    f"{parent_name!r} is missing (put it beside the image)")
            parent_format = format_of_file(parent)
            if parent_format is None or (parent_format == VMDK) != (fmt == VMDK) or \
                    (parent_format == QCOW) != (fmt == QCOW):
                raise EvidenceError(f"{FORMAT_NAMES[fmt]} differencing image {path.name}: its parent "
                                    f"{parent.name} is not an image of the same kind")
            path, fmt = parent, parent_format
        for (child_path, child), (parent_path, parent_handle) in zip(chain, chain[1:], strict=False):
            try:
                child.set_parent(parent_handle)
            except OSError as error:  # another image of the same name: the child's sectors lie over other bytes
                raise EvidenceError(f"{FORMAT_NAMES[self.format]} differencing image {child_path.name}: its parent "
                                    f"{parent_path.name} is not the image it was made from "
                                    f"({library_error(error)})") from None
        return chain[0][1]

    def read(self, offset: int, size: int) -> bytes:
        """The disk's bytes. A range the library cannot read (a truncated image's missing clusters) is zeros,
        counted per thread as the disk code counts reads past a truncated raw image's end: content there is
        reported unreadable, never hashed as zeros, and the partitions before it are still found."""
        with self._lock:
            try:
                data: bytes = self._handle.read_buffer_at_offset(size, offset)
                return data
            except OSError as error:
                if self.unreadable is None:
                    self.unreadable = (f"{FORMAT_NAMES[self.format]} image truncated or damaged: its disk cannot be "
                                       f"read at byte {offset} ({library_error(error)})")
        self._failed.count = self.failed_reads() + 1
        return b"\0" * size

    def failed_reads(self) -> int:
        """How many reads of this thread found bytes the image no longer holds."""
        return int(getattr(self._failed, "count", 0))

    def close(self) -> None:
        for handle in self._handles:
            try:
                handle.close()
            except OSError:
                pass
        self._handles = []


def _open_vmdk(path: Path, files: list[Path]) -> tuple[Any, str | None]:
    """A VMDK descriptor (or sparse extent holding one) and every extent it names, each checked present."""
    handle = pyvmdk.handle()
    handle.open(str(path))
    files.append(path)
    for extent in handle.extent_descriptors:
        if int(extent.type) == int(pyvmdk.extent_types.ZERO) or not extent.filename:
            continue
        named = path.parent / PureWindowsPath(extent.filename).name
        if not named.is_file():
            handle.close()
            raise EvidenceError(f"VMDK descriptor {path.name} names extent {extent.filename!r}, which is missing")
        if named.resolve() != path.resolve():
            files.append(named)
    handle.open_extent_data_files()
    has_parent = int(handle.parent_content_identifier or _NO_PARENT_CID) != _NO_PARENT_CID
    return handle, (handle.parent_filename or "?") if has_parent else None


def _open_vhdi(path: Path, files: list[Path]) -> tuple[Any, str | None]:
    """A VHD or VHDX image; a VHD's footer (its last sector) is checked first, since libvhdi only says its
    signature is unsupported."""
    with open(path, "rb") as image:
        head = image.read(8)
        image.seek(max(0, image.seek(0, io.SEEK_END) - 512))
        tail = image.read(512)
    if head != b"vhdxfile" and not (tail.startswith(VHD_FOOTER) or tail[1:].startswith(VHD_FOOTER)):
        raise EvidenceError(f"VHD image {path.name}: its footer (the last sector, signature 'conectix') is missing "
                            "or damaged; the image is truncated or not a VHD")
    handle = pyvhdi.file()
    handle.open(str(path))
    files.append(path)
    if int(handle.disk_type) != int(pyvhdi.disk_types.DIFFERENTIAL):
        return handle, None
    parent = handle.parent_filename or "?"
    if head != b"vhdxfile":
        handle = _VhdDifferencing(path, handle)
    return handle, parent


class _VhdDifferencing:
    """A differencing VHD's own sectors, read here; the rest from its parent. libvhdi reads its sector bitmaps wrongly
    (libvhdi_block_descriptor_read_sector_bitmap_data shifts each bit out of its byte without masking the bits
    before it: every sector after the first one set in a bitmap byte is taken as the child's, and read as zeros
    where the child has none), so a block the child holds only in part is read from the bitmap by this class. The
    library still opens the image, checks its footer and header, and gives its size, identifiers and parent's name.
    Layout: Microsoft's VHD specification (dynamic disk header, block allocation table of big-endian sector numbers,
    each block a sector bitmap, most significant bit first, then its data)."""

    def __init__(self, path: Path, library: Any) -> None:
        self.media_size = int(library.media_size)
        self.identifier = library.identifier
        self.parent_identifier = library.parent_identifier
        library.close()
        self._file = open(path, "rb")  # open while the chain is read (reads are serialised by VirtualDisk's lock)
        self.parent: Any = None
        self._bitmaps: dict[int, bytes] = {}
        try:
            footer = self._read_at(self._file.seek(0, io.SEEK_END) - 512, 512)
            footer = footer if footer.startswith(VHD_FOOTER) else footer[1:] + b"\0"  # an old VHD's 511-byte footer
            header = self._read_at(int.from_bytes(footer[16:24], "big"), 1024)
            table, entries, self.block_size = struct.unpack_from(">QxxxxII", header, 16)
            whole_sectors = self.block_size > 0 and self.block_size % _SECTOR == 0
            needed = -(-self.media_size // self.block_size) if whole_sectors else -1
            if not 0 <= needed <= entries:
                raise OSError(f"dynamic disk header: {entries} blocks of {self.block_size} bytes cannot hold a disk "
                              f"of {self.media_size} bytes")
            self._bitmap_size = -(-(self.block_size // _SECTOR // 8) // _SECTOR) * _SECTOR
            self._table = struct.unpack(f">{needed}I", self._read_at(table, 4 * needed))
        except BaseException:
            self._file.close()
            raise

    def _read_at(self, offset: int, size: int) -> bytes:
        self._file.seek(offset)
        data = self._file.read(size)
        if len(data) != size:
            raise OSError(f"the image ends at byte {offset + len(data)}, before the {size} bytes at {offset}")
        return data

    def get_media_size(self) -> int:
        return self.media_size

    def set_parent(self, parent: Any) -> None:
        if parent.identifier != self.parent_identifier:
            raise OSError(f"its identifier is {parent.identifier}, not {self.parent_identifier}")
        self.parent = parent

    def read_buffer_at_offset(self, size: int, offset: int) -> bytes:
        parts = []
        size = max(0, min(size, self.media_size - offset))
        while size > 0:
            block, within = divmod(offset, self.block_size)
            take = min(size, self.block_size - within)
            parts += self._block_read(block, within, take)
            offset += take
            size -= take
        return b"".join(parts)

    def _block_read(self, block: int, within: int, size: int) -> list[bytes]:
        """`size` bytes from `within` of one block: runs of sectors the child holds, from the child; the others, from
        the parent."""
        start = block * self.block_size
        entry = self._table[block]
        if entry == _NO_BLOCK:
            return [self.parent.read_buffer_at_offset(size, start + within)]
        bitmap = self._bitmap(block, entry)
        parts, end = [], within + size
        while within < end:
            sector = within // _SECTOR
            own = _bit(bitmap, sector)
            run_end = (sector + 1) * _SECTOR
            while run_end < end and _bit(bitmap, run_end // _SECTOR) == own:
                run_end += _SECTOR
            run_end = min(run_end, end)
            if own:
                parts.append(self._read_at(entry * _SECTOR + self._bitmap_size + within, run_end - within))
            else:
                parts.append(self.parent.read_buffer_at_offset(run_end - within, start + within))
            within = run_end
        return parts

    def _bitmap(self, block: int, entry: int) -> bytes:
        bitmap = self._bitmaps.get(block)
        if bitmap is None:
            if len(self._bitmaps) >= _BITMAPS_KEPT:
                self._bitmaps.clear()
            bitmap = self._bitmaps[block] = self._read_at(entry * _SECTOR, self._bitmap_size)
        return bitmap

    def close(self) -> None:
        self._file.close()


def _bit(bitmap: bytes, sector: int) -> bool:
    return bool(bitmap[sector // 8] & (0x80 >> (sector % 8)))


def _open_qcow(path: Path, files: list[Path]) -> tuple[Any, str | None]:
    handle = pyqcow.file()
    handle.open(str(path))
    files.append(path)
    return handle, handle.backing_filename or None


_OPENERS: dict[str, Callable[[Path, list[Path]], tuple[Any, str | None]]] = {
    VMDK: _open_vmdk, VHD: _open_vhdi, VHDX: _open_vhdi, QCOW: _open_qcow}


def _parent_path(child: Path, recorded: str) -> Path | None:
    """The parent image: as recorded (relative to the child's folder), else by its name beside the child, since
    a chain copied off the suspect's host no longer lies where its first host recorded it."""
    as_recorded = child.parent / recorded
    if as_recorded.is_file():
        return as_recorded
    beside = child.parent / PureWindowsPath(recorded.replace("/", "\\")).name
    return beside if beside.is_file() else None


def open_in_content(fileobj: io.RawIOBase | io.BufferedIOBase, fmt: str) -> Any:
    """A libyal handle over a virtual disk found as a file inside other evidence. Only a disk held in that one file
    is read: a VMDK descriptor's extents or a differencing image's parents lie beside it in the other evidence,
    where this reader does not look (OSError, with the reason)."""
    if fmt == VMDK:
        handle = pyvmdk.handle()
        try:
            handle.open_file_object(fileobj)
        except OSError as error:
            raise OSError(f"an extent of a split VMDK without its descriptor, or a damaged VMDK "
                          f"({library_error(error)})") from None
        if int(handle.disk_type) not in (int(pyvmdk.disk_types.MONOLITHIC_SPARSE),
                                         int(pyvmdk.disk_types.STREAM_OPTIMIZED)):
            handle.close()
            raise OSError("a VMDK whose extents are separate files: not read inside other evidence")
        handle.open_extent_data_files_as_file_objects([fileobj])
        has_parent = int(handle.parent_content_identifier or _NO_PARENT_CID) != _NO_PARENT_CID
    elif fmt == QCOW:
        handle = pyqcow.file()
        handle.open_file_object(fileobj)
        has_parent = bool(handle.backing_filename)
    else:
        handle = pyvhdi.file()
        handle.open_file_object(fileobj)
        has_parent = int(handle.disk_type) == int(pyvhdi.disk_types.DIFFERENTIAL)
    if has_parent:
        handle.close()
        raise OSError("a differencing image: its parent is not read inside other evidence")
    return handle


def library_error(error: BaseException) -> str:
    """The cause of a libyal error: its message is a backtrace of calls ("pyqcow_file_open: unable to open file.
    libqcow_file_header_read…: unable to read file header data at offset: 0."), the first library call naming the
    cause best; the function names are for libyal's developers."""
    calls = [part.strip() for part in re.split(r"\.\s+(?=\w+: )", str(error).strip()) if part.strip()]
    if not calls:
        return error.__class__.__name__
    cause = calls[1] if len(calls) > 1 else calls[0]
    return re.sub(r"^\w+: ", "", cause).rstrip(".")
