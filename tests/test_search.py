"""`cybertriage search`: the case's content index, built during the scan. The documents are written by libraries
other than the reader (python-docx, reportlab, Python's UTF-16 codec); the proof that the index sees inside them is
that `grep -r -c` over the raw folder finds none of the terms while `search` finds each in the right file."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import docx
import pytest
from reportlab.pdfgen import canvas

from cybertriage.case import search as search_module
from cybertriage.case.search import content_text, count_matches, describe_hits, search
from cybertriage.case.store import open_case
from cybertriage.case.writes import forget_evidence
from tests.conftest import run_cli

TERMS = {"Nightjar": "plan.docx", "Okonkwo": "invoice.pdf", "Marmaduke": "wide.txt"}


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("search")
    folder = root / "seized"
    (folder / "docs").mkdir(parents=True)
    document = docx.Document()
    document.add_paragraph("Operation Nightjar starts at dawn")
    document.save(str(folder / "docs" / "plan.docx"))
    page = canvas.Canvas(str(folder / "docs" / "invoice.pdf"), pageCompression=1)
    page.drawString(72, 720, "Payment from Okonkwo received")
    page.showPage()
    page.save()
    (folder / "wide.txt").write_text("Letter to Marmaduke\n", encoding="utf-16")
    (folder / "copy-of-wide.txt").write_bytes((folder / "wide.txt").read_bytes())
    case = root / "case"
    result = run_cli("scan", "--case", case, "--no-yara", "--quiet", folder)
    assert result.code == 0, result.stderr
    return folder, case


def test_terms_only_present_compressed_are_found(scanned: tuple[Path, Path]) -> None:
    folder, case = scanned
    for term, name in TERMS.items():
        grep = subprocess.run(["grep", "-r", "-c", term, str(folder)], capture_output=True, text=True)
        assert all(line.endswith(":0") for line in grep.stdout.splitlines()), grep.stdout
        result = run_cli("search", "--case", case, term, "--json")
        assert result.code == 0, result.stderr
        hits = json.loads(result.stdout)
        assert {Path(hit["path"]).name for hit in hits if hit["kind"] == "text"} >= {name}
        assert all(f"[{term}]" in hit["snippet"] for hit in hits)


def test_the_same_text_is_stored_once_and_lists_every_copy(scanned: tuple[Path, Path]) -> None:
    _, case = scanned
    hits = json.loads(run_cli("search", "--case", case, "Marmaduke", "--json").stdout)
    assert sorted(Path(hit["path"]).name for hit in hits) == ["copy-of-wide.txt", "wide.txt"]
    connection = sqlite3.connect(case / "case.db")
    assert connection.execute("SELECT count(*) FROM texts WHERE sha256 = ?", [hits[0]["sha256"]]).fetchone() == (1,)
    stored = content_text(connection, hits[0]["sha256"])
    assert stored == ("Letter to Marmaduke\n", "text")
    connection.close()


def test_text_output_queries_and_exit_codes(scanned: tuple[Path, Path], tmp_path: Path) -> None:
    _, case = scanned
    result = run_cli("search", "--case", case, "Nightjar OR Okonkwo")
    assert result.code == 0
    assert "plan.docx" in result.stdout and "invoice.pdf" in result.stdout and "2 hits" in result.stderr
    assert run_cli("search", "--case", case, "plan.docx", "--json").code == 0  # not FTS syntax: searched as a phrase
    names = json.loads(run_cli("search", "--case", case, "plan.docx", "--json").stdout)
    assert [hit["kind"] for hit in names] == ["name"]
    assert json.loads(run_cli("search", "--case", case, "Nightjar NOT dawn", "--json").stdout) == []
    assert len(json.loads(run_cli("search", "--case", case, "Marmaduke", "--json", "--limit", "1").stdout)) == 1
    assert run_cli("search", "--case", tmp_path / "nowhere", "x").code == 2
    assert run_cli("search", "--case", case, "  ").code == 2


def test_forgetting_an_evidence_item_removes_its_names_but_keeps_content_text(scanned: tuple[Path, Path],
                                                                             tmp_path: Path) -> None:
    _, case = scanned
    copy = tmp_path / "case"
    copy.mkdir()
    source = sqlite3.connect(case / "case.db")
    target = sqlite3.connect(copy / "case.db")
    source.backup(target)
    source.close()
    target.close()
    db = open_case(copy)
    with db.conn:
        forget_evidence(db, 1)
    assert search(db.conn, "plan.docx") == []  # its files are gone, and their index rows with them
    assert db.execute("SELECT count(*) FROM texts").fetchone()[0] == 3  # content facts stay, as indicators do
    assert search(db.conn, "Nightjar") == []  # no object holds that text any more
    db.close()


def test_an_older_case_gets_its_paths_indexed_when_upgraded(scanned: tuple[Path, Path], tmp_path: Path) -> None:
    _, case = scanned
    copy = tmp_path / "old"
    copy.mkdir()
    source, target = sqlite3.connect(case / "case.db"), sqlite3.connect(copy / "case.db")
    source.backup(target)
    source.close()
    for name in ("files", "artifacts", "http", "dns", "smtp"):
        for suffix in ("ai", "ad"):
            target.execute(f"DROP TRIGGER IF EXISTS [{name}_content_{suffix}]")
    target.execute("DROP TABLE content_fts")
    target.execute("DROP TABLE texts")
    target.execute("PRAGMA user_version = 15")
    target.commit()
    target.close()
    db = open_case(copy)
    assert [hit.kind for hit in search(db.conn, "plan.docx")] == ["name"]
    assert search(db.conn, "Nightjar") == []  # the text of files needs a new scan
    db.close()


def test_a_broad_search_ranks_the_first_matches_of_each_kind_and_says_so(scanned: tuple[Path, Path],
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _, case = scanned
    query = "Nightjar OR Okonkwo"
    counted = subprocess.run(["sqlite3", str(case / "case.db"),
                              f"SELECT count(*) FROM content_fts WHERE content_fts MATCH '{query}'"],
                             capture_output=True, text=True, check=True).stdout
    connection = sqlite3.connect(case / "case.db")
    assert count_matches(connection, query) == int(counted) == 2
    assert "broad" not in describe_hits(2, 2)
    monkeypatch.setattr(search_module, "RANKED", 1)
    hits = search(connection, query)
    first = subprocess.run(["sqlite3", str(case / "case.db"),
                            f"SELECT rowid FROM content_fts WHERE content_fts MATCH '{query}' ORDER BY rowid LIMIT 1"],
                           capture_output=True, text=True, check=True).stdout
    indexed_first = connection.execute("SELECT sha256 FROM texts WHERE rowid = ?",
                                       [int(first) & ((1 << search_module.SHIFT) - 1)]).fetchone()[0]
    assert [hit.sha256 for hit in hits] == [indexed_first]
    assert "a broad search" in describe_hits(len(hits), 2)
    connection.close()
