"""The table and tree models over a case the command line made from the demo image."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt

from cybertriage.case import browse
from cybertriage.gui.models import (
    Column,
    FindingFilter,
    FindingsModel,
    FolderFilesModel,
    FolderTreeModel,
    RowsModel,
)
from tests import images
from tests.gui.conftest import DEMO_IMAGE, count

FAT16, EXT4 = 1048576, 4194304  # the demo image's volumes (resources/demo/README.md)


@pytest.fixture
def conn(demo_case: Path):
    connection = browse.connect(demo_case)
    yield connection
    connection.close()


def test_findings_model_counts_every_finding(qtmodeltester, conn, demo_case):
    model = FindingsModel(conn)
    qtmodeltester.check(model)
    assert model.rowCount() == count(demo_case, "SELECT count(*) FROM findings") > 0


def test_sorting_by_severity_puts_critical_first(conn, demo_case):
    model = FindingsModel(conn)
    model.sort(0, Qt.SortOrder.DescendingOrder)
    assert model.data(model.index(0, 0)) == "critical"
    ranks = [model.finding(r)["severity"] for r in range(model.rowCount())]
    order = ["critical", "high", "medium", "low", "info"]
    assert ranks == sorted(ranks, key=order.index)
    model.sort(0, Qt.SortOrder.AscendingOrder)
    least = count(demo_case, "SELECT min(severity_rank) FROM findings")
    assert model.data(model.index(0, 0)) == order[4 - least]


def test_sorting_by_score_and_by_title(conn):
    model = FindingsModel(conn)
    model.sort(1, Qt.SortOrder.DescendingOrder)
    scores = [model.finding(r)["score"] for r in range(model.rowCount())]
    assert scores == sorted(scores, reverse=True)
    model.sort(4, Qt.SortOrder.AscendingOrder)
    titles = [model.finding(r)["title"] for r in range(model.rowCount())]
    assert titles == sorted(titles)


def test_full_text_filter_finds_a_finding_by_a_word_of_its_title(qtmodeltester, conn):
    model = FindingsModel(conn)
    model.set_filter(FindingFilter(text="ransom"))
    qtmodeltester.check(model)
    assert model.rowCount() == 1
    assert model.finding(0)["rule"] == "Ransom_Note_Generic"
    model.set_filter(FindingFilter(text="holiday"))  # a word of the object's path, through files_fts
    found = [model.finding(r) for r in range(model.rowCount())]
    assert "executable-disguised" in [f["rule"] for f in found]
    assert found and all(f["object"] == "/Pictures/holiday.jpg" for f in found)
    model.set_filter(FindingFilter(text='no"such(word'))
    assert model.rowCount() == 0


def test_severity_and_analyzer_filters(conn, demo_case):
    model = FindingsModel(conn)
    model.set_filter(FindingFilter(min_rank=3, max_rank=4))
    assert model.rowCount() == count(demo_case, "SELECT count(*) FROM findings WHERE severity IN ('high', 'critical')")
    model.set_filter(FindingFilter(analyzer="filetype"))
    assert model.rowCount() == count(demo_case, "SELECT count(*) FROM findings WHERE analyzer = 'filetype'") == 1


WORST_FIRST = """SELECT g.id FROM findings g LEFT JOIN files f ON g.object_kind = 'file' AND f.id = g.object_id
                 WHERE g.severity_rank BETWEEN ? AND ? ORDER BY g.severity_rank {0}, f.score {0}, g.id"""


@pytest.mark.parametrize(("low", "high", "descending"), [(0, 4, True), (0, 4, False), (1, 3, True)])
def test_first_findings_are_the_head_of_the_whole_order(conn, demo_case, low, high, descending):
    with sqlite3.connect(demo_case / "case.db") as plain:
        order = [r[0] for r in plain.execute(WORST_FIRST.format("DESC" if descending else "ASC"), [low, high])]
        first_rank = plain.execute(f"SELECT {'max' if descending else 'min'}(severity_rank) FROM findings "
                                   "WHERE severity_rank BETWEEN ? AND ?", [low, high]).fetchone()[0]
        in_first_rank = count(demo_case, "SELECT count(*) FROM findings WHERE severity_rank = ?", first_rank)
    query = browse.FindingQuery(FindingFilter(low, high), "severity", descending)
    limit = in_first_rank + 1  # the page runs on into the next severity
    head = browse.first_findings(conn, query, limit)
    assert head.ids == order[:limit]
    assert (head.matching, head.total) == (len(order), count(demo_case, "SELECT count(*) FROM findings"))
    by_title = browse.first_findings(conn, browse.FindingQuery(sort="title"), 3)
    assert by_title.ids == [r[0] for r in sqlite3.connect(demo_case / "case.db").execute(
        "SELECT id FROM findings ORDER BY title DESC, severity_rank DESC, id LIMIT 3")]


def test_findings_model_pages_a_large_result(qtmodeltester, conn, monkeypatch):
    monkeypatch.setattr(FindingsModel, "PAGE", 3)  # several pages even on the demo case
    model = FindingsModel(conn)
    qtmodeltester.check(model)
    ids = [model.data(model.index(r, 0), Qt.ItemDataRole.UserRole) for r in range(model.rowCount())]
    assert len(set(ids)) == model.rowCount()


def test_new_findings_move_into_sort_order_and_the_selection_stays_on_its_finding(qtmodeltester, conn):
    everything = FindingsModel(conn)
    ids = [everything.data(everything.index(r, 0), Qt.ItemDataRole.UserRole) for r in range(everything.rowCount())]
    model = FindingsModel(conn, load=False)
    qtmodeltester.check(model)
    model.apply_ids(ids[1::2], model.query)  # what a scan had committed at first
    selected = QPersistentModelIndex(model.index(1, 4))
    chosen = model.data(selected, Qt.ItemDataRole.UserRole)
    model.apply_ids(ids, model.query)  # then the rest, some sorting before it
    assert model.rowCount() == len(ids)
    assert model.data(selected, Qt.ItemDataRole.UserRole) == chosen
    assert selected.row() == ids.index(chosen) and selected.column() == 4
    assert [model.data(model.index(r, 0), Qt.ItemDataRole.UserRole) for r in range(model.rowCount())] == ids
    qtmodeltester.check(model)


def test_folder_tree_is_evidence_then_volumes_then_folders(qtmodeltester, conn):
    model = FolderTreeModel(conn)
    qtmodeltester.check(model)
    assert model.rowCount() == 1
    evidence = model.index(0, 0)
    model.fetchMore(evidence)
    volumes = [model.node(model.index(r, 0, evidence)) for r in range(model.rowCount(evidence))]
    assert [v.offset for v in volumes] == [FAT16, EXT4]
    fat = model.index(0, 0, evidence)
    model.fetchMore(fat)
    folders = {model.data(model.index(r, 0, fat)) for r in range(model.rowCount(fat))}
    assert {"Documents", "Downloads", "Pictures"} <= folders
    qtmodeltester.check(model)


@pytest.mark.parametrize("offset, folder", [(FAT16, "/"), (FAT16, "/Documents"), (EXT4, "/"), (EXT4, "/home/alex")])
def test_folder_listing_equals_sleuth_kit(conn, offset, folder):
    """What a folder holds, from the files table, against what fls lists directly in it."""
    prefix = "" if folder == "/" else folder
    expected = {(path[len(prefix) + 1 :], deleted) for path, deleted in images.fls_entries(DEMO_IMAGE, offset)
                if path.startswith(prefix + "/") and "/" not in path[len(prefix) + 1 :]}
    rows, cursor = browse.folder_children(conn, 1, offset, folder, limit=2)  # small pages: the cursor is used
    while cursor is not None:
        more, cursor = browse.folder_children(conn, 1, offset, folder, start=cursor, limit=2)
        rows += more
    assert {(r["path"][len(prefix) + 1 :], bool(r["deleted"])) for r in rows} == expected


def test_folder_files_model_marks_deleted_files(qtmodeltester, conn):
    model = FolderFilesModel(conn)
    model.show_folder(1, FAT16, "/Documents")
    while model.canFetchMore(QModelIndex()):
        model.fetchMore(QModelIndex())
    qtmodeltester.check(model)
    names = [model.data(model.index(r, 0)) for r in range(model.rowCount())]
    deleted = names.index("passwords_old.txt")
    assert model.data(model.index(deleted, 0), Qt.ItemDataRole.FontRole).strikeOut()
    assert not model.data(model.index(names.index("README.md"), 0), Qt.ItemDataRole.FontRole)


def test_folder_files_model_shows_archive_members_beside_their_archive(conn):
    model = FolderFilesModel(conn)
    model.show_folder(1, FAT16, "/Downloads")
    model.fetchMore(QModelIndex())
    names = [model.data(model.index(r, 0)) for r in range(model.rowCount())]
    assert "invoice_update.zip!update.ps1" in names


def test_rows_model(qtmodeltester):
    model = RowsModel([Column("Name", lambda r: r["name"]), Column("Size", lambda r: r["size"], right=True)])
    model.set_rows([{"key": 1, "name": "a\u202eb", "size": 3}, {"key": 2, "name": "c", "size": 4}])
    qtmodeltester.check(model)
    assert model.data(model.index(0, 0)) == "a\\u202eb"  # a bidi override is shown, not obeyed
    model.set_rows([{"key": 1, "name": "a", "size": 5}, {"key": 2, "name": "c", "size": 4}])
    assert model.data(model.index(0, 1)) == "5"
    qtmodeltester.check(model)
