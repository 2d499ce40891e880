"""A container is evidence nested in an object (an archive today; tar, 7z, mail and virtual disks next): it lists
the objects it holds and opens one again by its ref, as an evidence source does, within limits that turn a
bomb into something the examiner is told rather than a full disk or an endless scan."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from ..base import Content, EvidenceObject, ObjectRef

# Ratios this high on members this large are what zip bombs are made of.
BOMB_MEMBER_MIN = 1024 * 1024


class ContainerError(OSError):
    """The container cannot be read as one (damaged, or not of its format)."""


class TooManyMembers(ContainerError):
    """The container declares so many members that listing them would itself be the attack."""

    def __init__(self, declared: int) -> None:
        super().__init__(f"declares {declared} members; too many to list")
        self.declared = declared


@dataclass(frozen=True)
class ContainerLimits:
    """How far a container is read. The defaults are the scan's (analyzers.base.Settings, from which a scan
    makes its own); reading an object back applies them as the scan did."""

    member_limit: int = 256 * 1024 * 1024  # largest member inflated
    total_limit: int = 1024 * 1024 * 1024  # most all the members may declare together
    ratio_limit: int = 200  # highest compression ratio of a member past BOMB_MEMBER_MIN
    max_members: int = 10_000  # members listed; those past it are not examined
    in_memory_limit: int = 64 * 1024 * 1024  # a container inside another this small is inflated once, into memory
    time_limit: float = 600.0  # seconds one pass over a streamed archive may take


@dataclass(frozen=True)
class Member:
    """One entry of a container's listing, as the container declares it (nothing here is read yet)."""

    index: int  # its place in the container's listing
    name: str  # its path inside the container, as listed
    size: int  # declared size
    packed: int  # the bytes it takes in the container
    directory: bool = False
    encrypted: bool = False

    @property
    def ratio(self) -> float:
        return self.size / max(1, self.packed)


class Container(abc.ABC):
    """The objects held in one object's content. Opening reads the listing (ContainerError if it cannot be read);
    `members` is then the listing cut at the member limit and `listed` how many it holds in all."""

    FORMAT: ClassVar[str]  # as the examiner names it: "zip"

    def __init__(self, content: Content, ref: ObjectRef, limits: ContainerLimits) -> None:
        self.content = content
        self.ref = ref
        self.limits = limits
        self.listed = 0
        self.members: list[Member] = []

    @classmethod
    @abc.abstractmethod
    def probe(cls, content: Content) -> bool:
        """Whether the content is of this format, from a few of its bytes."""

    @abc.abstractmethod
    def _open_member(self, member: Member) -> Content:
        """The member's content, inflated as it is read and never past its declared size or the limits."""

    def close(self) -> None:
        """Release what the listing holds; contents already handed out keep what they need."""

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def declared_total(self) -> int:
        """What the listed members declare they expand to, together."""
        return sum(member.size for member in self.members)

    def bomb(self, member: Member) -> bool:
        """A member whose compression ratio only a zip bomb has."""
        return member.size > BOMB_MEMBER_MIN and member.ratio > self.limits.ratio_limit

    def refusal(self, member: Member) -> str | None:
        """Why the member's content is not read, or None when it is."""
        if self.bomb(member):
            return "compression ratio past the zip-bomb limit"
        if member.encrypted:
            return "encrypted member"
        if member.size > self.limits.member_limit:
            return "member larger than the extraction limit"
        return None

    def object(self, member: Member, holder: EvidenceObject) -> EvidenceObject:
        """The member as an object of the evidence, inside `holder` (the object whose content this is)."""
        found = self._found(member, holder)
        if not member.directory:
            found.unreadable = self.refusal(member)
            if found.unreadable is None:
                found.content = self._open_member(member)
        return found

    def _found(self, member: Member, holder: EvidenceObject) -> EvidenceObject:
        """The member as an object, its content not opened yet."""
        name = member.name.rstrip("/") if member.directory else member.name
        ref = ObjectRef(name, parent=self.ref)
        return EvidenceObject(path=ref.display(), name=name.rsplit("/", 1)[-1], size=0 if member.directory else member.size,
                              kind="directory" if member.directory else "file",
                              partition_offset=holder.partition_offset, deleted=holder.deleted, inside=ref)

    def objects(self, holder: EvidenceObject) -> Iterator[EvidenceObject]:
        """Every listed member as an object, in the container's order."""
        for member in self.members:
            yield self.object(member, holder)

    def open(self, ref: ObjectRef) -> Content:
        """One member's content again, by its ref, within the limits the scan applied (OSError if refused)."""
        member = self._member_named(ref.path)
        if member is None or member.directory:
            raise ContainerError(f"no member {ref.path!r} in the {self.FORMAT}")
        refusal = self.refusal(member)
        if refusal is not None:
            raise ContainerError(refusal)
        return self._open_member(member)

    def _member_named(self, name: str) -> Member | None:
        return next((m for m in self.members if m.name == name), None)
