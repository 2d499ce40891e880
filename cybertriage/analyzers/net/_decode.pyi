"""The types of the compiled Ethernet/IP decoding in _decode.pyx, which mypy cannot read from the built module."""

from collections.abc import Callable

from .decode import Datagram

class EthernetIP:
    def __init__(self, general: Callable[[int, bytes, float], Datagram | str | None]) -> None: ...
    def decode(self, linktype: int, data: bytes, ts: float) -> Datagram | str | None: ...
