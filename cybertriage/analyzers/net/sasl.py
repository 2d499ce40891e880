"""The client's half of a SASL PLAIN (RFC 4616) or LOGIN exchange, as POP3 AUTH and IMAP
AUTHENTICATE carry it: base64 lines that add up to a user name and a password in clear."""

from __future__ import annotations

import base64
import binascii

MAX_CREDENTIAL = 1024


def b64_text(text: str) -> str | None:
    """A base64 line as text, None when it is not base64."""
    try:
        return base64.b64decode(text.strip(), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None


class SaslExchange:
    """Client responses of one exchange, from the command that started it to the server's verdict.

    `mechanism` other than PLAIN and LOGIN (CRAM-MD5, SCRAM, GSSAPI, XOAUTH2...) send no password
    in clear: their lines are taken and nothing comes out.
    """

    __slots__ = ("mechanism", "user", "password", "complete", "cancelled")

    def __init__(self, mechanism: str, initial: str | None) -> None:
        self.mechanism = mechanism.upper()
        self.user: str | None = None
        self.password: str | None = None
        self.complete = False  # a user name and password were read
        self.cancelled = False
        if initial and initial != "=":
            self.response(initial)

    def response(self, line: str) -> None:
        """One client line of the exchange."""
        line = line.strip()
        if self.complete or self.cancelled:
            return
        if line == "*":  # RFC 4954/9051: the client gives up
            self.cancelled = True
            return
        if self.mechanism == "PLAIN":
            decoded = b64_text(line)
            parts = decoded.split("\0") if decoded is not None else []
            if len(parts) >= 3:  # authzid NUL authcid NUL passwd
                self.user, self.password = (parts[1] or parts[0])[:MAX_CREDENTIAL], parts[2][:MAX_CREDENTIAL]
                self.complete = True
        elif self.mechanism == "LOGIN":
            decoded = b64_text(line)
            if self.user is None:
                self.user = (decoded or "")[:MAX_CREDENTIAL]
            else:
                self.password = decoded[:MAX_CREDENTIAL] if decoded is not None else None
                self.complete = True
