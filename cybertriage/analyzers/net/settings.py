"""The limits of one capture analysis (analyse.py), which the protocol parsers read and never set."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NetSettings:
    """Limits of one capture analysis; the defaults suit a triage workstation."""

    max_object_size: int = 16 * 1024 * 1024  # bytes of one extracted body kept in the record
    max_body_size: int = 256 * 1024 * 1024  # bytes of one body decoded and hashed (decompression bombs stop here)
    tcp_timeout: float = 300.0  # idle seconds (capture time) before an open TCP flow ends
    tcp_close_timeout: float = 5.0  # after FIN both ways (each acknowledged) or RST, to catch the last packets
    # After FIN both ways when a FIN was never acknowledged: its sender sends it again (and may end with a RST)
    # while the other side waits in TIME_WAIT, 60 s on Linux. Until then the connection has not truly ended.
    tcp_unacked_close_timeout: float = 60.0
    udp_timeout: float = 60.0
    other_timeout: float = 60.0
    max_flows: int = 200_000  # open flows at once (~1.1 KB each); past this, the longest idle ones end ("evicted")
    max_warnings: int = 1000
    detect_bytes: int = 1024  # bytes of a TCP flow examined to tell its application protocol
