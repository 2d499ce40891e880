"""E-mail in the application: a folder holding a mailbox and an Outlook message, added and scanned in the window,
gives the messages' records in the Artefacts tab (type email.message, with the subjects the files hold: the
mailbox's as written by the test, the MSG's as its published property dump says) and the attachment as a file."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from tests.evidence.test_containers_mail import DATA, EICAR, _invoice
from tests.gui.conftest import scan_in_window


def test_mail_added_in_the_application_shows_its_messages(qtbot, main_window, tmp_path: Path) -> None:
    evidence = tmp_path / "mail"
    evidence.mkdir()
    (evidence / "Inbox.mbox").write_bytes(b"From alice@example.org Tue Dec  1 10:00:00 2026\n" + _invoice() + b"\n")
    shutil.copy(DATA / "qwerty_1-orig.msg", evidence / "qwerty.msg")
    case = tmp_path / "case"
    outcomes = scan_in_window(qtbot, main_window, case, [evidence], "mail")
    assert [o.status for o in outcomes] == ["done"]
    view = main_window.artefacts
    qtbot.waitUntil(lambda: view.model is not None, timeout=10_000)
    kinds = [view.type_box.itemData(i) for i in range(view.type_box.count())]
    assert "email.message" in kinds
    view.type_box.setCurrentIndex(kinds.index("email.message"))
    model = view.model
    assert model is not None and model.rowCount() == 2
    summaries = {model.record(row)["summary"] for row in range(model.rowCount())}
    assert any(s.endswith(": Invoice für December") for s in summaries)
    assert any(s.endswith(": qwerty") for s in summaries)
    with sqlite3.connect(case / "case.db") as db:
        assert db.execute("SELECT count(*) FROM files WHERE path = ? AND size = ?",
                          ["/Inbox.mbox!00001 Invoice für December.eml!eicar.com", len(EICAR)]).fetchone()[0] == 1
