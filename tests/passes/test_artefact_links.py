"""The artefact-links pass on real event logs and a capture: network logons whose source address a capture in the
same case shows. The logons are counted by evtxexport, the capture's flows by tshark."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import dpkt
import pytest

from cybertriage.case import open_case
from cybertriage.case.custody import write_transaction
from cybertriage.formatting import utc_now
from cybertriage.passes import PassContext, run_passes
from cybertriage.passes.artefact_links import ArtefactLinkPass
from tests.conftest import REPO, export, run_cli

EVTX = REPO / "tests" / "data" / "artefacts" / "evtx" / "attack-DE_RDP_Tunneling_4624.evtx"
ATTACKER, SERVER = "10.0.2.17", "10.0.2.15"


def _rdp_capture(path: Path) -> None:
    """A capture of one TCP connection from the logon's source address to the server's RDP port: handshake, a
    request, teardown (dpkt writes the frames; tshark reads them back below)."""
    writer = dpkt.pcap.Writer(path.open("wb"))
    ts, seq_c, seq_s = 1_555_000_000.0, 1000, 5000

    def frame(src: str, dst: str, sport: int, dport: int, flags: int, seq: int, ack: int, data: bytes = b"") -> None:
        nonlocal ts
        tcp = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, win=65535, data=data)
        ip = dpkt.ip.IP(src=bytes(map(int, src.split("."))), dst=bytes(map(int, dst.split("."))), p=6, ttl=64, data=tcp)
        ip.len = len(bytes(ip))
        eth = dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=dpkt.ethernet.ETH_TYPE_IP, data=ip)
        writer.writepkt(bytes(eth), ts)
        ts += 0.01

    syn, ack_flag, psh, fin = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK, dpkt.tcp.TH_PUSH, dpkt.tcp.TH_FIN
    hello = b"\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x03\x00\x00\x00"  # an RDP connection request
    frame(ATTACKER, SERVER, 50000, 3389, syn, seq_c, 0)
    frame(SERVER, ATTACKER, 3389, 50000, syn | ack_flag, seq_s, seq_c + 1)
    frame(ATTACKER, SERVER, 50000, 3389, ack_flag, seq_c + 1, seq_s + 1)
    frame(ATTACKER, SERVER, 50000, 3389, psh | ack_flag, seq_c + 1, seq_s + 1, hello)
    frame(SERVER, ATTACKER, 3389, 50000, ack_flag, seq_s + 1, seq_c + 1 + len(hello))
    frame(ATTACKER, SERVER, 50000, 3389, fin | ack_flag, seq_c + 1 + len(hello), seq_s + 1)
    frame(SERVER, ATTACKER, 3389, 50000, fin | ack_flag, seq_s + 1, seq_c + 2 + len(hello))
    writer.close()


def _logons_from(address: str) -> int:
    """Logon events (4624, 4625) from this address, as evtxexport reads the log."""
    xml = subprocess.run(["evtxexport", "-f", "xml", str(EVTX)], capture_output=True, text=True, check=True).stdout
    events = re.split(r"<Event\b", xml)[1:]
    return sum(1 for event in events if re.search(r"<EventID[^>]*>462[45]</EventID>", event)
               and f'<Data Name="IpAddress">{address}</Data>' in event)


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("links")
    folder = base / "collection"
    folder.mkdir()
    shutil.copyfile(EVTX, folder / "Security.evtx")
    capture = base / "rdp.pcap"
    _rdp_capture(capture)
    flows = subprocess.run(["tshark", "-r", str(capture), "-q", "-z", "conv,tcp"], capture_output=True, text=True,
                           check=True).stdout
    assert f"{ATTACKER}:50000" in flows and f"{SERVER}:3389" in flows  # tshark sees the connection
    result = run_cli("scan", folder, capture, "--case", base / "case", "--quiet", "--no-yara")
    assert result.code == 0, result.stderr
    return base / "case"


def test_a_logon_from_an_address_a_capture_shows_is_a_correlation(case: Path) -> None:
    expected = _logons_from(ATTACKER)
    assert expected > 0
    links = [f for f in export(case, "findings") if f["rule"] == "logon-from-capture-address"]
    assert [f["detail"]["address"] for f in links] == [ATTACKER]  # 127.0.0.1 and '-' are never linked
    [link] = links
    assert link["detail"]["events"] == expected and link["detail"]["flows"] == 1
    assert link["object"] == "/Security.evtx" and link["severity"] == "medium"
    kinds = [step["kind"] for step in link["detail"]["links"]]
    assert kinds.count("artifact") == expected and kinds[-1] == "flow"


def test_the_pass_adds_nothing_the_second_time(case: Path, tmp_path: Path) -> None:
    again = Path(shutil.copytree(case, tmp_path / "again"))
    before = json.dumps(export(again, "findings"), sort_keys=True)
    db = open_case(again)
    try:
        with write_transaction(db):
            [outcome] = run_passes(db, PassContext(None, utc_now()), [ArtefactLinkPass()])
    finally:
        db.close()
    assert outcome.result is not None and outcome.result.new == 0, outcome.error
    assert json.dumps(export(again, "findings"), sort_keys=True) == before
