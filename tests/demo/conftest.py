"""The demo's Windows computer (resources/demo/demo-windows.img) scanned with the demo capture, once per session.

Expected answers come from Sleuth Kit (fls, icat), reglookup, sccainfo, lnkinfo, evtxexport, the sqlite3 CLI, the
yara CLI, tshark and pdftotext, never from cybertriage.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

import subprocess  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests import images  # noqa: E402
from tests.conftest import REPO, run_cli  # noqa: E402

DEMO = REPO / "resources" / "demo"
WINDOWS, CAPTURE = DEMO / "demo-windows.img", DEMO / "demo-capture.pcap"


@dataclass(frozen=True)
class WindowsDemo:
    case: Path
    offset: int  # byte offset of the NTFS volume, as mmls gives it
    inodes: dict[str, str]  # '/' + path → inode, as fls -r -p gives them

    def extract(self, path: str, dest: Path) -> Path:
        """The file's bytes as icat reads them from the image, written to dest."""
        data = subprocess.run(["icat", "-o", str(self.offset // images.SECTOR), str(WINDOWS), self.inodes[path]],
                              capture_output=True, check=True).stdout
        dest.write_bytes(data)
        return dest


@pytest.fixture(scope="session")
def windows_demo(tmp_path_factory: pytest.TempPathFactory) -> WindowsDemo:
    """demo-windows.img and demo-capture.pcap scanned into one case by the command line, as `make run` does."""
    case = tmp_path_factory.mktemp("demo-windows") / "case"
    result = run_cli("scan", WINDOWS, CAPTURE, "--case", case, "--quiet")
    assert result.code == 0, result.stderr
    [volume] = images.mmls_partitions(WINDOWS)
    inodes = {record.path: record.inode for record in images.fls_records(WINDOWS, volume.offset)
              if not record.deleted and record.meta_type == "r"}
    return WindowsDemo(case, volume.offset, inodes)
