"""Zip archives: every member is analysed as `archive.zip!member/path`, within limits that
turn a zip bomb into a finding rather than a full disk or an endless scan."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING

from ..evidence.base import CHUNK_SIZE, Content, EvidenceObject
from .base import Analyzer, Finding, Item, Settings
from .results import ContentType

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

ZIP_MIMES = {"application/zip", "application/x-zip-compressed", "application/java-archive",
             "application/vnd.android.package-archive"}
# Ratios this high on members this large are what zip bombs are made of.
BOMB_MEMBER_MIN = 1024 * 1024
# zipfile lists the whole central directory before any member can be read, at about half a kilobyte
# of memory per entry: an archive declaring more than this many times the member limit is not opened.
LISTING_FACTOR = 10


class _ContentFile(io.RawIOBase):
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


class ZipArchive(Analyzer):
    NAME = "archive"

    def analyze(self, item: Item) -> Iterable[Finding | EvidenceObject]:
        obj = item.obj
        content_type = item.result(ContentType)
        if content_type is None or content_type.mime not in ZIP_MIMES or not item.content_read or obj.content is None:
            return
        if obj.depth >= self.settings.archive_depth:
            item.skipped.append(("archive", "archive nested too deep"))
            return
        source = io.BytesIO(item.data) if item.data is not None else io.BufferedReader(_ContentFile(obj.content))
        declared = _declared_members(source)
        if declared > self.settings.archive_max_members * LISTING_FACTOR:
            yield Finding(self.NAME, "too-many-members", "medium",
                          f"Archive declares {declared} members; too many to list, not opened", {"members": declared})
            item.skipped.append(("archive", "too many members to list"))
            return
        try:
            archive = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as error:
            item.skipped.append(("archive", f"unreadable zip: {error}"))
            return
        with archive:
            yield from self._members(item, archive)

    def _members(self, item: Item, archive: zipfile.ZipFile) -> Iterator[Finding | EvidenceObject]:
        limits = self.settings
        members = archive.infolist()
        if len(members) > limits.archive_max_members:
            yield Finding(self.NAME, "too-many-members", "medium",
                          f"Archive holds {len(members)} members; only the first {limits.archive_max_members} examined",
                          {"members": len(members)})
            members = members[: limits.archive_max_members]
        declared_total = sum(m.file_size for m in members)
        if declared_total > limits.archive_total_limit:
            yield Finding(self.NAME, "zip-bomb", "high",
                          f"Possible zip bomb: members expand to {declared_total} bytes",
                          {"declared_total": declared_total, "limit": limits.archive_total_limit})
            item.skipped.append(("archive", "archive expands past the total size limit"))
            return
        for info in members:
            path = f"{item.obj.path}!{info.filename}"
            if info.is_dir():
                yield EvidenceObject(path=path.rstrip("/"), name=info.filename.rstrip("/").rsplit("/", 1)[-1],
                                     size=0, kind="directory", partition_offset=item.obj.partition_offset,
                                     deleted=item.obj.deleted)
                continue
            member = EvidenceObject(path=path, name=info.filename.rsplit("/", 1)[-1], size=info.file_size,
                                    partition_offset=item.obj.partition_offset, deleted=item.obj.deleted)
            ratio = info.file_size / max(1, info.compress_size)
            if info.file_size > BOMB_MEMBER_MIN and ratio > limits.archive_ratio_limit:
                yield Finding(self.NAME, "zip-bomb", "high",
                              f"Possible zip bomb: {info.filename} expands {ratio:.0f} to 1",
                              {"member": info.filename, "size": info.file_size, "compressed": info.compress_size})
                member.unreadable = "compression ratio past the zip-bomb limit"
            elif info.flag_bits & 0x1:
                member.unreadable = "encrypted member"
            elif info.file_size > limits.archive_member_limit:
                member.unreadable = "member larger than the extraction limit"
            else:
                member.content = _MemberContent(archive, info, limits.archive_member_limit)
            yield member


def member_content(container: Content, member: str, settings: Settings) -> Content:
    """The content of one member (by its name in the archive) of the zip held in `container`, within
    the limits a scan applies: reading back a member the case lists as `archive.zip!member`."""
    if isinstance(container, _MemberContent) and container.size <= settings.keep_limit:
        source: io.IOBase = io.BytesIO(b"".join(container.chunks()))  # a zip in a zip: inflate it once
    else:
        source = io.BufferedReader(_ContentFile(container))
    try:
        archive = zipfile.ZipFile(source)
        info = archive.getinfo(member)
    except KeyError:
        raise OSError(f"no member {member!r} in the archive") from None
    except (zipfile.BadZipFile, ValueError, NotImplementedError, EOFError) as error:
        raise OSError(f"unreadable zip: {error}") from None
    if info.flag_bits & 0x1:
        raise OSError("encrypted member")
    if info.file_size > settings.archive_member_limit:
        raise OSError("member larger than the extraction limit")
    if info.file_size > BOMB_MEMBER_MIN and info.file_size / max(1, info.compress_size) > settings.archive_ratio_limit:
        raise OSError("compression ratio past the zip-bomb limit")
    return _MemberContent(archive, info, settings.archive_member_limit)
def _declared_members(source: io.IOBase) -> int:
    """How many members the end of central directory record (zip64 or not) says there are; 0 if unreadable."""
    try:
        end = zipfile._EndRecData(source)  # type: ignore[attr-defined]  # private: typeshed leaves it out
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error):
        return 0
    return end[zipfile._ECD_ENTRIES_TOTAL] if end else 0  # type: ignore[attr-defined]  # private, as above
