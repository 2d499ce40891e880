"""A virtual disk (VMDK, VHD, VHDX, QCOW2) found as a file inside other evidence: its partitions and files, read by
Sleuth Kit through the virtual disk library over the file's content, as `scan disk.qcow2` lists them.

The listing runs in the scan's process, not in the watched child that lists a disk given as evidence: the nested
disk's bytes come from the outer evidence's content, which only this process can read. It is bounded instead: by
LISTING_SECONDS (checked between entries, so a walk that Sleuth Kit hangs on inside one C call is not cut short),
and by the member limit; what was listed before a stop is kept and the stop is said. A VMDK made of several files
or a differencing image is refused with its reason: its other files lie beside it in the outer evidence.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...errors import EvidenceError
from ..base import Content, EvidenceObject, EvidenceSource, ObjectRef
from ..disk import DiskImage, _FilesystemWalk, _ImageHandle
from ..vdisk import FORMAT_NAMES, library_error, open_in_content, virtual_disk_format
from .base import Container, ContainerError, ContainerLimits, Member
from .zip import ContentFile

LISTING_SECONDS = 300.0
_SECTOR = 512


class _ContentMedia:
    """The guest disk of a virtual disk held in evidence content; libyal's handle keeps one position: a lock."""

    def __init__(self, content: Content, fmt: str) -> None:
        self._file = io.BufferedReader(ContentFile(content))
        try:
            self._handle: Any = open_in_content(self._file, fmt)
        except OSError as error:
            raise ContainerError(f"{FORMAT_NAMES[fmt]} image not read: {library_error(error)}") from None
        self._lock = threading.Lock()
        self.size = int(self._handle.get_media_size())

    def read(self, offset: int, size: int) -> bytes:
        with self._lock:
            data: bytes = self._handle.read_buffer_at_offset(size, offset)
            return data

    def close(self) -> None:
        self._handle.close()


class _NestedDisk(DiskImage):
    """The disk image code over a nested virtual disk, its filesystems walked in this process within a time."""

    def __init__(self, media: _ContentMedia, fmt: str, name: str, deadline: float) -> None:
        EvidenceSource.__init__(self, Path(name))
        self.format = fmt
        self._segments: list[Path] = []
        self.media = media  # type: ignore[assignment]  # a content-backed media: read, size, close as the others
        self.size = media.size
        self.image = _ImageHandle(media)  # type: ignore[arg-type]  # the same reads, from the outer evidence
        self._volumes_read = False
        self._filesystems = {}
        self.listing_stall_seconds = LISTING_SECONDS
        self.deadline = deadline
        self.timed_out = False

    def _listing(self, fs: Any, offset: int, cancelled: threading.Event) -> Iterator[EvidenceObject]:
        stop = threading.Event()
        for obj in _FilesystemWalk(fs, offset, self, stop).objects():
            yield obj
            if cancelled.is_set() or time.monotonic() > self.deadline:
                self.timed_out = not cancelled.is_set()
                stop.set()


class VirtualDiskContainer(Container):
    """The files of a virtual disk found as a file, named `disk.qcow2!Data/file` (`!@OFFSET/Data/file` when the
    disk holds more than one filesystem: OFFSET is the filesystem's byte offset in the virtual disk)."""

    FORMAT = "virtual disk"

    def __init__(self, content: Content, ref: ObjectRef, limits: ContainerLimits) -> None:
        super().__init__(content, ref, limits)
        fmt = _format(content)
        if fmt is None:
            raise ContainerError("not a virtual disk")
        self.kind = FORMAT_NAMES[fmt]
        self.notes: list[str] = []  # what was not listed, and why: the holder's ledger lines
        self._disk = _NestedDisk(_ContentMedia(content, fmt), fmt, ref.display(), time.monotonic() + LISTING_SECONDS)
        self._listed_objects: list[EvidenceObject] = []
        try:
            for obj in self._disk.objects(threading.Event()):
                self.listed += 1
                if len(self._listed_objects) < limits.max_members:
                    self._listed_objects.append(obj)
        except EvidenceError as error:
            self.close()
            raise ContainerError(f"{self.kind} image: {error}") from None
        self._name_objects()
        self.notes += [f"{stage}: {message}" for stage, _, message in self._disk.ledger.warnings]
        self.notes += self._disk.problems
        if self._disk.timed_out:
            self.notes.append(f"{self.kind} listing stopped after {LISTING_SECONDS:.0f} s; what was listed is examined")
        if self.listed > limits.max_members:
            self.notes.append(f"{self.kind} holds {self.listed} objects; only the first {limits.max_members} examined")

    def _name_objects(self) -> None:
        several = len({obj.partition_offset for obj in self._listed_objects}) > 1
        for index, obj in enumerate(self._listed_objects):
            name = (f"@{obj.partition_offset}" if several else "") + obj.path
            name = name.lstrip("/")
            obj.inside = ObjectRef(name, parent=self.ref, partition_offset=obj.partition_offset, inode=obj.inode)
            obj.path = obj.inside.display()
            self.members.append(Member(index, name, obj.size, obj.size, directory=obj.kind == "directory"))

    @classmethod
    def probe(cls, content: Content) -> bool:
        return _format(content) is not None

    def objects(self, holder: EvidenceObject) -> Iterator[EvidenceObject]:
        """The nested disk's objects as the listing found them, inside `holder` and as deep as it is deep."""
        for obj in self._listed_objects:
            obj.deleted = obj.deleted or holder.deleted
            yield obj

    def object(self, member: Member, holder: EvidenceObject) -> EvidenceObject:
        return self._listed_objects[member.index]

    def refusal(self, member: Member) -> str | None:
        return None  # a file in a disk is read, not inflated: the archive limits do not apply to it

    def open(self, ref: ObjectRef) -> Content:
        """A file again: by its partition and inode when the ref carries them, else by its name in the listing (a
        ref rebuilt from the case's rows holds only the name)."""
        if ref.inode is None:
            named = next((obj for obj in self._listed_objects if obj.inside is not None and obj.inside.path == ref.path),
                         None)
            if named is None or named.inside is None:
                raise ContainerError(f"no file {ref.path!r} in the {self.kind} image")
            ref = named.inside
        try:
            return self._disk.open(ref)
        except EvidenceError as error:
            raise ContainerError(str(error)) from None

    def _open_member(self, member: Member) -> Content:
        content = self._listed_objects[member.index].content
        if content is None:
            raise ContainerError(f"{member.name}: no content")
        return content

    def close(self) -> None:
        self._disk.close()


def _format(content: Content) -> str | None:
    """The virtual disk format of the content, from its first and last sectors."""
    if content.size < _SECTOR:
        return None
    try:
        return virtual_disk_format(content.read_at(0, _SECTOR), content.read_at(content.size - _SECTOR, _SECTOR))
    except OSError:
        return None
