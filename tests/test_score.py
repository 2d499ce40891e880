"""Triage scores and their reasons, on a folder laid out like a user profile."""

from __future__ import annotations

import shutil
from pathlib import Path

from cybertriage.analyzers.base import Finding
from cybertriage.evidence.base import ObjectRef
from cybertriage.score import score_object
from tests.conftest import export, run_cli

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def test_scores_and_reasons_end_to_end(corpus_dir: Path, tmp_path: Path) -> None:
    profile = tmp_path / "evidence" / "Users" / "bob"
    temp = profile / "AppData" / "Local" / "Temp"
    temp.mkdir(parents=True)
    (profile / "Pictures").mkdir()
    shutil.copy(corpus_dir / "pe" / "HelloWorld.exe", temp / "holiday.jpg")
    shutil.copy(corpus_dir / "pe" / "HelloWorld.exe", profile / "Pictures" / "holiday.jpg")
    shutil.copy(corpus_dir / "pe" / "HelloWorld.exe", temp / "setup.exe")
    (temp / "notes.txt").write_text("shopping list\n")
    (profile / "Pictures" / "eicar.txt").write_bytes(EICAR)
    case = tmp_path / "case"
    assert run_cli("scan", tmp_path / "evidence", "--case", case, "--quiet").code == 0
    files = {r["path"].removeprefix("/Users/bob"): r for r in export(case, "files")}

    disguised_in_temp = files["/AppData/Local/Temp/holiday.jpg"]
    assert any("disguised as .jpg" in reason for reason in disguised_in_temp["reasons"])
    assert any("temporary folder" in reason for reason in disguised_in_temp["reasons"])
    assert disguised_in_temp["score"] > files["/Pictures/holiday.jpg"]["score"] > 0
    assert "Sits in a temporary folder, where droppers unpack" in files["/AppData/Local/Temp/setup.exe"]["reasons"]
    assert files["/AppData/Local/Temp/notes.txt"]["score"] == 0  # plain text in Temp is not suspicious by itself
    assert any("EICAR_Test_File" in reason for reason in files["/Pictures/eicar.txt"]["reasons"])

    findings = export(case, "findings")
    scores = [(f["severity"], f["score"]) for f in findings]
    assert scores == sorted(scores, key=lambda s: ({"critical": 4, "high": 3, "medium": 2, "low": 1, "info": 0}[s[0]],
                                                   s[1] or 0), reverse=True)


def test_score_is_capped_and_deleted_adds_only_to_the_suspicious() -> None:
    many = [Finding("yara", f"r{i}", "critical", f"rule {i}") for i in range(5)]
    assert score_object(ObjectRef("/x.bin"), False, None, many).value == 100
    assert score_object(ObjectRef("/old.txt"), True, "text/plain", []).value == 0
    deleted = score_object(ObjectRef("/old.exe"), True, "application/x-dosexec",
                           [Finding("pe", "packed", "medium", "Packed")])
    assert "Deleted from the filesystem" in deleted.reasons
    archive = score_object(ObjectRef("/a.zip"), False, "application/zip", [],
                           worst_member=(ObjectRef("run.ps1", ObjectRef("/a.zip")), 50))
    assert archive.value == 40 and archive.reasons == ["Holds run.ps1, scored 50"]
