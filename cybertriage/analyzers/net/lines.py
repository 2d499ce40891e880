"""Line framing of one direction of a reassembled TCP stream, for the line-based mail protocols.

FTP, POP3 and IMAP read commands and replies a line at a time; this keeps the unfinished tail of
the stream between segments and gives up (once, so the caller can say why) when a line grows
past its bound, which is what a stream that is not the protocol, or is encrypted, looks like.
"""

from __future__ import annotations


class LineReader:
    """Complete lines (LF and any CRs before it removed) out of the chunks of one stream direction."""

    __slots__ = ("buf", "limit", "overflow")

    def __init__(self, limit: int) -> None:
        self.buf = b""
        self.limit = limit
        self.overflow = False  # a line was longer than `limit`: nothing more is returned

    def feed(self, data: bytes) -> list[bytes]:
        """The lines completed by `data`, in order."""
        if self.overflow:
            return []
        if self.buf:
            data = self.buf + data
        lines = data.split(b"\n")
        tail = lines.pop()
        if len(tail) > self.limit:
            self.overflow = True
            tail = b""
        self.buf = tail
        return [line.rstrip(b"\r") for line in lines]

    def reset(self) -> None:
        """Bytes of this direction went missing: what was buffered is no line of its own."""
        self.buf = b""
