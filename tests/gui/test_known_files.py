"""Files in a known-good hash set (the NSRL fixture of tests/intel) are hidden in the Files table until
"Show known-good" is ticked; a correlation finding shows its linked chain in the details pane."""

from __future__ import annotations

from tests.gui.test_window import open_case
from tests.intel.conftest import IntelCase, intel_case  # noqa: F401  (session fixtures, shared)
from tests.test_correlate import Combined, _tshark, combined  # noqa: F401


def _listed(window, evidence_id: int, offset: int, folder: str) -> set[str]:
    model = window.files.model
    model.show_folder(evidence_id, offset, folder)
    while model.canFetchMore():
        model.fetchMore()
    return {row["path"] for row in model.rows}


def test_known_good_files_are_hidden_until_asked_for(qtbot, main_window, intel_case: IntelCase) -> None:  # noqa: F811
    open_case(qtbot, main_window, intel_case.case)
    good = [f for f in intel_case.files if f["known"] == "good" and not f["deleted"]]
    assert good, "the RDS fixture marks live files known-good"
    evidence = {f["evidence"] for f in good}
    assert len(evidence) == 1
    evidence_id = main_window.conn.execute("SELECT id FROM evidence WHERE path = ?", [evidence.pop()]).fetchone()[0]
    for file in good:
        folder = file["path"].rsplit("/", 1)[0] or "/"
        everything_else = {f["path"] for f in intel_case.files if f["path"].rsplit("/", 1)[0] == file["path"].rsplit("/", 1)[0]
                           and f["partition_offset"] == file["partition_offset"] and f["known"] != "good"
                           and "!" not in f["path"]}
        hidden = _listed(main_window, evidence_id, file["partition_offset"], folder)
        assert file["path"] not in hidden and everything_else <= hidden
        main_window.files.show_known_good.setChecked(True)
        shown = _listed(main_window, evidence_id, file["partition_offset"], folder)
        assert file["path"] in shown and shown - hidden == {f["path"] for f in good
                                                            if f["path"].rsplit("/", 1)[0] == file["path"].rsplit("/", 1)[0]
                                                            and f["partition_offset"] == file["partition_offset"]}
        main_window.files.show_known_good.setChecked(False)


def test_a_correlation_shows_its_chain_in_the_details_pane(qtbot, main_window, combined: Combined) -> None:  # noqa: F811
    open_case(qtbot, main_window, combined.case)
    [(_, name, _)] = _tshark(combined.capture, "dns.flags.response == 0", "frame.time_epoch", "dns.qry.name", "dns.a")
    [(_, _, host, uri)] = _tshark(combined.capture, "http.request", "frame.time_epoch", "ip.dst", "http.host",
                                  "http.request.uri")
    model = main_window.findings.model
    [row] = [n for n in range(model.rowCount()) if (model.finding(n) or {}).get("rule") == "arrived-over-network"]
    main_window.findings.view.setCurrentIndex(model.index(row, 0))
    text = main_window.findings.details.toPlainText()
    assert "Linked evidence" in text and name in text and f"{host}{uri}" in text
