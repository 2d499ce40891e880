"""E-mail messages in their Internet form (RFC 5322, an `.eml` file or a message of a mailbox): the message's body
parts and attachments are its members, decoded from their transfer encoding, so that an attachment is hashed and
scanned as the file its sender attached. A message attached to another (message/rfc822) is a member too, and is
opened as a message in its turn.

Python's e-mail parser, with the lenient compat32 policy, reads what it can of a damaged message: what it says of
the damage (a part without its closing boundary, bad base64) is kept in `problems` for the ledger."""

from __future__ import annotations

import email.encoders
import email.errors
import email.header
import email.message
import email.parser
import email.policy
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from typing import Any

from ..base import BytesContent, Content, ObjectRef
from .base import Container, ContainerError, ContainerLimits, Member

HEAD_BYTES = 4096  # what the probe reads: a message's first headers
# Headers whose presence in a message's first lines tells a message from another text with colons in it.
KNOWN_HEADERS = frozenset({
    "from", "to", "cc", "subject", "date", "received", "message-id", "return-path", "mime-version", "content-type",
    "delivered-to", "reply-to", "x-mailer", "in-reply-to", "references", "sender", "content-transfer-encoding",
    "x-originating-ip", "user-agent", "dkim-signature", "authentication-results", "thread-topic", "x-ms-exchange",
})
MESSAGE_HEADERS = frozenset({"from", "received", "message-id", "return-path", "delivered-to"})
_HEADER_LINE = re.compile(rb"^([!-9;-~]+)[ \t]*:")
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")
NAME_LIMIT = 200  # characters of a member's name: enough to read, short enough for any exported file name


def looks_like_headers(head: bytes) -> bool:
    """Whether the bytes open with a block of Internet message headers (several of those every message carries,
    at least one only a message has), each line a header or its continuation."""
    if _HEADER_LINE.match(head) is None:  # the first line is no header (most files): the head is not split
        return False
    names: set[str] = set()
    for line in head.split(b"\n")[:-1] if len(head) >= HEAD_BYTES else head.split(b"\n"):
        line = line.rstrip(b"\r")
        if not line:
            break
        if line[:1] in (b" ", b"\t"):
            if not names:
                return False
            continue
        match = _HEADER_LINE.match(line)
        if match is None:
            return False
        names.add(match.group(1).decode("ascii").lower())
    known = names & KNOWN_HEADERS
    return len(known) >= 2 and bool(known & MESSAGE_HEADERS)


def parse_message(data: bytes) -> email.message.Message:
    """The message as the lenient (compat32) parser reads it: never raises on damage, records defects instead."""
    return email.parser.BytesParser(policy=email.policy.compat32).parsebytes(data)


def header_text(value: object) -> str:
    """A header's value as text, its RFC 2047 encoded words decoded; what cannot be decoded is kept as it is."""
    if value is None:
        return ""
    text = str(value)
    try:
        return str(email.header.make_header(email.header.decode_header(text)))
    except (ValueError, LookupError, UnicodeError, email.errors.HeaderParseError):
        return text


def safe_name(name: str, fallback: str) -> str:
    """A member name that is one name: no path separators or control characters, not empty, not too long."""
    cleaned = _UNSAFE_NAME.sub("_", name).strip().strip(".") or fallback
    return cleaned[:NAME_LIMIT]


def unique_name(name: str, taken: set[str]) -> str:
    """`name`, or `name (2)`, `name (3)` … before its extension when another member has it already."""
    if name not in taken:
        taken.add(name)
        return name
    stem, dot, extension = name.rpartition(".")
    if not stem:
        stem, dot, extension = name, "", ""
    number = 2
    while (candidate := f"{stem} ({number}){dot}{extension}") in taken:
        number += 1
    taken.add(candidate)
    return candidate


@dataclass(frozen=True)
class Part:
    """One body part or attachment of a message, decoded from its transfer encoding."""

    name: str  # its member name
    data: bytes
    attachment: bool  # attached (a file name, an attached message, or said to be an attachment), not a body


def message_parts(message: email.message.Message) -> list[Part]:
    """The message's body parts and attachments, decoded, in the message's order, each with a member name:
    an attachment's own file name, `body.txt` / `body.html` for the text the reader sees, `message-N.eml` for an
    attached message, `part-N.ext` for the rest."""
    parts: list[Part] = []
    taken: set[str] = set()
    for number, part in enumerate(_leaves(message), start=1):
        content_type = part.get_content_type()
        filename = header_text(part.get_filename()) if part.get_filename() else ""
        if content_type == "message/rfc822":
            inner = part.get_payload()
            attached = inner[0] if isinstance(inner, list) and inner else None
            data = _message_bytes(attached) if isinstance(attached, email.message.Message) else b""
            name = filename or f"message-{number}.eml"
            attachment = True
        else:
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            attachment = bool(filename) or (part.get("Content-Disposition") or "").lower().startswith("attachment")
            if filename:
                name = filename
            elif content_type in ("text/plain", "text/html") and not attachment:
                name = "body.txt" if content_type == "text/plain" else "body.html"
            else:
                name = f"part-{number}{mimetypes.guess_extension(content_type) or '.bin'}"
        parts.append(Part(unique_name(safe_name(name, f"part-{number}"), taken), data, attachment))
    return parts


def _leaves(message: email.message.Message) -> list[email.message.Message]:
    """The parts that hold content (not multipart containers), depth first; an attached message is one leaf."""
    leaves: list[email.message.Message] = []
    stack = [message]
    while stack:
        part = stack.pop()
        payload = part.get_payload()
        if part.is_multipart() and part.get_content_type() != "message/rfc822" and isinstance(payload, list):
            stack.extend(reversed([p for p in payload if isinstance(p, email.message.Message)]))
        else:
            leaves.append(part)
    return leaves


def _message_bytes(message: email.message.Message) -> bytes:
    try:
        return message.as_bytes(policy=email.policy.compat32)
    except (ValueError, LookupError, UnicodeError, TypeError):
        return message.as_string().encode("utf-8", "surrogateescape")


def defects_of(message: email.message.Message) -> list[str]:
    """What the parser found wrong in the message and its parts, once each, in words."""
    said: list[str] = []
    stack = [message]
    while stack:
        part = stack.pop()
        for defect in part.defects:
            text = f"{type(defect).__name__}: {(defect.__doc__ or '').strip().splitlines()[0]}".rstrip(": ")
            if text not in said:
                said.append(text)
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend(p for p in payload if isinstance(p, email.message.Message))
    return said


# Headers a made message's own MIME structure replaces: kept transport headers describe the parts as they were sent.
MIME_HEADERS = frozenset({"content-type", "content-transfer-encoding", "mime-version"})


def one_line(text: str) -> str | email.header.Header:
    """A header value made from a property, on one line (a line end in it makes no header of its own), as it is
    when ASCII, else in RFC 2047 encoded words."""
    text = " ".join(text.split())
    return text if text.isascii() else email.header.Header(text, "utf-8")


def transport_headers(text: str) -> list[tuple[str, str]]:
    """The headers a store kept of a message as it came (its Received chain, addresses, ids), less those that
    described its MIME parts."""
    parsed = parse_message(text.strip().encode("utf-8", "surrogateescape") + b"\n\n")
    return [(name, value) for name, value in parsed.items() if name.lower() not in MIME_HEADERS]


def internet_message(headers: list[tuple[str, Any]], bodies: list[tuple[str, bytes]],
                     attachments: list[tuple[str, bytes]]) -> bytes:
    """A message made in its Internet form from a store's (PST) or a saved message's (MSG) parts: the headers,
    the text bodies (subtype, bytes), then the attachments (name, bytes), each part's bytes kept as they are. The
    same bytes each time it is made (read back, extracted and verified): its boundary is drawn from its parts."""
    mime = MIMEMultipart("mixed")
    for name, value in headers:
        mime[name] = value
    for subtype, body in bodies:
        mime.attach(_part("text", subtype, body, None))
    for filename, data in attachments:
        mime.attach(_part("application", "octet-stream", data, filename))
    digest = hashlib.sha256()
    for part in mime.walk():
        if part is not mime:
            digest.update(str(part.get_payload()).encode("ascii", "replace"))
    mime.set_boundary(f"=_{digest.hexdigest()[:40]}")
    try:
        return mime.as_bytes(policy=email.policy.compat32)
    except (ValueError, UnicodeError, LookupError):
        return mime.as_string().encode("utf-8", "surrogateescape")


def _part(maintype: str, subtype: str, data: bytes, filename: str | None) -> email.message.Message:
    part = MIMEBase(maintype, subtype)
    part.set_payload(data)
    email.encoders.encode_base64(part)
    if filename is not None:
        part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", filename))
    return part


class EmlContainer(Container):
    """One message's body parts and attachments (an `.eml` file, or a message of a mailbox or mail store)."""

    FORMAT = "eml"

    def __init__(self, content: Content, ref: ObjectRef, limits: ContainerLimits) -> None:
        super().__init__(content, ref, limits)
        if content.size > limits.member_limit:
            raise ContainerError(f"message of {content.size} bytes, larger than the extraction limit")
        data = b"".join(content.chunks())
        try:
            message = self.message = parse_message(data)
            self.problems: list[str] = [f"damaged message: {defect}" for defect in defects_of(message)]
            parts = self.parts = message_parts(message)
        except RecursionError:  # parts nested thousands deep: Python's parser recurses once per level
            self.message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(data, headersonly=True)
            self.problems = ["MIME parts nested too deep to read: only the headers were read"]
            parts = self.parts = []
        self.listed = len(parts)
        self._data = [part.data for part in parts[: limits.max_members]]
        self.members = [Member(index, part.name, len(part.data), len(part.data))
                        for index, part in enumerate(parts[: limits.max_members])]

    @classmethod
    def probe(cls, content: Content) -> bool:
        return looks_like_headers(content.read_at(0, min(HEAD_BYTES, content.size)))

    def _open_member(self, member: Member) -> Content:
        return BytesContent(self._data[member.index])
