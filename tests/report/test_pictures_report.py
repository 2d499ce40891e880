"""The report's Pictures section: the pictures with a GPS position as a table of coordinates (expected values from
`exiftool -j -n` on the pictures it wrote), and thumbnails of the tagged pictures only — one tagged of three, so one
image in the HTML and one in the PDF (counted by poppler's `pdfimages -list`)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import export, run_cli

PLACES = {"harbour.jpg": ("33.8568", "S", "151.2153", "E"), "summit.jpg": ("45.8326", "N", "6.8652", "E"),
          "plain.jpg": None}


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, dict]:
    base = tmp_path_factory.mktemp("pictures-report")
    folder = base / "evidence"
    folder.mkdir()
    for number, (name, place) in enumerate(PLACES.items()):
        Image.new("RGB", (300, 200), (60 * number, 90, 160)).save(folder / name)
        if place is not None:
            lat, lat_ref, lon, lon_ref = place
            subprocess.run(["exiftool", "-q", "-overwrite_original", "-Make=FUJIFILM", "-Model=X-T4",
                            "-DateTimeOriginal=2021:08:09 07:06:05", f"-GPSLatitude={lat}", f"-GPSLatitudeRef={lat_ref}",
                            f"-GPSLongitude={lon}", f"-GPSLongitudeRef={lon_ref}", str(folder / name)], check=True)
    case = base / "case"
    assert run_cli("scan", "--case", case, "--no-yara", "--quiet", folder).code in (0, 1)
    ids = {row["name"]: row["id"] for row in export(case, "files")}
    assert run_cli("tag", "--case", case, "--file", str(ids["summit.jpg"]), "--tag", "location").code == 0
    pdf, html = base / "report.pdf", base / "report.html"
    result = run_cli("report", "--case", case, "--pdf", pdf, "--html", html)
    assert result.code == 0, result.stderr
    reference = json.loads(subprocess.run(["exiftool", "-j", "-n", *(str(folder / name) for name in PLACES)],
                                          capture_output=True, text=True, check=True).stdout)
    return pdf, html, case, {Path(entry["SourceFile"]).name: entry for entry in reference}


def test_html_lists_the_positions_exiftool_reads(reports) -> None:
    _, html, _, reference = reports
    page = html.read_text()
    section = page[page.index('id="pictures"'):]
    for name, entry in reference.items():
        if "GPSLatitude" in entry:
            assert f"/{name}" in section
            assert f"{entry['GPSLatitude']:.6f}" in section and f"{entry['GPSLongitude']:.6f}" in section
        else:
            assert f"/{name}" not in section.split("Tagged pictures")[0]
    assert "2021-08-09T07:06:05 (local)" in section  # no offset recorded: the camera's local time, said so


def test_only_tagged_pictures_have_thumbnails(reports) -> None:
    pdf, html, _, _ = reports
    assert len(re.findall(r'<img alt="" src="data:image/png;base64,', html.read_text())) == 1
    listed = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    images = [line for line in listed.splitlines()[2:] if line.strip()]
    assert len(images) == 1, listed
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Tagged pictures (1)" in text and "/summit.jpg" in text
