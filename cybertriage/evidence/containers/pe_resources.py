"""Executables hidden in a PE file's resources (a dropper's payload): each resource whose data is a whole PE (MZ,
and a PE signature where its DOS header points) is a member, named by its resource type and path as the PE
analyzer's summary names it (`RT_RCDATA/101/1033`), its bytes a slice of the file's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pefile

from ..base import Content, ObjectRef
from .base import Container, ContainerError, ContainerLimits, Member

MAX_RESOURCES = 10_000  # resource leaves walked; a hostile directory can declare millions
MAX_DEPTH = 4  # type / name / language, as Windows lays resources out (and as the PE analyzer walks them)


def _label(entry: Any, types: bool = False) -> str:
    """A resource directory entry's name as the PE analyzer gives it: its string, or its type's name, or its id."""
    if getattr(entry, "name", None) is not None:
        return str(entry.name)
    if types:
        return str(pefile.RESOURCE_TYPE.get(entry.id, str(entry.id)))
    return str(entry.id)


def _whole_pe(data: bytes, offset: int, size: int) -> bool:
    if size < 64 or data[offset:offset + 2] != b"MZ":
        return False
    header = int.from_bytes(data[offset + 0x3C:offset + 0x40], "little")
    return header + 4 <= size and data[offset + header:offset + header + 4] == b"PE\0\0"


class PeResources(Container):
    """The executables in a PE file's resources. The file is held in memory (it is parsed with pefile):
    ContainerError when it is larger than the in-memory limit or not a PE."""

    FORMAT = "PE resources"

    def __init__(self, content: Content, ref: ObjectRef, limits: ContainerLimits, data: bytes | None = None) -> None:
        super().__init__(content, ref, limits)
        if data is None:
            if content.size > limits.in_memory_limit:
                raise ContainerError("PE file larger than the in-memory limit: its resources are not read")
            data = b"".join(content.chunks())
        self._bytes = data
        self._slices: dict[int, tuple[int, int]] = {}
        try:
            pe = pefile.PE(data=data, fast_load=True)
            pe.parse_data_directories([pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_RESOURCE"]])
        except Exception as error:  # pefile fails on hostile input in many ways
            raise ContainerError(f"unreadable PE: {error}") from None
        try:
            found = [(name, offset, size) for name, offset, size in self._executables(pe)]
        finally:
            pe.__data__ = b""
        self.listed = len(found)
        for index, (name, offset, size) in enumerate(found[: limits.max_members]):
            self.members.append(Member(index, name, size, size))
            self._slices[index] = (offset, size)

    @classmethod
    def probe(cls, content: Content) -> bool:
        head = content.read_at(0, 64)
        if len(head) < 64 or head[:2] != b"MZ":
            return False
        header = int.from_bytes(head[0x3C:0x40], "little")
        return content.read_at(header, 4) == b"PE\0\0"

    def _executables(self, pe: pefile.PE) -> Iterator[tuple[str, int, int]]:
        root = getattr(pe, "DIRECTORY_ENTRY_RESOURCE", None)
        if root is None:
            return
        walked = 0
        stack: list[tuple[list[Any], Any]] = [([entry], entry) for entry in reversed(root.entries)]
        while stack and walked < MAX_RESOURCES:
            path, entry = stack.pop()
            directory = getattr(entry, "directory", None)
            if directory is not None and len(path) < MAX_DEPTH:
                stack.extend(([*path, child], child) for child in reversed(directory.entries))
                continue
            walked += 1
            leaf = getattr(entry, "data", None)
            if leaf is None:
                continue
            try:
                offset = pe.get_offset_from_rva(leaf.struct.OffsetToData)
            except Exception:  # an RVA in no section
                continue
            if offset is None or offset >= len(self._bytes):
                continue
            size = min(leaf.struct.Size, len(self._bytes) - offset)
            if _whole_pe(self._bytes, offset, size):
                yield "/".join([_label(path[0], types=True), *(_label(e) for e in path[1:])]), offset, size

    def _open_member(self, member: Member) -> Content:
        offset, size = self._slices[member.index]
        return _Slice(self._bytes, offset, size)


class _Slice(Content):
    """Bytes of a member, a slice of the file's bytes (held once)."""

    def __init__(self, data: bytes, offset: int, size: int) -> None:
        self._view = memoryview(data)[offset:offset + size]
        self.size = size

    def read_at(self, offset: int, length: int) -> bytes:
        return bytes(self._view[offset:offset + length])
