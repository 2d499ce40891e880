"""Outlook messages saved as files (`.msg`, MS-OXMSG: an OLE compound file of MAPI properties), read with olefile.
The message's bodies (`body.txt`, `body.html`, `body.rtf` compressed as Outlook keeps it) and its attachments are
members; an attached message (an embedded `.msg` storage) is named but not opened, which `problems` says.

`MsgMessage` reads the properties the e-mail record needs (addresses, subject, times, ids, transport headers),
from string streams and the fixed-size property stream."""

from __future__ import annotations

import datetime as dt
import email.utils
import io
import struct
from dataclasses import dataclass, field
from typing import Any

import olefile

from ..base import BytesContent, Content, ObjectRef
from .base import Container, ContainerError, ContainerLimits, Member
from .mail import internet_message, one_line, safe_name, transport_headers, unique_name
from .zip import ContentFile

OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MSG_READ_LIMIT = 256 * 1024 * 1024  # an OLE file is parsed in memory: a message past this is not opened
_PROPERTY = struct.Struct("<HHIQ")  # property type, id, flags, value (MS-OXMSG 2.4.2)
_FILETIME_EPOCH = dt.datetime(1601, 1, 1)
_PT_SYSTIME = 0x0040
_ATTACH_PREFIX, _RECIPIENT_PREFIX = "__attach_version1.0_#", "__recip_version1.0_#"
EMBEDDED_DEPTH = 4  # messages attached to messages: deeper than this is a loop or a bomb, not correspondence


@dataclass
class MsgMessage:
    """The properties of one message that say who wrote to whom, when and about what."""

    subject: str = ""
    sender_name: str = ""
    sender_address: str = ""
    display_to: str = ""
    display_cc: str = ""
    message_id: str = ""
    in_reply_to: str = ""
    transport_headers: str = ""
    sent: dt.datetime | None = None  # client submit time, else delivery time, UTC
    recipients: list[tuple[int, str, str]] = field(default_factory=list)  # (1 to, 2 cc, 3 bcc; name; address)

    def sender(self) -> str:
        """`Name <address>`, or whichever of the two the message holds."""
        if self.sender_address and self.sender_address != self.sender_name:
            return f"{self.sender_name} <{self.sender_address}>" if self.sender_name else self.sender_address
        return self.sender_name

    def to(self) -> str:
        return self.display_to or "; ".join(_named(r) for r in self.recipients if r[0] == 1)

    def cc(self) -> str:
        return self.display_cc or "; ".join(_named(r) for r in self.recipients if r[0] == 2)


def _named(recipient: tuple[int, str, str]) -> str:
    _, name, address = recipient
    return f"{name} <{address}>" if name and address and name != address else name or address


def is_msg(ole: olefile.OleFileIO) -> bool:
    """An OLE file is a message when it has the property stream and a message class or subject."""
    return ole.exists("__properties_version1.0") and any(
        ole.exists(f"__substg1.0_{tag}") for tag in ("001A001F", "001A001E", "0037001F", "0037001E"))


def _names_streams(content: Content) -> bool:
    """An OLE file whose directory cannot be followed (a truncated message) but whose first sectors name a message's
    property streams: a damaged message, to be said as one rather than passed over."""
    head = content.read_at(0, min(content.size, 64 * 1024))
    return any(name.encode("utf-16-le") in head for name in ("__properties_version1.0", "__substg1.0_"))


def open_ole(data: bytes) -> olefile.OleFileIO:
    try:
        return olefile.OleFileIO(data)
    except (OSError, ValueError, IndexError, struct.error, RecursionError) as error:
        raise ContainerError(f"unreadable OLE file: {type(error).__name__}: {error}") from None


def read_message(ole: olefile.OleFileIO, prefix: str = "", header: int = 32) -> MsgMessage:
    """The record properties of the message (or of a message attached to it, whose storage is `prefix` and whose
    property stream has a 24-byte header); a property missing or damaged is left empty."""
    message = MsgMessage(
        subject=_string(ole, prefix, 0x0037), sender_name=_string(ole, prefix, 0x0C1A),
        sender_address=_string(ole, prefix, 0x5D01) or _string(ole, prefix, 0x0C1F),
        display_to=_string(ole, prefix, 0x0E04), display_cc=_string(ole, prefix, 0x0E03),
        message_id=_string(ole, prefix, 0x1035), in_reply_to=_string(ole, prefix, 0x1042),
        transport_headers=_string(ole, prefix, 0x007D))
    times = _fixed_properties(ole, prefix, header)
    for tag in (0x0039, 0x0E06):  # PidTagClientSubmitTime, PidTagMessageDeliveryTime
        if (value := times.get(tag)) and (moment := _filetime(value)):
            message.sent = moment
            break
    for storage in _storages(ole, prefix, _RECIPIENT_PREFIX):
        kind = _fixed_properties(ole, storage, 8).get(0x0C15, 0)  # PidTagRecipientType
        address = _string(ole, storage, 0x39FE) or _string(ole, storage, 0x3003)
        message.recipients.append((kind & 0xFF, _string(ole, storage, 0x3001), address))
    return message


def _string(ole: olefile.OleFileIO, storage: str, prop: int) -> str:
    """A string property: UTF-16 (type 001F) or the message's 8-bit code page (001E, read as cp1252)."""
    for kind, encoding in (("001F", "utf-16-le"), ("001E", "cp1252")):
        name = f"{storage}__substg1.0_{prop:04X}{kind}"
        if ole.exists(name):
            try:
                return ole.openstream(name).read().decode(encoding, "replace").rstrip("\x00")
            except OSError:
                return ""
    return ""


def _fixed_properties(ole: olefile.OleFileIO, storage: str, header: int) -> dict[int, int]:
    """Property id → 8-byte value of the fixed-size entries of a property stream (header: 32 bytes for the message,
    8 for a recipient or attachment)."""
    name = f"{storage}__properties_version1.0"
    if not ole.exists(name):
        return {}
    try:
        data = ole.openstream(name).read()
    except OSError:
        return {}
    values: dict[int, int] = {}
    for offset in range(header, len(data) - _PROPERTY.size + 1, _PROPERTY.size):
        kind, prop, _, value = _PROPERTY.unpack_from(data, offset)
        values[prop] = value if kind in (_PT_SYSTIME, 0x0003, 0x0014, 0x000B) else 0
    return values


def _filetime(value: int) -> dt.datetime | None:
    try:
        moment = _FILETIME_EPOCH + dt.timedelta(microseconds=value // 10)
    except OverflowError:
        return None
    return moment.replace(tzinfo=dt.timezone.utc) if moment.year > 1601 else None


def _storages(ole: olefile.OleFileIO, prefix: str, kind: str) -> list[str]:
    """The storages of one kind (recipients, attachments) directly in the storage `prefix` ("" for the message
    itself), each as `path/`, in their numbered order."""
    above = prefix.rstrip("/").split("/") if prefix else []
    names = {entry[-1] for entry in ole.listdir(streams=False, storages=True)
             if len(entry) == len(above) + 1 and entry[: len(above)] == above and entry[-1].startswith(kind)}
    return [f"{prefix}{name}/" for name in sorted(names)]


def _made_headers(message: MsgMessage) -> list[tuple[str, Any]]:
    """Headers of an attached message: those it kept from its transport, else made from its properties."""
    if message.transport_headers and (kept := transport_headers(message.transport_headers)):
        return kept
    made: list[tuple[str, Any]] = [("From", one_line(message.sender()))]
    for name, value in (("To", message.to()), ("Cc", message.cc()), ("Subject", message.subject),
                        ("Date", email.utils.format_datetime(message.sent) if message.sent else ""),
                        ("Message-ID", message.message_id), ("In-Reply-To", message.in_reply_to)):
        if value:
            made.append((name, one_line(value)))
    return made


class MsgContainer(Container):
    """A saved Outlook message's bodies and attachments."""

    FORMAT = "msg"

    def __init__(self, content: Content, ref: ObjectRef, limits: ContainerLimits) -> None:
        super().__init__(content, ref, limits)
        if content.size > min(MSG_READ_LIMIT, limits.member_limit):
            raise ContainerError(f"message of {content.size} bytes, larger than the extraction limit")
        self.problems: list[str] = []
        with open_ole(b"".join(content.chunks())) as ole:
            if not is_msg(ole):
                raise ContainerError("damaged Outlook message: its property streams cannot be reached")
            self.message = read_message(ole)
            bodies, attached = self._parts(ole)
        self.attachments = [(name, len(data)) for name, data in attached]  # (name, size) of each attachment
        parts = bodies + attached
        self.listed = len(parts)
        self._data = [data for _, data in parts[: limits.max_members]]
        self.members = [Member(index, name, len(data), len(data))
                        for index, (name, data) in enumerate(parts[: limits.max_members])]

    @classmethod
    def probe(cls, content: Content) -> bool:
        if content.read_at(0, 8) != OLE_SIGNATURE or content.size > MSG_READ_LIMIT:
            return False
        try:
            with olefile.OleFileIO(io.BufferedReader(ContentFile(content))) as ole:
                if is_msg(ole):
                    return True
        except (OSError, ValueError, IndexError, struct.error, RecursionError):
            pass
        return _names_streams(content)

    def _parts(self, ole: olefile.OleFileIO, prefix: str = "",
               depth: int = 0) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
        """The bodies and the attachments of the message whose storage is `prefix`; an attached message is made
        into its Internet form (`name.eml`), down to EMBEDDED_DEPTH messages deep."""
        bodies: list[tuple[str, bytes]] = []
        taken: set[str] = set()
        for name, stream in (("body.txt", "__substg1.0_1000001F"), ("body.txt", "__substg1.0_1000001E"),
                             ("body.html", "__substg1.0_10130102"), ("body.rtf", "__substg1.0_10090102")):
            if name not in taken and ole.exists(prefix + stream):
                bodies.append((unique_name(name, taken), self._read(ole, prefix + stream)))
        attachments: list[tuple[str, bytes]] = []
        for number, storage in enumerate(_storages(ole, prefix, _ATTACH_PREFIX), start=1):
            filename = (_string(ole, storage, 0x3707) or _string(ole, storage, 0x3704)
                        or _string(ole, storage, 0x3001) or f"attachment-{number}")
            name = safe_name(filename, f"attachment-{number}")
            if ole.exists(f"{storage}__substg1.0_37010102"):
                attachments.append((unique_name(name, taken), self._read(ole, f"{storage}__substg1.0_37010102")))
            elif ole.exists(f"{storage}__substg1.0_3701000D"):
                if depth >= EMBEDDED_DEPTH:
                    self.problems.append(f"attached message {name!r} not opened: attached {depth} messages deep")
                    continue
                name = unique_name(name if name.lower().endswith(".eml") else f"{name}.eml", taken)
                attachments.append((name, self._embedded(ole, f"{storage}__substg1.0_3701000D/", depth)))
            else:
                self.problems.append(f"attachment {name!r} holds no data (attached by reference?)")
        return bodies, attachments

    def _embedded(self, ole: olefile.OleFileIO, prefix: str, depth: int) -> bytes:
        """A message attached to this one, made into its Internet form (as a PST's messages are)."""
        bodies, attachments = self._parts(ole, prefix, depth + 1)
        text = [("plain" if name == "body.txt" else "html", data) for name, data in bodies if name != "body.rtf"]
        attachments = [(name, data) for name, data in bodies if name == "body.rtf"] + attachments
        return internet_message(_made_headers(read_message(ole, prefix, 24)), text, attachments)

    def _read(self, ole: olefile.OleFileIO, stream: str) -> bytes:
        try:
            data = ole.openstream(stream).read()
            declared = ole.get_size(stream)
        except OSError as error:
            self.problems.append(f"{stream} cannot be read: {error}")
            return b""
        if len(data) < declared:
            self.problems.append(f"{stream} cut short: {len(data)} of its {declared} bytes (a truncated message?)")
        return data

    def _open_member(self, member: Member) -> Content:
        return BytesContent(self._data[member.index])
