"""SSH, told from its version exchange (RFC 4253: each side starts with "SSH-") for the flows and the port
findings. Nothing after the exchange is readable, so it has no parser."""

from __future__ import annotations

from .app import TcpProtocol, Verdict

PROTOCOL = TcpProtocol("ssh", lambda opening: opening.client[:4] == b"SSH-",
                       lambda opening: Verdict.of(opening.server[:4] == b"SSH-"), None)
