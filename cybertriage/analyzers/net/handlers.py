"""The application protocols the capture analysis tells on TCP and on UDP, in the order they are asked (app.py says
what an entry is). Adding a protocol: its module with a `PROTOCOL` (TCP) or `UDP_PROTOCOL` entry, and one line here.
Order matters where two TCP protocols open alike: FTP before SMTP (both greet with 220), FTP and SMTP before DNS (a
text greeting on port 53 is not a DNS length)."""

from __future__ import annotations

from . import dns, ftp, http, imap, pop3, smtp, ssh, tls
from .app import Opening, TcpProtocol, UdpProtocol, Verdict

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
UDP_PROTOCOLS: tuple[UdpProtocol, ...] = (
    dns.UDP_PROTOCOL,
)
CLIENT_COMMAND = 5  # bytes of the client's first command that a greeting naming no protocol waits for ("EHLO ")


UDP_TRIES = 3  # datagrams of a flow on a protocol's port that none takes before the flow is left unparsed


def udp_protocols_on(client_port: int, server_port: int) -> list[UdpProtocol]:
    """The UDP protocols to ask of a flow between these ports, in the order of `UDP_PROTOCOLS`."""
    return [protocol for protocol in UDP_PROTOCOLS if client_port in protocol.ports or server_port in protocol.ports]


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
