"""Packet captures through the whole pipeline: records in the case, exports, carried objects
analysed like disk files. Expected answers from Zeek's baseline logs and tshark."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.analyzers.net.conftest import tshark, zeek_log
from tests.conftest import REPO, Images, export, run_cli

TRACES = ["wikipedia.pcap", "http_get.pcap", "tls_tls1.2.pcap", "pcapng-multi-interface.pcapng"]


@pytest.fixture(scope="module")
def capture_case(corpus_dir: Path, disk_images: Images, tmp_path_factory: pytest.TempPathFactory):
    case = tmp_path_factory.mktemp("captures")
    evidence = [corpus_dir / "pcap" / name for name in TRACES] + [disk_images.bare_fat]
    result = run_cli("scan", *evidence, "--case", case, "--quiet")
    return case, result


def _of(rows: list[dict], corpus_dir: Path, trace: str) -> list[dict]:
    return [r for r in rows if r["evidence"] == str((corpus_dir / "pcap" / trace).resolve())]


def test_disk_and_captures_in_one_case(capture_case) -> None:
    _, result = capture_case
    assert result.code == 0, result.stderr


def test_flows_equal_zeek_conn_log(capture_case, corpus_dir: Path) -> None:
    flows = _of(export(capture_case[0], "flows"), corpus_dir, "wikipedia.pcap")
    zeek = zeek_log(corpus_dir, "wikipedia.pcap", "opt.basic", "conn.log")
    key = ("id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto")
    assert sorted((f["src"], f["sport"], f["dst"], f["dport"], f["proto"]) for f in flows) == sorted(
        (z[key[0]], int(z[key[1]]), z[key[2]], int(z[key[3]]), z[key[4]]) for z in zeek)


def test_dns_and_http_equal_zeek(capture_case, corpus_dir: Path) -> None:
    case = capture_case[0]
    dns = _of(export(case, "dns"), corpus_dir, "wikipedia.pcap")
    zeek_dns = zeek_log(corpus_dir, "wikipedia.pcap", "opt.basic", "dns.log")
    assert sorted((d["query"] or "-").lower() for d in dns) == sorted(z["query"].lower() for z in zeek_dns)
    http = _of(export(case, "http"), corpus_dir, "wikipedia.pcap")
    zeek_http = {(z["host"], z["uri"], z["status_code"]) for z in zeek_log(corpus_dir, "wikipedia.pcap",
                                                                          "opt.basic", "http.log")}
    ours = {(h["host"], h["uri"], str(h["status"])) for h in http}
    assert zeek_http <= ours and len(ours - zeek_http) <= 1  # one request picked up mid-stream, which Zeek skips


def test_tls_and_pcapng_times_equal_tshark(capture_case, corpus_dir: Path) -> None:
    case = capture_case[0]
    tls = _of(export(case, "tls"), corpus_dir, "tls_tls1.2.pcap")
    expected = tshark("-r", str(corpus_dir / "pcap" / "tls_tls1.2.pcap"), "-Y", "tls.handshake.type == 1",
                      "-T", "fields", "-e", "tls.handshake.ja3")
    assert [t["ja3"] for t in tls] == [row[0] for row in expected]
    flows = _of(export(case, "flows"), corpus_dir, "pcapng-multi-interface.pcapng")
    assert {(f["src"], f["sport"], f["dport"]) for f in flows} >= {("172.17.0.2", 36343, 53),
                                                                    ("10.0.0.4", 56351, 53), ("10.0.0.4", 56352, 53)}
    first = tshark("-r", str(corpus_dir / "pcap" / "pcapng-multi-interface.pcapng"), "-T", "fields",
                   "-e", "frame.time_epoch", "-c", "1")[0][0]
    assert min(f["first_seen"] for f in flows).startswith("2026-01-06T01:31:29.5003")
    assert first.startswith("1767663089.5003")


def test_carried_objects_are_files_of_the_case(capture_case, corpus_dir: Path, tmp_path: Path) -> None:
    case = capture_case[0]
    exported = tmp_path / "objects"
    tshark("-r", str(corpus_dir / "pcap" / "http_get.pcap"), "--export-objects", f"http,{exported}", "-q")
    expected = {hashlib.sha256(p.read_bytes()).hexdigest() for p in exported.iterdir()}
    files = _of(export(case, "files"), corpus_dir, "http_get.pcap")
    assert {f["sha256"] for f in files} == expected
    assert all(f["origin"].startswith("HTTP GET") and f["flow_id"] for f in files)
    http = _of(export(case, "http"), corpus_dir, "http_get.pcap")
    assert {h["body_sha256"] for h in http} == expected


def test_truncated_capture_keeps_what_it_read(corpus_dir: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.pcap"
    data = (corpus_dir / "pcap" / "wikipedia.pcap").read_bytes()
    cut.write_bytes(data[: len(data) // 2 + 7])
    noise = tmp_path / "noise.pcap"
    noise.write_bytes(b"\xd4\xc3\xb2\xa1" + bytes(range(256)) * 4)
    case = tmp_path / "case"
    result = run_cli("scan", cut, noise, "--case", case, "--quiet")
    assert result.code == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 2
    db = sqlite3.connect(case / "case.db")
    status = dict(db.execute("SELECT path, status FROM evidence").fetchall())
    assert status[str(cut)] == "partial"
    assert db.execute("SELECT count(*) FROM flows JOIN evidence e ON e.id = evidence_id WHERE e.path = ?",
                      [str(cut)]).fetchone()[0] > 0
    shutil.rmtree(case)


@pytest.fixture(scope="module")
def mail_ftp_case(corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    case = tmp_path_factory.mktemp("mailftp")
    traces = [corpus_dir / "pcap" / name for name in ("smtp.pcap", "ftp_ipv4.pcap")]
    result = run_cli("scan", *traces, "--case", case, "--quiet")
    assert result.code == 0, result.stderr
    return case


def test_smtp_and_ftp_records_equal_zeek(mail_ftp_case: Path, corpus_dir: Path) -> None:
    zeek_smtp = zeek_log(corpus_dir, "smtp.pcap", "scripts.base.protocols.smtp.basic", "smtp.log")
    smtp = export(mail_ftp_case, "smtp")
    assert sorted((m["mail_from"], sorted(m["rcpt_to"]), m["subject"]) for m in smtp if m["mail_from"]) == sorted(
        (z["mailfrom"], sorted(z["rcptto"].split(",")), z["subject"]) for z in zeek_smtp)  # Zeek logs a set
    zeek_ftp = zeek_log(corpus_dir, "ftp_ipv4.pcap", "scripts.base.protocols.ftp.ftp-ipv4", "ftp.log")
    ftp = {(f["command"], f["url"] or f["arg"], f["reply_code"]) for f in export(mail_ftp_case, "ftp")}
    assert {(z["command"], None if z["arg"] == "-" else z["arg"], int(z["reply_code"])) for z in zeek_ftp} <= ftp


def test_credentials_and_attachments(mail_ftp_case: Path, corpus_dir: Path) -> None:
    zeek_ftp = zeek_log(corpus_dir, "ftp_ipv4.pcap", "scripts.base.protocols.ftp.ftp-ipv4", "ftp.log")
    shown = run_cli("export", "--case", mail_ftp_case, "--what", "credentials", "--show-credentials").stdout
    credentials = {(c["protocol"], c["username"], c["password"]) for c in map(json.loads, shown.splitlines())}
    assert {("ftp", z["user"], z["password"]) for z in zeek_ftp} <= credentials
    assert any(protocol == "smtp" for protocol, _, _ in credentials)  # the trace logs in with AUTH LOGIN
    files = export(mail_ftp_case, "files")
    attachments = [f for f in files if f["path"].startswith("/smtp/")]
    assert attachments and all(f["origin"].startswith("SMTP attachment") and f["sha256"] for f in attachments)
    assert any(f["path"].startswith("/ftp/") and f["name"] == "robots.txt" for f in files)


def test_cleartext_credentials_are_findings_and_masked_in_exports(mail_ftp_case: Path) -> None:
    findings = [f for f in export(mail_ftp_case, "findings") if f["rule"] == "cleartext-credentials"]
    assert {f["detail"]["protocol"] for f in findings} == {"ftp", "smtp"}
    assert all(f["severity"] == "medium" and "password" not in f["detail"] for f in findings)
    masked = run_cli("export", "--case", mail_ftp_case, "--what", "credentials")
    shown = run_cli("export", "--case", mail_ftp_case, "--what", "credentials", "--show-credentials")
    assert "punjab@123" not in masked.stdout and "********" in masked.stdout
    assert "punjab@123" in shown.stdout  # the SMTP AUTH LOGIN password tshark decodes from smtp.pcap


def test_executable_downloaded_over_http_is_a_finding(corpus_dir: Path, tmp_path: Path) -> None:
    from tests.analyzers.net.pcapgen import TcpSession, write_pcap

    body = (corpus_dir / "pe" / "HelloWorld.exe").read_bytes()
    session = TcpSession()
    session.handshake()
    session.frames += session.segments(True, b"GET /invoice.pdf HTTP/1.1\r\nHost: files.example\r\n\r\n", 1400)
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    session.frames += session.segments(False, head + body, 1400)
    session.close()
    capture = write_pcap(tmp_path / "download.pcap", session.frames)
    exported = tmp_path / "objects"
    tshark("-r", str(capture), "--export-objects", f"http,{exported}", "-q")
    case = tmp_path / "case"
    assert run_cli("scan", capture, "--case", case, "--quiet").code == 0
    files = export(case, "files")
    assert [f["sha256"] for f in files] == [hashlib.sha256(p.read_bytes()).hexdigest() for p in exported.iterdir()]
    rules = {(f["rule"], f["severity"]) for f in export(case, "findings")}
    assert ("executable-download", "high") in rules and ("executable-disguised", "high") in rules
    assert any(reason.startswith("Arrived over the network") for reason in files[0]["reasons"])


def test_repeated_carried_body_is_recorded_each_time(corpus_dir: Path, tmp_path: Path) -> None:
    """The same body fetched again is examined once (by sha256 and name) but recorded as often as it was
    carried, each time with its own flow and origin and the same hashes, type, indicators and findings."""
    from tests.analyzers.net.pcapgen import TcpSession, write_pcap

    page = b"<html><body>See http://drop-zone.net/stage2.bin and mail ops@drop-zone.net</body></html>\n" * 20
    exe = (corpus_dir / "pe" / "HelloWorld.exe").read_bytes()
    frames = []
    downloads = [("/index.html", page), ("/index.html", page), ("/copy.html", page), ("/a.exe", exe), ("/a.exe", exe)]
    for n, (uri, body) in enumerate(downloads):
        session = TcpSession(cport=40000 + n, t0=1_600_000_000.0 + 10 * n)
        session.handshake()
        session.frames += session.segments(True, f"GET {uri} HTTP/1.1\r\nHost: files.example\r\n\r\n".encode(), 1400)
        head = f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        session.frames += session.segments(False, head + body, 1400)
        session.close()
        frames += session.frames
    capture = write_pcap(tmp_path / "again.pcap", frames)
    exported = tmp_path / "objects"
    tshark("-r", str(capture), "--export-objects", f"http,{exported}", "-q")
    expected = sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in exported.iterdir())
    case = tmp_path / "case"
    assert run_cli("scan", capture, "--case", case, "--quiet").code == 0
    db = sqlite3.connect(case / "case.db")
    files = db.execute("SELECT id, name, flow_id, origin, sha256, md5, mime FROM files ORDER BY flow_id").fetchall()
    assert sorted({f[4] for f in files}) == sorted(set(expected))
    assert [f[1] for f in files] == ["index.html", "index.html", "copy.html", "a.exe", "a.exe"]
    assert len({f[2] for f in files}) == len({f[3] for f in files}) == 5  # each its own flow and origin
    assert len({f[4:] for f in files[:3]}) == 1 and len({f[4:] for f in files[3:]}) == 1
    for file_id, *_ in files[:3]:
        values = {v for (v,) in db.execute("SELECT i.value FROM indicators i JOIN files f ON f.sha256 = i.sha256 "
                                           "WHERE f.id = ?", [file_id])}
        assert {"http://drop-zone.net/stage2.bin", "ops@drop-zone.net"} <= values
    downloads_found = db.execute("SELECT object FROM findings WHERE rule = 'executable-download'").fetchall()
    assert sorted(o for (o,) in downloads_found) == sorted(f"/http/files.example/{f[2]}-1-response-a.exe" for f in files[3:])
    ledger = dict(db.execute("SELECT stage, processed FROM ledger WHERE stage IN ('files', 'content')").fetchall())
    assert ledger == {"files": 5, "content": 5}


def _repeat_capture(source: Path, target: Path, copies: int, step_s: int = 10) -> None:
    """`copies` copies of a pcap (microseconds, little-endian) one after another, each `step_s` seconds later."""
    data = source.read_bytes()
    assert data[:4] == b"\xd4\xc3\xb2\xa1"
    records = []
    pos = 24
    while pos + 16 <= len(data):
        sec, usec, caplen, wirelen = struct.unpack_from("<IIII", data, pos)
        records.append((sec, usec, caplen, wirelen, data[pos + 16:pos + 16 + caplen]))
        pos += 16 + caplen
    with target.open("wb") as out:
        out.write(data[:24])
        for copy in range(copies):
            for sec, usec, caplen, wirelen, packet in records:
                out.write(struct.pack("<IIII", sec + copy * step_s, usec, caplen, wirelen) + packet)


def test_ctrl_c_during_a_capture_scan_stops_its_analysis_cleanly(corpus_dir: Path, tmp_path: Path) -> None:
    """Ctrl-C reaches the whole process group, the capture's analysis process too: that one is asked to stop,
    sends the flows still open (ended "cancelled"), and nothing prints a traceback; the scan exits 130 and
    keeps what it wrote."""
    capture = tmp_path / "long.pcap"
    _repeat_capture(corpus_dir / "pcap" / "wikipedia.pcap", capture, copies=3000)  # 408,000 packets
    case = tmp_path / "case"
    scan = subprocess.Popen([sys.executable, "-m", "cybertriage", "scan", str(capture), "--case", str(case), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not _count(case, "SELECT count(*) FROM dns"):
            assert scan.poll() is None and time.monotonic() < deadline, "the scan ended before any record was written"
            time.sleep(0.2)
        os.killpg(scan.pid, signal.SIGINT)
        _, stderr = scan.communicate(timeout=60)
    finally:
        if scan.poll() is None:
            os.killpg(scan.pid, signal.SIGKILL)
    assert scan.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    db = sqlite3.connect(case / "case.db")
    assert db.execute("SELECT status FROM runs").fetchall() == [("cancelled",)]
    assert db.execute("SELECT status FROM evidence").fetchall() == [("cancelled",)]
    ended = dict(db.execute("SELECT ended, count(*) FROM flows GROUP BY ended").fetchall())
    db.close()
    assert ended.get("cancelled"), ended


def _count(case: Path, sql: str) -> int:
    if not (case / "case.db").exists():
        return 0
    try:
        with sqlite3.connect(f"file:{case / 'case.db'}?mode=ro", uri=True) as db:
            return db.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:  # not made yet
        return 0


def test_a_capture_scan_reports_how_far_through_the_capture_it_is(corpus_dir: Path, tmp_path: Path) -> None:
    """While the packets are analysed, progress is bytes of the capture read out of its size (the command line
    and the application show a percentage and a time left from it), growing to the whole file."""
    from cybertriage.analyzers.net import analyse_in_child
    from cybertriage.evidence.capture import CaptureEvidence
    from cybertriage.pipeline import Scan, ScanOptions

    capture = tmp_path / "long.pcap"
    _repeat_capture(corpus_dir / "pcap" / "wikipedia.pcap", capture, copies=300)  # 40,800 packets
    size = capture.stat().st_size
    seen = [(p.bytes_done, p.bytes_total) for p in Scan(tmp_path / "case", [capture], ScanOptions(jobs=2)).run()
            if p.stage == "analysing"]
    assert {total for _, total in seen} == {size}
    done = [done for done, _ in seen]
    assert done == sorted(done) and done[-1] == size
    evidence = CaptureEvidence(capture, analyse_in_child)
    read_while_listing = [evidence.reading()[0] for _ in evidence.objects(threading.Event())]
    assert read_while_listing == sorted(read_while_listing) and evidence.reading() == (size, size)
    assert len(set(read_while_listing)) >= 5, "counts arrive while the analysis runs, not only at its end"
