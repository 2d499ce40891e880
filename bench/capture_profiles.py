#!/usr/bin/env python3
"""The seeded captures that bench/pcap_triage.py --profile times (issue 22): traffic made of short conversations.

Not a test. The web profile is browsing made by real programs (bench/web_capture.py); the profiles here are
the traffic where that one is easy and real cases are not. dpkt builds every packet, from random.Random(seed),
so the same seed always gives the same bytes:

  small     DNS, HTTP and TLS in short conversations, like the mix of issue 22: 2 packets per DNS lookup,
            8 per HTTP/1.1 exchange (handshake, GET, a 200 response with a small body of its own in one
            segment, and the close), 10 per TLS 1.3 connection (handshake, a ClientHello with the server's name,
            the server's ServerHello flight, encrypted data, the close): about 6 packets per conversation.
  synscan   a SYN port scan as nmap -sS does it: one scanner, 1,000 ports of many hosts. Half the hosts are
            down and never answer; the others answer RST/ACK for a closed port, or SYN/ACK for an open port,
            which the scanner then resets.
  synflood  a SYN flood from spoofed sources: 1,000,000 SYNs, none answered, each a flow of its own, all open at
            once (the memory bound of issue 22: 1,000,000 concurrent flows).
  dnsflood  a DNS "water torture" flood seen at a domain's name server: queries for random subdomains of a few
            domains from many resolvers and source ports, each with its answer; names under the domains without
            a wildcard record get NXDOMAIN.
  corpus    every capture of the test corpus that tshark reads, concatenated (mergecap -a) into one pcapng.

The generated captures are Ethernet, microsecond pcap files, in time order. Each is written once under
bench/work/ with its profile, packet count, seed and generator version in its name, next to a manifest
(.json) with what it holds and what capinfos and tshark's expert summary say about it.

Usage:  python3 bench/capture_profiles.py PROFILE OUT.pcap [--packets N] [--seed 1]
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import math
import random
import re
import socket
import struct
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import dpkt

REPO = Path(__file__).resolve().parent.parent
CORPUS_DATA = REPO / "tests" / "data"
GENERATOR_VERSION = 1  # bump when a generator's output changes, so old captures are rebuilt
T0_US = 1_700_000_000 * 1_000_000  # the captures start at 2023-11-14T22:13:20Z
GATEWAY_MAC = bytes.fromhex("02005e000101")
ETH_IP = b"\x08\x00"

Packet = tuple[int, bytes]  # (timestamp in µs, Ethernet frame)
Conversation = tuple[str, list[Packet]]  # (what it is, its packets in time order)


# -- packets -------------------------------------------------------------------------------


def _ip(octets: str) -> bytes:
    return socket.inet_aton(octets)


def _mac(address: bytes) -> bytes:
    """A locally administered MAC address of its own for every IPv4 address."""
    return b"\x02\x00" + address


def _frame(src: bytes, dst: bytes, proto: int, payload: dpkt.Packet, ttl: int, ident: int) -> bytes:
    """An Ethernet frame carrying an IPv4 packet; the sender of an outside address is the gateway."""
    packet = dpkt.ip.IP(src=src, dst=dst, p=proto, ttl=ttl, id=ident, data=payload)
    packet.len = len(packet)
    src_mac = _mac(src) if src[0] == 10 else GATEWAY_MAC
    dst_mac = _mac(dst) if dst[0] == 10 else GATEWAY_MAC
    return dst_mac + src_mac + ETH_IP + bytes(packet)


def udp_frame(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes, ttl: int, ident: int) -> bytes:
    datagram = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
    datagram.ulen = len(datagram)
    return _frame(src, dst, dpkt.ip.IP_PROTO_UDP, datagram, ttl, ident)


def tcp_frame(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int,
              payload: bytes = b"", *, opts: bytes = b"", win: int = 64240, ttl: int = 64, ident: int = 0) -> bytes:
    segment = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, win=win, opts=opts, data=payload)
    segment.off = 5 + len(opts) // 4
    return _frame(src, dst, dpkt.ip.IP_PROTO_TCP, segment, ttl, ident)


SYN, ACK, FIN, RST, PSH = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK, dpkt.tcp.TH_FIN, dpkt.tcp.TH_RST, dpkt.tcp.TH_PUSH
SYN_OPTS = bytes.fromhex("020405b4" "01030307" "0402" "0101")  # MSS 1460, window scale 7, SACK permitted


class TcpConversation:
    """One TCP connection's packets: keeps both sides' sequence numbers so every ACK is right."""

    def __init__(self, rng: random.Random, client: bytes, server: bytes, cport: int, sport: int, start_us: int,
                 rtt_us: int) -> None:
        self.rng, self.client, self.server, self.cport, self.sport = rng, client, server, cport, sport
        self.seq = {True: rng.getrandbits(32), False: rng.getrandbits(32)}  # next sequence number, by "from client"
        self.ident = {True: rng.getrandbits(16), False: rng.getrandbits(16)}
        self.now, self.rtt = start_us, rtt_us
        self.packets: list[Packet] = []

    def send(self, from_client: bool, flags: int, payload: bytes = b"", after_us: int = 0) -> None:
        """Add one segment sent `after_us` after the previous packet."""
        self.now += after_us
        src, dst = (self.client, self.server) if from_client else (self.server, self.client)
        sport, dport = (self.cport, self.sport) if from_client else (self.sport, self.cport)
        ack = self.seq[not from_client] if flags & ACK else 0
        opts = SYN_OPTS if flags & SYN else b""
        frame = tcp_frame(src, dst, sport, dport, self.seq[from_client], ack, flags, payload, opts=opts,
                          ttl=64 if from_client else 52, ident=self.ident[from_client])
        self.seq[from_client] = (self.seq[from_client] + len(payload) + (1 if flags & (SYN | FIN) else 0)) % 2 ** 32
        self.ident[from_client] = (self.ident[from_client] + 1) % 2 ** 16
        self.packets.append((self.now, frame))

    def handshake(self) -> None:
        self.send(True, SYN)
        self.send(False, SYN | ACK, after_us=self.rtt // 2)
        self.send(True, ACK, after_us=self.rtt // 2)

    def close(self) -> None:
        """The client closes; the server closes in turn."""
        self.send(True, FIN | ACK, after_us=self.rng.randint(50, 2000))
        self.send(False, FIN | ACK, after_us=self.rtt // 2)
        self.send(True, ACK, after_us=self.rtt // 2)


# -- DNS and TLS messages --------------------------------------------------------------------


def dns_query(ident: int, name: str, qtype: int = dpkt.dns.DNS_A) -> dpkt.dns.DNS:
    return dpkt.dns.DNS(id=ident, op=dpkt.dns.DNS_RD, qd=[dpkt.dns.DNS.Q(name=name, type=qtype)])


def dns_answer(query: dpkt.dns.DNS, answers: list[dpkt.dns.DNS.RR], rcode: int = dpkt.dns.DNS_RCODE_NOERR,
               authority: list[dpkt.dns.DNS.RR] | None = None, flags: int = dpkt.dns.DNS_RA) -> bytes:
    """The answer to a query: from a recursive resolver (RA) by default, or from the name server of its zone (AA)."""
    answer = dpkt.dns.DNS(id=query.id, qd=query.qd, an=answers, ns=authority or [], op=query.op | flags)
    answer.qr, answer.rcode = dpkt.dns.DNS_R, rcode  # after op, which holds both
    return bytes(answer)


def rr_a(name: str, address: bytes, ttl: int = 300) -> dpkt.dns.DNS.RR:
    return dpkt.dns.DNS.RR(name=name, type=dpkt.dns.DNS_A, ttl=ttl, ip=address)


def rr_aaaa(name: str, address: bytes, ttl: int = 300) -> dpkt.dns.DNS.RR:
    return dpkt.dns.DNS.RR(name=name, type=dpkt.dns.DNS_AAAA, ttl=ttl, ip6=address)


def rr_cname(name: str, target: str, ttl: int = 300) -> dpkt.dns.DNS.RR:
    return dpkt.dns.DNS.RR(name=name, type=dpkt.dns.DNS_CNAME, ttl=ttl, cname=target)


def rr_soa(zone: str) -> dpkt.dns.DNS.RR:
    """The zone's SOA, which a name server puts in the authority section of an NXDOMAIN answer."""
    return dpkt.dns.DNS.RR(name=zone, type=dpkt.dns.DNS_SOA, ttl=900, mname=f"ns1.{zone}", rname=f"hostmaster.{zone}",
                           serial=2023111401, refresh=7200, retry=3600, expire=1209600, minimum=900)


def _ext(kind: int, body: bytes) -> bytes:
    return struct.pack("!HH", kind, len(body)) + body


def _vector(body: bytes, size: int = 2) -> bytes:
    return len(body).to_bytes(size, "big") + body


def _handshake_record(kind: int, body: bytes, record_version: bytes = b"\x03\x03") -> bytes:
    message = bytes([kind]) + _vector(body, 3)
    return b"\x16" + record_version + _vector(message)


def client_hello(rng: random.Random, server_name: str, session: bytes) -> bytes:
    """A TLS 1.3 ClientHello record (RFC 8446 4.1.2) with the server's name in its SNI extension (RFC 6066 3)."""
    name = server_name.encode()
    extensions = b"".join((
        _ext(0x0000, _vector(b"\x00" + _vector(name))),  # server_name: one host_name
        _ext(0x000A, _vector(struct.pack("!HHH", 0x001D, 0x0017, 0x0018))),  # supported_groups
        _ext(0x000D, _vector(struct.pack("!6H", 0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501))),  # sig. algorithms
        _ext(0x0010, _vector(_vector(b"h2", 1) + _vector(b"http/1.1", 1))),  # ALPN
        _ext(0x002B, _vector(b"\x03\x04\x03\x03", 1)),  # supported_versions: TLS 1.3, 1.2
        _ext(0x002D, _vector(b"\x01", 1)),  # psk_key_exchange_modes: psk_dhe_ke
        _ext(0x0033, _vector(struct.pack("!HH", 0x001D, 32) + rng.randbytes(32))),  # key_share: x25519
    ))
    suites = struct.pack("!5H", 0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F)
    body = (b"\x03\x03" + rng.randbytes(32) + _vector(session, 1) + _vector(suites) + _vector(b"\x00", 1)
            + _vector(extensions))
    return _handshake_record(1, body, record_version=b"\x03\x01")


def server_flight(rng: random.Random, session: bytes) -> bytes:
    """A TLS 1.3 server's first flight: ServerHello, ChangeCipherSpec, then its encrypted handshake."""
    extensions = _ext(0x002B, b"\x03\x04") + _ext(0x0033, struct.pack("!HH", 0x001D, 32) + rng.randbytes(32))
    body = b"\x03\x03" + rng.randbytes(32) + _vector(session, 1) + b"\x13\x01\x00" + _vector(extensions)
    return _handshake_record(2, body) + b"\x14\x03\x03\x00\x01\x01" + app_data(rng, rng.randint(900, 1200))


def app_data(rng: random.Random, size: int) -> bytes:
    return b"\x17\x03\x03" + _vector(rng.randbytes(size))


# -- the profiles ----------------------------------------------------------------------------


WORDS = ("evidence", "ledger", "account", "meeting", "transfer", "invoice", "shipment", "contract", "courier",
         "payment", "schedule", "password", "archive", "backup", "report", "customer")


class Sites:
    """A pool of web sites, each with its own name and address (in 198.18.0.0/15, the benchmarking range)."""

    def __init__(self, rng: random.Random, count: int) -> None:
        tlds = ("com", "net", "org", "io", "example")
        self.names = [f"{rng.choice(('www', 'cdn', 'api', 'static', 'img'))}.{rng.choice(WORDS)}{i}."
                      f"{rng.choice(tlds)}" for i in range(count)]
        self.address = {name: struct.pack("!I", (198 << 24) + (18 << 16) + 1 + i) for i, name in enumerate(self.names)}

    def pick(self, rng: random.Random) -> tuple[str, bytes]:
        name = self.names[int(len(self.names) * rng.random() ** 3)]  # a few sites are visited far more than the rest
        return name, self.address[name]


class Clients:
    """The machines of an office network (10.1.0.0/16), each with its own run of ephemeral ports."""

    def __init__(self, rng: random.Random, count: int) -> None:
        self.addresses = [struct.pack("!I", (10 << 24) + (1 << 16) + 10 + i) for i in range(count)]
        self.next_port = {address: rng.randint(32768, 60999) for address in self.addresses}

    def connect(self, rng: random.Random) -> tuple[bytes, int]:
        client = rng.choice(self.addresses)
        port = self.next_port[client]
        self.next_port[client] = 32768 if port >= 60999 else port + 1
        return client, port


def http_body(rng: random.Random, serial: int) -> tuple[str, bytes]:
    """A small body of its own (200 B to 4 KiB): an HTML page, a script or binary data; its content type."""
    size = int(math.exp(rng.uniform(math.log(200), math.log(4096))))
    kind = rng.random()
    if kind < 0.25:
        return "application/octet-stream", rng.randbytes(size)
    words = " ".join(rng.choice(WORDS) for _ in range(size // 7 + 1))
    if kind < 0.6:
        text = f"<!doctype html><html><head><title>page {serial}</title></head><body><p>{words}</p></body></html>\n"
        return "text/html; charset=utf-8", text.encode()[:size].ljust(size, b" ")
    return "application/javascript", f"var page{serial} = '{words}';\n".encode()[:size]


def _dns_lookup(rng: random.Random, sites: Sites, client: bytes, port: int, start: int) -> list[Packet]:
    name, address = sites.pick(rng)
    query = dns_query(rng.getrandbits(16), name)
    resolver = _ip("10.1.255.53")  # outside the clients' addresses
    answers = [rr_a(name, address)]
    if rng.random() < 0.2:  # served by a CDN: a CNAME to one of its edge names, then the site's address
        edge = f"e{rng.randint(1, 999)}.cdn-edge.net"
        answers = [rr_cname(name, edge), rr_a(edge, address, 20)]
    answer = dns_answer(query, answers)
    return [(start, udp_frame(client, resolver, port, 53, bytes(query), 64, rng.getrandbits(16))),
            (start + rng.randint(200, 30_000), udp_frame(resolver, client, 53, port, answer, 64, rng.getrandbits(16)))]


def _http_exchange(rng: random.Random, tcp: TcpConversation, name: str, serial: int) -> None:
    kind, body = http_body(rng, serial)
    path = f"/{rng.choice(WORDS)}/{serial}{rng.choice(('.html', '.js', '', '.bin', '.php?id=' + str(serial)))}"
    request = (f"GET {path} HTTP/1.1\r\nHost: {name}\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64)\r\n"
               f"Accept: */*\r\nConnection: close\r\n\r\n").encode()
    headers = (f"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
               f"Connection: close\r\n\r\n").encode()
    tcp.send(True, PSH | ACK, request, after_us=rng.randint(20, 500))
    tcp.send(False, PSH | ACK, headers + body, after_us=tcp.rtt + rng.randint(100, 20_000))


def _tls_exchange(rng: random.Random, tcp: TcpConversation, name: str) -> None:
    session = rng.randbytes(32)
    tcp.send(True, PSH | ACK, client_hello(rng, name, session), after_us=rng.randint(20, 500))
    tcp.send(False, PSH | ACK, server_flight(rng, session), after_us=tcp.rtt + rng.randint(100, 5_000))
    finished = b"\x14\x03\x03\x00\x01\x01" + app_data(rng, 53)
    tcp.send(True, PSH | ACK, finished + app_data(rng, rng.randint(200, 900)), after_us=tcp.rtt // 2)
    tcp.send(False, PSH | ACK, app_data(rng, rng.randint(300, 1400)), after_us=tcp.rtt + rng.randint(100, 20_000))


def small_mix(rng: random.Random) -> Iterator[Conversation]:
    """Short DNS, HTTP and TLS conversations, 4 : 3 : 3, about one every millisecond from 500 machines."""
    sites, clients = Sites(rng, 3000), Clients(rng, 500)
    start, serial = T0_US, 0
    while True:
        start += int(rng.expovariate(1 / 1000)) + 1
        client, port = clients.connect(rng)
        kind = rng.random()
        if kind < 0.4:
            yield "dns", _dns_lookup(rng, sites, client, port, start)
            continue
        name, address = sites.pick(rng)
        tcp = TcpConversation(rng, client, address, port, 80 if kind < 0.7 else 443, start, rng.randint(1000, 40_000))
        tcp.handshake()
        if kind < 0.7:
            serial += 1
            _http_exchange(rng, tcp, name, serial)
        else:
            _tls_exchange(rng, tcp, name)
        tcp.close()
        yield ("http" if kind < 0.7 else "tls"), tcp.packets


SCAN_PORTS = 1000  # nmap's default: its top 1,000 ports
OPEN_PORTS = (22, 25, 53, 80, 110, 135, 139, 143, 443, 445, 993, 3306, 3389, 5432, 8080)


def syn_scan(rng: random.Random) -> Iterator[Conversation]:
    """nmap -sS of 10.20.0.0/16 from 10.1.0.66: 64 hosts at a time, their ports in random order, 10,000 probes/s."""
    scanner = _ip("10.1.0.66")
    others = [port for port in range(1, 10_000) if port not in OPEN_PORTS]
    ports = [*OPEN_PORTS, *rng.sample(others, SCAN_PORTS - len(OPEN_PORTS))]
    source_port = rng.randint(40000, 65000)  # nmap keeps one source port for a scan
    now, group = T0_US, 0
    while True:
        hosts = [struct.pack("!I", (10 << 24) + (20 << 16) + group * 64 + i + 1) for i in range(64)]
        group += 1
        up = {host: rng.random() < 0.5 for host in hosts}
        open_ports = {host: set(rng.sample(OPEN_PORTS, rng.randint(1, 5))) for host in hosts}
        probes = [(host, port) for host in hosts for port in ports]
        rng.shuffle(probes)
        for host, port in probes:
            now += int(rng.expovariate(1 / 100)) + 1
            seq = rng.getrandbits(32)
            ident = rng.getrandbits(16)
            packets = [(now, tcp_frame(scanner, host, source_port, port, seq, 0, SYN, opts=b"\x02\x04\x05\xb4", win=1024,
                                       ttl=rng.randint(37, 59), ident=ident))]
            reply = now + rng.randint(150, 3000)
            if not up[host] or rng.random() < 0.02:  # down, or the port filtered: no answer
                yield "syn", packets
            elif port in open_ports[host]:
                packets.append((reply, tcp_frame(host, scanner, port, source_port, rng.getrandbits(32), (seq + 1) % 2 ** 32,
                                                 SYN | ACK, opts=b"\x02\x04\x05\xb4", win=29200, ttl=64)))
                packets.append((reply + rng.randint(20, 200), tcp_frame(scanner, host, source_port, port,
                                                                        (seq + 1) % 2 ** 32, 0, RST, win=0, ttl=64)))
                yield "open", packets
            else:
                packets.append((reply, tcp_frame(host, scanner, port, source_port, 0, (seq + 1) % 2 ** 32, RST | ACK, win=0,
                                                 ttl=64)))
                yield "closed", packets


def syn_flood(rng: random.Random) -> Iterator[Conversation]:
    """A SYN flood from spoofed sources at a web farm (issue 22's memory bound): every SYN opens a flow of its own
    and none is answered, so all of them are open at once; 100,000 SYNs a second."""
    servers = [_ip(f"10.30.0.{i}") for i in range(1, 17)]
    now = T0_US
    while True:
        now += int(rng.expovariate(1 / 10)) + 1
        source = struct.pack("!I", rng.getrandbits(32) | 0x01000000)
        yield "syn", [(now, tcp_frame(source, rng.choice(servers), rng.randint(1024, 65535), rng.choice((80, 443)),
                                      rng.getrandbits(32), 0, SYN, win=1024, ttl=rng.randint(37, 59),
                                      ident=rng.getrandbits(16)))]


FLOOD_DOMAINS = (("victim-bank.com", False), ("victim-shop.net", True), ("gov-portal.org", False),
                 ("news-site.io", True), ("mail-host.com", False))  # (domain, has a wildcard record)


def dns_flood(rng: random.Random) -> Iterator[Conversation]:
    """Random-subdomain queries at the name server 203.0.113.53, 20,000 a second, from 2,000 resolvers."""
    server = _ip("203.0.113.53")
    networks = (23, 31, 45, 62, 77, 89, 101, 145, 176, 185, 195, 212)  # public, unicast
    resolvers = [struct.pack("!I", rng.choice(networks) << 24 | rng.getrandbits(24)) for _ in range(2000)]
    letters = "abcdefghijklmnopqrstuvwxyz0123456789"
    now = T0_US
    while True:
        now += int(rng.expovariate(1 / 50)) + 1
        zone, wildcard = rng.choice(FLOOD_DOMAINS)
        name = "".join(rng.choices(letters, k=rng.randint(6, 16))) + "." + rng.choice(("", "www.", "mail.")) + zone
        qtype = dpkt.dns.DNS_AAAA if rng.random() < 0.15 else dpkt.dns.DNS_A
        query = dns_query(rng.getrandbits(16), name, qtype)
        query.op = 0  # resolvers ask name servers without recursion
        resolver, port = rng.choice(resolvers), rng.randint(1024, 65535)
        if wildcard:
            record = (rr_aaaa(name, bytes.fromhex("20010db8") + rng.randbytes(12)) if qtype == dpkt.dns.DNS_AAAA
                      else rr_a(name, _ip("192.0.2.80")))
            answer = dns_answer(query, [record], flags=dpkt.dns.DNS_AA)
        else:
            answer = dns_answer(query, [], dpkt.dns.DNS_RCODE_NXDOMAIN, [rr_soa(zone)], flags=dpkt.dns.DNS_AA)
        yield ("answered" if wildcard else "nxdomain"), [
            (now, udp_frame(resolver, server, port, 53, bytes(query), rng.randint(40, 60), rng.getrandbits(16))),
            (now + rng.randint(30, 400), udp_frame(server, resolver, 53, port, answer, 64, rng.getrandbits(16)))]


GENERATORS: dict[str, Callable[[random.Random], Iterator[Conversation]]] = {
    "small": small_mix, "synscan": syn_scan, "synflood": syn_flood, "dnsflood": dns_flood}
PACKETS = {"small": 500_000, "synscan": 1_000_000, "synflood": 1_000_000, "dnsflood": 1_000_000}


# -- writing and checking ------------------------------------------------------------------


def write_pcap(path: Path, conversations: Iterable[Conversation], packets: int) -> Counter[str]:
    """Write the first `packets` packets of the conversations in time order, as a microsecond Ethernet pcap;
    how many conversations of each kind it holds (the last one may be cut short).

    Conversations come in order of their first packet and last at most a second or so, so a heap of the
    packets of the conversations still going on is all it takes to sort them."""
    kinds: Counter[str] = Counter()
    pending: list[tuple[int, int, bytes]] = []
    written = queued = 0
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))

        def flush(before: int) -> None:
            while pending and pending[0][0] <= before:
                ts, _, frame = heapq.heappop(pending)
                out.write(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(frame), len(frame)) + frame)

        for kind, conversation in conversations:
            if queued >= packets:
                break
            flush(conversation[0][0])
            kinds[kind] += 1
            for ts, frame in conversation[:packets - queued]:
                heapq.heappush(pending, (ts, written, frame))
                written += 1
            queued = min(packets, queued + len(conversation))
        flush(2 ** 63)
    return kinds


def capinfos(path: Path) -> dict:
    """What capinfos says about a capture: its type, link types, packets, duration and whether it is in time order."""
    out = subprocess.run(["capinfos", "-M", "-t", "-E", "-c", "-u", "-o", str(path)], capture_output=True, text=True,
                         check=True).stdout
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line and not line.startswith(" "))
    return {key.strip(): value.strip() for key, value in fields.items() if key.strip() != "File name"}


def expert_summary(path: Path) -> dict:
    """tshark's expert information over the whole capture: how many errors, warnings and malformed packets."""
    out = subprocess.run(["tshark", "-r", str(path), "-q", "-z", "expert"], capture_output=True, text=True).stdout
    sections = dict(re.findall(r"^(Errors|Warns|Notes|Chats) \(\d+\)\n=+\n(.*?)(?=^\S|\Z)", out,
                               re.MULTILINE | re.DOTALL))
    lines = {kind.lower(): [" ".join(line.split()) for line in text.splitlines()[1:] if line.strip()]
             for kind, text in sections.items()}
    malformed = sum(int(m.group(1)) for m in re.finditer(r"^\s+(\d+)\s+Malformed\s", out, re.MULTILINE))
    return {"malformed": malformed, "errors": lines.get("errors", []), "warnings": lines.get("warns", [])}


def corpus_captures() -> tuple[list[Path], dict[str, str]]:
    """Every .pcap and .pcapng under tests/data that tshark reads to the end, and why the others were left out."""
    readable, skipped = [], {}
    for path in sorted(CORPUS_DATA.rglob("*.pcap*")):
        if path.suffix not in (".pcap", ".pcapng") or not path.is_file():
            continue
        proc = subprocess.run(["tshark", "-r", str(path), "-c", "1000000"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        problem = "\n".join(line for line in proc.stderr.splitlines() if "Running as user" not in line
                            and "could be dangerous" not in line).strip()
        if proc.returncode != 0 or problem:
            skipped[str(path.relative_to(REPO))] = problem or f"tshark exit status {proc.returncode}"
        else:
            readable.append(path)
    return readable, skipped


def concatenate_corpus(out: Path) -> dict:
    """mergecap -a (one after the other, not by time) of the readable corpus captures into one pcapng."""
    readable, skipped = corpus_captures()
    subprocess.run(["mergecap", "-a", "-F", "pcapng", "-w", str(out), *map(str, readable)], check=True,
                   capture_output=True)
    return {"sources": [str(p.relative_to(REPO)) for p in readable], "skipped": skipped}


def corpus_tag() -> str:
    """A short digest of the corpus captures' names and sizes, so that a changed corpus gives a new capture."""
    digest = hashlib.sha256()
    for path in sorted(CORPUS_DATA.rglob("*.pcap*")):
        digest.update(f"{path.relative_to(REPO)}\0{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:8]


def capture_name(profile: str, packets: int, seed: int) -> str:
    if profile == "corpus":
        return f"pcap_triage-corpus-{corpus_tag()}-v{GENERATOR_VERSION}.pcapng"
    return f"pcap_triage-{profile}-{packets}p-seed{seed}-v{GENERATOR_VERSION}.pcap"


def generate(profile: str, out: Path, packets: int | None = None, seed: int = 1) -> dict:
    """Write one profile's capture to `out`; its manifest (what it holds, capinfos and tshark's verdicts)."""
    if profile == "corpus":
        held = concatenate_corpus(out)
    else:
        count = packets or PACKETS[profile]
        held = {"seed": seed, "conversations": dict(write_pcap(out, GENERATORS[profile](random.Random(seed)), count))}
    return {"profile": profile, "generator_version": GENERATOR_VERSION, **held, "capinfos": capinfos(out),
            "tshark_expert": expert_summary(out)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", choices=sorted([*GENERATORS, "corpus"]))
    parser.add_argument("out", type=Path)
    parser.add_argument("--packets", type=int, help="packets to write (default: the profile's)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    manifest = generate(args.profile, args.out, args.packets, args.seed)
    print({k: v for k, v in manifest.items() if k != "sources"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
