#!/usr/bin/env python3
"""Make a packet capture of web browsing: real clients and servers talking in a network namespace.

Not a test. `pcap_triage.py --mix web` calls this to build the capture it times. The corpus mix
(`--mix corpus`) is made of tiny test traces, where almost every packet is a handshake or a DNS
message. This capture has the shape of real traffic instead: most packets carry the bodies of
transfers.

Each *visit* looks up a site's name in DNS, then fetches 1–8 objects from it, one connection per
object, over HTTPS (4 in 5) or plain HTTP. Object sizes are log-normal (median 24 KiB, a tail of a
few MiB, at most 16 MiB), as web pages, images and scripts are. The pool of objects holds:

- random bytes (compressed images, media and archives look like that);
- HTML text;
- every PE file of the corpus, so that some executables are downloaded over HTTP.

The servers are `openssl s_server -WWW` for HTTPS, `python3 -m http.server` for HTTP, and a small
DNS responder. The client is `curl`, with `--resolve` so that the TLS SNI and the HTTP Host name are
the site's. `tcpdump` captures on the namespace's loopback interface. Before that, the interface's MTU
is set to 1500 and TCP segmentation offload is turned off (`ethtool`), so the packets have Ethernet
sizes as on a real network, not 64 KiB loopback super-packets.

Needs root, `ip` (iproute2), `ethtool`, `tcpdump`, `curl` and `openssl`.

Usage:  python3 bench/web_capture.py OUT.pcap --packets 500000 [--seed 1]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import dpkt

CORPUS_PE = Path(__file__).resolve().parents[1] / "tests" / "data" / "corpus" / "pe"
NAMESPACE = "cybertriage-bench"
DNS_ADDRESS = "127.0.0.53"
PACKETS_PER_BYTE = 1 / 1448 * 1.55  # full-size segments, their ACKs and the handshakes (measured: ~1.5)


def _sizes(rng: random.Random, count: int) -> list[int]:
    """Log-normal object sizes: median 24 KiB, σ 1.6 (mean ~86 KiB), between 200 B and 16 MiB."""
    return [min(16 << 20, max(200, int(rng.lognormvariate(math.log(24 << 10), 1.6)))) for _ in range(count)]


def _objects(root: Path, rng: random.Random) -> list[str]:
    """Write the pool of objects the sites serve; their names."""
    names = []
    for i, size in enumerate(_sizes(rng, 240)):
        if i % 4 == 0:
            name = f"page{i}.html"
            words = [rng.choice(("evidence", "seized", "ledger", "account", "meeting", "transfer", "invoice"))
                     for _ in range(size // 8 + 1)]
            text = "<html><body><p>" + " ".join(words) + "</p></body></html>\n"
            (root / name).write_text(text[:size])
        else:
            name = f"media{i}.bin"
            (root / name).write_bytes(rng.randbytes(size))
        names.append(name)
    for pe in sorted(CORPUS_PE.glob("*")):
        if pe.is_file() and pe.stat().st_size < (8 << 20):
            shutil.copyfile(pe, root / f"tool-{pe.name}")
            names.append(f"tool-{pe.name}")
    return names


def _dns_server(stop: threading.Event) -> threading.Thread:
    """Answer every A query with 127.0.0.1 (dpkt builds the answers)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((DNS_ADDRESS, 53))
    sock.settimeout(0.2)

    def serve() -> None:
        with sock:
            while not stop.is_set():
                try:
                    data, peer = sock.recvfrom(4096)
                except TimeoutError:
                    continue
                msg = dpkt.dns.DNS(data)
                msg.op = dpkt.dns.DNS_RA
                msg.qr = dpkt.dns.DNS_R
                msg.an = [dpkt.dns.DNS.RR(name=q.name, type=dpkt.dns.DNS_A, cls=dpkt.dns.DNS_IN, ttl=300,
                                          ip=socket.inet_aton("127.0.0.1")) for q in msg.qd if q.type == dpkt.dns.DNS_A]
                sock.sendto(bytes(msg), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def _lookup(client: socket.socket, name: str, query_id: int) -> None:
    query = dpkt.dns.DNS(id=query_id, op=dpkt.dns.DNS_RD, qd=[dpkt.dns.DNS.Q(name=name, type=dpkt.dns.DNS_A)])
    client.sendto(bytes(query), (DNS_ADDRESS, 53))
    client.recvfrom(4096)


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"no server on port {port}")


def inside(out: Path, packets: int, seed: int) -> None:
    """Runs in the namespace: servers, tcpdump, the visits."""
    subprocess.run(["ip", "link", "set", "lo", "mtu", "1500", "up"], check=True)
    subprocess.run(["ethtool", "-K", "lo", "tso", "off", "gso", "off", "gro", "off"], check=True,
                   stdout=subprocess.DEVNULL)
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="web-capture-") as tmp:
        root = Path(tmp) / "www"
        root.mkdir()
        names = _objects(root, rng)
        sizes = {name: (root / name).stat().st_size for name in names}
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=site",
                        "-keyout", f"{tmp}/key.pem", "-out", f"{tmp}/cert.pem"], check=True, capture_output=True)
        servers = [
            subprocess.Popen(["openssl", "s_server", "-accept", "443", "-cert", f"{tmp}/cert.pem", "-key",
                              f"{tmp}/key.pem", "-WWW", "-quiet"], cwd=root, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            subprocess.Popen([sys.executable, "-m", "http.server", "80", "--bind", "127.0.0.1"], cwd=root,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        ]
        stop = threading.Event()
        dns = _dns_server(stop)
        tcpdump = None
        try:
            _wait_for(443)
            _wait_for(80)
            tcpdump = subprocess.Popen(["tcpdump", "-i", "lo", "-B", "262144", "-n", "-s", "0", "-w", str(out)],
                                       stderr=subprocess.PIPE)
            time.sleep(1)
            budget = packets / PACKETS_PER_BYTE
            sent = 0
            visit = 0
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
                client.settimeout(2)
                while sent < budget:
                    visit += 1
                    site = f"www.site{rng.randrange(400)}.example"
                    _lookup(client, site, visit & 0xFFFF)
                    scheme, port = ("https", 443) if rng.random() < 0.8 else ("http", 80)
                    picks = [rng.choice(names) for _ in range(rng.randint(1, 8))]
                    cmd = ["curl", "-sk", "--resolve", f"{site}:{port}:127.0.0.1", "-A", "Mozilla/5.0 (bench)"]
                    for name in picks:
                        cmd += ["-o", "/dev/null", f"{scheme}://{site}/{name}"]
                    subprocess.run(cmd, check=True, timeout=120)
                    sent += sum(sizes[name] for name in picks)
            time.sleep(1)
        finally:
            if tcpdump is not None:
                tcpdump.send_signal(signal.SIGINT)
                _, tail = tcpdump.communicate(timeout=30)
                dropped = re.search(rb"(\d+) packets? dropped by kernel", tail)
                if dropped is None or int(dropped.group(1)):
                    raise SystemExit(f"tcpdump lost packets: {tail.decode(errors='replace').strip()}")
            stop.set()
            dns.join(timeout=5)
            for server in servers:
                server.terminate()
                server.wait(timeout=10)
    print(f"{visit} visits, {sent:,} bytes of objects", file=sys.stderr)


def build(out: Path, packets: int, seed: int) -> None:
    """Make the capture in a network namespace of its own, removed afterwards."""
    for tool in ("ip", "ethtool", "tcpdump", "curl", "openssl"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not found (Debian iproute2, ethtool, tcpdump, curl, openssl)")
    if os.geteuid() != 0:
        raise SystemExit("making the web capture needs root (a network namespace and tcpdump)")
    subprocess.run(["ip", "netns", "delete", NAMESPACE], stderr=subprocess.DEVNULL, check=False)
    subprocess.run(["ip", "netns", "add", NAMESPACE], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", NAMESPACE, sys.executable, __file__, str(out), "--packets",
                        str(packets), "--seed", str(seed), "--inside"], check=True)
    finally:
        subprocess.run(["ip", "netns", "delete", NAMESPACE], check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the capture to write (pcap)")
    parser.add_argument("--packets", type=int, default=500_000, help="about this many packets (default 500000)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the objects and visits (default 1)")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        inside(args.out.resolve(), args.packets, args.seed)
    else:
        build(args.out.resolve(), args.packets, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
