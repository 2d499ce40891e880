"""The case details dialog refuses what would go wrong later."""

from __future__ import annotations

from cybertriage.case import open_case
from cybertriage.gui.dialogs import CaseDialog


def test_new_case_needs_a_name_and_an_empty_or_new_folder(qtbot, tmp_path):
    dialog = CaseDialog(None, "New case")
    qtbot.addWidget(dialog.dialog)
    assert dialog.problem() == "Give the case a name."
    dialog.edits["caseName"].setText("Laptop A")
    assert dialog.problem() == "Choose a folder for the case."
    dialog.edits["folder"].setText(str(tmp_path / "new"))
    assert dialog.problem() is None
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "something.txt").write_text("x")
    dialog.edits["folder"].setText(str(tmp_path / "full"))
    assert "empty" in dialog.problem()
    open_case(tmp_path / "existing", create=True).close()
    dialog.edits["folder"].setText(str(tmp_path / "existing"))
    assert "already holds a case" in dialog.problem()
    dialog.edits["examiner"].setText("  J. Doe ")
    assert dialog.values()["examiner"] == "J. Doe"


def test_properties_keep_the_folder(qtbot, tmp_path):
    dialog = CaseDialog(None, "Case properties", {"name": "A", "folder": str(tmp_path)}, folder_fixed=True)
    qtbot.addWidget(dialog.dialog)
    assert dialog.edits["folder"].isReadOnly()
    assert dialog.problem() is None


def test_a_new_case_is_proposed_a_folder_named_after_it_until_one_is_chosen(qtbot, tmp_path):
    cases = tmp_path / "cases"
    dialog = CaseDialog(None, "New case", cases=cases)
    qtbot.addWidget(dialog.dialog)
    qtbot.keyClicks(dialog.edits["caseName"], "Op Falcon 2026/03")
    assert dialog.edits["folder"].text() == str(cases / "Op Falcon 2026-03")
    assert dialog.problem() is None  # the cases folder need not exist: making the case makes it
    dialog.edits["folder"].clear()
    qtbot.keyClicks(dialog.edits["folder"], str(tmp_path / "mine"))
    qtbot.keyClicks(dialog.edits["caseName"], " 2")
    assert dialog.edits["folder"].text() == str(tmp_path / "mine")  # the examiner's own choice stays
