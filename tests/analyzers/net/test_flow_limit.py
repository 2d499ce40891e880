"""Past the open-flow limit (a port scan, a flood), the flows idle longest end early: each is still recorded, with
what was seen of it, and the ledger counts them. Expected counts come from tshark on the same capture."""

from __future__ import annotations

import random
from pathlib import Path

from cybertriage.analyzers.net import NetSettings, analyse_capture
from cybertriage.evidence.base import Ledger
from tests.analyzers.net.conftest import tshark
from tests.analyzers.net.pcapgen import ether, ipv4, tcp, write_pcap

SCANNER = "10.9.0.1"


def _syn_scan(path: Path, probes: int, seed: int = 7) -> None:
    """nmap -sS as a target network shows it: SYNs to many host:port pairs, a closed port answering RST/ACK to
    one probe in three, the rest never answered (they stay open until the limit or the end ends them)."""
    chance = random.Random(seed)
    frames = []
    ts = 1_700_000_000.0
    for number in range(probes):
        target = f"10.9.{1 + number // 250}.{1 + number % 250}"
        port = chance.randrange(1, 65536)
        sport = 40000 + number % 20000
        frames.append((ts, ether(ipv4(SCANNER, target, 6, tcp(sport, port, 1000, 0, "S")))))
        if number % 3 == 0:
            frames.append((ts + 0.0002, ether(ipv4(target, SCANNER, 6, tcp(port, sport, 0, 1001, "RA")))))
        ts += 0.001
    write_pcap(path, frames)


def test_flows_past_the_limit_end_early_all_recorded_and_counted(tmp_path: Path) -> None:
    capture = tmp_path / "scan.pcap"
    _syn_scan(capture, 9000)
    limit = 1000
    records = list(analyse_capture(capture, settings=NetSettings(max_flows=limit)))
    flows = [r for r in records if r.KIND == "flow"]
    summary = records[-1]

    conversations = {row[0] for row in tshark("-r", str(capture), "-T", "fields", "-e", "tcp.stream")}
    packets = tshark("-r", str(capture), "-T", "fields", "-e", "frame.number")
    assert len(flows) == len(conversations) == 9000  # none dropped, none split in two
    assert sum(flow.packets for flow in flows) == len(packets)

    evicted = [flow for flow in flows if flow.ended == "evicted"]
    assert evicted, "the limit was passed: some flows must have ended early"
    assert summary.flows_evicted == len(evicted) and summary.flows == len(flows)

    ledger = Ledger()
    summary.fill_ledger(ledger)
    stage = ledger.stages["flows"]
    assert stage["attempted"] == 9000 and stage["processed"] == 9000 - len(evicted)
    [(reason, count)] = stage["skipped"].items()
    assert count == len(evicted) and "evicted" in reason and f"{limit:,}" in reason
