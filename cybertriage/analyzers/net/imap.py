"""IMAP over reassembled TCP: the logins (LOGIN, AUTHENTICATE PLAIN/LOGIN) as credentials, each
with the server's tagged verdict (OK, or NO/BAD).

LOGIN's arguments are atoms, quoted strings or literals ({n} then n bytes, RFC 9051 4.3);
a literal is taken from the start of the client's next line. Parsing stops once a login has
been accepted (what follows is the mailbox) or after STARTTLS (what follows is TLS, read by the TLS parser).
"""

from __future__ import annotations

import re

from .app import Analysis, Connection, Opening, TcpProtocol, Verdict
from .lines import LineProtocol
from .records import CredentialRecord, iso_us
from .sasl import MAX_CREDENTIAL, SaslExchange

MAX_WAITING = 256
MAX_LITERAL = 64 * 1024

_LITERAL = re.compile(r"\{(\d{1,6})\+?\}$")


def tokens(text: str) -> list[str]:
    """IMAP arguments: atoms split on spaces, quoted strings unquoted (backslash escapes)."""
    out: list[str] = []
    pos = 0
    n = len(text)
    while pos < n:
        if text[pos] == " ":
            pos += 1
        elif text[pos] == '"':
            pos += 1
            value = []
            while pos < n and text[pos] != '"':
                if text[pos] == "\\" and pos + 1 < n:
                    pos += 1
                value.append(text[pos])
                pos += 1
            out.append("".join(value))
            pos += 1
        else:
            end = text.find(" ", pos)
            end = n if end < 0 else end
            out.append(text[pos:end])
            pos = end
    return out


class ImapHandler(LineProtocol):
    """The logins of one IMAP connection."""

    NAME = "IMAP"

    def __init__(self, conn: Connection, ctx: Analysis) -> None:
        super().__init__(conn, ctx)
        self.waiting: dict[str, tuple[str, CredentialRecord | None]] = {}  # tag -> command, credential
        self.sasl: tuple[str, SaslExchange] | None = None  # tag of the AUTHENTICATE running
        self.partial: tuple[str, int] | None = None  # command text so far, literal length awaited
        self.args: list[str] = []  # arguments of a command with literals, so far

    def gap(self, is_orig: bool, size: int) -> None:
        super().gap(is_orig, size)
        if is_orig:
            self.partial = None
            self.args = []

    def close(self, ts_ns: int) -> None:
        for _, cred in self.waiting.values():
            if cred is not None:
                self.ctx.emit(cred)  # no verdict seen
        self.waiting.clear()

    # ------------------------------------------------------------------ client

    def client_line(self, line: str, ts_ns: int) -> None:
        if self.sasl is not None:
            tag, exchange = self.sasl
            exchange.response(line)
            if exchange.complete and tag in self.waiting and self.waiting[tag][1] is None:
                self.waiting[tag] = ("AUTHENTICATE", self._credential(exchange.user, exchange.password,
                                                                      f"IMAP AUTHENTICATE {exchange.mechanism}", ts_ns))
            return
        if self.partial is not None:  # the literal opens this line
            text, size = self.partial
            self.partial = None
            literal, rest = line[:size], line[size:]
            self.args.append(literal)
            self._line(text, rest, ts_ns)
            return
        self._line(None, line, ts_ns)

    def _line(self, head: str | None, text: str, ts_ns: int) -> None:
        """`head` is the command's start when `text` goes on after a literal."""
        literal = _LITERAL.search(text)
        if literal and int(literal.group(1)) <= MAX_LITERAL:
            before = text[:literal.start()]
            if head is None:
                head, before = self._split_head(before)
            self.args += tokens(before)
            self.partial = (head, int(literal.group(1)))
            return
        if head is None:
            head, text = self._split_head(text)
        args = self.args + tokens(text)
        self.args = []
        self._command(head, args, ts_ns)

    @staticmethod
    def _split_head(text: str) -> tuple[str, str]:
        """'a1 LOGIN rest' -> ('a1 LOGIN', 'rest')."""
        parts = text.lstrip().split(" ", 2)
        return " ".join(parts[:2]), parts[2] if len(parts) > 2 else ""

    def _command(self, head: str, args: list[str], ts_ns: int) -> None:
        tag, _, command = head.partition(" ")
        command = command.upper()[:32]
        if not tag or not command:
            return
        cred = None
        if command == "LOGIN" and len(args) >= 2:
            cred = self._credential(args[0], args[1], "IMAP LOGIN", ts_ns)
        elif command == "AUTHENTICATE" and args:
            exchange = SaslExchange(args[0], args[1] if len(args) > 1 else None)
            if exchange.complete:
                cred = self._credential(exchange.user, exchange.password, f"IMAP AUTHENTICATE {exchange.mechanism}", ts_ns)
            else:
                self.sasl = (tag, exchange)
        if len(self.waiting) >= MAX_WAITING:
            _, old = self.waiting.pop(next(iter(self.waiting)))
            if old is not None:
                self.ctx.emit(old)
        self.waiting[tag] = (command, cred)

    def _credential(self, user: str | None, password: str | None, where: str, ts_ns: int) -> CredentialRecord:
        conn = self.conn
        return CredentialRecord(iso_us(ts_ns), conn.src, conn.o_port, conn.dst, conn.r_port, "imap",
                                user[:MAX_CREDENTIAL] if user is not None else None,
                                password[:MAX_CREDENTIAL] if password is not None else None, where, flow_id=conn.id)

    # ------------------------------------------------------------------ server

    def server_line(self, raw: bytes, ts_ns: int) -> None:
        line = raw.decode("utf-8", "replace")
        tag, _, rest = line.partition(" ")
        if tag in ("*", "+") or tag not in self.waiting:
            return  # untagged data, a continuation request, or a reply to nothing seen
        status = rest.split(" ", 1)[0].upper()
        command, cred = self.waiting.pop(tag)
        if self.sasl is not None and self.sasl[0] == tag:
            self.sasl = None
        if cred is not None:
            cred.accepted = status == "OK"
            self.ctx.emit(cred)
        if status == "OK" and (command == "STARTTLS" or cred is not None):
            self.close(0)
            self.done = True  # encrypted from here on, or logged in
            if command == "STARTTLS":
                self.ctx.start_tls(self.conn, "IMAP STARTTLS")


def _server_opens(opening: Opening) -> Verdict:
    """The greeting (RFC 9051): OK, or PREAUTH when the client is already known."""
    first_line = opening.server.split(b"\n", 1)[0].upper()
    return Verdict.of(first_line[:5] == b"* OK " or first_line[:10] == b"* PREAUTH ")


PROTOCOL = TcpProtocol("imap", None, _server_opens, ImapHandler)
