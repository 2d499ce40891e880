"""A single loose file given as evidence shows in the application as a folder of one."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QModelIndex

from cybertriage.case import browse
from cybertriage.gui.models import FolderFilesModel, FolderTreeModel
from tests.conftest import run_cli


def test_single_file_evidence_holds_its_file_at_the_root(qtmodeltester, tmp_path: Path) -> None:
    loose = tmp_path / "memo.txt"
    loose.write_text("meet at the harbour at midnight\n")
    case = tmp_path / "case"
    assert run_cli("scan", loose, "--case", case, "--quiet").code == 0
    conn = browse.connect(case)
    try:
        tree = FolderTreeModel(conn)
        qtmodeltester.check(tree)
        evidence = tree.node(tree.index(0, 0))
        assert evidence.offset == 0, "no volumes: the file sits at the evidence's root, as a folder's do"
        files = FolderFilesModel(conn)
        files.show_folder(evidence.evidence_id, evidence.offset, "/")
        while files.canFetchMore(QModelIndex()):
            files.fetchMore(QModelIndex())
        qtmodeltester.check(files)
        assert [files.data(files.index(r, 0)) for r in range(files.rowCount())] == ["memo.txt"]
    finally:
        conn.close()
