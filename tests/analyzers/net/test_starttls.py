"""TLS after STARTTLS (SMTP, IMAP), STLS (POP3) and AUTH TLS (FTP), against tshark and openssl.

`openssl s_client -starttls PROTOCOL` talks to a small server here that speaks the clear part of each protocol,
then hands the socket to Python's `ssl`; tcpdump records it on loopback. tshark, told which protocol each
port carries, follows the upgrade into TLS: the SNI, JA3 and JA3S found must be its, and the certificate's
SHA-256 is that of the server certificate as `openssl x509 -outform DER` writes it.
"""

from __future__ import annotations

import hashlib
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from cybertriage.analyzers.net import analyse_capture
from tests.analyzers.net.conftest import tshark
from tests.captures import CaptureIncomplete, free_port, loopback_capture

SNI = "mail.example.test"
# What each server says: its greeting, its answer to the command that starts TLS (after which it speaks TLS),
# and its answer to anything else the client asks first (openssl's EHLO, CAPABILITY, CAPA, FEAT).
SERVERS = {
    "smtp": (b"220 mail.example.test ESMTP ready\r\n", b"STARTTLS", b"220 2.0.0 Ready to start TLS\r\n",
             lambda tag: b"250-mail.example.test\r\n250 STARTTLS\r\n"),
    "imap": (b"* OK IMAP4rev1 ready\r\n", b"STARTTLS", b"{tag} OK begin TLS\r\n",
             lambda tag: b"* CAPABILITY IMAP4rev1 STARTTLS\r\n" + tag + b" OK done\r\n"),
    "pop3": (b"+OK POP3 ready\r\n", b"STLS", b"+OK begin TLS\r\n", lambda tag: b"+OK\r\nSTLS\r\n.\r\n"),
    "ftp": (b"220 FTP server ready\r\n", b"AUTH TLS", b"234 AUTH TLS successful\r\n",
            lambda tag: b"211-Features:\r\n AUTH TLS\r\n211 End\r\n"),
}
TSHARK_NAMES = {"smtp": "smtp", "imap": "imap", "pop3": "pop", "ftp": "ftp"}


@dataclass
class Upgrades:
    path: Path
    ports: dict[str, int]  # protocol -> server port
    certificate_sha256: str  # of the server certificate's DER, by openssl and sha256


def _serve(listener: socket.socket, protocol: str, context: ssl.SSLContext) -> None:
    greeting, starter, accepted, other = SERVERS[protocol]
    conn, _ = listener.accept()
    with conn:
        conn.sendall(greeting)
        reader = conn.makefile("rb", buffering=0)
        while True:
            line = reader.readline().rstrip(b"\r\n")
            if not line:
                return
            tag, _, rest = line.partition(b" ")
            command = rest if protocol == "imap" else line
            if command.upper().startswith(starter):
                conn.sendall(accepted.replace(b"{tag}", tag))
                break
            conn.sendall(other(tag))
        with context.wrap_socket(conn, server_side=True) as secure:
            while secure.recv(4096):
                pass


@pytest.fixture(scope="module")
def upgrades(tmp_path_factory: pytest.TempPathFactory) -> Upgrades:
    directory = tmp_path_factory.mktemp("starttls")
    key, cert = directory / "server.key", directory / "server.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", f"/CN={SNI}/O=Loopback Test"], capture_output=True, check=True, timeout=60)
    der = subprocess.run(["openssl", "x509", "-in", str(cert), "-outform", "DER"], capture_output=True, check=True).stdout
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    for attempt in range(3):
        ports = {protocol: free_port() for protocol in SERVERS}
        listeners, threads = [], []
        for protocol, port in ports.items():
            listener = socket.create_server(("127.0.0.1", port))
            listeners.append(listener)
            threads.append(threading.Thread(target=_serve, args=(listener, protocol, context), daemon=True))
            threads[-1].start()
        try:
            with loopback_capture(directory / f"starttls-{attempt}.pcap", list(ports.values())) as path:
                for protocol, port in ports.items():
                    done = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-starttls", protocol,
                                           "-servername", SNI, "-tls1_2"], stdin=subprocess.DEVNULL,
                                          capture_output=True, timeout=30)
                    assert b"BEGIN CERTIFICATE" in done.stdout, done.stderr
                for thread in threads:
                    thread.join(timeout=10)
            return Upgrades(path, ports, hashlib.sha256(der).hexdigest())
        except CaptureIncomplete:
            continue
        finally:
            for listener in listeners:
                listener.close()
    raise CaptureIncomplete("tcpdump lost packets three times")


def _tshark_handshakes(upgrades: Upgrades) -> dict[int, dict[str, str]]:
    """Per server port, the SNI and JA3 of the ClientHello and the JA3S of the ServerHello, as tshark reads them."""
    decode = [arg for protocol, port in upgrades.ports.items()
              for arg in ("-d", f"tcp.port=={port},{TSHARK_NAMES[protocol]}")]
    out: dict[int, dict[str, str]] = {}
    handshakes = "tls.handshake.type == 1 or tls.handshake.type == 2"
    for sport, dport, sni, ja3, ja3s in tshark("-r", str(upgrades.path), *decode, "-Y", handshakes,
                                                "-T", "fields", "-e", "tcp.srcport", "-e", "tcp.dstport",
                                                "-e", "tls.handshake.extensions_server_name",
                                                "-e", "tls.handshake.ja3", "-e", "tls.handshake.ja3s"):
        port = int(dport) if int(dport) in upgrades.ports.values() else int(sport)
        seen = out.setdefault(port, {})
        for name, value in (("sni", sni), ("ja3", ja3), ("ja3s", ja3s)):
            if value:
                seen[name] = value
    return out


def test_tls_after_the_upgrade_equals_tshark(upgrades: Upgrades) -> None:
    expected = _tshark_handshakes(upgrades)
    assert set(expected) == set(upgrades.ports.values())  # tshark follows every upgrade
    records = list(analyse_capture(upgrades.path))
    handshakes = {r.dport: r for r in records if r.KIND == "tls"}
    for protocol, port in upgrades.ports.items():
        assert port in handshakes, protocol
        found = handshakes[port]
        assert {"sni": found.sni, "ja3": found.ja3, "ja3s": found.ja3s} == expected[port], protocol
        assert found.cert_chain_sha256 == [upgrades.certificate_sha256], protocol
        assert found.established, protocol
    flows = {f.dport: f.app for f in records if f.KIND == "flow"}
    assert {protocol: flows[port] for protocol, port in upgrades.ports.items()} == {p: p for p in SERVERS}
    smtp = [r for r in records if r.KIND == "smtp" and r.dport == upgrades.ports["smtp"]]
    assert [r.starttls for r in smtp] == [True]
    assert not [w for w in records[-1].warnings if "TLS" in w], records[-1].warnings
