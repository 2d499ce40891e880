"""SMTP over reassembled TCP: the envelope (HELO, MAIL FROM, RCPT TO), the message headers,
MIME parts extracted as objects, AUTH PLAIN/LOGIN credentials, and STARTTLS (once the server
accepts it, the connection's TLS handshake is read by the TLS parser).

The client's stream is read line by line; DATA content runs to the lone "." line and is kept
(dot-unstuffed) up to the object cap, then parsed with the stdlib `email` package, which
decodes base64 and quoted-printable parts. Server replies are read only to tell whether
STARTTLS and AUTH were accepted.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.header
import email.policy
import hashlib
from collections import deque

from .app import Analysis, Connection, Opening, TcpProtocol, Verdict
from .http import safe_name
from .records import CredentialRecord, ExtractedObject, SmtpRecord, iso_us

MAX_LINE = 64 * 1024
MAX_PARTS = 1000  # MIME parts of one message walked
MAX_CREDENTIAL = 1024

COMMANDS, DATA, DEAD = range(3)


def _address(arg: str) -> str:
    """'FROM:<a@b> SIZE=10' → 'a@b' (what Zeek's smtp.log writes)."""
    arg = arg.split(":", 1)[1] if ":" in arg else arg
    arg = arg.strip()
    if arg.startswith("<"):
        end = arg.find(">")
        return arg[1:end] if end > 0 else arg[1:]
    return arg.split(" ", 1)[0]


def _b64(text: str) -> str | None:
    try:
        return base64.b64decode(text.strip(), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None


def _split(value: str | None) -> list[str]:
    if not value:
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


class SmtpHandler:
    """SMTP transactions of one TCP connection."""

    def __init__(self, conn: Connection, ctx: Analysis) -> None:
        self.conn = conn
        self.ctx = ctx
        self.keep = ctx.settings.max_object_size
        self.state = COMMANDS
        self.buf = b""
        self.rbuf = b""
        self.helo: str | None = None
        self.rec: SmtpRecord | None = None
        self.depth = 0
        self.message = bytearray()
        self.message_size = 0
        self.message_cut = False
        self.auth: str | None = None  # "PLAIN" | "LOGIN" while an AUTH exchange runs
        self.auth_user: str | None = None
        self.waiting: deque[tuple[str, CredentialRecord | None]] = deque()  # commands awaiting replies
        self.pending_creds: list[CredentialRecord] = []
        self.done = False

    # ------------------------------------------------------------------ stream interface

    def stream(self, is_orig: bool, data: bytes, ts_ns: int) -> None:
        if self.done:
            return
        if is_orig:
            self._client(data, ts_ns)
        else:
            self._server(data, ts_ns)

    def gap(self, is_orig: bool, size: int) -> None:
        if is_orig:
            if self.state == DATA:
                self.message_cut = True
                self.buf = b""
            elif self.state == COMMANDS:
                self.buf = b""
        else:
            self.rbuf = b""

    def close(self, ts_ns: int) -> None:
        if self.state == DATA and self.rec is not None:
            self.message_cut = True
            self._end_message()
        self._flush_creds()

    # ------------------------------------------------------------------ client

    def _client(self, data: bytes, ts_ns: int) -> None:
        if self.state == DEAD:
            return
        if self.buf:
            data = self.buf + data
            self.buf = b""
        pos = 0
        n = len(data)
        while pos < n and not self.done:
            eol = data.find(b"\n", pos)
            if eol < 0:
                if n - pos > MAX_LINE:
                    if self.state == DATA:  # an endless line inside a message: keep it, bounded
                        self._data_line(data[pos:], ts_ns, partial=True)
                        pos = n
                        break
                    self.state = DEAD
                    self.ctx.warn(self.conn, "SMTP commands not parsed further: line longer than 64 KiB")
                    return
                break
            line = data[pos:eol + 1]
            pos = eol + 1
            if self.state == DATA:
                self._data_line(line, ts_ns)
            else:
                self._command(line.rstrip(b"\r\n").decode("utf-8", "replace"), ts_ns)
        if pos < n and not self.done and self.state != DEAD:
            self.buf = data[pos:]

    def _command(self, line: str, ts_ns: int) -> None:
        if self.auth is not None:
            self._auth_line(line, ts_ns)
            return
        verb, _, arg = line.strip().partition(" ")
        verb = verb.upper()
        arg = arg.strip()
        if verb in ("EHLO", "HELO"):
            self.helo = arg or None
        elif verb == "MAIL":
            self._new_rec(ts_ns).mail_from = _address(arg)
        elif verb == "RCPT":
            rec = self._new_rec(ts_ns) if self.rec is None else self.rec
            if len(rec.rcpt_to) < 1000:
                rec.rcpt_to.append(_address(arg))
        elif verb == "DATA":
            if self.rec is None:
                self._new_rec(ts_ns)
            self.state = DATA
            self.message = bytearray()
            self.message_size = 0
            self.message_cut = False
        elif verb == "AUTH":
            mech, _, initial = arg.partition(" ")
            mech = mech.upper()
            self.waiting.append(("AUTH", None))
            if mech == "PLAIN":
                if initial and initial != "=":
                    self._plain(initial, ts_ns)
                else:
                    self.auth = "PLAIN"
            elif mech == "LOGIN":
                self.auth = "LOGIN"
                self.auth_user = None
                if initial:
                    self.auth_user = _b64(initial)
            return
        elif verb == "STARTTLS":
            self.waiting.append(("STARTTLS", None))
            return
        elif verb == "RSET":
            self.rec = None
        if verb:
            self.waiting.append((verb, None))
            if len(self.waiting) > 256:
                self.waiting.popleft()

    def _auth_line(self, line: str, ts_ns: int) -> None:
        if line.strip() == "*":  # client cancelled
            self.auth = None
            return
        if self.auth == "PLAIN":
            self.auth = None
            self._plain(line, ts_ns)
        elif self.auth_user is None:
            self.auth_user = _b64(line) or ""
        else:
            self.auth = None
            self._credential(self.auth_user, _b64(line), "SMTP AUTH LOGIN", ts_ns)

    def _plain(self, text: str, ts_ns: int) -> None:
        decoded = _b64(text)
        if decoded is None:
            return
        parts = decoded.split("\0")
        if len(parts) >= 3:
            self._credential(parts[1] or parts[0], parts[2], "SMTP AUTH PLAIN", ts_ns)

    def _credential(self, user: str | None, password: str | None, where: str, ts_ns: int) -> None:
        conn = self.conn
        cred = CredentialRecord(iso_us(ts_ns), conn.src, conn.o_port, conn.dst, conn.r_port, "smtp",
                                user[:MAX_CREDENTIAL] if user is not None else None,
                                password[:MAX_CREDENTIAL] if password is not None else None, where, flow_id=conn.id)
        self.pending_creds.append(cred)
        # the AUTH command's reply comes after its last line: tie the credential to it
        for index in range(len(self.waiting) - 1, -1, -1):
            if self.waiting[index][0] == "AUTH":
                self.waiting[index] = ("AUTH", cred)
                break

    def _flush_creds(self) -> None:
        for cred in self.pending_creds:
            self.ctx.emit(cred)
        self.pending_creds = []

    def _new_rec(self, ts_ns: int) -> SmtpRecord:
        """The next message's record, now the current one."""
        conn = self.conn
        self.depth += 1
        self.rec = rec = SmtpRecord(iso_us(ts_ns), conn.src, conn.o_port, conn.dst, conn.r_port, self.helo, None,
                                    trans_depth=self.depth, flow_id=conn.id)
        return rec

    def _data_line(self, line: bytes, ts_ns: int, partial: bool = False) -> None:
        if not partial and line.rstrip(b"\r\n") == b".":
            self._end_message()
            self.state = COMMANDS
            return
        if line.startswith(b".") and not partial:
            line = line[1:]
        self.message_size += len(line)
        room = self.keep - len(self.message)
        if room >= len(line):
            self.message += line
        else:
            if room > 0:
                self.message += line[:room]
            self.message_cut = True

    def _end_message(self) -> None:
        rec = self.rec
        self.rec = None
        if rec is None:
            return
        rec.message_size = self.message_size
        rec.message_complete = not self.message_cut
        objects = self._parse(rec, bytes(self.message))
        self.message = bytearray()
        self.ctx.emit(rec)
        for obj in objects:
            self.ctx.emit(obj)

    def _parse(self, rec: SmtpRecord, raw: bytes) -> list[ExtractedObject]:
        try:
            msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        except Exception:  # a malformed message must not lose the envelope
            self.ctx.warn(self.conn, "SMTP message could not be parsed")
            return []

        def header(name: str) -> str | None:
            value = msg.get(name)
            if value is None:
                return None
            text = str(email.header.make_header(email.header.decode_header(value))) if "=?" in str(value) else str(value)
            return " ".join(text.split())

        try:
            rec.subject = header("subject")
            rec.header_from = header("from")
            rec.header_to = _split(header("to"))
            rec.cc = _split(header("cc"))
            rec.reply_to = header("reply-to")
            rec.date = header("date")
            rec.message_id = header("message-id")
            rec.in_reply_to = header("in-reply-to")
            rec.user_agent = header("user-agent") or header("x-mailer")
        except Exception:
            self.ctx.warn(self.conn, "SMTP message headers could not be decoded")
        objects: list[ExtractedObject] = []
        count = 0
        for part in msg.walk():
            count += 1
            if count > MAX_PARTS:
                self.ctx.warn(self.conn, f"SMTP message with more than {MAX_PARTS} MIME parts: the rest not extracted")
                break
            if part.is_multipart():
                continue
            try:
                payload = part.get_payload(decode=True)
            except Exception:
                payload = None
            if not isinstance(payload, bytes) or not payload:  # a leaf part's decoded payload is bytes (or None)
                continue
            filename = part.get_filename()
            disposition = (part.get("content-disposition") or "").split(";", 1)[0].strip().lower()
            ctype = part.get_content_type()
            if filename or disposition == "attachment":
                name = safe_name(str(filename) if filename else "", f"attachment{len(objects) + 1}")
                rec.attachments.append(name)
            else:
                ext = {"text/plain": "txt", "text/html": "html"}.get(ctype, "bin")
                name = f"message{rec.trans_depth}-part{len(objects) + 1}.{ext}"
            size = len(payload)
            objects.append(ExtractedObject(name, rec, "request", size, hashlib.sha256(payload).hexdigest(), payload,
                                           truncated=self.message_cut, content_type=ctype, flow_id=rec.flow_id))
        return objects

    # ------------------------------------------------------------------ server

    def _server(self, data: bytes, ts_ns: int) -> None:
        if self.rbuf:
            data = self.rbuf + data
            self.rbuf = b""
        pos = 0
        n = len(data)
        while pos < n and not self.done:
            eol = data.find(b"\n", pos)
            if eol < 0:
                if n - pos <= MAX_LINE:
                    self.rbuf = data[pos:]
                return
            line = data[pos:eol].rstrip(b"\r")
            pos = eol + 1
            if len(line) < 3 or not line[:3].isdigit():
                continue
            if len(line) > 3 and line[3:4] == b"-":
                continue  # a multi-line reply goes on
            self._reply(int(line[:3]), ts_ns)

    def _reply(self, code: int, ts_ns: int) -> None:
        if code == 334 or not self.waiting:
            return  # an AUTH challenge, or the greeting
        verb, cred = self.waiting.popleft()
        if verb == "AUTH" and cred is not None:
            cred.accepted = 200 <= code < 300
            if cred in self.pending_creds:
                self.pending_creds.remove(cred)
                self.ctx.emit(cred)
        elif verb == "STARTTLS" and code == 220:
            self._starttls(ts_ns)

    def _starttls(self, ts_ns: int) -> None:
        rec = self._new_rec(ts_ns) if self.rec is None else self.rec
        rec.starttls = True
        self.rec = None
        self._flush_creds()
        self.ctx.emit(rec)
        self.done = True
        self.conn.app = "smtp"
        self.ctx.start_tls(self.conn, "SMTP STARTTLS")


def _client_opens(opening: Opening) -> bool:
    first = opening.client[:5].upper()
    return first in (b"EHLO ", b"HELO ", b"EHLO\r")


def _server_opens(opening: Opening) -> Verdict:
    """A 220 greeting naming SMTP or mail. FTP, asked before, has taken the one naming FTP; a 220 naming neither
    is either's, so the client's first command is waited for."""
    if opening.server[:3] != b"220":
        return Verdict.NO
    first_line = opening.server.split(b"\n", 1)[0].upper()
    return Verdict.YES if b"SMTP" in first_line or b"MAIL" in first_line else Verdict.ASK_CLIENT


PROTOCOL = TcpProtocol("smtp", _client_opens, _server_opens, SmtpHandler)
