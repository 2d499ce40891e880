"""Spread processing from the application (issue 26): on a case kept in PostgreSQL, Add evidence with a broker URL
in "Lab workers" has the evidence examined by a real Celery worker (cybertriage.lab: Redis and PostgreSQL from the
Debian packages, a `cybertriage worker` process); an unreachable broker is one line, and nothing starts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from cybertriage import lab
from cybertriage.case.store import use_store
from tests.conftest import REPO
from tests.conftest import case_psql as psql
from tests.gui.conftest import SCAN_TIMEOUT_MS
from tests.gui.test_window import open_case, statuses

DEMO_CAPTURE = REPO / "resources" / "demo" / "demo-capture.pcap"
DEMO_DISK = REPO / "resources" / "demo" / "demo-disk.img"
WORKER = "gui-lab@test"


@pytest.fixture
def shared_case(tmp_path: Path, lab_postgres: lab.LocalPostgres) -> Path:
    """A new case kept in PostgreSQL, holding no evidence yet (what `scan --store` makes first)."""
    case = tmp_path / "shared"
    use_store(case, lab_postgres.url)
    return case


@pytest.fixture
def lab_worker(lab_redis: lab.LocalRedis, tmp_path: Path) -> Iterator[lab.LocalWorkers]:
    workers = lab.start_workers(lab_redis.url, tmp_path, [WORKER], jobs=1, environments=[{"PYTHONPATH": str(REPO)}])
    yield workers
    workers.stop()


def scan_through(qtbot, window, evidence: list[Path]) -> tuple[object, list[tuple[str, str]]]:
    """Add evidence and wait for its scan to end: what scan_done carried, and the progress panel's evidence and
    stage lines as each report of the scan left them."""
    seen: list[tuple[str, str]] = []
    labels = window.evidence.progress_labels
    window.evidence.ticked.connect(lambda: seen.append((labels["Evidence"].text(), labels["Stage"].text())))
    with qtbot.waitSignal(window.scan_done, timeout=SCAN_TIMEOUT_MS) as done:
        window.add_evidence(evidence)
    return done.args[0], seen


def test_the_field_is_offered_for_a_postgres_case_and_remembered(qtbot, main_window, settings, shared_case: Path,
                                                                 case: Path) -> None:
    lab_field = main_window.evidence.lab
    open_case(qtbot, main_window, case)  # kept in its case.db: no worker can write it
    assert lab_field.edit.isHidden()
    open_case(qtbot, main_window, shared_case)
    assert not lab_field.edit.isHidden() and not lab_field.label.isHidden()
    lab_field.edit.setText("redis://lab-broker.example:6379/0")
    lab_field.edit.editingFinished.emit()
    assert QSettings(settings.fileName(), QSettings.Format.IniFormat).value("scan/labBroker") == \
        "redis://lab-broker.example:6379/0"
    lab_field.edit.setText("redis://examiner:secret@lab-broker.example:6379/0")
    lab_field.edit.editingFinished.emit()  # a password is never written to the settings
    assert QSettings(settings.fileName(), QSettings.Format.IniFormat).value("scan/labBroker") == \
        "redis://lab-broker.example:6379/0"


def test_the_application_spreads_the_capture_over_a_lab_worker(qtbot, main_window, shared_case: Path, tmp_path: Path,
                                                               lab_postgres: lab.LocalPostgres,
                                                               lab_redis: lab.LocalRedis,
                                                               lab_worker: lab.LocalWorkers) -> None:
    open_case(qtbot, main_window, shared_case)
    main_window.evidence.lab.edit.setText(lab_redis.url)
    outcomes, seen = scan_through(qtbot, main_window, [DEMO_CAPTURE])
    assert [(o.path, o.status) for o in outcomes] == [(str(DEMO_CAPTURE), "done")]
    assert any(evidence.startswith("units ") and "/1" in evidence for evidence, _ in seen), seen
    assert any(f"1 in flight, 0 failed ({WORKER}: demo-capture.pcap)" == stage for _, stage in seen), seen
    assert statuses(main_window) == {"demo-capture.pcap": "done"}
    # the store says which worker examined it, and the files are the capture's
    assert psql(lab_postgres.url, shared_case, "SELECT worker, status FROM units") == [f"{WORKER}|done"]
    assert psql(lab_postgres.url, shared_case, "SELECT count(*) > 0 FROM files") == ["t"]
    main_window.window.grab().save(str(tmp_path / "lab-done.png"))


def test_a_disk_image_goes_to_the_lab_worker_in_parts(qtbot, main_window, shared_case: Path, tmp_path: Path,
                                                      lab_postgres: lab.LocalPostgres, lab_redis: lab.LocalRedis,
                                                      lab_worker: lab.LocalWorkers) -> None:
    """The image's unit lists it and hands its files on as a part (one part of 256 MB holds the demo disk's); the
    image ends done once its part has."""
    open_case(qtbot, main_window, shared_case)
    main_window.evidence.lab.edit.setText(lab_redis.url)
    outcomes, seen = scan_through(qtbot, main_window, [DEMO_DISK])
    assert [(o.path, o.status) for o in outcomes] == [(str(DEMO_DISK), "done")]
    assert outcomes[0].files > 0
    assert statuses(main_window) == {"demo-disk.img": "done"}
    assert psql(lab_postgres.url, shared_case, "SELECT part, worker, status FROM units ORDER BY id") == \
        [f"|{WORKER}|done", f"0|{WORKER}|done"]
    main_window.window.grab().save(str(tmp_path / "lab-parts-done.png"))


def test_an_unreachable_broker_is_one_line_and_nothing_starts(qtbot, main_window, shared_case: Path,
                                                              lab_postgres: lab.LocalPostgres) -> None:
    open_case(qtbot, main_window, shared_case)
    main_window.evidence.lab.edit.setText("redis://127.0.0.1:1/0")  # nothing listens on port 1
    error, _ = scan_through(qtbot, main_window, [DEMO_CAPTURE])
    assert "cannot reach the broker redis://127.0.0.1:1/0" in str(error)
    line = main_window.window.statusBar().currentMessage()
    assert line.startswith("Processing stopped: cannot reach the broker redis://127.0.0.1:1/0") and "\n" not in line
    assert psql(lab_postgres.url, shared_case, "SELECT (SELECT count(*) FROM runs) + (SELECT count(*) FROM evidence)") \
        == ["0"]
