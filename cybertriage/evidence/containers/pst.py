"""Outlook stores (PST and OST), read by libpff (libpff-python). The store's folders are kept as directories
(`mail.pst!Top of Personal Folders/Inbox`), each message is a member named by its number in its folder and its
subject (`…/Inbox/00012 Invoice due.eml`).

A store holds no message in its Internet form, so each message's content is made as one: the transport headers
Outlook kept of a message that came by Internet mail (its Received chain, addresses, date and ids as sent),
otherwise headers made from the message's properties, then its text and HTML bodies and its attachments as MIME
parts, byte for byte as the store holds them. The message is then opened as an e-mail (mail.py) and its parts are
its children, so an attachment's hash is the attached file's.

A damaged store (a broken B-tree, a message whose data is gone) gives what libpff can still reach; what it could not
is said in `problems`."""

from __future__ import annotations

import datetime as dt
import email.utils
import io
from typing import Any

import pypff

from ..base import BytesContent, Content, EvidenceObject, ObjectRef
from .base import Container, ContainerError, ContainerLimits, Member
from .mail import internet_message, one_line, safe_name, transport_headers, unique_name
from .zip import ContentFile

PST_SIGNATURE = b"!BDN"  # the store's header; its client signature (SM: PST, SO: OST) follows at byte 8
FOLDER_DEPTH_LIMIT = 64  # folders nested deeper are a damaged store's loop, not an examiner's filing
SUBJECT_CHARACTERS = 80
# libpff says a damaged structure with an IOError, and with a MemoryError when it cannot build the item it names.
_PFF_ERRORS = (OSError, ValueError, MemoryError)


class PstContainer(Container):
    """The folders and messages of an Outlook PST or OST store."""

    FORMAT = "pst"

    def __init__(self, content: Content, ref: ObjectRef, limits: ContainerLimits) -> None:
        super().__init__(content, ref, limits)
        self.problems: list[str] = []
        self._store = pypff.file()
        try:
            self._store.open_file_object(io.BufferedReader(ContentFile(content)))
            root = self._store.get_root_folder()
        except _PFF_ERRORS as error:
            raise ContainerError(f"unreadable Outlook store: {_said(error)}") from None
        if root is None:
            raise ContainerError("unreadable Outlook store: its root folder is not in its node B-tree")
        self._messages: list[Any] = []  # the libpff message of each member; None for a folder
        self._listing: list[tuple[str, int, bool]] = []
        self._beyond = 0  # messages in folders reached after the member limit
        self._walk(root, "", 0)
        self.listed = len(self._listing) + self._beyond
        self.members = [Member(index, name, size, size, directory=folder)
                        for index, (name, size, folder) in enumerate(self._listing[: limits.max_members])]

    @classmethod
    def probe(cls, content: Content) -> bool:
        head = content.read_at(0, 10)
        return head[:4] == PST_SIGNATURE and head[8:10] in (b"SM", b"SO")

    def _walk(self, folder: Any, path: str, depth: int) -> None:
        if depth > FOLDER_DEPTH_LIMIT:
            self.problems.append(f"{path}: folders nested past {FOLDER_DEPTH_LIMIT} levels (a damaged store?)")
            return
        self._list_messages(folder, path)
        try:
            count = folder.number_of_sub_folders
        except _PFF_ERRORS as error:
            self.problems.append(f"{path or '/'}: its sub-folders cannot be read: {_said(error)}")
            return
        taken: set[str] = set()
        for number in range(count):
            try:
                sub = folder.get_sub_folder(number)
                name = unique_name(safe_name(sub.name or "", f"folder {number + 1}"), taken)
            except (*_PFF_ERRORS, AttributeError) as error:  # AttributeError: libpff gave no folder (None)
                self.problems.append(f"{path or '/'}: sub-folder {number + 1} cannot be read: {_said(error)}")
                continue
            sub_path = f"{path}/{name}" if path else name
            self._listing.append((sub_path, 0, True))
            self._messages.append(None)
            self._walk(sub, sub_path, depth + 1)

    def _list_messages(self, folder: Any, path: str) -> None:
        try:
            count = folder.number_of_sub_messages
        except _PFF_ERRORS as error:
            self.problems.append(f"{path or '/'}: its messages cannot be read: {_said(error)}")
            return
        if len(self._listing) >= self.limits.max_members:  # past the limit, counted without being read
            self._beyond += count
            return
        for number in range(count):
            try:
                message = folder.get_sub_message(number)
                if message is None:
                    raise OSError("libpff gave no item")
                subject = getattr(message, "subject", None) or ""
                size = sum(a.size or 0 for a in getattr(message, "attachments", ()))
            except _PFF_ERRORS as error:
                self.problems.append(f"{path or '/'}: message {number + 1} cannot be read: {_said(error)}")
                continue
            title = " ".join(subject.split())[:SUBJECT_CHARACTERS]
            name = safe_name(f"{number + 1:05d} {title}".strip() + ".eml", f"{number + 1:05d}.eml")
            self._listing.append((f"{path}/{name}" if path else name, size, False))
            self._messages.append(message)

    def object(self, member: Member, holder: EvidenceObject) -> EvidenceObject:
        """The member as an object; a message's size is that of the Internet form made of it."""
        found = super().object(member, holder)
        if found.content is not None:
            found.size = found.content.size
        return found

    def _open_member(self, member: Member) -> Content:
        message = self._messages[member.index]
        try:
            return BytesContent(internet_form(message, self.problems))
        except _PFF_ERRORS as error:
            raise ContainerError(f"message unreadable: {_said(error)}") from None

    def close(self) -> None:
        try:
            self._store.close()
        except _PFF_ERRORS:
            pass


def internet_form(message: Any, problems: list[str]) -> bytes:
    """The message as an Internet message: its transport headers (or headers made from its properties), its
    bodies and attachments as parts, each part's bytes as the store holds them."""
    bodies = [(subtype, body) for subtype, body in (("plain", _body(message, "plain_text_body")),
                                                    ("html", _body(message, "html_body"))) if body]
    attachments: list[tuple[str, bytes]] = []
    rtf = _body(message, "rtf_body")
    if rtf and not bodies:
        attachments.append(("body.rtf", rtf))
    for number, attachment in enumerate(getattr(message, "attachments", ()), start=1):
        name = getattr(attachment, "long_filename", None) or f"attachment-{number}"
        try:
            attachments.append((name, attachment.read_buffer(attachment.size or 0) if attachment.size else b""))
        except _PFF_ERRORS as error:
            problems.append(f"attachment {name!r} of {getattr(message, 'subject', '')!r} cannot be read: {_said(error)}")
    return internet_message(_headers(message), bodies, attachments)


def _headers(message: Any) -> list[tuple[str, Any]]:
    transport = getattr(message, "transport_headers", None)
    if transport and (kept := transport_headers(transport)):
        return kept
    # A From header always, so that the message made here is recognised as one and opened in its turn.
    properties = _string_properties(message)
    sender = getattr(message, "sender_name", None) or properties.get(0x0C1A, "")
    address = properties.get(0x5D01) or properties.get(0x0C1F, "")
    if "@" in address and address != sender:
        sender = f"{sender} <{address}>" if sender else address
    made: list[tuple[str, Any]] = [("From", one_line(sender))]
    for name, tag in (("To", 0x0E04), ("Cc", 0x0E03)):  # PidTagDisplayTo, PidTagDisplayCc
        if properties.get(tag):
            made.append((name, one_line(properties[tag])))
    if subject := getattr(message, "subject", None):
        made.append(("Subject", one_line(subject)))
    if sent := _sent(properties):
        made.append(("Date", email.utils.format_datetime(sent)))
    for name, tag in (("Message-ID", 0x1035), ("In-Reply-To", 0x1042)):  # PidTagInternetMessageId, PidTagInReplyToId
        if properties.get(tag):
            made.append((name, properties[tag]))
    return made


# The properties headers are made of when a message kept no transport headers (one sent from the store): strings,
# and the client submit and delivery times (FILETIMEs, read from their bytes here: libpff's own time accessors have
# been seen to crash the process on a damaged item).
_HEADER_PROPERTIES = frozenset({0x0C1A, 0x0C1F, 0x5D01, 0x0E04, 0x0E03, 0x1035, 0x1042})
_TIME_PROPERTIES = (0x0039, 0x0E06)  # PidTagClientSubmitTime, PidTagMessageDeliveryTime
_FILETIME_EPOCH = dt.datetime(1601, 1, 1, tzinfo=dt.timezone.utc)


def _string_properties(message: Any) -> dict[int, Any]:
    """Property tag → text of the message's string properties that headers are made of, and → FILETIME (an int)
    of its times (unreadable ones left out)."""
    found: dict[int, Any] = {}
    try:
        entries = message.get_record_set(0).entries if message.number_of_record_sets else ()
        for entry in entries:
            if entry.entry_type in _HEADER_PROPERTIES and entry.value_type in (0x001E, 0x001F):
                found[entry.entry_type] = " ".join((entry.get_data_as_string() or "").split())
            elif entry.entry_type in _TIME_PROPERTIES and entry.value_type == 0x0040 and len(entry.data or b"") == 8:
                found[entry.entry_type] = int.from_bytes(entry.data, "little")
    except _PFF_ERRORS:
        pass
    return found


def _sent(properties: dict[int, Any]) -> dt.datetime | None:
    """When the message was sent (else delivered), UTC; None when neither is there or readable."""
    for tag in _TIME_PROPERTIES:
        if ticks := properties.get(tag):
            try:
                moment = _FILETIME_EPOCH + dt.timedelta(microseconds=ticks // 10)
            except OverflowError:
                continue
            if moment.year > 1601:
                return moment.replace(microsecond=0)
    return None


def _body(message: Any, name: str) -> bytes:
    try:
        body = getattr(message, name, None)
    except _PFF_ERRORS:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    return body or b""


def _said(error: BaseException) -> str:
    """libpff's error as its first clause: the rest is the chain of its internal calls."""
    return str(error).split(". ")[0].rstrip(".")
