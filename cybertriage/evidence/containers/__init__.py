"""Containers: evidence nested in an object, behind the interface of containers/base.py. A format is one module
here and one line in CONTAINERS."""

from __future__ import annotations

from ..base import Content, ObjectRef
from .base import BOMB_MEMBER_MIN, Container, ContainerError, ContainerLimits, Member, TooManyMembers
from .mail import EmlContainer
from .mail_mbox import MboxContainer
from .msg import MsgContainer
from .ole import OleContainer
from .pe_resources import PeResources
from .pst import PstContainer
from .streamed import Stop, StreamedArchive
from .vdisk import VirtualDiskContainer
from .zip import ZipContainer

__all__ = ["BOMB_MEMBER_MIN", "CONTAINERS", "Container", "ContainerError", "ContainerLimits", "Member", "Stop",
           "StreamedArchive", "TooManyMembers", "ZipContainer", "open_container"]

# Formats told by a signature at their start come before the zip, which is found by its end record (an OLE
# document or an executable can hold one); an MSG is an OLE file that the generic OLE reading must not take.
CONTAINERS: tuple[type[Container], ...] = (VirtualDiskContainer, MsgContainer, OleContainer, PeResources, StreamedArchive,
                                           ZipContainer, EmlContainer, MboxContainer, PstContainer)


def open_container(content: Content, ref: ObjectRef, limits: ContainerLimits) -> Container:
    """The container whose format the content is (`ref` is the content's own), its listing read; ContainerError
    when it is of no format read here or cannot be read."""
    for kind in CONTAINERS:
        if kind.probe(content):
            return kind(content, ref, limits)
    raise ContainerError("not an archive of a format read here")
