"""The application protocols the capture analysis tells on TCP, in the order they are asked (app.py says what an
entry is). Adding a protocol: its module with a `PROTOCOL` entry, and one line here. Order matters where two
protocols open alike: FTP before SMTP (both greet with 220), FTP and SMTP before DNS (a text greeting on port 53 is
not a DNS length)."""

from __future__ import annotations

from . import dns, ftp, http, imap, pop3, smtp, ssh, tls
from .app import Opening, TcpProtocol, Verdict

TCP_PROTOCOLS: tuple[TcpProtocol, ...] = (
    http.PROTOCOL,
    tls.PROTOCOL,
    ftp.PROTOCOL,
    smtp.PROTOCOL,
    dns.PROTOCOL,
    pop3.PROTOCOL,
    imap.PROTOCOL,
    ssh.PROTOCOL,
)
CLIENT_COMMAND = 5  # bytes of the client's first command that a greeting naming no protocol waits for ("EHLO ")


def recognise(opening: Opening) -> tuple[TcpProtocol | None, bool]:
    """The protocol of `TCP_PROTOCOLS` whose recogniser first says yes: the client's bytes are asked of every
    protocol before the server's are. None when none does; then True when a greeting says to wait for the client's
    first command."""
    protocols = TCP_PROTOCOLS
    if opening.client:
        for protocol in protocols:
            if protocol.client_opens is not None and protocol.client_opens(opening):
                return protocol, False
    if opening.server:
        for protocol in protocols:
            if protocol.server_opens is None:
                continue
            verdict = protocol.server_opens(opening)
            if verdict is Verdict.YES:
                return protocol, False
            if verdict is Verdict.ASK_CLIENT:
                return None, len(opening.client) < CLIENT_COMMAND
    return None, False
