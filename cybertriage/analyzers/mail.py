"""E-mail: mail stores and messages opened, each message recorded.

A mailbox (mbox) or Outlook store (PST/OST) gives its folders and messages as child objects; a message (an `.eml`,
a message of a store, a saved Outlook `.msg`) gives its body parts and attachments as children, so an attachment
is hashed, typed, YARA-scanned and scored as any file, and is one `email.message` record (`Artefact`) with its
sender, recipients, subject, date, ids, Received chain and attachments: the `artifacts` table, the timeline and
`export --what emails`. Reading the formats is the evidence layer's (evidence/containers: mail, mail_mbox, pst,
msg); what was damaged or left unread is said to the ledger here."""

from __future__ import annotations

import email.message
import email.utils
from collections.abc import Iterable, Iterator
from typing import Any

from ..evidence.base import EvidenceObject
from ..evidence.containers import Container, ContainerError
from ..evidence.containers.mail import HEAD_BYTES, EmlContainer, header_text, looks_like_headers, parse_message
from ..evidence.containers.mail_mbox import SEPARATOR, MboxContainer
from ..evidence.containers.msg import OLE_SIGNATURE, MsgContainer, MsgMessage
from ..evidence.containers.pst import PST_SIGNATURE, PstContainer
from .archive import container_limits
from .artefacts.base import utc
from .base import Analyzer, Finding, Item, Settings
from .results import Artefact

MAIL_CONTAINERS: tuple[type[Container], ...] = (EmlContainer, MboxContainer, PstContainer, MsgContainer)
STAGE = "mail"


class MailMessages(Analyzer):
    NAME = "mail"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.limits = container_limits(settings)

    def analyze(self, item: Item) -> Iterable[Finding | EvidenceObject | Artefact]:
        obj = item.obj
        if obj.kind not in ("file", "virtual") or obj.content is None or not item.content_read or not item.head:
            return
        if not _may_be_mail(item.head):
            return
        kind = next((k for k in MAIL_CONTAINERS if k.probe(obj.content)), None)
        if kind is None:
            return
        if obj.depth >= self.settings.archive_depth:
            item.skipped.append((STAGE, f"{kind.FORMAT} nested too deep: not opened"))
            return
        try:
            store = kind(obj.content, obj.ref, self.limits)
        except ContainerError as error:
            item.skipped.append((STAGE, f"{kind.FORMAT} not opened: {error}"))
            return
        with store:
            record = message_record(store)
            if record is not None:
                yield record
            yield from self._members(item, store)
            item.skipped.extend((STAGE, f"{store.FORMAT}: {problem}") for problem in getattr(store, "problems", ()))

    def _members(self, item: Item, store: Container) -> Iterator[Finding | EvidenceObject]:
        limits = self.limits
        if store.listed > limits.max_members:
            yield Finding(self.NAME, "too-many-members", "medium",
                          f"{store.FORMAT} holds {store.listed} items; only the first {limits.max_members} examined",
                          {"members": store.listed})
            item.skipped.append((STAGE, f"{store.listed - limits.max_members} items past the member limit"))
        for member in store.members:
            try:
                yield store.object(member, item.obj)
            except (ContainerError, OSError) as error:
                item.skipped.append((STAGE, f"{store.FORMAT}: {member.name}: {error}"))


def _may_be_mail(head: bytes) -> bool:
    """From the first bytes every analyzer has already: whether one of the formats' probes is worth asking."""
    return head.startswith((OLE_SIGNATURE, PST_SIGNATURE, SEPARATOR)) or looks_like_headers(head[:HEAD_BYTES])


def message_record(store: Container) -> Artefact | None:
    """The `email.message` record of a container that is one message (an EML or MSG); None for a store."""
    if isinstance(store, EmlContainer):
        values = internet_values(store.message)
        values["attachments"] = [{"name": p.name, "size": len(p.data)} for p in store.parts if p.attachment]
    elif isinstance(store, MsgContainer):
        values = msg_values(store.message)
        values["attachments"] = [{"name": name, "size": size} for name, size in store.attachments]
    else:
        return None
    ts = values.pop("ts")
    summary = f"E-mail from {values['from'] or '?'} to {values['to'] or '?'}: {values['subject'] or '(no subject)'}"
    return Artefact("email.message", ts, summary, values)


def internet_values(message: email.message.Message) -> dict[str, Any]:
    """The record's fields from an Internet message's headers, encoded words decoded, folded lines unfolded."""
    def one(name: str) -> str:
        return " ".join(header_text(message.get(name)).split())

    return {"from": one("From"), "to": one("To"), "cc": one("Cc"), "subject": one("Subject"),
            "date": one("Date"), "ts": _utc_date(message.get("Date")), "message_id": one("Message-ID"),
            "in_reply_to": one("In-Reply-To"),
            "received": [" ".join(header_text(value).split()) for value in message.get_all("Received") or ()]}


def msg_values(message: MsgMessage) -> dict[str, Any]:
    """The record's fields from an Outlook message's properties; the Received chain from its transport headers."""
    headers = parse_message(message.transport_headers.encode("utf-8", "surrogateescape") + b"\n\n") \
        if message.transport_headers else None
    received = [" ".join(header_text(v).split()) for v in headers.get_all("Received") or ()] if headers else []
    return {"from": message.sender(), "to": message.to(), "cc": message.cc(), "subject": message.subject,
            "date": email.utils.format_datetime(message.sent) if message.sent else "",
            "ts": utc(message.sent), "message_id": message.message_id, "in_reply_to": message.in_reply_to,
            "received": received}


def _utc_date(value: object) -> str | None:
    """A Date header as ISO 8601 UTC; None when absent or unreadable (a date without a zone is taken as UTC)."""
    if not value:
        return None
    try:
        return utc(email.utils.parsedate_to_datetime(str(value)))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
