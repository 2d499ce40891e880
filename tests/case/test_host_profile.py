"""The Windows computer's profile as `info` prints it, from real hives: every value as reglookup reads the same
hive (Bias and ActiveTimeBias as minutes west of UTC), the users SAM names, the USB storage devices USBSTOR lists."""

from __future__ import annotations

import lzma
import shutil
import subprocess
from pathlib import Path

import pytest

from cybertriage import cli

REGISTRY = Path(__file__).resolve().parents[1] / "data" / "artefacts" / "registry"


def _reglookup(hive: Path, path: str, kind: str | None = None) -> list[list[str]]:
    """reglookup's rows (path, type, value, mtime) under a key."""
    out = subprocess.run(["reglookup", "-H", "-p", path, *(["-t", kind] if kind else []), str(hive)],
                         capture_output=True, text=True, check=True).stdout
    return [line.split(",", 3) for line in out.splitlines()]


def _value(hive: Path, path: str) -> str:
    [row] = [row for row in _reglookup(hive, path) if row[0] == path]
    return row[2]


@pytest.fixture(scope="module")
def computer(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A folder with a SYSTEM, SOFTWARE and SAM hive, scanned; `info`'s output."""
    folder = tmp_path_factory.mktemp("hives")
    for name in ("SYSTEM", "SAM"):
        (folder / name).write_bytes(lzma.decompress((REGISTRY / f"{name}.xz").read_bytes()))
    shutil.copyfile(REGISTRY / "SOFTWARE-made", folder / "SOFTWARE")
    case = tmp_path_factory.mktemp("case") / "case"
    assert cli.main(["scan", str(folder), "--case", str(case), "--quiet", "--no-yara"]) in (0, 1)
    return folder, case


def test_info_prints_the_computer_as_its_registry_tells_it(computer: tuple[Path, Path],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    folder, case = computer
    capsys.readouterr()
    assert cli.main(["info", "--case", str(case)]) == 0
    printed = capsys.readouterr().out
    system, software, sam = folder / "SYSTEM", folder / "SOFTWARE", folder / "SAM"
    name = _value(system, "/ControlSet001/Control/ComputerName/ComputerName/ComputerName")
    product = _value(software, "/Microsoft/Windows NT/CurrentVersion/ProductName")
    owner = _value(software, "/Microsoft/Windows NT/CurrentVersion/RegisteredOwner")
    assert f"Computer name:                     {name}" in printed
    assert f"Operating system:                  {product}" in printed
    assert f"Registered owner:                  {owner}" in printed
    bias = int(_value(system, "/ControlSet001/Control/TimeZoneInformation/Bias"), 16)
    active = int(_value(system, "/ControlSet001/Control/TimeZoneInformation/ActiveTimeBias"), 16)
    assert f"(UTC-{bias // 60:02d}:{bias % 60:02d}; UTC-{active // 60:02d}:{active % 60:02d} when last running)" in printed
    users = [row[0].rsplit("/", 1)[1] for row in _reglookup(sam, "/SAM/Domains/Account/Users/Names", "KEY")[1:]]
    assert users and all(f"      {user} S-1-5-21-" in printed for user in users)
    serials = {row[0].split("/")[5].split("&")[0] for row in _reglookup(system, "/ControlSet001/Enum/USBSTOR", "KEY")
               if row[0].count("/") == 5}
    assert serials and all(f"(serial {serial}" in printed for serial in serials)
    assert "storage device(s):" in printed and "Generic USB Hub" not in printed  # a hub is not storage
