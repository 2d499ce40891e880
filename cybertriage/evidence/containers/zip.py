"""Zip archives (and what is made of them: jar, apk, docx…), read by Python's zipfile over evidence content."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING

from ..base import CHUNK_SIZE, Content, ObjectRef
from .base import Container, ContainerError, ContainerLimits, Member, TooManyMembers

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

# zipfile lists the whole central directory before any member can be read, at about half a kilobyte
# of memory per entry: an archive declaring more than this many times the member limit is not opened.
LISTING_FACTOR = 10
_ZIP_ERRORS = (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError)


class ContentFile(io.RawIOBase):
    """A seekable file object over evidence content, for zipfile."""

    def __init__(self, content: Content) -> None:
        self._content = content
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._content.size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer)
        length = min(len(view), self._content.size - self._position)
        if length <= 0:
            return 0
        data = self._content.read_at(self._position, length)
        view[: len(data)] = data
        self._position += len(data)
        return len(data)


class _MemberContent(Content):
    """One zip member, decompressed as it is read and cut off at the size limit."""

    def __init__(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> None:
        self._archive = archive
        self._info = info
        self._limit = limit
        self.size = info.file_size
        self._stream: IO[bytes] | None = None

    def chunks(self, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        produced = 0
        with self._archive.open(self._info) as member:
            while chunk := member.read(chunk_size):
                produced += len(chunk)
                if produced > min(self.size, self._limit):
                    raise OSError("member inflates past its declared size")
                yield chunk

    def read_at(self, offset: int, length: int) -> bytes:
        # One stream kept open: reading on from where the last read stopped does not inflate from the start.
        stream = self._stream
        try:
            if stream is None or stream.tell() > offset:
                if stream is not None:
                    stream.close()
                stream = self._stream = self._archive.open(self._info)
            stream.seek(offset)
            return stream.read(min(length, max(0, self.size - offset)))
        except (EOFError, zlib.error, zipfile.BadZipFile, ValueError, NotImplementedError) as error:
            self._stream = None
            raise OSError(f"damaged member: {error or type(error).__name__}") from None


class ZipContainer(Container):
    """A zip's members, listed from its central directory. `data`, when given, is the whole content already
    in memory; a zip inside another zip, small enough, is inflated once rather than at every seek."""

    FORMAT = "zip"

    def __init__(self, content: Content, ref: ObjectRef, limits: ContainerLimits, data: bytes | None = None) -> None:
        super().__init__(content, ref, limits)
        if data is None and isinstance(content, _MemberContent) and content.size <= limits.in_memory_limit:
            data = b"".join(content.chunks())
        source: io.IOBase = io.BytesIO(data) if data is not None else io.BufferedReader(ContentFile(content))
        declared = _declared_members(source)
        if declared > limits.max_members * LISTING_FACTOR:
            raise TooManyMembers(declared)
        try:
            self._archive = zipfile.ZipFile(source)
        except _ZIP_ERRORS as error:
            raise ContainerError(f"unreadable zip: {error}") from None
        self._infos = self._archive.infolist()
        self.listed = len(self._infos)
        self.members = [_member(index, info) for index, info in enumerate(self._infos[: limits.max_members])]

    @classmethod
    def probe(cls, content: Content) -> bool:
        return _end_record(io.BufferedReader(ContentFile(content))) is not None

    def _open_member(self, member: Member) -> Content:
        return _MemberContent(self._archive, self._infos[member.index], self.limits.member_limit)

    def _member_named(self, name: str) -> Member | None:
        """The member zipfile finds by that name (of several with one name, the last, as unzip extracts)."""
        try:
            info = self._archive.getinfo(name)
        except KeyError:
            return None
        return _member(next(i for i, listed in enumerate(self._infos) if listed is info), info)

    def close(self) -> None:
        self._archive.close()


def _member(index: int, info: zipfile.ZipInfo) -> Member:
    return Member(index, info.filename, info.file_size, info.compress_size, directory=info.is_dir(),
                  encrypted=bool(info.flag_bits & 0x1))


def _end_record(source: io.IOBase) -> list | None:
    """The end of central directory record (zip64 or not), as zipfile reads it; None if there is none."""
    try:
        return zipfile._EndRecData(source) or None  # type: ignore[attr-defined]  # private: typeshed leaves it out
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error):
        return None


def _declared_members(source: io.IOBase) -> int:
    """How many members the end of central directory record says there are; 0 if unreadable."""
    end = _end_record(source)
    return end[zipfile._ECD_ENTRIES_TOTAL] if end else 0  # type: ignore[attr-defined]  # private, as above
