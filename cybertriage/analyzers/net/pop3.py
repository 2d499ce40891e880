"""POP3 over reassembled TCP: the logins (USER/PASS, APOP, AUTH PLAIN/LOGIN) as credentials,
each with the server's verdict (+OK or -ERR).

Commands and replies pair in order (RFC 1939). The multi-line replies (CAPA, LIST, UIDL,
RETR, TOP) run to a lone "." and are skipped, so a message that quotes "+OK" cannot be taken
for a reply. Parsing stops once a login has been accepted (what follows is the mailbox, which
the triage does not need) or after STLS (what follows is TLS, read by the TLS parser).
"""

from __future__ import annotations

from collections import deque

from .app import Analysis, Connection, Opening, TcpProtocol, Verdict
from .ftp import first_command
from .lines import LineProtocol
from .records import CredentialRecord, iso_us
from .sasl import MAX_CREDENTIAL, SaslExchange

MAX_WAITING = 256
MULTILINE = frozenset(("CAPA", "RETR", "TOP"))  # always multi-line; LIST and UIDL only without an argument


class Pop3Handler(LineProtocol):
    """The logins of one POP3 connection."""

    NAME = "POP3"

    def __init__(self, conn: Connection, ctx: Analysis) -> None:
        super().__init__(conn, ctx)
        self.user: str | None = None
        self.sasl: SaslExchange | None = None
        self.waiting: deque[tuple[str, bool, CredentialRecord | None]] = deque()  # verb, multi-line, credential
        self.listing = False  # inside a multi-line reply

    def gap(self, is_orig: bool, size: int) -> None:
        super().gap(is_orig, size)
        if not is_orig:
            self.listing = False

    def close(self, ts_ns: int) -> None:
        while self.waiting:
            _, _, cred = self.waiting.popleft()
            if cred is not None:
                self.ctx.emit(cred)  # no verdict seen

    def client_line(self, line: str, ts_ns: int) -> None:
        if self.sasl is not None:
            self.sasl.response(line)
            if self.sasl.complete and self.waiting and self.waiting[-1][0] == "AUTH" and self.waiting[-1][2] is None:
                self.waiting[-1] = ("AUTH", False, self._credential(self.sasl.user, self.sasl.password,
                                                                   f"POP3 AUTH {self.sasl.mechanism}", ts_ns))
            return
        verb, _, arg = line.strip().partition(" ")
        verb = verb.upper()[:16]
        arg = arg.strip()
        if not verb:
            return
        cred = None
        if verb == "USER":
            self.user = arg[:MAX_CREDENTIAL]
        elif verb == "PASS":
            cred = self._credential(self.user, arg, "POP3 PASS", ts_ns)
        elif verb == "APOP":
            name, _, _digest = arg.rpartition(" ")
            cred = self._credential(name or arg, None, "POP3 APOP (password sent as a digest)", ts_ns)
        elif verb == "AUTH" and arg:
            mechanism, _, initial = arg.partition(" ")
            self.sasl = SaslExchange(mechanism, initial.strip() or None)
            if self.sasl.complete:
                cred = self._credential(self.sasl.user, self.sasl.password, f"POP3 AUTH {self.sasl.mechanism}", ts_ns)
        multi = verb in MULTILINE or (verb in ("LIST", "UIDL") and not arg) or (verb == "AUTH" and not arg)
        self.waiting.append((verb, multi, cred))
        if len(self.waiting) > MAX_WAITING:
            _, _, old = self.waiting.popleft()
            if old is not None:
                self.ctx.emit(old)

    def _credential(self, user: str | None, password: str | None, where: str, ts_ns: int) -> CredentialRecord:
        conn = self.conn
        return CredentialRecord(iso_us(ts_ns), conn.src, conn.o_port, conn.dst, conn.r_port, "pop3",
                                user[:MAX_CREDENTIAL] if user is not None else None,
                                password[:MAX_CREDENTIAL] if password is not None else None, where, flow_id=conn.id)

    def server_line(self, line: bytes, ts_ns: int) -> None:
        if self.listing:
            if line == b".":
                self.listing = False
            return
        ok = line[:3] == b"+OK"
        if not ok and line[:4] != b"-ERR":
            return  # "+ challenge" of an AUTH exchange, or noise
        if not self.waiting:
            return  # the greeting
        verb, multi, cred = self.waiting.popleft()
        if verb == "AUTH":
            self.sasl = None
        if cred is not None:
            cred.accepted = ok
            self.ctx.emit(cred)
        if ok and multi:
            self.listing = True
        if ok and (verb == "STLS" or (cred is not None and verb in ("PASS", "APOP", "AUTH"))):
            self.close(0)
            self.done = True  # encrypted from here on, or logged in: the mailbox is not the triage's business
            if verb == "STLS":
                self.ctx.start_tls(self.conn, "POP3 STLS")


def _server_opens(opening: Opening) -> Verdict:
    return Verdict.of(opening.server[:4] == b"+OK " or opening.server[:5] == b"+OK\r\n")


PROTOCOL = TcpProtocol("pop3", lambda opening: first_command(opening.client) and opening.server[:3] == b"+OK",
                       _server_opens, Pop3Handler)
