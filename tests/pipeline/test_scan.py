"""The scan's evidence items: a disk image named by several of its segments is examined once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.conftest import run_cli, sha256_of


def test_an_image_named_by_each_of_its_segments_is_one_evidence_item(corpus_dir: Path, tmp_path: Path) -> None:
    """`scan image.E* image.0*`, as a shell expands it, names each set twice: each set is examined once, under
    its first segment, with the hash `cat` of its segments `| sha256sum` gives (the files as received)."""
    disk = corpus_dir / "disk"
    ewf = [disk / "dfvfs_ext2.split.E02", disk / "dfvfs_ext2.split.E01"]
    split = [disk / "dfvfs_ext2.splitraw.001", disk / "dfvfs_ext2.splitraw.000"]
    case = tmp_path / "case"
    result = run_cli("scan", *ewf, *split, "--case", case, "--quiet", "--no-yara")
    assert result.code == 0, result.stderr
    rows = sqlite3.connect(case / "case.db").execute("SELECT path, sha256 FROM evidence").fetchall()
    evidence = {Path(path).name: sha256 for path, sha256 in rows}
    assert sorted(evidence) == ["dfvfs_ext2.split.E01", "dfvfs_ext2.splitraw.000"]
    assert evidence["dfvfs_ext2.split.E01"] == sha256_of(*reversed(ewf))
    assert evidence["dfvfs_ext2.splitraw.000"] == sha256_of(*reversed(split))
