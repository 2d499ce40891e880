"""A flow's state in Zeek's words (conn_state: SF, S0, REJ, RSTO …) and whether it has ended for good, from its two
TCP endpoints' states (tcp.py) or, for UDP, from which sides sent. Read when a flow ends, off the per-packet path."""

from __future__ import annotations

from typing import Protocol

from .tcp import CLOSED, ESTABLISHED, INACTIVE, PARTIAL, RESET, SYN_ACK_SENT, SYN_SENT, Endpoint


class Flow(Protocol):
    """What these read of a flow (analyse._Conn)."""

    proto: int
    history: str
    o_pkts: int
    r_pkts: int

    def tcp_ends(self) -> tuple[Endpoint, Endpoint]: ...


def closed_for_good(conn: Flow) -> bool:
    """Reset, or each side's FIN acknowledged: no packet of this connection is still to come."""
    o, r = conn.tcp_ends()
    return o.state == RESET or r.state == RESET or (o.fin_acked and r.fin_acked)


def conn_state(conn: Flow) -> str:
    """Zeek's conn_state, from the endpoint states."""
    if conn.proto == 6:
        o, r = conn.tcp_ends()
        os_, rs = o.state, r.state
        o_inactive = os_ in (INACTIVE, PARTIAL)
        r_inactive = rs in (INACTIVE, PARTIAL)
        if rs == RESET:
            if os_ in (SYN_SENT, SYN_ACK_SENT) or (os_ == RESET and o.hi == 0 and r.hi == 0):
                return "REJ"
            return "RSTRH" if o_inactive else "RSTR"
        if os_ == RESET:
            if r_inactive:
                history = conn.history.lstrip("^")
                if history.startswith("S") and not any(c in history.split("R")[0] for c in "HAFGIQ"):
                    return "RSTOS0"
                return "RSTOSH"
            return "RSTO"
        if rs == CLOSED and os_ == CLOSED:
            return "SF"
        if os_ == CLOSED:
            return "SH" if r_inactive else "S2"
        if rs == CLOSED:
            return "SHR" if o_inactive else "S3"
        if os_ == SYN_SENT and rs == INACTIVE:
            return "S0"
        if os_ == ESTABLISHED and rs == ESTABLISHED:
            return "S1"
        return "OTH"
    if conn.proto == 17 or conn.proto == 136:
        if conn.o_pkts:
            return "SF" if conn.r_pkts else "S0"
        return "SHR" if conn.r_pkts else "OTH"
    return "OTH"
