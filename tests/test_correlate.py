"""Correlation across a disk and captures: the same file downloaded over HTTP and saved on a disk.

The combined case: the corpus trace http_get.pcap (a GET of bro.org/download/CHANGES.bro-aux.txt,
with Zeek's http.log and files.log beside it) with a DNS lookup of bro.org put in front of it, the
corpus smtp.pcap, and a FAT image holding the body tshark --export-objects took from the trace, a
configuration naming bro.org, a home folder named as the SMTP sender, and /etc/hostname naming the
SMTP client's HELO. Expected values come from Zeek's logs, tshark and sha256sum.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from cybertriage.case import open_case
from cybertriage.case import timeline as tl
from cybertriage.correlate import correlate
from cybertriage.report.content import ReportDetails, collect
from tests import images
from tests.analyzers.net.pcapgen import dns_message, ether, ipv4, udp, write_pcap
from tests.conftest import export, run_cli

PCAPS = images.CORPUS / "pcap"
ZEEK = PCAPS / "zeek-baselines" / "http_get.pcap"
RESOLVER, CLIENT = "141.142.2.2", "141.142.228.5"
RULE = 'rule changelog_tool { strings: $a = "update-changes" condition: $a }\n'


def _zeek(log: Path) -> list[dict[str, str]]:
    lines = log.read_text().splitlines()
    fields = next(line for line in lines if line.startswith("#fields")).split("\t")[1:]
    return [dict(zip(fields, line.split("\t"))) for line in lines if not line.startswith("#")]


def _iso(epoch: str) -> str:
    seconds, _, fraction = epoch.partition(".")
    stamp = dt.datetime.fromtimestamp(int(seconds), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{fraction[:6]}Z"


def _tshark(capture: Path, display_filter: str, *fields: str) -> list[list[str]]:
    out = subprocess.run(["tshark", "-r", str(capture), "-Y", display_filter, "-T", "fields",
                          *[a for f in fields for a in ("-e", f)]], capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


@dataclass
class Combined:
    case: Path
    capture: Path
    body: Path
    disk: Path


@pytest.fixture(scope="session")
def combined(tmp_path_factory: pytest.TempPathFactory) -> Combined:
    work = tmp_path_factory.mktemp("combined")
    server = _zeek(ZEEK / "core.tcp.reassembly-known-ports" / "http.log")[0]["id.resp_h"]
    first = float(_tshark(PCAPS / "http_get.pcap", "frame.number == 1", "frame.time_epoch")[0][0])
    dns = write_pcap(work / "dns.pcap", [
        (first - 0.2, ether(ipv4(CLIENT, RESOLVER, 17, udp(CLIENT, RESOLVER, 53001, 53, dns_message(0x4242, "bro.org"))))),
        (first - 0.15, ether(ipv4(RESOLVER, CLIENT, 17, udp(RESOLVER, CLIENT, 53, 53001, dns_message(0x4242, "bro.org", server))))),
    ])
    capture = work / "download.pcap"
    subprocess.run(["mergecap", "-F", "pcap", "-w", str(capture), str(dns), str(PCAPS / "http_get.pcap")], check=True)
    objects = work / "objects"
    objects.mkdir()
    subprocess.run(["tshark", "-r", str(capture), "--export-objects", f"http,{objects}"], capture_output=True, check=True)
    body = objects / "CHANGES.bro-aux.txt"
    files = {
        "Users/gurpartap/Downloads/CHANGES.bro-aux.txt": body.read_bytes(),
        "Users/gurpartap/AppData/mirror.cfg": b"[mirror]\nurl = http://bro.org/download/\nretries = 3\n",
        "etc/hostname": b"GP\n",
    }
    disk = images._sparse_file(work / "laptop.raw", 16384 * images.SECTOR)
    images._make_fat(disk, 0, 16384, 16, 1, "LAPTOP", "20240306", images.FsContent(files=files), work)
    rule = work / "changelog.yar"
    rule.write_text(RULE)
    case = work / "case"
    result = run_cli("scan", disk, capture, PCAPS / "smtp.pcap", "--case", case, "--quiet", "--rules", rule)
    assert result.code == 0, result.stderr
    return Combined(case, capture, body, disk)


def _correlations(case: Path) -> list[dict]:
    return [f for f in export(case, "findings") if f["analyzer"] == "correlation"]


def _file(case: Path, path: str) -> dict:
    return next(f for f in export(case, "files") if f["path"] == path)


def test_arrival_names_the_download(combined: Combined) -> None:
    zeek_http = _zeek(ZEEK / "core.tcp.reassembly-known-ports" / "http.log")[0]
    zeek_file = _zeek(ZEEK / "scripts.base.frameworks.file-analysis.logging" / "files.log")[0]
    request = _tshark(combined.capture, "http.request", "frame.time_epoch", "ip.dst", "http.host", "http.request.uri")
    [(when, server, host, uri)] = request
    on_disk = _file(combined.case, "/Users/gurpartap/Downloads/CHANGES.bro-aux.txt")
    assert on_disk["sha256"] == hashlib.sha256(combined.body.read_bytes()).hexdigest() == zeek_file["sha256"]
    [arrival] = [f for f in _correlations(combined.case) if f["rule"] == "arrived-over-network"]
    assert arrival["object_id"] == on_disk["id"]
    detail = arrival["detail"]
    assert detail["url"] == f"http://{zeek_http['host']}{zeek_http['uri']}" == f"http://{host}{uri}"
    assert detail["server"] == zeek_http["id.resp_h"] == server
    assert detail["host"] == zeek_http["host"]
    assert detail["ts"] == _iso(when)
    assert any(reason.startswith("Arrived over the network") for reason in on_disk["reasons"])


def test_arrival_names_the_dns_lookup(combined: Combined) -> None:
    [(when, name, _)] = _tshark(combined.capture, "dns.flags.response == 0", "frame.time_epoch", "dns.qry.name", "dns.a")
    [(_, _, resolved)] = _tshark(combined.capture, "dns.flags.response == 1", "frame.time_epoch", "dns.qry.name",
                                 "dns.a")
    [arrival] = [f for f in _correlations(combined.case) if f["rule"] == "arrived-over-network"]
    dns = arrival["detail"]["dns"]
    assert (dns["query"], dns["ts"], dns["answers"]) == (name, _iso(when), [resolved])


def test_chain_dns_http_file_finding(combined: Combined) -> None:
    """The links lead from the DNS lookup to the HTTP request, the carried copy, the disk file and its YARA match."""
    [arrival] = [f for f in _correlations(combined.case) if f["rule"] == "arrived-over-network"]
    links = arrival["detail"]["links"]
    assert [link["kind"] for link in links] == ["dns", "http", "file", "file", "finding"]
    db = sqlite3.connect(combined.case / "case.db")
    assert db.execute("SELECT query FROM dns WHERE id = ?", [links[0]["id"]]).fetchone()[0] == "bro.org"
    assert db.execute("SELECT uri FROM http WHERE id = ?", [links[1]["id"]]).fetchone()[0] == \
        "/download/CHANGES.bro-aux.txt"
    carried, on_disk = (db.execute("SELECT origin, sha256 FROM files WHERE id = ?", [link["id"]]).fetchone()
                        for link in links[2:4])
    assert carried[0].startswith("HTTP GET bro.org/download/CHANGES.bro-aux.txt") and on_disk[0] is None
    assert carried[1] == on_disk[1] and links[3]["id"] == arrival["object_id"]
    assert db.execute("SELECT analyzer, rule, object_id FROM findings WHERE id = ?", [links[4]["id"]]).fetchone() == \
        ("yara", "changelog_tool", arrival["object_id"])


def test_contacted_domain_in_a_file(combined: Combined) -> None:
    config = _file(combined.case, "/Users/gurpartap/AppData/mirror.cfg")
    [found] = [f for f in _correlations(combined.case) if f["rule"] == "contacted-indicator"]
    assert (found["object_id"], found["detail"]["value"]) == (config["id"], "bro.org")
    assert {link["kind"] for link in found["detail"]["links"]} == {"dns", "http", "file"}


def test_same_user_and_host(combined: Combined) -> None:
    sender = _tshark(PCAPS / "smtp.pcap", "smtp.req.command == \"MAIL\"", "smtp.req.parameter")[0][0]
    helo = _tshark(PCAPS / "smtp.pcap", "smtp.req.command == \"EHLO\"", "smtp.req.parameter")[0][0]
    names = {(f["rule"], f["detail"]["name"]) for f in _correlations(combined.case) if f["rule"].startswith("same-")}
    user = sender.split("<")[1].split("@")[0]
    assert names == {("same-user", user), ("same-host", helo)}


def test_correlation_is_idempotent(combined: Combined) -> None:
    before = _correlations(combined.case)
    again = run_cli("scan", combined.disk, combined.capture, "--case", combined.case, "--quiet")
    assert again.code == 0, again.stderr
    db = open_case(combined.case)
    assert correlate(db) == 0
    after = _correlations(combined.case)
    assert [f["id"] for f in after] == [f["id"] for f in before]
    reasons = _file(combined.case, "/Users/gurpartap/Downloads/CHANGES.bro-aux.txt")["reasons"]
    assert sum(r.startswith("Arrived over the network") for r in reasons) == 1


def test_chain_on_the_timeline(combined: Combined) -> None:
    db = open_case(combined.case)
    [arrival] = [f for f in _correlations(combined.case) if f["rule"] == "arrived-over-network"]
    ids = {(link["kind"], link["id"]) for link in arrival["detail"]["links"]}
    chain = [e for e in tl.events(db) if (e.object_kind, e.object_id) in ids and e.kind in ("dns", "http")
             or (e.kind == "finding" and e.object_id == arrival["id"])]
    assert [e.kind for e in chain] == ["dns", "http", "finding"]
    assert chain[1].ts == chain[2].ts == arrival["detail"]["ts"]


def test_report_shows_the_chain(combined: Combined, tmp_path: Path) -> None:
    data = collect(combined.case, ReportDetails())
    [arrival] = [c for c in data.correlations if c.rule == "arrived-over-network"]
    assert [label for label, _, _ in arrival.steps] == ["DNS lookup", "HTTP download", "File", "File", "Finding"]
    assert "http://bro.org/download/CHANGES.bro-aux.txt" in arrival.steps[1][2]
    assert "/Users/gurpartap/Downloads/CHANGES.bro-aux.txt" in arrival.steps[3][2]
    window = next(c for c in data.timeline if any(e["kind"] == "http" for e in c.events))
    kinds = [e["kind"] for e in window.events if e["kind"] in ("dns", "http")]
    assert kinds == ["dns", "http"]
    result = run_cli("report", "--case", combined.case, "--pdf", tmp_path / "r.pdf", "--html", tmp_path / "r.html")
    assert result.code == 0, result.stderr
    page = (tmp_path / "r.html").read_text()
    assert "<h3>Correlations</h3>" in page and "DNS lookup" in page
