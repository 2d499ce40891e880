"""GUI tests run offscreen; any Qt warning not listed here fails the test (qutebrowser's idea)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

import random  # noqa: E402
import shutil  # noqa: E402
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests.conftest import REPO, run_cli  # noqa: E402

DEMO_IMAGE = REPO / "resources" / "demo" / "demo-disk.img"
# Harmless platform chatter of the offscreen plugin.
IGNORED_QT_MESSAGES = [r"This plugin does not support propagateSizeHints\(\)"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.qt_log_level_fail("WARNING"))
            item.add_marker(pytest.mark.qt_log_ignore(*IGNORED_QT_MESSAGES))


@pytest.fixture(scope="session")
def demo_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled demo image scanned by the command line, as an examiner would."""
    case = tmp_path_factory.mktemp("demo") / "case"
    result = run_cli("scan", DEMO_IMAGE, "--case", case, "--quiet")
    assert result.code == 0, result.stderr
    return case


@pytest.fixture
def case(demo_case: Path, tmp_path: Path) -> Path:
    """A copy of the demo case for a test that writes to it (tags, reports, the audit log, a schema upgrade)."""
    copy = tmp_path / "case"
    shutil.copytree(demo_case, copy)
    return copy


@pytest.fixture(scope="session")
def many_files_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ext4 image of 2,400 small random files made with mkfs.ext4 -d: takes the scan a few seconds."""
    if not shutil.which("mkfs.ext4"):
        pytest.skip("mkfs.ext4 (e2fsprogs) is needed to build the image")
    base = tmp_path_factory.mktemp("many")
    stage = base / "stage"
    rng = random.Random(6)
    for d in range(24):
        folder = stage / f"dir{d:02d}"
        folder.mkdir(parents=True)
        for i in range(100):
            (folder / f"file{i:03d}.bin").write_bytes(rng.randbytes(16384))
    image = base / "many.img"
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(stage), "-L", "many", str(image), "80M"], check=True,
                   capture_output=True, env={**os.environ, "E2FSPROGS_FAKE_TIME": "1709285400"})
    shutil.rmtree(stage)
    return image


@pytest.fixture
def settings(tmp_path: Path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def main_window(qtbot, settings):
    from cybertriage.analyzers import Settings
    from cybertriage.assets import asset_dir
    from cybertriage.gui.main_window import MainWindow
    from cybertriage.pipeline import ScanOptions

    window = MainWindow(settings, ScanOptions(jobs=2, settings=Settings(rule_paths=(asset_dir("rules"),))))
    window.window.show()
    yield window
    if window.evidence.worker is not None:
        window.cancel_scan()
    window.dispose()


SCAN_TIMEOUT_MS = 120_000


def scan_in_window(qtbot, window, case: Path, evidence: list[Path], name: str) -> list:
    """Make a case in the application, add evidence and wait for its scan to end; the outcomes it reported."""
    window.create_case(case, {"name": name})
    window.add_evidence(evidence)
    worker = window.evidence.worker
    assert worker is not None
    outcomes: list = []
    window.scan_done.connect(outcomes.append)
    with qtbot.waitSignals([worker.signals.finished, window.scan_done], order="strict", timeout=SCAN_TIMEOUT_MS):
        pass
    return outcomes[0]


def scan_cancelled_midway(qtbot, window, evidence: list[Path]) -> tuple[list, bool]:
    """Add evidence to the open case and press Cancel once the first objects are analysed; the outcomes the scan
    reported and whether Cancel was pressed while analysing (not after the scan had already ended)."""
    analysing = threading.Event()

    def cancel_once_analysing(progress) -> None:
        if progress.stage == "analysing" and progress.objects_done and not analysing.is_set():
            analysing.set()
            window.cancel_scan()

    window.add_evidence(evidence)
    window.evidence.worker.signals.progress.connect(cancel_once_analysing)
    with qtbot.waitSignal(window.scan_done, timeout=SCAN_TIMEOUT_MS) as done:
        pass
    return done.args[0], analysing.is_set()


def count(case: Path, query: str, *params: object) -> int:
    with sqlite3.connect(case / "case.db") as conn:
        return conn.execute(query, params).fetchone()[0]


@pytest.fixture(autouse=True)
def _application(qapp):
    """Models paint icons and fonts: every GUI test needs the QApplication."""
    return qapp
