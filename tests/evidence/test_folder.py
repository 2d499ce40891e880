"""Folder evidence: loose files hashed like sha256sum; symlinks recorded, never followed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tests.conftest import export, run_cli


def test_folder_evidence(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("not evidence\n")
    root = tmp_path / "usb-stick"
    (root / "DCIM" / "100APPLE").mkdir(parents=True)
    (root / "DCIM" / "100APPLE" / "IMG_0001.txt").write_bytes(b"photo placeholder\n")
    (root / "Überweisung.txt").write_text("IBAN DE00 0000\n", encoding="utf-8")
    (root / "empty").touch()
    os.symlink(outside, root / "escape")
    os.symlink(root / "DCIM", root / "DCIM" / "loop")
    case = tmp_path / "case"
    result = run_cli("scan", root, "--case", case, "--quiet")
    assert result.code == 0, result.stderr
    rows = {r["path"]: r for r in export(case, "files")}
    expected = {"/" + p.relative_to(root).as_posix() for p in root.rglob("*")}
    assert set(rows) == expected
    for path, row in rows.items():
        real = root / path[1:]
        if real.is_symlink():
            assert row["kind"] == "link" and row["sha256"] is None
        elif real.is_file():
            assert row["sha256"] == hashlib.sha256(real.read_bytes()).hexdigest()
            assert row["partition_offset"] == 0 and row["deleted"] is False
    assert not any(r["sha256"] == hashlib.sha256(b"not evidence\n").hexdigest() for r in rows.values())
