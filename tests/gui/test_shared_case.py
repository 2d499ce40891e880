"""Several examiners at once (issue 26): two application windows on one case, each showing the other's tags within
seconds; on a case kept in a real PostgreSQL server (the lab_postgres fixture) and on one case.db."""

from __future__ import annotations

import getpass
import socket
import sqlite3
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from cybertriage import lab
from tests.conftest import REPO, run_cli
from tests.conftest import case_psql as psql
from tests.gui.test_tags import TAGS_COLUMN, tag
from tests.gui.test_window import open_case

DEMO_CAPTURE = REPO / "resources" / "demo" / "demo-capture.pcap"
SHOWN_WITHIN_MS = 10_000


@pytest.fixture(scope="module")
def postgres_case(tmp_path_factory: pytest.TempPathFactory, lab_postgres: lab.LocalPostgres) -> Path:
    """The demo capture scanned by the command line into a case kept in PostgreSQL."""
    case = tmp_path_factory.mktemp("shared") / "case"
    result = run_cli("scan", DEMO_CAPTURE, "--case", case, "--store", lab_postgres.url, "--quiet", timeout=300)
    assert result.code == 0, result.stderr
    return case


@pytest.fixture
def second_window(qtbot, tmp_path: Path):
    """Another examiner's application: a window of its own, with its own remembered settings."""
    from cybertriage.analyzers import Settings
    from cybertriage.gui.main_window import MainWindow
    from cybertriage.pipeline import ScanOptions

    window = MainWindow(QSettings(str(tmp_path / "other.ini"), QSettings.Format.IniFormat),
                        ScanOptions(jobs=1, settings=Settings(rule_paths=None)))
    window.window.show()
    yield window
    window.dispose()


def show_findings(window) -> None:
    window.tabs.setCurrentWidget(window.findings.view.parentWidget().parentWidget())
    window.findings.view.setFocus()


def tags_shown(window, finding_id: int) -> str | None:
    """What the window's findings table shows in the Tags column of this finding's row."""
    model = window.findings.model
    row = model.row_of(finding_id)
    return model.data(model.index(row, TAGS_COLUMN)) if row >= 0 else None


def tree_tags(window) -> str | None:
    """The results tree's Tags node as it reads."""
    root = window.results_tree.model.invisibleRootItem()
    return next((root.child(r).text() for r in range(root.rowCount()) if root.child(r).text().startswith("Tags")), None)


def tag_in_one_seen_in_the_other(qtbot, first, second, case: Path) -> tuple[int, int]:
    """Both windows on `case`; the second's selection on its second finding; the first tags its first finding.
    Returns the tagged finding's id and the id of the finding the second window had selected."""
    open_case(qtbot, first, case)
    open_case(qtbot, second, case)
    show_findings(second)
    second.findings.view.selectRow(1)
    selected = second.findings.model.finding(1)["id"]
    show_findings(first)
    first.findings.view.selectRow(0)
    finding_id = first.findings.model.finding(0)["id"]
    assert not tags_shown(second, finding_id)
    assert tag(qtbot, first, "seen by both", "Beacon every 60 s") == ["finding", finding_id]
    qtbot.waitUntil(lambda: tags_shown(second, finding_id) == "seen by both", timeout=SHOWN_WITHIN_MS)
    assert second.findings.model.finding(second.findings.view.currentIndex().row())["id"] == selected  # kept
    examiner = f"{getpass.getuser()}@{socket.gethostname()}"
    assert second.window.statusBar().currentMessage() == \
        f"{examiner} tagged finding {finding_id} as “seen by both”."
    return finding_id, selected


def test_two_windows_on_a_postgres_case_see_each_others_tags(qtbot, main_window, second_window, postgres_case: Path,
                                                             lab_postgres: lab.LocalPostgres, tmp_path: Path) -> None:
    finding_id, _ = tag_in_one_seen_in_the_other(qtbot, main_window, second_window, postgres_case)
    assert psql(lab_postgres.url, postgres_case, "SELECT object_kind, object_id, tag FROM tags") == \
        [f"finding|{finding_id}|seen by both"]
    entries = psql(lab_postgres.url, postgres_case,
                   "SELECT \"user\" || '@' || host FROM audit_log WHERE action = 'tag added'")
    assert entries == [f"{getpass.getuser()}@{socket.gethostname()}"]

    # and back: the second window tags a file, the first shows it in its files table
    file_id = int(psql(lab_postgres.url, postgres_case, "SELECT min(id) FROM files")[0])
    main_window.show_file(file_id)
    second_window.show_file(file_id)
    second_window.files.view.setFocus()
    assert tag(qtbot, second_window, "capture") == ["file", file_id]
    files = main_window.files.model
    qtbot.waitUntil(lambda: any(row.get("id") == file_id and row.get("tags") == "capture" for row in files.rows),
                    timeout=SHOWN_WITHIN_MS)
    qtbot.waitUntil(lambda: tree_tags(main_window) == "Tags (2)", timeout=SHOWN_WITHIN_MS)  # the results tree too
    main_window.window.grab().save(str(tmp_path / "first-window.png"))


def test_two_windows_on_one_case_db_see_each_others_tags(qtbot, main_window, second_window, case: Path) -> None:
    finding_id, _ = tag_in_one_seen_in_the_other(qtbot, main_window, second_window, case)
    with sqlite3.connect(case / "case.db") as db:
        assert db.execute("SELECT object_kind, object_id, tag FROM tags").fetchall() == \
            [("finding", finding_id, "seen by both")]
