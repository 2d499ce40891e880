"""Mailboxes in the mbox format (Thunderbird's, mutt's, Google Takeout's): messages one after another, each opened
by a `From ` line. Each message is a member named by its number and subject (`00012 Invoice due.eml`), its content
the message as it lies in the file, read in place; the message is then opened as an e-mail in its turn.

The file is read once, in chunks, to find where each message starts, as Python's `mailbox.mbox` splits it (every
line that starts with `From `). A `From ` line that is not sender and date, or a message with no headers after its
`From ` line (a body line that was not escaped as `>From `), is said in `problems`; the split is kept as it is."""

from __future__ import annotations

import re

from ..base import CHUNK_SIZE, Content, ObjectRef
from .base import Container, ContainerLimits, Member
from .mail import header_text, looks_like_headers, parse_message, safe_name

SEPARATOR = b"From "
HEADER_READ = 16 * 1024  # of each message, what the listing reads for its subject
SUBJECT_CHARACTERS = 80
LINE_HEAD = 256  # of each line, what is kept to tell a From line and show it
# `From sender weekday month day hh:mm[:ss] [zone] year`, as mbox writers put it (RFC 4155): the date's shape only.
_FROM_LINE = re.compile(rb"^From \S+ +.*\d{1,2}:\d{2}(:\d{2})?.*\d{4}\s*$")


class _Slice(Content):
    """A range of the mailbox's content: one message, read in place."""

    def __init__(self, content: Content, start: int, size: int) -> None:
        self._content, self._start, self.size = content, start, size

    def read_at(self, offset: int, length: int) -> bytes:
        return self._content.read_at(self._start + offset, max(0, min(length, self.size - offset)))


class MboxContainer(Container):
    """The messages of an mbox file."""

    FORMAT = "mbox"

    def __init__(self, content: Content, ref: ObjectRef, limits: ContainerLimits) -> None:
        super().__init__(content, ref, limits)
        self.problems: list[str] = []
        starts = self._message_starts()
        self.listed = len(starts)
        self._ranges: list[tuple[int, int]] = []
        for index, (line_start, body_start) in enumerate(starts[: limits.max_members]):
            end = starts[index + 1][0] if index + 1 < len(starts) else content.size
            self._ranges.append((body_start, end - body_start))
        self.members = [self._member(index, start, size) for index, (start, size) in enumerate(self._ranges)]

    @classmethod
    def probe(cls, content: Content) -> bool:
        head = content.read_at(0, min(4096, content.size))
        if not head.startswith(SEPARATOR) or b"\n" not in head:
            return False
        return looks_like_headers(head.split(b"\n", 1)[1])

    def _message_starts(self) -> list[tuple[int, int]]:
        """(where its From line starts, where its headers start) of every message, in one pass over the file that
        looks for a line end followed by `From ` (the bytes between are not split into lines)."""
        starts: list[tuple[int, int]] = []
        marker = b"\n" + SEPARATOR
        tail, offset = b"\n", 0  # the file's start counts as a line's
        for chunk in self.content.chunks():
            data, base = tail + chunk, offset - len(tail)
            found = data.find(marker)
            while found >= 0:
                line_start = base + found + 1
                starts.append((line_start, self._line_end(line_start, len(starts) + 1)))
                found = data.find(marker, found + 1)
            tail = data[-(len(marker) - 1):]
            offset += len(chunk)
        if not starts or starts[0][0] != 0:
            self.problems.append("mailbox does not open with a From line: what comes before the first is not read")
        return starts

    def _line_end(self, line_start: int, number: int) -> int:
        """Where the line after a From line starts (the file's end if none does); the From line is checked."""
        head = self.content.read_at(line_start, min(LINE_HEAD, self.content.size - line_start))
        self._separator(head.split(b"\n", 1)[0], line_start, number)
        position = line_start
        while True:
            end = head.find(b"\n")
            if end >= 0:
                return position + end + 1
            position += len(head)
            if position >= self.content.size or not head:
                return self.content.size
            head = self.content.read_at(position, min(CHUNK_SIZE, self.content.size - position))

    def _separator(self, line: bytes, position: int, number: int) -> None:
        if not _FROM_LINE.match(line.rstrip(b"\r")):
            shown = line[:80].decode("latin-1").encode("unicode_escape").decode("ascii")
            self.problems.append(f"malformed From line at byte {position} (message {number}): {shown}")

    def _member(self, index: int, start: int, size: int) -> Member:
        head = self.content.read_at(start, min(HEADER_READ, size))
        subject = ""
        if looks_like_headers(head):
            subject = header_text(parse_message(head.split(b"\n\n", 1)[0] + b"\n\n").get("Subject"))
        else:
            self.problems.append(f"message {index + 1} at byte {start} has no headers after its From line "
                                 "(a body line starting 'From ' that was not escaped?)")
        title = " ".join(subject.split())[:SUBJECT_CHARACTERS]
        name = safe_name(f"{index + 1:05d} {title}".strip() + ".eml", f"{index + 1:05d}.eml")
        return Member(index, name, size, size)

    def _open_member(self, member: Member) -> Content:
        start, size = self._ranges[member.index]
        return _Slice(self.content, start, size)
