"""Build resources/demo/demo-capture.pcap: the "seized laptop's" network traffic on the evening it was infected.

The laptop (192.168.1.23) looks up invoice-portal.example, downloads invoice_update.zip from it over HTTP
— the very bytes of Downloads/invoice_update.zip on demo-disk.img, read from the image with mtools —
and later fetches a.ps1 from 203.0.113.7, the address the zip's script and the shell history name.
Packets are written with dpkt (Ethernet, IPv4, full TCP handshakes, segments of 1460 bytes, FIN/ACK
teardowns, correct checksums), so rebuilds are byte-for-byte identical.

Usage: python3 make_demo_capture.py [DISK_IMAGE] [OUT]   (needs dpkt and mtools' mcopy)
"""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
from pathlib import Path

import dpkt

HERE = Path(__file__).resolve().parent
LAPTOP, LAPTOP_MAC = "192.168.1.23", bytes.fromhex("3c22fb1a2b3c")
ROUTER, ROUTER_MAC = "192.168.1.1", bytes.fromhex("f4f26d0a0b0c")  # also the laptop's DNS resolver
PORTAL, PORTAL_NAME = "198.51.100.20", "invoice-portal.example"  # TEST-NET-2
DROPPER = "203.0.113.7"  # TEST-NET-3, as in the zip's script and .bash_history
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0"
A_PS1 = b"Write-Output 'demo stage two: harmless'\r\n"


def utc(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).timestamp()


class Capture:
    """Frames in time order, each an Ethernet/IPv4 packet between the laptop and a peer behind the router."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, bytes]] = []
        self.ip_id = 0x1200

    def ip(self, ts: float, src: str, dst: str, transport: dpkt.Packet, proto: int) -> None:
        self.ip_id += 1
        packet = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=proto, ttl=64 if src == LAPTOP else 52,
                            id=self.ip_id, df=1, data=transport)
        packet.len = len(bytes(packet))
        outbound = src == LAPTOP
        frame = dpkt.ethernet.Ethernet(src=LAPTOP_MAC if outbound else ROUTER_MAC, dst=ROUTER_MAC if outbound else LAPTOP_MAC,
                                       type=dpkt.ethernet.ETH_TYPE_IP, data=packet)
        self.frames.append((ts, bytes(frame)))

    def udp(self, ts: float, src: str, dst: str, sport: int, dport: int, payload: bytes) -> None:
        datagram = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
        datagram.ulen = len(bytes(datagram))
        self.ip(ts, src, dst, datagram, dpkt.ip.IP_PROTO_UDP)

    def dns(self, ts: float, name: str, answer: str, trans_id: int, sport: int) -> None:
        query = dpkt.dns.DNS(id=trans_id, op=dpkt.dns.DNS_RD, qd=[dpkt.dns.DNS.Q(name=name, type=dpkt.dns.DNS_A)])
        self.udp(ts, LAPTOP, ROUTER, sport, 53, bytes(query))
        reply = dpkt.dns.DNS(id=trans_id, op=dpkt.dns.DNS_RD | dpkt.dns.DNS_RA | dpkt.dns.DNS_QR,
                             qd=[dpkt.dns.DNS.Q(name=name, type=dpkt.dns.DNS_A)],
                             an=[dpkt.dns.DNS.RR(name=name, type=dpkt.dns.DNS_A, ttl=300, rdata=socket.inet_aton(answer))])
        self.udp(ts + 0.018, ROUTER, LAPTOP, 53, sport, bytes(reply))

    def http(self, ts: float, server: str, sport: int, request: bytes, response: bytes) -> None:
        """One TCP connection: handshake, the request, the response in 1460-byte segments, FIN/ACK both ways."""
        rtt = 0.024
        tcp = dpkt.tcp
        client_seq, server_seq = 0x5A000000 + sport, 0x7B000000 + sport

        def send(at: float, outbound: bool, flags: int, data: bytes = b"") -> None:
            nonlocal client_seq, server_seq
            seq, ack = (client_seq, server_seq) if outbound else (server_seq, client_seq)
            segment = tcp.TCP(sport=sport if outbound else 80, dport=80 if outbound else sport, seq=seq,
                              ack=ack if flags & tcp.TH_ACK else 0, flags=flags, win=64240, data=data)
            segment.off = 5
            self.ip(at, LAPTOP if outbound else server, server if outbound else LAPTOP, segment, dpkt.ip.IP_PROTO_TCP)
            step = len(data) + (1 if flags & (tcp.TH_SYN | tcp.TH_FIN) else 0)
            if outbound:
                client_seq += step
            else:
                server_seq += step

        send(ts, True, tcp.TH_SYN)
        send(ts + rtt, False, tcp.TH_SYN | tcp.TH_ACK)
        send(ts + rtt + 0.0002, True, tcp.TH_ACK)
        send(ts + rtt + 0.0004, True, tcp.TH_PUSH | tcp.TH_ACK, request)
        at = ts + 2 * rtt
        for start in range(0, len(response), 1460):
            at += 0.0008
            send(at, False, tcp.TH_ACK | (tcp.TH_PUSH if start + 1460 >= len(response) else 0), response[start:start + 1460])
            if (start // 1460) % 2 == 1:
                send(at + 0.0001, True, tcp.TH_ACK)
        send(at + 0.0002, True, tcp.TH_ACK)
        send(at + 0.05, True, tcp.TH_FIN | tcp.TH_ACK)
        send(at + 0.05 + rtt, False, tcp.TH_FIN | tcp.TH_ACK)
        send(at + 0.05 + rtt + 0.0002, True, tcp.TH_ACK)


def request(host: str, path: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\nAccept: */*\r\n"
            "Connection: close\r\n\r\n").encode()


def response(body: bytes, content_type: str, when: float) -> bytes:
    date = dt.datetime.fromtimestamp(when, dt.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")
    return (f"HTTP/1.1 200 OK\r\nDate: {date}\r\nServer: nginx\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


def main() -> int:
    image = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "demo-disk.img"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE / "demo-capture.pcap"
    zip_bytes = subprocess.run(["mcopy", "-n", "-i", f"{image}@@1048576", "::Downloads/invoice_update.zip", "-"],
                               capture_output=True, check=True, env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"}).stdout
    capture = Capture()
    first = utc("2024-02-28T21:20:05.120")
    capture.dns(first, PORTAL_NAME, PORTAL, 0x4F1D, 51213)
    capture.http(first + 0.05, PORTAL, 44310, request(PORTAL_NAME, "/download/invoice_update.zip"),
                 response(zip_bytes, "application/zip", first + 0.1))
    later = utc("2024-02-28T23:39:31.400")
    capture.http(later, DROPPER, 44388, request(DROPPER, "/a.ps1"), response(A_PS1, "text/plain", later + 0.05))
    with out.open("wb") as handle:
        writer = dpkt.pcap.Writer(handle, linktype=dpkt.pcap.DLT_EN10MB, snaplen=65535)
        for ts, frame in sorted(capture.frames, key=lambda item: item[0]):
            writer.writepkt(frame, ts=ts)
    print(f"{out}: {len(capture.frames)} packets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
