"""SMTP, FTP and cleartext credentials: against Zeek's smtp.log/files.log/ftp.log baselines,
tshark's SMTP AUTH fields, and hand-built captures whose expected answers are what was put in."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from cybertriage.analyzers.net import NetSettings, analyse_capture
from tests.analyzers.net import pcapgen
from tests.analyzers.net.conftest import tshark, zeek_log

# ------------------------------------------------------------------ SMTP against Zeek


def _zset(value: str) -> set[str]:
    return set() if value == "-" else set(value.split(","))


def _z(value: str) -> str | None:
    return None if value == "-" else value


def test_smtp_equals_zeek_smtp_log(analysed, corpus_dir: Path) -> None:
    ours = {(r.src, r.sport, r.dst, r.dport): r for r in analysed("smtp.pcap").of("smtp")}
    zeek = zeek_log(corpus_dir, "smtp.pcap", "scripts.base.protocols.smtp.basic", "smtp.log")
    assert len(ours) == len(zeek) == 2
    for row in zeek:
        rec = ours[(row["id.orig_h"], int(row["id.orig_p"]), row["id.resp_h"], int(row["id.resp_p"]))]
        assert rec.trans_depth == int(row["trans_depth"])
        assert rec.helo == row["helo"]
        assert rec.mail_from == row["mailfrom"]
        assert set(rec.rcpt_to) == _zset(row["rcptto"])
        assert rec.date == _z(row["date"])
        assert rec.header_from == _z(row["from"])
        assert set(rec.header_to) == _zset(row["to"])
        assert set(rec.cc) == _zset(row["cc"])
        assert rec.reply_to == _z(row["reply_to"])
        assert rec.message_id == _z(row["msg_id"])
        assert rec.in_reply_to == _z(row["in_reply_to"])
        assert rec.subject == _z(row["subject"])
        assert rec.user_agent == _z(row["user_agent"])
        assert rec.starttls is (row["tls"] == "T")
        assert rec.message_complete
        assert rec.flow_id in {f.id for f in analysed("smtp.pcap").of("flow") if f.app == "smtp"}


def test_smtp_parts_equal_zeek_files_log(analysed, corpus_dir: Path) -> None:
    """Every MIME leaf part becomes an object, in order, with Zeek's MIME type and file name. Sizes:
    Zeek's quoted-printable decoder keeps the CRLF before the next boundary, which RFC 2046 gives
    to the boundary (and the email package drops), so QP parts are 2 bytes longer in Zeek."""
    result = analysed("smtp.pcap")
    objects = [o for o in result.of("extracted_object") if o.source.KIND == "smtp"]
    zeek = zeek_log(corpus_dir, "smtp.pcap", "scripts.base.protocols.smtp.attachment", "files.log")
    assert len(objects) == len(zeek) == 4
    qp = {1868, 10809}  # the text/html and NEWS.txt parts are quoted-printable in the trace
    for obj, row in zip(objects, zeek, strict=True):
        assert obj.source.src == row["id.orig_h"]
        assert obj.source.sport == int(row["id.orig_p"]) and obj.source.dport == int(row["id.resp_p"])
        assert obj.content_type == row["mime_type"]
        assert obj.size + (2 if int(row["seen_bytes"]) in qp else 0) == int(row["seen_bytes"])
        if row["filename"] != "-":
            assert obj.name == row["filename"] and obj.name in obj.source.attachments
        assert obj.direction == "request" and not obj.truncated
        assert obj.sha256 == hashlib.sha256(obj.data).hexdigest() and len(obj.data) == obj.size
    summary = result.summary
    assert summary.records["smtp"] == 2 and summary.records["extracted_object"] == 4


def test_smtp_attachment_equals_tshark_stream(analysed) -> None:
    """NEWS.txt decoded independently: the client's bytes as tshark reassembles them (follow,tcp,raw),
    the message cut at the lone dot, the part cut at its boundary and decoded with quopri."""
    import quopri

    rows = tshark("-r", analysed("smtp.pcap").summary.path, "-qz", "follow,tcp,raw,0")
    client = b"".join(bytes.fromhex(r[0]) for r in rows if len(r) == 1 and r[0] and all(
        c in "0123456789abcdef" for c in r[0]))
    message = client[client.index(b"DATA\r\n") + 6:client.index(b"\r\n.\r\n")]
    start = message.index(b'filename="NEWS.txt"')
    body_start = message.index(b"\r\n\r\n", start) + 4
    boundary_at = message.index(b"\r\n--", body_start)  # the CRLF before the boundary belongs to it
    expected = quopri.decodestring(message[body_start:boundary_at])
    news = [o for o in analysed("smtp.pcap").of("extracted_object") if o.name == "NEWS.txt"]
    assert len(news) == 1 and news[0].data == expected and news[0].size == 10809 - 2


def test_smtp_auth_login_equals_tshark(analysed) -> None:
    path = analysed("smtp.pcap").summary.path
    users = [base64.b64decode(r[0]).decode() for r in tshark("-r", path, "-Y", "smtp.auth.username", "-T", "fields",
                                                             "-e", "smtp.auth.username") if r[0]]
    passwords = [base64.b64decode(r[0]).decode() for r in tshark("-r", path, "-Y", "smtp.auth.password", "-T",
                                                                 "fields", "-e", "smtp.auth.password") if r[0]]
    creds = analysed("smtp.pcap").of("credential")
    assert [(c.username, c.password) for c in creds] == list(zip(users, passwords, strict=True))
    assert len(creds) == 1
    cred = creds[0]
    assert cred.protocol == "smtp" and cred.where == "SMTP AUTH LOGIN" and cred.accepted is True
    assert (cred.src, cred.sport, cred.dst, cred.dport) == ("10.10.1.4", 1470, "74.53.140.153", 25)


# ------------------------------------------------------------------ FTP against Zeek

FTP = [("ftp_ipv4.pcap", "scripts.base.protocols.ftp.ftp-ipv4"), ("ftp_ipv6.pcap", "scripts.base.protocols.ftp.ftp-ipv6")]
ZEEK_LOGGED = {"APPE", "DELE", "RETR", "STOR", "STOU", "ACCT", "PORT", "PASV", "EPRT", "EPSV"}  # Zeek's default


@pytest.mark.parametrize("trace,baseline", FTP)
def test_ftp_equals_zeek_ftp_log(analysed, corpus_dir: Path, trace: str, baseline: str) -> None:
    result = analysed(trace)
    ours = [r for r in result.of("ftp") if r.command in ZEEK_LOGGED]
    zeek = zeek_log(corpus_dir, trace, baseline, "ftp.log")

    assert len(ours) == len(zeek)
    for row in zeek:
        port = None if row["data_channel.resp_p"] == "-" else int(row["data_channel.resp_p"])
        matches = [r for r in ours if r.command == row["command"] and (r.url or r.arg) == _z(row["arg"])
                   and r.data_resp_p == port]
        assert matches, row
        rec = matches[0]
        assert (rec.src, rec.sport, rec.dst, rec.dport) == (row["id.orig_h"], int(row["id.orig_p"]), row["id.resp_h"],
                                                            int(row["id.resp_p"]))
        assert rec.user == row["user"]
        assert rec.reply_code == int(row["reply_code"]) and rec.reply_msg == row["reply_msg"]
        if row["data_channel.passive"] != "-":
            assert rec.data_passive is (row["data_channel.passive"] == "T")
            assert (rec.data_orig_h, rec.data_resp_h) == (row["data_channel.orig_h"], row["data_channel.resp_h"])
        else:
            assert rec.data_passive is None
        if row["file_size"] != "-":
            assert rec.file_size == int(row["file_size"]) and rec.file_complete
    # each transfer is tied to the data connection Zeek calls ftp-data
    flows = {f.id: f for f in result.of("flow")}
    conn = {(z["id.orig_h"], int(z["id.orig_p"]), z["id.resp_h"], int(z["id.resp_p"])): z["service"]
            for z in zeek_log(corpus_dir, trace, baseline, "conn.log")}
    transfers = [r for r in result.of("ftp") if r.command in ("RETR", "LIST", "NLST")]
    assert transfers and all(r.data_flow_id is not None for r in transfers)
    for rec in transfers:
        flow = flows[rec.data_flow_id]
        assert flow.app == "ftp-data"
        assert conn[(flow.src, flow.sport, flow.dst, flow.dport)] == "ftp-data"
        assert rec.file_size == flow.orig_payload + flow.resp_payload


@pytest.mark.parametrize("trace,baseline", FTP)
def test_ftp_files_and_credentials(analysed, corpus_dir: Path, trace: str, baseline: str) -> None:
    result = analysed(trace)
    zeek = zeek_log(corpus_dir, trace, baseline, "ftp.log")
    objects = [o for o in result.of("extracted_object") if o.source.KIND == "ftp"]
    retr = [z for z in zeek if z["command"] == "RETR"]
    assert len(objects) == len(retr) == 2
    for obj in objects:
        assert obj.name == "robots.txt" and obj.size == 77 and obj.direction == "response" and not obj.truncated
        assert obj.sha256 == hashlib.sha256(obj.data).hexdigest() == obj.source.file_sha256
        assert obj.data.startswith(b"User-agent:")
    creds = result.of("credential")
    assert {(c.username, c.password) for c in creds} == {(z["user"], z["password"]) for z in zeek}
    assert all(c.protocol == "ftp" and c.where == "FTP PASS" and c.accepted for c in creds)
    assert result.summary.records["credential"] == 1
    assert result.summary.records["ftp"] == len(result.of("ftp"))


# ------------------------------------------------------------------ hand-built captures


def _session(frames: list, client: str, server: str, cport: int, sport: int, talk: list[tuple[bool, bytes]],
             t0: float) -> None:
    session = pcapgen.TcpSession(client, server, cport, sport, t0=t0)
    session.handshake()
    for from_client, data in talk:
        session.frames.extend(session.segments(from_client, data, 700))
    session.close()
    frames.extend(session.frames)


ATTACHMENT = bytes(range(256)) * 40 + b"tail"
MESSAGE = (b"From: Mallory <m@evil.example>\r\nTo: a@example.com, b@example.com\r\nSubject: invoice\r\n"
           b"Date: Tue, 1 Sep 2020 10:00:00 +0000\r\nMessage-ID: <1@evil.example>\r\nX-Mailer: handmade 1.0\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n"
           b"--XX\r\nContent-Type: text/plain\r\n\r\n.. a line that starts with a dot\r\n"
           b"--XX\r\nContent-Type: application/octet-stream; name=\"x.bin\"\r\nContent-Transfer-Encoding: base64\r\n"
           b"Content-Disposition: attachment; filename=\"../../x.bin\"\r\n\r\n"
           + base64.encodebytes(ATTACHMENT).replace(b"\n", b"\r\n") + b"--XX--\r\n")


@pytest.fixture(scope="module")
def handmade(tmp_path_factory) -> list:
    frames: list = []
    _session(frames, "10.0.0.1", "10.0.0.2", 40001, 25, [
        (False, b"220 mail.example.com ESMTP ready\r\n"),
        (True, b"EHLO client.example\r\n"), (False, b"250-mail.example.com\r\n250 AUTH PLAIN LOGIN\r\n"),
        (True, b"AUTH PLAIN " + base64.b64encode(b"\0alice\0s3cret pass") + b"\r\n"),
        (False, b"235 2.7.0 Authentication successful\r\n"),
        (True, b"MAIL FROM:<m@evil.example> SIZE=1000\r\n"), (False, b"250 OK\r\n"),
        (True, b"RCPT TO:<a@example.com>\r\n"), (False, b"250 OK\r\n"),
        (True, b"RCPT TO:<b@example.com>\r\n"), (False, b"250 OK\r\n"),
        (True, b"DATA\r\n"), (False, b"354 go ahead\r\n"),
        (True, MESSAGE + b".\r\n"), (False, b"250 queued\r\n"),
        (True, b"QUIT\r\n"), (False, b"221 bye\r\n")], 1_600_000_000.0)
    _session(frames, "10.0.0.1", "10.0.0.2", 40002, 587, [
        (False, b"220 mail.example.com ESMTP ready\r\n"),
        (True, b"EHLO c2\r\n"), (False, b"250-mail.example.com\r\n250 STARTTLS\r\n"),
        (True, b"STARTTLS\r\n"), (False, b"220 2.0.0 Ready to start TLS\r\n"),
        (True, b"\x16\x03\x01\x00\x05hello MAIL FROM:<hidden@x>\r\n")], 1_600_000_100.0)
    _session(frames, "10.0.0.1", "10.0.0.3", 40003, 80, [
        (True, b"GET /admin/ HTTP/1.1\r\nHost: router.local\r\nAuthorization: Basic "
         + base64.b64encode(b"admin:pa:ss") + b"\r\n\r\n"),
        (False, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")], 1_600_000_200.0)
    _session(frames, "10.0.0.1", "10.0.0.2", 40004, 25, [
        (False, b"220 mail.example.com ESMTP\r\n"), (True, b"EHLO c3\r\n"), (False, b"250 ok\r\n"),
        (True, b"AUTH LOGIN\r\n"), (False, b"334 VXNlcm5hbWU6\r\n"), (True, base64.b64encode(b"bob") + b"\r\n"),
        (False, b"334 UGFzc3dvcmQ6\r\n"), (True, base64.b64encode(b"wrong") + b"\r\n"),
        (False, b"535 5.7.8 Authentication failed\r\n")], 1_600_000_300.0)
    # FTP: STOR over an active (PORT) data connection, the server connecting back
    stored = b"secret document\n" * 500
    control = pcapgen.TcpSession("10.0.0.1", "10.0.0.4", 40005, 21, t0=1_600_000_400.0)
    control.handshake()
    for from_client, data in [(False, b"220 FTP server ready\r\n"), (True, b"USER carol\r\n"),
                              (False, b"331 Password required\r\n"), (True, b"PASS hunter2\r\n"),
                              (False, b"230-Welcome\r\n   to the server\r\n230 Logged in\r\n"),
                              (True, b"CWD /upload\r\n"), (False, b"250 CWD ok\r\n"),
                              (True, b"PORT 10,0,0,1,200,10\r\n"), (False, b"200 PORT ok\r\n"),
                              (True, b"STOR report.pdf\r\n"), (False, b"150 Opening data connection\r\n")]:
        control.frames.extend(control.segments(from_client, data, 700))
    data = pcapgen.TcpSession("10.0.0.4", "10.0.0.1", 20, 200 * 256 + 10, t0=control.t + 0.01)
    data.handshake()
    data.frames.extend(data.segments(False, stored, 1000))  # the client (responder) sends the file
    data.close()
    control.t = data.t + 0.01
    control.frames.extend(control.segments(False, b"226 Transfer complete\r\n", 700))
    control.frames.extend(control.segments(True, b"QUIT\r\n", 700))
    control.close()
    frames.extend(sorted(control.frames + data.frames, key=lambda f: f[0]))
    path = pcapgen.write_pcap(tmp_path_factory.mktemp("mail") / "handmade.pcap", frames)
    return list(analyse_capture(path))


def _of(records: list, kind: str) -> list:
    return [r for r in records if r.KIND == kind]


def test_handmade_smtp_message_and_attachment(handmade) -> None:
    smtp = [r for r in _of(handmade, "smtp") if r.dport == 25]
    assert len(smtp) == 1
    rec = smtp[0]
    assert (rec.helo, rec.mail_from, rec.rcpt_to) == ("client.example", "m@evil.example", ["a@example.com",
                                                                                           "b@example.com"])
    assert (rec.subject, rec.header_from, rec.header_to) == ("invoice", "Mallory <m@evil.example>",
                                                             ["a@example.com", "b@example.com"])
    assert (rec.date, rec.message_id, rec.user_agent) == ("Tue, 1 Sep 2020 10:00:00 +0000", "<1@evil.example>",
                                                          "handmade 1.0")
    assert rec.attachments == ["x.bin"] and not rec.starttls and rec.message_complete
    assert rec.message_size == len(MESSAGE) - 1  # one dot unstuffed
    objects = [o for o in _of(handmade, "extracted_object") if o.source is rec]
    assert [o.name for o in objects] == ["message1-part1.txt", "x.bin"]
    assert objects[0].data == b". a line that starts with a dot"
    assert objects[1].data == ATTACHMENT and objects[1].sha256 == hashlib.sha256(ATTACHMENT).hexdigest()
    assert objects[1].content_type == "application/octet-stream" and objects[1].direction == "request"


def test_handmade_starttls_stops_parsing(handmade) -> None:
    rec = [r for r in _of(handmade, "smtp") if r.dport == 587]
    assert len(rec) == 1 and rec[0].starttls and rec[0].helo == "c2" and rec[0].mail_from is None


def test_handmade_credentials(handmade) -> None:
    creds = {c.where.split(" for ")[0]: c for c in _of(handmade, "credential")}
    assert set(creds) == {"SMTP AUTH PLAIN", "SMTP AUTH LOGIN", "HTTP Basic", "FTP PASS"}
    plain = creds["SMTP AUTH PLAIN"]
    assert (plain.username, plain.password, plain.accepted, plain.dport) == ("alice", "s3cret pass", True, 25)
    login = creds["SMTP AUTH LOGIN"]
    assert (login.username, login.password, login.accepted, login.sport) == ("bob", "wrong", False, 40004)
    basic = creds["HTTP Basic"]
    assert (basic.username, basic.password, basic.protocol) == ("admin", "pa:ss", "http")
    assert basic.where == "HTTP Basic for router.local/admin/" and basic.accepted is None
    ftp = creds["FTP PASS"]
    assert (ftp.username, ftp.password, ftp.accepted, ftp.protocol) == ("carol", "hunter2", True, "ftp")
    flows = {f.id: f for f in _of(handmade, "flow")}
    for cred in creds.values():
        flow = flows[cred.flow_id]
        assert (flow.src, flow.sport, flow.dst, flow.dport) == (cred.src, cred.sport, cred.dst, cred.dport)
    assert handmade[-1].records["credential"] == 4


def test_handmade_ftp_active_stor(handmade) -> None:
    ftp = {r.command: r for r in _of(handmade, "ftp")}
    assert ftp["PASS"].reply_code == 230 and ftp["PASS"].reply_msg == "Logged in"
    port = ftp["PORT"]
    assert (port.data_passive, port.data_orig_h, port.data_resp_h, port.data_resp_p) == (False, "10.0.0.4", "10.0.0.1",
                                                                                          51210)
    stor = ftp["STOR"]
    assert stor.user == "carol" and stor.url == "ftp://10.0.0.4/upload/report.pdf" and stor.reply_code == 226
    stored = b"secret document\n" * 500
    assert stor.file_size == len(stored) and stor.file_sha256 == hashlib.sha256(stored).hexdigest()
    assert stor.file_complete
    data_flow = next(f for f in _of(handmade, "flow") if f.id == stor.data_flow_id)
    assert data_flow.app == "ftp-data" and (data_flow.sport, data_flow.dport) == (20, 51210)
    obj = [o for o in _of(handmade, "extracted_object") if o.source is stor]
    assert len(obj) == 1 and obj[0].name == "report.pdf" and obj[0].data == stored and obj[0].direction == "request"


def test_ftp_data_capped(tmp_path: Path) -> None:
    """The data channel obeys NetSettings: kept up to max_object_size, hashed up to max_body_size."""
    frames: list = []
    control = pcapgen.TcpSession("10.0.0.1", "10.0.0.4", 40005, 21, t0=1_600_000_000.0)
    control.handshake()
    for from_client, data in [(False, b"220 FTP ready\r\n"), (True, b"USER u\r\n"), (False, b"331 pw\r\n"),
                              (True, b"PASV\r\n"), (False, b"227 Entering Passive Mode (10,0,0,4,100,1)\r\n"),
                              (True, b"RETR big.iso\r\n"), (False, b"150 go\r\n")]:
        control.frames.extend(control.segments(from_client, data, 700))
    data = pcapgen.TcpSession("10.0.0.1", "10.0.0.4", 40010, 100 * 256 + 1, t0=control.t + 0.01)
    data.handshake()
    content = bytes(range(256)) * 20
    data.frames.extend(data.segments(False, content, 1000))
    data.close()
    control.t = data.t + 0.01
    control.frames.extend(control.segments(False, b"226 done\r\n", 700))
    control.close()
    frames.extend(sorted(control.frames + data.frames, key=lambda f: f[0]))
    path = pcapgen.write_pcap(tmp_path / "cap.pcap", frames)
    records = list(analyse_capture(path, settings=NetSettings(max_object_size=1000, max_body_size=3000)))
    retr = [r for r in _of(records, "ftp") if r.command == "RETR"][0]
    assert retr.file_size == 3000 and retr.file_sha256 == hashlib.sha256(content[:3000]).hexdigest()
    assert retr.file_complete is False
    obj = [o for o in _of(records, "extracted_object") if o.source is retr][0]
    assert obj.truncated and obj.data == content[:1000] and obj.size == 3000
