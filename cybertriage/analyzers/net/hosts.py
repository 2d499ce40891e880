"""The hosts of a capture: every IP address seen in a flow, with its link-layer addresses, the
names it went by, the ports it answered on as a server, and what it sent and received.

Built from the records the analysis emits (flows when they end, DNS/HTTP/TLS records as they
complete), so it costs nothing per packet beyond the link address each flow keeps. Names:
an A/AAAA answer names its address after the query; an HTTP request's Host header and a TLS
ClientHello's SNI name the server the connection went to. Memory is bounded by `MAX_HOSTS`
addresses (the rest are counted, not described) and a few names and ports per address.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from functools import lru_cache

from .records import DnsRecord, Flow, HostRecord, HttpRecord, TlsRecord

MAX_HOSTS = 100_000  # about 500 bytes each (measured with tracemalloc): 50 MB at most (a flood from spoofed sources)
MAX_NAMED = 100_000  # addresses named by DNS answers, kept until the end of the capture
MAX_NAMES = 32  # per address and source
MAX_PORTS = 256
MAX_MACS = 16


def mac_text(raw: bytes) -> str:
    """b'\\x00\\x1b...' -> '00:1b:...' (as tshark prints eth.src)."""
    return raw.hex(":")


@lru_cache(maxsize=4096)
def _host_name(value: str | None) -> str | None:
    """An HTTP Host header without its port, lower case; None when empty or an address."""
    if not value:
        return None
    value = value.strip().lower()
    if value.startswith("["):  # [v6]:port
        return None
    value = value.rsplit(":", 1)[0] if value.count(":") == 1 else value
    try:
        ipaddress.ip_address(value)
        return None
    except ValueError:
        return value[:255] or None


class _Host:
    __slots__ = ("version", "macs", "http", "tls", "ports", "flows", "packets_out", "packets_in", "bytes_out",
                 "bytes_in", "first", "last")

    def __init__(self, version: int) -> None:
        self.version = version
        self.macs: set[bytes] | None = None  # made when first needed: most addresses of a big capture are clients
        self.http: set[str] | None = None
        self.tls: set[str] | None = None
        self.ports: set[str] | None = None
        self.flows = self.packets_out = self.packets_in = self.bytes_out = self.bytes_in = 0
        self.first: str | None = None
        self.last: str | None = None


class HostTable:
    """Accumulates one capture's hosts; `records()` at the end gives one HostRecord per address."""

    def __init__(self) -> None:
        self.hosts: dict[str, _Host] = {}
        self.dns: dict[str, set[str]] = {}  # address -> names that resolved to it
        self.not_described = 0  # addresses past MAX_HOSTS

    def _host(self, address: str, version: int) -> _Host | None:
        host = self.hosts.get(address)
        if host is None:
            if len(self.hosts) >= MAX_HOSTS:
                self.not_described += 1
                return None
            host = self.hosts[address] = _Host(version)
        return host

    def flow(self, flow: Flow, orig_macs: Iterable[bytes], resp_macs: Iterable[bytes]) -> None:
        """A flow that ended: traffic both ways, and the responder's port if it answered as a server."""
        for address, macs, out_p, in_p, out_b, in_b in (
                (flow.src, orig_macs, flow.orig_packets, flow.resp_packets, flow.orig_bytes, flow.resp_bytes),
                (flow.dst, resp_macs, flow.resp_packets, flow.orig_packets, flow.resp_bytes, flow.orig_bytes)):
            host = self._host(address, flow.ip_version)
            if host is None:
                continue
            host.flows += 1
            host.packets_out += out_p
            host.packets_in += in_p
            host.bytes_out += out_b
            host.bytes_in += in_b
            if host.first is None or flow.first_seen < host.first:
                host.first = flow.first_seen
            if host.last is None or flow.last_seen > host.last:
                host.last = flow.last_seen
            for mac in macs:
                if host.macs is None:
                    host.macs = set()
                if len(host.macs) < MAX_MACS:
                    host.macs.add(mac)
            if address == flow.src and flow.src != flow.dst:
                continue
            if _answered(flow):
                if host.ports is None:
                    host.ports = set()
                if len(host.ports) < MAX_PORTS:
                    host.ports.add(f"{flow.proto}/{flow.dport}")

    def observe(self, record: object) -> None:
        """Names from a DNS, HTTP or TLS record; other records are not about names."""
        if isinstance(record, DnsRecord):
            self._dns(record)
        elif isinstance(record, HttpRecord):
            self._http(record)
        elif isinstance(record, TlsRecord):
            self._tls(record)

    def _http(self, record: HttpRecord) -> None:
        name = _host_name(record.host)
        if name:
            self._name(record.dst, "http", name)

    def _tls(self, record: TlsRecord) -> None:
        if record.sni:
            self._name(record.dst, "tls", record.sni.lower()[:255])

    def _dns(self, record: DnsRecord) -> None:
        query = record.query
        if not query or not record.answers or record.rcode != "NOERROR" or record.qtype not in ("A", "AAAA", "ANY"):
            return
        query = query.lower().rstrip(".")
        for answer in record.answers:
            # The parser writes addresses as flows do (inet_ntop); the other answers are names (CNAME chain).
            if ":" not in answer and not answer.replace(".", "").isdigit():
                continue
            names = self.dns.get(answer)
            if names is None:
                if len(self.dns) >= MAX_NAMED:
                    continue
                names = self.dns[answer] = set()
            if len(names) < MAX_NAMES:
                names.add(query)

    def _name(self, address: str, source: str, name: str) -> None:
        host = self._host(address, 6 if ":" in address else 4)
        if host is None:
            return
        if source == "http":
            names = host.http = host.http if host.http is not None else set()
        else:
            names = host.tls = host.tls if host.tls is not None else set()
        if len(names) < MAX_NAMES:
            names.add(name)

    def records(self) -> list[HostRecord]:
        """The hosts seen in flows, by address (IPv4 before IPv6, numerically)."""
        out = []
        for address in sorted(self.hosts, key=_numeric):
            host = self.hosts[address]
            if not host.flows:
                continue  # named by HTTP/TLS records but never in a flow of its own: cannot happen, kept safe
            dns = sorted(self.dns.get(address, ()))
            http = sorted(host.http or ())
            tls = sorted(host.tls or ())
            out.append(HostRecord(
                address, host.version, sorted(mac_text(m) for m in host.macs or ()), sorted(set(dns) | set(http) | set(tls)),
                dns, http, tls, sorted(host.ports or (), key=_port_order), host.flows, host.packets_out, host.packets_in,
                host.bytes_out, host.bytes_in, host.first, host.last))
        return out


def _numeric(address: str) -> bytes:
    """An address as 16 bytes, IPv4 ones zero-filled in front, to sort them numerically (inet_pton: a 200,000-host
    summary was sorted in seconds through ipaddress objects)."""
    return socket.inet_pton(socket.AF_INET6 if ":" in address else socket.AF_INET, address).rjust(16, b"\0")


def _answered(flow: Flow) -> bool:
    """Whether the responder answered as a server: a TCP SYN-ACK (or, with the handshake not in
    the capture, a protocol told from content with data from it); any UDP datagram back."""
    if flow.proto == "tcp":
        return "h" in flow.history or (flow.app is not None and flow.resp_payload > 0 and "S" not in flow.history)
    if flow.proto in ("udp", "udplite", "sctp"):
        return flow.resp_packets > 0
    return False


def _port_order(port: str) -> tuple[str, int]:
    proto, _, number = port.partition("/")
    return proto, int(number)
