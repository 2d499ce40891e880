"""The main thread stays responsive during a real scan: a 20 ms heartbeat never waits as long as 250 ms."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QTimer

from tests.gui.conftest import DEMO_IMAGE

HEARTBEAT_MS = 20
LONGEST_GAP_S = 0.250


def test_heartbeat_keeps_beating_during_a_scan(qtbot, main_window, tmp_path, many_files_image, corpus_dir: Path):
    assert main_window.create_case(tmp_path / "case", {"name": "responsive"})
    beats: list[float] = []
    heartbeat = QTimer(main_window.window, interval=HEARTBEAT_MS)
    heartbeat.timeout.connect(lambda: beats.append(time.monotonic()))
    tabs = QTimer(main_window.window, interval=400)  # the examiner looks around while it runs: every view gets painted and refreshed
    tabs.timeout.connect(lambda: main_window.tabs.setCurrentIndex((main_window.tabs.currentIndex() + 1) % main_window.tabs.count()))
    heartbeat.start()
    tabs.start()
    with qtbot.waitSignal(main_window.scan_done, timeout=120_000) as done:
        main_window.add_evidence([DEMO_IMAGE, many_files_image, corpus_dir / "pcap" / "wikipedia.pcap"])
    heartbeat.stop()
    tabs.stop()
    assert not isinstance(done.args[0], Exception)
    assert [o.status for o in done.args[0]] == ["done", "done", "done"]
    gaps = [later - earlier for earlier, later in zip(beats, beats[1:])]
    assert len(beats) > 50, "the scan was too short to tell"
    print(f"heartbeat: {len(beats)} beats, longest gap {max(gaps) * 1000:.0f} ms")
    assert max(gaps) < LONGEST_GAP_S, f"longest gap {max(gaps) * 1000:.0f} ms over {len(beats)} beats"
