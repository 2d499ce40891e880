"""The Search tab, offscreen: a query over a case scanned from a DOCX written by python-docx lists the document,
and opening the hit shows it in the Files tab with its extracted text and the term highlighted, where the raw bytes
(deflated XML) do not hold it."""

from __future__ import annotations

from pathlib import Path

import docx

from cybertriage.gui.search_view import ROLE, marked_terms
from tests.conftest import run_cli
from tests.gui.test_window import open_case

PARAGRAPHS = ["Operation Nightjar begins at the docks", "Ask Nightjar's driver, not the NIGHTJAR crew"]


def test_a_hit_opens_the_text_view_with_the_term_highlighted(qtbot, main_window, tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    document = docx.Document()
    for paragraph in PARAGRAPHS:
        document.add_paragraph(paragraph)
    document.save(str(evidence / "plan.docx"))
    assert b"Nightjar" not in (evidence / "plan.docx").read_bytes()
    result = run_cli("scan", evidence, "--case", tmp_path / "case", "--no-yara", "--quiet")
    assert result.code == 0, result.stderr
    open_case(qtbot, main_window, tmp_path / "case")
    view = main_window.search
    view.query.setText("nightjar")
    view.button.click()
    assert view.results.topLevelItemCount() == 1
    hit = view.results.topLevelItem(0)
    assert hit is not None and hit.text(0) == "text" and hit.text(1) == "/plan.docx"
    assert "[Nightjar]" in hit.text(3)
    file_id, terms = hit.data(0, ROLE)
    assert [t.lower() for t in terms] == ["nightjar"]
    view._open(hit)
    text_view = main_window.files.content_viewer.text
    assert main_window.files.content_viewer.row["id"] == file_id
    assert text_view.extracted_box.isChecked()
    shown = "\n".join(PARAGRAPHS)
    assert text_view.edit.toPlainText().strip() == shown
    assert marked_terms(text_view.edit) == ["Nightjar", "Nightjar", "NIGHTJAR"]
    assert text_view.edit.textCursor().selectionStart() == text_view.edit.toPlainText().index("Nightjar")
    view.query.setText("")
    view.button.click()
    assert view.count_label.text().startswith("Not searched") and view.results.topLevelItemCount() == 0
