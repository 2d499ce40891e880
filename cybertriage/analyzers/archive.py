"""Archives: every member is analysed as `archive.zip!member/path` (its ref's display), within limits that turn
a zip bomb into a finding rather than a full disk or an endless scan. Zips (and jar, apk…) are listed from their
central directory first; tar, 7z, rar, cab, cpio, ISO images and single compressed files (gzip, bzip2, xz, zstd)
are read in one pass, their limits checked as the bytes come out. Reading the archive is the evidence layer's
(evidence/containers); what it means for the examiner is said here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..evidence.base import EvidenceObject
from ..evidence.containers import (
    Container,
    ContainerError,
    ContainerLimits,
    StreamedArchive,
    TooManyMembers,
    ZipContainer,
)
from ..evidence.containers.streamed import signature
from .base import Analyzer, Finding, Item, Settings
from .results import ContentType

ZIP_MIMES = {"application/zip", "application/x-zip-compressed", "application/java-archive",
             "application/vnd.android.package-archive"}
# Containers libmagic names that are not opened here: the ledger says so rather than nothing.
UNOPENED_MIMES = {"application/x-archive", "application/vnd.debian.binary-package", "application/x-rpm",
                  "application/x-arj", "application/x-lzh-compressed", "application/x-lha", "application/x-xar",
                  "application/x-lzip", "application/x-lz4", "application/x-lzma", "application/x-compress",
                  "application/x-ace-compressed", "application/x-stuffit", "application/x-alz-compressed"}


def container_limits(settings: Settings) -> ContainerLimits:
    """The scan's archive settings, as the containers apply them."""
    return ContainerLimits(member_limit=settings.archive_member_limit, total_limit=settings.archive_total_limit,
                           ratio_limit=settings.archive_ratio_limit, max_members=settings.archive_max_members,
                           in_memory_limit=settings.keep_limit)


class ArchiveMembers(Analyzer):
    NAME = "archive"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.limits = container_limits(settings)

    def analyze(self, item: Item) -> Iterable[Finding | EvidenceObject]:
        obj = item.obj
        content_type = item.result(ContentType)
        if content_type is None or not item.content_read or obj.content is None:
            return
        zipped = content_type.mime in ZIP_MIMES
        if not zipped and signature(item.head) is None:
            if content_type.mime in UNOPENED_MIMES:
                item.skipped.append(("archive", f"{content_type.mime}: an archive format not opened"))
            return
        if obj.depth >= self.settings.archive_depth:
            item.skipped.append(("archive", "archive nested too deep"))
            return
        try:
            archive: Container = (ZipContainer(obj.content, obj.ref, self.limits, data=item.data) if zipped
                                  else StreamedArchive(obj.content, obj.ref, self.limits))
        except TooManyMembers as error:
            yield Finding(self.NAME, "too-many-members", "medium",
                          f"Archive declares {error.declared} members; too many to list, not opened",
                          {"members": error.declared})
            item.skipped.append(("archive", "too many members to list"))
            return
        except ContainerError as error:
            item.skipped.append(("archive", str(error)))
            return
        with archive:
            if isinstance(archive, StreamedArchive):
                yield from self._streamed(item, archive)
            else:
                yield from self._members(item, archive)

    def _members(self, item: Item, archive: Container) -> Iterator[Finding | EvidenceObject]:
        limits = self.limits
        if archive.listed > limits.max_members:
            yield Finding(self.NAME, "too-many-members", "medium",
                          f"Archive holds {archive.listed} members; only the first {limits.max_members} examined",
                          {"members": archive.listed})
        declared_total = archive.declared_total()
        if declared_total > limits.total_limit:
            yield Finding(self.NAME, "zip-bomb", "high",
                          f"Possible zip bomb: members expand to {declared_total} bytes",
                          {"declared_total": declared_total, "limit": limits.total_limit})
            item.skipped.append(("archive", "archive expands past the total size limit"))
            return
        for member in archive.members:
            if not member.directory and archive.bomb(member):
                yield Finding(self.NAME, "zip-bomb", "high",
                              f"Possible zip bomb: {member.name} expands {member.ratio:.0f} to 1",
                              {"member": member.name, "size": member.size, "compressed": member.packed})
            yield archive.object(member, item.obj)

    def _streamed(self, item: Item, archive: StreamedArchive) -> Iterator[Finding | EvidenceObject]:
        """The members as the pass reads them; where it stopped early, why (a finding for a bomb or a flood)."""
        yield from archive.objects(item.obj)
        stop = archive.stopped
        if stop is None:
            return
        limits = self.limits
        if stop.limit == "ratio":
            yield Finding(self.NAME, "zip-bomb", "high",
                          f"Possible zip bomb: the {archive.kind} inflates more than {limits.ratio_limit} to 1 "
                          f"({stop.inflated} bytes out of {stop.packed}, at {stop.member})",
                          {"member": stop.member, "size": stop.inflated, "compressed": stop.packed})
        elif stop.limit == "total":
            yield Finding(self.NAME, "zip-bomb", "high",
                          f"Possible zip bomb: the {archive.kind}'s members expand past {limits.total_limit} bytes",
                          {"declared_total": stop.inflated, "limit": limits.total_limit})
        elif stop.limit == "members":
            yield Finding(self.NAME, "too-many-members", "medium",
                          f"Archive holds more than {limits.max_members} members; only the first "
                          f"{limits.max_members} examined", {"members": archive.listed})
        item.skipped.append(("archive", stop.reason))
