"""The bundled demo evidence (`make run`): a disk image and a capture of the same laptop, whose scan
links the zip on the disk to the download that brought it, checked against mtools and tshark."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, export, run_cli, sha256_of
from tests.test_correlate import _iso, _tshark

DEMO = REPO / "resources" / "demo"
DISK, CAPTURE = DEMO / "demo-disk.img", DEMO / "demo-capture.pcap"


@pytest.fixture(scope="module")
def demo_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    case = tmp_path_factory.mktemp("demo") / "case"
    result = run_cli("scan", DISK, CAPTURE, "--case", case, "--quiet")
    assert result.code == 0, result.stderr
    return case


def test_capture_is_what_its_script_makes(tmp_path: Path) -> None:
    rebuilt = tmp_path / "demo-capture.pcap"
    subprocess.run([sys.executable, DEMO / "make_demo_capture.py", DISK, rebuilt], check=True, capture_output=True)
    assert sha256_of(rebuilt) == sha256_of(CAPTURE)


def test_the_zip_on_the_disk_arrived_in_the_captured_download(demo_case: Path, tmp_path: Path) -> None:
    on_disk = subprocess.run(["mcopy", "-n", "-i", f"{DISK}@@1048576", "::Downloads/invoice_update.zip", "-"],
                             capture_output=True, check=True).stdout
    objects = tmp_path / "objects"
    subprocess.run(["tshark", "-r", CAPTURE, "-q", "--export-objects", f"http,{objects}"], check=True, capture_output=True)
    assert hashlib.sha256(on_disk).digest() == hashlib.sha256((objects / "invoice_update.zip").read_bytes()).digest()
    [(when, server, host, uri)] = _tshark(CAPTURE, 'http.request.uri contains "invoice"', "frame.time_epoch", "ip.dst",
                                          "http.host", "http.request.uri")
    [(_, name, answer)] = _tshark(CAPTURE, "dns.flags.response == 1", "frame.time_epoch", "dns.qry.name", "dns.a")
    [arrival] = [f for f in export(demo_case, "findings") if f["rule"] == "arrived-over-network"]
    assert arrival["object"] == "/Downloads/invoice_update.zip"
    detail = arrival["detail"]
    assert (detail["url"], detail["server"], detail["ts"]) == (f"http://{host}{uri}", server, _iso(when))
    assert (detail["dns"]["query"], detail["dns"]["answers"]) == (name, [answer])
    assert [link["kind"] for link in detail["links"]][:2] == ["dns", "http"]
    zip_file = next(f for f in export(demo_case, "files") if f["path"] == "/Downloads/invoice_update.zip")
    assert any(reason.startswith("Arrived over the network") for reason in zip_file["reasons"])


def test_addresses_in_disk_files_meet_the_capture(demo_case: Path) -> None:
    contacted = {(f["object"], f["detail"]["value"]) for f in export(demo_case, "findings") if f["rule"] == "contacted-indicator"}
    [(dropper,)] = _tshark(CAPTURE, 'http.request.uri == "/a.ps1"', "ip.dst")
    assert contacted == {("/home/alex/.bash_history", dropper), ("/Downloads/invoice_update.zip!update.ps1", dropper)}


def test_a_file_holding_a_contacted_address_scores_for_it(demo_case: Path) -> None:
    [(dropper,)] = _tshark(CAPTURE, 'http.request.uri == "/a.ps1"', "ip.dst")
    history = next(f for f in export(demo_case, "files") if f["path"] == "/home/alex/.bash_history")
    assert history["score"] > 0 and any(dropper in reason for reason in history["reasons"])
