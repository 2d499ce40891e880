"""FTP over reassembled TCP: commands paired with their final replies, USER/PASS credentials,
and data connections announced by PASV/EPSV replies or PORT/EPRT commands, linked back to the
transfer command (RETR, STOR, LIST, ...) and their content hashed and kept up to the caps.

The control handler tells the analysis which (address, port) a data connection will go to;
the analysis gives a TCP connection to that endpoint a `FtpDataHandler` instead of guessing
its protocol. A transfer's record is emitted once both its final reply and the end of its
data connection have been seen (or its control connection has ended). Once the server accepts
AUTH TLS (234), the control connection's TLS handshake is read by the TLS parser.
"""

from __future__ import annotations

import ipaddress
import re
from collections import deque

from .app import Analysis, Connection, Opening, TcpProtocol, Verdict
from .http import _Body, safe_name
from .lines import LineReader
from .records import CredentialRecord, ExtractedObject, FtpRecord, iso_us

MAX_LINE = 16 * 1024
MAX_WAITING = 256  # commands held for their replies
MAX_ARG = 4096
TRANSFER = frozenset(("RETR", "STOR", "STOU", "APPE", "LIST", "NLST", "MLSD"))
FILES = frozenset(("RETR", "STOR", "STOU", "APPE"))

_PASV = re.compile(r"(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})")
_EPSV = re.compile(r"\((.)\1\1(\d{1,5})\1\)")


def _norm(host: str) -> str | None:
    try:
        return ipaddress.ip_address(host.strip()).compressed
    except ValueError:
        return None


def parse_port(arg: str) -> tuple[str, int] | None:
    """'h1,h2,h3,h4,p1,p2' (PORT argument or 227 reply) → (address, port)."""
    match = _PASV.search(arg)
    if not match:
        return None
    parts = [int(x) for x in match.groups()]
    if any(p > 255 for p in parts):
        return None
    return ".".join(map(str, parts[:4])), parts[4] * 256 + parts[5]


def parse_eprt(arg: str) -> tuple[str, int] | None:
    """'|2|2001:db8::1|49189|' → (address, port) (RFC 2428)."""
    arg = arg.strip()
    if len(arg) < 4:
        return None
    fields = arg[1:].split(arg[0])
    if len(fields) < 3 or not fields[2].isdigit():
        return None
    host = _norm(fields[1])
    port = int(fields[2])
    return (host, port) if host and 0 < port < 65536 else None


class Channel:
    """A data connection announced on a control connection."""

    __slots__ = ("control", "passive", "orig_h", "resp_h", "resp_p", "record", "state", "body", "flow_id", "force",
                 "clean")

    def __init__(self, control: FtpHandler, passive: bool, orig_h: str, resp_h: str, resp_p: int) -> None:
        self.control = control
        self.passive = passive
        self.orig_h = orig_h
        self.resp_h = resp_h
        self.resp_p = resp_p
        self.record: FtpRecord | None = None  # the transfer command that used it
        self.state = "expected"  # expected | open | closed
        self.body: _Body | None = None
        self.flow_id: int | None = None
        self.force = False  # the control connection ended: emit as soon as the data ends
        self.clean = True


class FtpDataHandler:
    """The bytes of one FTP data connection, for the control connection that announced it."""

    def __init__(self, conn: Connection, ctx: Analysis, channel: Channel) -> None:
        self.conn = conn
        self.channel = channel
        self.body = _Body(None, ctx.settings.max_object_size, ctx.settings.max_body_size)
        self.done = False
        channel.state = "open"
        channel.body = self.body
        channel.flow_id = conn.id

    def stream(self, is_orig: bool, data: bytes, ts_ns: int) -> None:
        self.body.feed(data)

    def datagram(self, is_orig: bool, data: bytes, ts_ns: int) -> None:  # not used: TCP only
        pass

    def gap(self, is_orig: bool, size: int) -> None:
        self.body.lost()
        self.body.wire += size

    def close(self, ts_ns: int) -> None:
        self.body.finish()
        self.channel.clean = self.conn.closed_cleanly()
        self.channel.state = "closed"
        self.channel.control.data_closed(self.channel)


class FtpHandler:
    """Commands and replies of one FTP control connection."""

    def __init__(self, conn: Connection, ctx: Analysis) -> None:
        self.conn = conn
        self.ctx = ctx
        self.readers = (LineReader(MAX_LINE), LineReader(MAX_LINE))  # indexed by is_orig
        self.user: str | None = None
        self.cwd = "."
        self.waiting: deque[tuple[FtpRecord, Channel | None, CredentialRecord | None]] = deque()
        self.channel: Channel | None = None  # the last data connection announced, not yet used
        self.multi: bytes | None = None  # code of a multi-line reply being read
        self.done = False
        self.dead = False

    # ------------------------------------------------------------------ stream interface

    def stream(self, is_orig: bool, data: bytes, ts_ns: int) -> None:
        if self.dead:
            return
        reader = self.readers[is_orig]
        for line in reader.feed(data):
            if is_orig:
                self._command(line.decode("utf-8", "replace"), ts_ns)
            else:
                self._reply_line(line, ts_ns)
            if self.done:
                return
        if reader.overflow:
            self.dead = True
            self.ctx.warn(self.conn, "FTP not parsed further: line longer than 16 KiB (not FTP, or TLS)")

    def gap(self, is_orig: bool, size: int) -> None:
        self.readers[is_orig].reset()
        if not is_orig:
            self.multi = None

    def close(self, ts_ns: int) -> None:
        while self.waiting:
            rec, channel, cred = self.waiting.popleft()
            if cred is not None:
                self.ctx.emit(cred)
            self._finished(rec, channel, force=True)

    # ------------------------------------------------------------------ commands

    def _command(self, line: str, ts_ns: int) -> None:
        verb, _, arg = line.strip().partition(" ")
        if not verb:
            return
        verb = verb.upper()[:16]
        arg = arg.strip()[:MAX_ARG]
        conn = self.conn
        if verb == "USER":
            self.user = arg
        rec = FtpRecord(iso_us(ts_ns), conn.src, conn.o_port, conn.dst, conn.r_port, self.user, verb, arg or None,
                        flow_id=conn.id)
        cred = None
        channel = None
        if verb == "PASS":
            cred = CredentialRecord(rec.ts, conn.src, conn.o_port, conn.dst, conn.r_port, "ftp", self.user, arg,
                                    "FTP PASS", flow_id=conn.id)
        elif verb in TRANSFER:
            if arg and verb != "LIST" and verb != "NLST" and verb != "MLSD":
                rec.url = self._url(arg)
            channel = self.channel
            if channel is not None:
                self.channel = None
                channel.record = rec
        elif verb in ("PORT", "EPRT"):
            target = parse_port(arg) if verb == "PORT" else parse_eprt(arg)
            if target is not None:
                rec.data_passive = False
                rec.data_orig_h, (rec.data_resp_h, rec.data_resp_p) = conn.dst, target
        self.waiting.append((rec, channel, cred))
        if len(self.waiting) > MAX_WAITING:
            old, old_channel, old_cred = self.waiting.popleft()
            if old_cred is not None:
                self.ctx.emit(old_cred)
            self._finished(old, old_channel, force=True)

    def _url(self, arg: str) -> str:
        if arg.startswith("/"):
            path = arg
        else:
            path = f"{self.cwd.rstrip('/')}/{arg}" if self.cwd != "/" else f"/{arg}"
        host = self.conn.dst
        if ":" in host:
            host = f"[{host}]"
        return f"ftp://{host}{path if path.startswith('/') else '/' + path}"

    # ------------------------------------------------------------------ replies

    def _reply_line(self, line: bytes, ts_ns: int) -> None:
        code = line[:3]
        if self.multi is not None:
            if code == self.multi and line[3:4] != b"-":
                self.multi = None
                self._reply(int(code), line[4:].decode("utf-8", "replace").strip(), ts_ns)
            return
        if len(line) < 3 or not code.isdigit():
            return
        if line[3:4] == b"-":
            self.multi = code
            return
        self._reply(int(code), line[4:].decode("utf-8", "replace").strip(), ts_ns)

    def _reply(self, code: int, text: str, ts_ns: int) -> None:
        if code < 200 or not self.waiting:
            return  # preliminary (150), or the greeting
        rec, channel, cred = self.waiting.popleft()
        rec.reply_code = code
        rec.reply_msg = text[:1024]
        conn = self.conn
        command = rec.command
        if cred is not None:
            cred.accepted = 200 <= code < 300 if code < 300 or code >= 500 else None
            self.ctx.emit(cred)
        if command == "PASV" and code == 227:
            target = parse_port(text)
            if target is not None:
                rec.data_passive = True
                rec.data_orig_h, (rec.data_resp_h, rec.data_resp_p) = conn.src, target
        elif command == "EPSV" and code == 229:
            match = _EPSV.search(text)
            if match:
                rec.data_passive = True
                rec.data_orig_h, rec.data_resp_h, rec.data_resp_p = conn.src, conn.dst, int(match.group(2))
        elif command in ("PORT", "EPRT") and not 200 <= code < 300:
            rec.data_passive = rec.data_orig_h = rec.data_resp_h = rec.data_resp_p = None
        elif command == "PWD" and code == 257 and text.startswith('"'):
            end = text.find('"', 1)
            if end > 0:
                self.cwd = text[1:end] or "/"
        elif command == "CWD" and 200 <= code < 300 and rec.arg:
            self.cwd = rec.arg if rec.arg.startswith("/") else f"{self.cwd.rstrip('/')}/{rec.arg}"
        elif command == "CDUP" and 200 <= code < 300:
            self.cwd = self.cwd.rsplit("/", 1)[0] or "/"
        if rec.data_orig_h is not None and rec.data_resp_h is not None and rec.data_resp_p is not None \
                and command in ("PASV", "EPSV", "PORT", "EPRT"):  # the three are set together
            channel_new = Channel(self, bool(rec.data_passive), rec.data_orig_h, rec.data_resp_h, rec.data_resp_p)
            self.channel = channel_new
            self.ctx.expect_ftp_data(channel_new)
        self._finished(rec, channel)
        if command == "AUTH" and code == 234:  # RFC 4217: the control connection is TLS from the next byte on
            self.close(ts_ns)
            self.done = self.dead = True
            self.ctx.start_tls(conn, f"FTP AUTH {rec.arg or ''}".rstrip())

    # ------------------------------------------------------------------ transfers

    def _finished(self, rec: FtpRecord, channel: Channel | None, force: bool = False) -> None:
        """Reply seen (or no more to come): emit now, or when the data connection ends."""
        if channel is not None and channel.state == "open":
            channel.force = channel.force or force
            return  # data_closed() emits it
        self._emit(rec, channel)

    def data_closed(self, channel: Channel) -> None:
        rec = channel.record
        if rec is None:
            return  # not (yet) tied to a command: the command's reply will emit it
        if rec.reply_code is not None or channel.force:
            self._emit(rec, channel)

    def _emit(self, rec: FtpRecord, channel: Channel | None) -> None:
        obj = None
        if channel is not None and channel.body is not None:
            body = channel.body
            body.finish()
            rec.data_flow_id = channel.flow_id
            rec.file_size = body.size
            rec.file_sha256 = digest = body.hash.hexdigest() if body.size else None
            complete = body.complete and not body.truncated and channel.clean and channel.state == "closed"
            rec.file_complete = complete
            if digest is not None and rec.command in FILES:  # a digest: some bytes were carried
                name = safe_name(rec.arg or "", "ftp-data")
                obj = ExtractedObject(name, rec, "response" if rec.command == "RETR" else "request", body.size,
                                      digest, bytes(body.data),
                                      truncated=body.truncated or not complete, flow_id=rec.flow_id)
            channel.body = None
            channel.state = "emitted"
        self.ctx.emit(rec)
        if obj is not None:
            self.ctx.emit(obj)


def first_command(client: bytes) -> bool:
    """A client's first command as FTP clients start (POP3 clients too, with USER)."""
    first = client[:8].upper()
    return first[:5] in (b"USER ", b"FEAT\r", b"SYST\r") or first == b"AUTH TLS"


def _client_opens(opening: Opening) -> bool:
    return first_command(opening.client) and opening.server[:3] != b"+OK"  # +OK: POP3's greeting


def _server_opens(opening: Opening) -> Verdict:
    return Verdict.of(opening.server[:3] == b"220" and b"FTP" in opening.server.split(b"\n", 1)[0].upper())


PROTOCOL = TcpProtocol("ftp", _client_opens, _server_opens, FtpHandler)
