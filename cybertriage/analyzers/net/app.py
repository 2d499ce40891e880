"""What an application protocol is to the capture analysis: how it is told from a TCP flow's first bytes, and the
parser (`AppHandler`) that then reads the flow's reassembled streams; or, on UDP, from a flow's ports and first
datagrams, and the parser (`DatagramHandler`) that then reads its datagrams.

A protocol is one module that defines its parser and one `TcpProtocol` entry (its name, its two recognisers and
its parser's class), and one line in handlers.py's `TCP_PROTOCOLS`, whose order is the order of asking; on UDP a
`UdpProtocol` entry and one line in `UDP_PROTOCOLS`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .records import NetRecord


class Connection(Protocol):
    """The TCP or UDP flow a parser reads (analyse._Conn): its ends, for the records it writes."""

    id: int
    src: str
    dst: str
    o_port: int
    r_port: int
    proto_name: str
    app: str | None

    def closed_cleanly(self) -> bool: ...

    def describe(self) -> str: ...


class Limits(Protocol):
    """The limits a parser keeps to (settings.NetSettings), which it reads and never sets."""

    @property
    def max_object_size(self) -> int: ...

    @property
    def max_body_size(self) -> int: ...


class Analysis(Protocol):
    """The capture analysis as its parsers see it (analyse.CaptureAnalysis): where records and problems go."""

    @property
    def settings(self) -> Limits: ...

    def emit(self, record: NetRecord) -> None: ...

    def warn(self, conn: Connection, message: str) -> None: ...

    def start_tls(self, conn: Connection, upgrade: str) -> None: ...

    def expect_ftp_data(self, channel: object) -> None: ...  # an ftp.Channel (ftp imports this module)


class AppHandler(Protocol):
    """The parser of one flow. The analysis hands it each direction's bytes in order (`stream`), says where bytes
    went missing (`gap`), and calls `close` when the flow ends. Setting `done` stops the delivery of bytes: the
    parser has what the triage needs."""

    done: bool

    def stream(self, is_orig: bool, data: bytes, ts_ns: int) -> None: ...

    def gap(self, is_orig: bool, size: int) -> None: ...

    def close(self, ts_ns: int) -> None: ...


class DatagramHandler(Protocol):
    """The parser of one UDP flow. The analysis hands it each datagram's payload in capture order, starting with the
    one its protocol was told by, and calls `close` when the flow ends."""

    def datagram(self, is_orig: bool, data: bytes, ts_ns: int) -> None: ...

    def close(self, ts_ns: int) -> None: ...


class Verdict(enum.Enum):
    """What a recogniser says of a flow's first bytes."""

    NO = enum.auto()  # not this protocol: ask the next one
    YES = enum.auto()  # this protocol
    ASK_CLIENT = enum.auto()  # a greeting that names no protocol: ask no further, wait for the client's first command

    @classmethod
    def of(cls, mine: bool) -> Verdict:
        return cls.YES if mine else cls.NO


@dataclass(frozen=True, slots=True)
class Opening:
    """The first bytes of a TCP flow each way (up to 64), and its ports."""

    client: bytes
    server: bytes
    client_port: int
    server_port: int

    def on_port(self, ports: frozenset[int]) -> bool:
        return self.client_port in ports or self.server_port in ports


@dataclass(frozen=True)
class TcpProtocol:
    """An application protocol the analysis tells on TCP. `client_opens` is asked of the client's first bytes (all
    protocols in turn), then `server_opens` of the server's. `parser` None: told (for the flows and the port
    findings), but nothing in it is read."""

    name: str  # the flow's application, as Zeek's conn.log service
    client_opens: Callable[[Opening], bool] | None
    server_opens: Callable[[Opening], Verdict] | None
    parser: Callable[[Connection, Analysis], AppHandler] | None


@dataclass(frozen=True)
class UdpProtocol:
    """An application protocol the analysis tells on UDP. It is asked of a flow with either end on one of its
    `ports`, one datagram at a time until it takes one (`why_not` says None) or `handlers.UDP_TRIES` datagrams have
    come; each datagram it refuses is a recorded problem, with its reason."""

    name: str  # the flow's application, as Zeek's conn.log service
    title: str  # how the problems recorded name it ("DNS")
    ports: frozenset[int]
    why_not: Callable[[bytes], str | None]  # None: this datagram is one of its messages; else why it is not
    parser: Callable[[Connection, Analysis], DatagramHandler]
