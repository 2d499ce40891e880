"""Packet captures made on the loopback interface around real servers and clients, once per session.

Each builder starts its server(s), then `tcpdump -i lo -U --immediate-mode -w FILE` filtered on the ports it
uses (other tests may talk on loopback at the same time), runs the clients, and stops
tcpdump with SIGINT once the last packet has had time to arrive, so the file is complete;
a capture in which tcpdump reports packets dropped by the kernel is made again.
Expected answers come from `tshark` on the same files and from what the builders put in
(file contents, user names and passwords), never from cybertriage.

Tools: tcpdump, curl, openssl, dig (Debian tcpdump, curl, openssl, dnsutils), pyftpdlib.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import random
import re
import select
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dpkt
import pytest

TOOLS = ("tcpdump", "curl", "openssl", "dig", "tshark")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port nothing listens on now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Until a TCP server accepts on 127.0.0.1:port (called before tcpdump starts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port}")


@contextlib.contextmanager
def loopback_capture(path: Path, ports: list[int], host: str | None = None) -> Iterator[Path]:
    """tcpdump on lo for the given ports (TCP and UDP), and host if given, while the block runs."""
    bpf = " or ".join(f"port {p}" for p in ports)
    if host:
        bpf = f"host {host} and ({bpf})"
    proc = subprocess.Popen(["tcpdump", "-i", "lo", "-U", "--immediate-mode", "-B", "32768", "-n", "-s", "0", "-w", str(path), bpf],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        seen = b""
        while b"listening on" not in seen:  # printed once the capture is open
            ready, _, _ = select.select([proc.stderr], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(proc.stderr.fileno(), 4096) if ready else b""  # type: ignore[union-attr]
            if not chunk:
                raise RuntimeError(f"tcpdump did not start: {seen.decode(errors='replace')}")
            seen += chunk
        yield path
        time.sleep(0.3)  # the last packets reach the capture
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, tail = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, tail = proc.communicate()
    dropped = re.search(rb"(\d+) packets? dropped by kernel", tail or b"")
    if dropped is None or int(dropped.group(1)):
        raise CaptureIncomplete(f"tcpdump lost packets: {(tail or b'').decode(errors='replace').strip()}")


class CaptureIncomplete(RuntimeError):
    """tcpdump dropped packets (a loaded machine): the capture is made again."""


def _made(build, directory: Path, attempts: int = 3):
    """A builder's capture, made again in a fresh folder when tcpdump lost packets."""
    for attempt in range(attempts):
        folder = directory / f"{build.__name__}-{attempt}"
        folder.mkdir()
        try:
            return build(folder)
        except CaptureIncomplete:
            if attempt == attempts - 1:
                raise


def _run(*args: str, timeout: float = 20, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, timeout=timeout, check=False, **kwargs)


# ------------------------------------------------------------------ HTTP: python3 -m http.server + curl


@dataclass
class HttpCapture:
    path: Path
    port: int
    host: str
    files: dict[str, bytes]  # served file name -> content
    form: dict[str, str]  # posted login form fields


def build_http(directory: Path) -> HttpCapture:
    root = directory / "www"
    root.mkdir()
    rng = random.Random(4)
    files = {"sample.bin": rng.randbytes(150_000), "notes.txt": b"meeting at the usual place\n" * 40}
    for name, data in files.items():
        (root / name).write_bytes(data)
    port = free_port()
    host = "files.example.test"
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "--directory", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    form = {"username": "alice", "password": "s3cret pass&word", "remember": "1"}
    try:
        wait_for_port(port)
        with loopback_capture(directory / "http.pcap", [port]) as path:
            resolve = f"{host}:{port}:127.0.0.1"
            for name in files:
                done = _run("curl", "-sS", "-o", os.devnull, "--resolve", resolve, f"http://{host}:{port}/{name}")
                assert done.returncode == 0, done.stderr
            body = "&".join(f"{k}={v}" for k, v in (("username", "alice"), ("password", "s3cret+pass%26word"),
                                                   ("remember", "1")))
            done = _run("curl", "-sS", "-o", os.devnull, "--resolve", resolve, "--data", body,
                        f"http://{host}:{port}/login")
            assert done.returncode == 0, done.stderr
    finally:
        server.terminate()
        server.wait(timeout=10)
    return HttpCapture(path, port, host, files, form)


# ------------------------------------------------------------------ TLS: openssl s_server / s_client


@dataclass
class TlsCapture:
    path: Path
    port: int
    sni: str
    subject_cn: str


def build_tls(directory: Path) -> TlsCapture:
    key, cert = directory / "server.key", directory / "server.crt"
    cn = "tls.example.test"
    done = _run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                "-days", "2", "-subj", f"/CN={cn}/O=Loopback Test")
    assert done.returncode == 0, done.stderr
    port = free_port()
    sni = "secure.example.test"
    server = subprocess.Popen(["openssl", "s_server", "-accept", str(port), "-cert", str(cert), "-key", str(key),
                               "-tls1_2", "-naccept", "2", "-quiet"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)  # one of the two accepted connections
        with loopback_capture(directory / "tls.pcap", [port]) as path:
            done = _run("openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", sni, "-tls1_2",
                        stdin=subprocess.DEVNULL)
            assert b"BEGIN CERTIFICATE" in done.stdout, done.stderr
    finally:
        server.terminate()
        server.wait(timeout=10)
    return TlsCapture(path, port, sni, cn)


# ------------------------------------------------------------------ DNS: a dpkt-built responder, dig and a socket


GENERATED = ("xkq3vz8hf0a9.com", "jgtcbfidyfwrwp.net", "kbwkskpbdlqmhw.org")  # made up, look machine-made
ORDINARY = ("www.wikipedia.org", "mail.google.com", "www.office365.com", "msftconnecttest.com")
TUNNEL_DOMAIN = "tunnel-example.com"
TXT_LENGTH = 300  # characters of each TXT answer under the tunnel domain (two character-strings)


@dataclass
class DnsCapture:
    path: Path
    server: str  # the responder's loopback address (port 53)
    answers: dict[str, str]  # name -> the A answer given
    tunnel_names: list[str] = field(default_factory=list)


def _dns_answer(query: bytes, answers: dict[str, str]) -> bytes:
    msg = dpkt.dns.DNS(query)
    q = msg.qd[0]
    msg.op = dpkt.dns.DNS_RA  # the whole flags word: set before the QR bit and the rcode
    msg.qr = dpkt.dns.DNS_R
    msg.an = []
    name = q.name.lower()
    if name.endswith(TUNNEL_DOMAIN) and q.type == dpkt.dns.DNS_TXT:
        digest = hashlib.sha256(name.encode()).hexdigest() * 5
        rr = dpkt.dns.DNS.RR(name=q.name, type=dpkt.dns.DNS_TXT, cls=dpkt.dns.DNS_IN, ttl=0)
        rr.text = [digest[:200].encode(), digest[200:TXT_LENGTH].encode()]
        rr.rdata = b"".join(bytes([len(t)]) + t for t in rr.text)
        msg.an.append(rr)
    elif name in answers and q.type == dpkt.dns.DNS_A:
        msg.an.append(dpkt.dns.DNS.RR(name=q.name, type=dpkt.dns.DNS_A, cls=dpkt.dns.DNS_IN, ttl=60,
                                      ip=socket.inet_aton(answers[name])))
    else:
        msg.rcode = dpkt.dns.DNS_RCODE_NXDOMAIN
    return bytes(msg)


def _dns_socket() -> tuple[socket.socket, str]:
    """A UDP socket on port 53 of a loopback address of its own (127.0.0.0/8 is all loopback on Linux):
    DNS is told by its port, as Zeek and tshark tell it, and no other test shares the address."""
    rng = random.Random()
    for _ in range(50):
        address = f"127.0.{rng.randrange(1, 255)}.{rng.randrange(2, 255)}"
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((address, 53))
            return sock, address
        except OSError:
            sock.close()
    raise RuntimeError("no loopback address with port 53 free")


def build_dns(directory: Path) -> DnsCapture:
    server, address = _dns_socket()
    answers = {name: "127.0.0.1" for name in ORDINARY}
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = server.recvfrom(4096)
            except TimeoutError:
                continue
            server.sendto(_dns_answer(data, answers), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    rng = random.Random(7)
    tunnel = [f"{rng.randbytes(16).hex()}.{i:08x}.t.{TUNNEL_DOMAIN}" for i in range(60)]
    try:
        with loopback_capture(directory / "dns.pcap", [53], host=address) as path:
            for name in ORDINARY + GENERATED:
                done = _run("dig", f"@{address}", "+tries=1", "+time=2", name, "A")
                assert done.returncode == 0, done.stderr
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
                client.settimeout(2)
                for n, name in enumerate(tunnel):
                    query = dpkt.dns.DNS(id=n + 1, qd=[dpkt.dns.DNS.Q(name=name, type=dpkt.dns.DNS_TXT)])
                    client.sendto(bytes(query), (address, 53))
                    client.recvfrom(4096)
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()
    return DnsCapture(path, address, answers, tunnel)


# ------------------------------------------------------------------ FTP: pyftpdlib + ftplib


@dataclass
class FtpCapture:
    path: Path
    port: int
    user: str
    password: str
    file_sha256: str


def build_ftp(directory: Path) -> FtpCapture:
    import ftplib

    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

    home = directory / "ftp-home"
    home.mkdir()
    content = random.Random(9).randbytes(40_000)
    (home / "report.pdf").write_bytes(content)
    user, password = "bob", "hunter2!"
    authorizer = DummyAuthorizer()
    authorizer.add_user(user, password, str(home), perm="elr")
    passive = free_port()

    class Handler(FTPHandler):
        pass

    Handler.authorizer = authorizer
    Handler.passive_ports = [passive]
    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    server = FTPServer(("127.0.0.1", 0), Handler)
    port = server.address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.2, "blocking": True}, daemon=True)
    thread.start()
    try:
        with loopback_capture(directory / "ftp.pcap", [port, passive]) as path:
            ftp = ftplib.FTP()
            ftp.connect("127.0.0.1", port, timeout=10)
            ftp.login(user, password)
            got = bytearray()
            ftp.retrbinary("RETR report.pdf", got.extend)
            ftp.quit()
            assert bytes(got) == content
    finally:
        server.close_all()
        thread.join(timeout=5)
    return FtpCapture(path, port, user, password, hashlib.sha256(content).hexdigest())


# ------------------------------------------------------------------ POP3 and IMAP: scripted servers, poplib/imaplib


POP3_ACCOUNTS = {"carol": "pop-pass-1", "dave": "Pl@in-2", "erin": "login-3"}
IMAP_ACCOUNTS = {"frank": 'imap "quoted" 4', "grace": "plain-5", "heidi": "login-6"}
APOP_SECRET = ("ivan", "apop-secret")


class _Pop3(socketserver.StreamRequestHandler):
    """Enough of RFC 1939 + RFC 5034 for the clients' logins: USER/PASS, APOP, AUTH PLAIN/LOGIN."""

    def handle(self) -> None:
        banner = "<1896.697170952@loopback.test>"
        self._send(f"+OK POP3 ready {banner}")
        user = None
        while line := self.rfile.readline():
            verb, _, arg = line.decode().strip().partition(" ")
            verb = verb.upper()
            if verb == "USER":
                user = arg
                self._send("+OK")
            elif verb == "PASS":
                self._verdict(POP3_ACCOUNTS.get(user or "") == arg)
            elif verb == "APOP":
                name, _, digest = arg.rpartition(" ")
                expected = hashlib.md5((banner + APOP_SECRET[1]).encode()).hexdigest()
                self._verdict(name == APOP_SECRET[0] and digest == expected)
            elif verb == "AUTH":
                mechanism, _, initial = arg.partition(" ")
                if mechanism.upper() == "PLAIN":
                    if not initial:
                        self._send("+ ")
                        initial = self.rfile.readline().decode().strip()
                    _, name, secret = base64.b64decode(initial).decode().split("\0")
                    self._verdict(POP3_ACCOUNTS.get(name) == secret)
                else:  # LOGIN
                    self._send("+ VXNlcm5hbWU6")
                    name = base64.b64decode(self.rfile.readline().strip()).decode()
                    self._send("+ UGFzc3dvcmQ6")
                    secret = base64.b64decode(self.rfile.readline().strip()).decode()
                    self._verdict(POP3_ACCOUNTS.get(name) == secret)
            elif verb == "CAPA":
                self.wfile.write(b"+OK\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n")
            elif verb == "QUIT":
                self._send("+OK bye")
                return
            else:
                self._send("-ERR unknown")

    def _verdict(self, ok: bool) -> None:
        self._send("+OK logged in" if ok else "-ERR invalid login")

    def _send(self, text: str) -> None:
        self.wfile.write(text.encode() + b"\r\n")


class _Imap(socketserver.StreamRequestHandler):
    """Enough of RFC 9051 for the clients' logins: LOGIN, AUTHENTICATE PLAIN/LOGIN, LOGOUT."""

    def handle(self) -> None:
        self._send("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=LOGIN] loopback IMAP ready")
        while line := self.rfile.readline():
            tag, _, rest = line.decode().strip().partition(" ")
            command, _, arg = rest.partition(" ")
            command = command.upper()
            if command == "CAPABILITY":
                self._send("* CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=LOGIN")
                self._send(f"{tag} OK CAPABILITY completed")
            elif command == "LOGIN":
                name, _, quoted = arg.partition(" ")
                secret = quoted[1:-1].replace('\\"', '"').replace("\\\\", "\\")
                self._verdict(tag, IMAP_ACCOUNTS.get(name.strip('"')) == secret)
            elif command == "AUTHENTICATE":
                if arg.upper() == "PLAIN":
                    self._send("+ ")
                    _, name, secret = base64.b64decode(self.rfile.readline().strip()).decode().split("\0")
                else:
                    self._send("+ VXNlcm5hbWU6")
                    name = base64.b64decode(self.rfile.readline().strip()).decode()
                    self._send("+ UGFzc3dvcmQ6")
                    secret = base64.b64decode(self.rfile.readline().strip()).decode()
                self._verdict(tag, IMAP_ACCOUNTS.get(name) == secret)
            elif command == "LOGOUT":
                self._send("* BYE")
                self._send(f"{tag} OK LOGOUT completed")
                return
            else:
                self._send(f"{tag} BAD unknown")

    def _verdict(self, tag: str, ok: bool) -> None:
        self._send(f"{tag} OK logged in" if ok else f"{tag} NO invalid login")

    def _send(self, text: str) -> None:
        self.wfile.write(text.encode() + b"\r\n")


@dataclass
class MailCapture:
    path: Path
    pop3_port: int
    imap_port: int
    logins: list[tuple[str, str, str | None, bool]]  # (protocol, user, password, accepted) in the order sent


def build_mail(directory: Path) -> MailCapture:
    import imaplib
    import poplib

    servers = [socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler) for handler in (_Pop3, _Imap)]
    for server in servers:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    pop3_port, imap_port = (server.server_address[1] for server in servers)
    logins: list[tuple[str, str, str | None, bool]] = []
    try:
        with loopback_capture(directory / "mail.pcap", [pop3_port, imap_port]) as path:
            pop = poplib.POP3("127.0.0.1", pop3_port, timeout=10)  # USER/PASS
            pop.user("carol")
            pop.pass_(POP3_ACCOUNTS["carol"])
            pop.quit()
            logins.append(("pop3", "carol", POP3_ACCOUNTS["carol"], True))
            pop = poplib.POP3("127.0.0.1", pop3_port, timeout=10)  # a wrong password
            pop.user("carol")
            with pytest.raises(poplib.error_proto):
                pop.pass_("wrong-guess")
            pop.quit()
            logins.append(("pop3", "carol", "wrong-guess", False))
            pop = poplib.POP3("127.0.0.1", pop3_port, timeout=10)
            pop.apop(*APOP_SECRET)
            pop.quit()
            logins.append(("pop3", APOP_SECRET[0], None, True))
            pop = poplib.POP3("127.0.0.1", pop3_port, timeout=10)  # AUTH PLAIN with an initial response
            pop.capa()
            pop._shortcmd("AUTH PLAIN " + base64.b64encode(f"\0dave\0{POP3_ACCOUNTS['dave']}".encode()).decode())
            pop.quit()
            logins.append(("pop3", "dave", POP3_ACCOUNTS["dave"], True))
            pop = poplib.POP3("127.0.0.1", pop3_port, timeout=10)  # AUTH LOGIN
            pop._putcmd("AUTH LOGIN")
            for value in ("erin", POP3_ACCOUNTS["erin"]):
                assert pop._getline()[0].startswith(b"+ ")
                pop._putcmd(base64.b64encode(value.encode()).decode())
            assert pop._getresp().startswith(b"+OK")
            pop.quit()
            logins.append(("pop3", "erin", POP3_ACCOUNTS["erin"], True))

            imap = imaplib.IMAP4("127.0.0.1", imap_port, timeout=10)  # LOGIN with a quoted password
            imap.login("frank", IMAP_ACCOUNTS["frank"])
            imap.logout()
            logins.append(("imap", "frank", IMAP_ACCOUNTS["frank"], True))
            imap = imaplib.IMAP4("127.0.0.1", imap_port, timeout=10)
            imap.authenticate("PLAIN", lambda _: f"\0grace\0{IMAP_ACCOUNTS['grace']}".encode())
            imap.logout()
            logins.append(("imap", "grace", IMAP_ACCOUNTS["grace"], True))
            imap = imaplib.IMAP4("127.0.0.1", imap_port, timeout=10)
            answers = iter(("heidi", "not-her-password"))
            with pytest.raises(imaplib.IMAP4.error):
                imap.authenticate("LOGIN", lambda _: next(answers).encode())
            imap.logout()
            logins.append(("imap", "heidi", "not-her-password", False))
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
    return MailCapture(path, pop3_port, imap_port, logins)


# ------------------------------------------------------------------ the fixtures


@dataclass
class Loopback:
    http: HttpCapture
    tls: TlsCapture
    dns: DnsCapture
    ftp: FtpCapture
    mail: MailCapture


@pytest.fixture(scope="session")
def loopback(tmp_path_factory: pytest.TempPathFactory) -> Loopback:
    """Every loopback capture, made once per test session."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    assert not missing, f"missing tools {missing} (Debian tcpdump curl openssl dnsutils tshark)"
    directory = tmp_path_factory.mktemp("loopback")
    return Loopback(*(_made(build, directory) for build in (build_http, build_tls, build_dns, build_ftp, build_mail)))
