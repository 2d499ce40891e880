"""Line framing of one direction of a reassembled TCP stream, for the line-based mail protocols.

FTP, POP3 and IMAP read commands and replies a line at a time; this keeps the unfinished tail of
the stream between segments and gives up (once, so the caller can say why) when a line grows
past its bound, which is what a stream that is not the protocol, or is encrypted, looks like.
"""

from __future__ import annotations

import abc
from typing import ClassVar

from .app import Analysis, Connection


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


class LineProtocol(abc.ABC):
    """A command/reply protocol over TCP whose parsing can end early (POP3, IMAP): each direction framed
    into lines, the client's handed to `client_line` as text and the server's to `server_line` as bytes.
    `done` (the capture analysis then stops delivering the connection's bytes) is set by the protocol
    (logged in, encrypted from here on) or when a line outgrows LINE_LIMIT, said once as a warning."""

    NAME: ClassVar[str]
    LINE_LIMIT: ClassVar[int] = 64 * 1024

    def __init__(self, conn: Connection, ctx: Analysis) -> None:
        self.conn = conn
        self.ctx = ctx
        self.readers = (LineReader(self.LINE_LIMIT), LineReader(self.LINE_LIMIT))  # indexed by is_orig
        self.done = False

    @abc.abstractmethod
    def client_line(self, line: str, ts_ns: int) -> None:
        """One command line from the client."""

    @abc.abstractmethod
    def server_line(self, line: bytes, ts_ns: int) -> None:
        """One reply line from the server."""

    def stream(self, is_orig: bool, data: bytes, ts_ns: int) -> None:
        if self.done:
            return
        reader = self.readers[is_orig]
        for line in reader.feed(data):
            if is_orig:
                self.client_line(line.decode("utf-8", "replace"), ts_ns)
            else:
                self.server_line(line, ts_ns)
            if self.done:
                return
        if reader.overflow:
            self.done = True
            self.ctx.warn(self.conn, f"{self.NAME} not parsed further: line longer than {self.LINE_LIMIT // 1024} KiB")

    def datagram(self, is_orig: bool, data: bytes, ts_ns: int) -> None:
        """These protocols run over TCP only; a datagram is not parsed."""

    def gap(self, is_orig: bool, size: int) -> None:
        self.readers[is_orig].reset()
