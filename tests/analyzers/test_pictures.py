"""Pictures: EXIF, GPS and thumbnails. The pictures are drawn by Pillow and their EXIF written by `exiftool`
(libimage-exiftool-perl), so the expected camera, time and position are the ones `exiftool -j -n` reads back from
the same files, not what our reader (Pillow) makes of them. Maps are checked against their specifications: KML 2.2
parsed with ElementTree in its namespace, GeoJSON per RFC 7946's shape."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from cybertriage.analyzers.base import Item, Settings
from cybertriage.analyzers.pictures import THUMBNAIL_SIZE, PictureRefused, Pictures, thumbnail
from cybertriage.analyzers.results import ContentType
from cybertriage.evidence.base import BytesContent, EvidenceObject
from tests.conftest import export, run_cli

KML = "{http://www.opengis.net/kml/2.2}"
# name → exiftool arguments: a Canon with its offset from UTC, a TIFF south-west and below sea level with only the
# local time, a WebP and an iPhone HEIC with a position, and a PNG with none
WRITTEN: dict[str, list[str]] = {
    "eiffel.jpg": ["-Make=Canon", "-Model=Canon EOS 5D Mark IV", "-ExifIFD:SerialNumber=032024001234",
                   "-DateTimeOriginal=2024:05:01 10:20:30", "-OffsetTimeOriginal=+02:00",
                   "-GPSLatitude=48.8583701", "-GPSLatitudeRef=N", "-GPSLongitude=2.2944813", "-GPSLongitudeRef=E",
                   "-GPSAltitude=35.5", "-GPSAltitudeRef#=0"],
    "harbour.tif": ["-Make=NIKON CORPORATION", "-Model=NIKON D850", "-DateTimeOriginal=2023:01:02 03:04:05",
                    "-GPSLatitude=33.8568", "-GPSLatitudeRef=S", "-GPSLongitude=151.2153", "-GPSLongitudeRef=W",
                    "-GPSAltitude=12.25", "-GPSAltitudeRef#=1"],
    "market.webp": ["-Make=Google", "-Model=Pixel 7", "-DateTimeOriginal=2022:07:14 21:00:00",
                    "-OffsetTimeOriginal=-05:30", "-GPSLatitude=40.7128", "-GPSLatitudeRef=N",
                    "-GPSLongitude=74.006", "-GPSLongitudeRef=W"],
    "iphone.heic": ["-Make=Apple", "-Model=iPhone 12", "-GPSLatitude=1.2903", "-GPSLatitudeRef=N",
                    "-GPSLongitude=103.8519", "-GPSLongitudeRef=E", "-GPSAltitude=15", "-GPSAltitudeRef#=0"],
    "screenshot.png": [],
}


def bomb_png(side: int = 20_000) -> bytes:
    """A valid 1-bit PNG of side × side pixels (400 million) in a few hundred kilobytes: a decompression bomb."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    packer = zlib.compressobj(9)
    row = b"\0" * (1 + side // 8)
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pictures") / "DCIM"
    folder.mkdir()
    for number, name in enumerate(WRITTEN):
        Image.new("RGB", (320 + 2 * number, 240), (40 * number, 120, 200)).save(folder / name)
        if WRITTEN[name]:
            subprocess.run(["exiftool", "-q", "-overwrite_original", *WRITTEN[name], str(folder / name)], check=True)
    (folder / "bomb.png").write_bytes(bomb_png())
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe1\x00\x40Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\xff\xff")
    return folder


@pytest.fixture(scope="module")
def reference(pictures: Path) -> dict[str, dict[str, Any]]:
    """What exiftool reads back, by file name (numbers as numbers: -n)."""
    output = subprocess.run(["exiftool", "-j", "-n", *(str(pictures / name) for name in WRITTEN)],
                            capture_output=True, text=True, check=True).stdout
    return {Path(entry["SourceFile"]).name: entry for entry in json.loads(output)}


@pytest.fixture(scope="module")
def case(pictures: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    case = tmp_path_factory.mktemp("case") / "case"
    result = run_cli("scan", "--case", case, "--no-yara", "--quiet", pictures)
    assert result.code in (0, 1), result.stderr
    return case


def expected_time(entry: dict[str, Any]) -> tuple[str | None, bool]:
    """exiftool's DateTimeOriginal, to UTC with its OffsetTimeOriginal, else as written and local."""
    written = entry.get("DateTimeOriginal")
    if written is None:
        return None, False
    moment = dt.datetime.strptime(written, "%Y:%m:%d %H:%M:%S")
    if "OffsetTimeOriginal" not in entry:
        return moment.isoformat(), True
    zoned = dt.datetime.strptime(f"{written} {entry['OffsetTimeOriginal']}", "%Y:%m:%d %H:%M:%S %z")
    return zoned.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), False


def test_exif_matches_exiftool(case: Path, reference: dict[str, dict[str, Any]]) -> None:
    files = {row["name"]: row for row in export(case, "files")}
    for name, entry in reference.items():
        exif = files[name]["exif"]
        assert (exif["width"], exif["height"]) == (entry["ImageWidth"], entry["ImageHeight"]), name
        assert exif.get("make") == entry.get("Make"), name
        assert exif.get("model") == entry.get("Model"), name
        serial = entry.get("SerialNumber")
        assert exif.get("serial") == (str(serial) if serial is not None else None), name
        assert (exif.get("taken"), exif.get("taken_local", False)) == expected_time(entry), name
        for ours, theirs in (("latitude", "GPSLatitude"), ("longitude", "GPSLongitude"), ("altitude", "GPSAltitude")):
            if theirs in entry:
                assert exif[ours] == pytest.approx(entry[theirs], abs=1e-7), (name, ours)
            else:
                assert ours not in exif, (name, ours)
    assert reference["harbour.tif"]["GPSAltitude"] < 0 and reference["harbour.tif"]["GPSLongitude"] < 0  # the test's
    assert files["bomb.png"]["exif"] is None and files["broken.jpg"]["exif"] is None  # premise: signs do matter


def test_bomb_and_broken_picture_are_recorded(case: Path) -> None:
    findings = export(case, "findings")
    assert [(f["rule"], f["object"]) for f in findings if f["analyzer"] == "pictures"] == [
        ("decompression-bomb", "/bomb.png")]
    info = run_cli("info", "--case", case)
    assert info.code == 0 and "pictures" in info.stdout, info.stdout


def gps_of(case: Path, output_format: str) -> str:
    result = run_cli("export", "--case", case, "--what", "gps", "--format", output_format)
    assert result.code == 0, result.stderr
    return result.stdout


def placed(reference: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: entry for name, entry in reference.items() if "GPSLatitude" in entry}


def test_kml_is_kml_2_2_with_exiftool_positions(case: Path, reference: dict[str, dict[str, Any]]) -> None:
    root = ET.fromstring(gps_of(case, "kml").encode())
    assert root.tag == f"{KML}kml"
    marks = root.findall(f"{KML}Document/{KML}Placemark")
    expected = placed(reference)
    assert sorted(mark.findtext(f"{KML}name") for mark in marks) == sorted(expected)
    for mark in marks:
        entry = expected[mark.findtext(f"{KML}name") or ""]
        numbers = [float(part) for part in (mark.findtext(f"{KML}Point/{KML}coordinates") or "").split(",")]
        wanted = [entry["GPSLongitude"], entry["GPSLatitude"], *([entry["GPSAltitude"]] if "GPSAltitude" in entry else [])]
        assert numbers == pytest.approx(wanted, abs=1e-7)
        taken, local = expected_time(entry)
        assert mark.findtext(f"{KML}TimeStamp/{KML}when") == (taken if taken and not local else None)
        fields = {data.get("name"): data.findtext(f"{KML}value") for data in mark.iter(f"{KML}Data")}
        assert fields["path"] == f"/{mark.findtext(f'{KML}name')}" and fields.get("make") == entry.get("Make")


def test_geojson_follows_rfc_7946(case: Path, reference: dict[str, dict[str, Any]]) -> None:
    collection = json.loads(gps_of(case, "geojson"))
    assert collection["type"] == "FeatureCollection" and "crs" not in collection  # RFC 7946 §4: WGS 84, no crs
    expected = placed(reference)
    assert len(collection["features"]) == len(expected)
    for feature in collection["features"]:
        assert feature["type"] == "Feature" and isinstance(feature["properties"], dict)
        assert feature["geometry"]["type"] == "Point"
        position = feature["geometry"]["coordinates"]
        assert 2 <= len(position) <= 3 and all(isinstance(number, float) for number in position)
        entry = expected[feature["properties"]["path"].lstrip("/")]
        assert position[:2] == pytest.approx([entry["GPSLongitude"], entry["GPSLatitude"]], abs=1e-7)


def test_gps_csv_and_map_formats_only_for_gps(case: Path, reference: dict[str, dict[str, Any]]) -> None:
    rows = list(csv.DictReader(io.StringIO(gps_of(case, "csv"))))
    assert sorted(row["path"] for row in rows) == sorted(f"/{name}" for name in placed(reference))
    refused = run_cli("export", "--case", case, "--what", "files", "--format", "kml")
    assert refused.code != 0 and "--what gps" in refused.stderr


def item_of(name: str, data: bytes, mime: str) -> Item:
    obj = EvidenceObject(path=f"/{name}", name=name, size=len(data), content=BytesContent(data))
    item = Item(obj, head=data[:1024 * 1024], data=data, content_read=True)
    item.add(ContentType(mime))
    return item


@pytest.mark.parametrize("name", ["eiffel.jpg", "market.webp", "iphone.heic", "screenshot.png", "a.gif", "a.bmp"])
def test_thumbnail_is_a_small_png(pictures: Path, name: str) -> None:
    if not (pictures / name).exists():
        Image.new("RGB", (900, 300), (10, 20, 30)).save(pictures / name)
    small = Image.open(io.BytesIO(thumbnail((pictures / name).read_bytes())))
    assert small.format == "PNG" and max(small.size) == THUMBNAIL_SIZE
    with Image.open(pictures / name) as original:
        assert small.size[0] / small.size[1] == pytest.approx(original.size[0] / original.size[1], rel=0.02)


def test_bomb_is_refused_not_decoded(pictures: Path) -> None:
    data = (pictures / "bomb.png").read_bytes()
    with pytest.raises(PictureRefused, match="decompression bomb"):
        thumbnail(data)
    item = item_of("bomb.png", data, "image/png")
    findings = list(Pictures(Settings()).analyze(item))
    assert [f.rule for f in findings] == ["decompression-bomb"] and item.skipped[0][0] == "pictures"


def test_hostile_exif_is_recorded_never_raised(pictures: Path) -> None:
    data = (pictures / "broken.jpg").read_bytes()
    for cut in (len(data), 12, 4):
        item = item_of("broken.jpg", data[:cut], "image/jpeg")
        assert list(Pictures(Settings()).analyze(item)) == []
        assert item.skipped and item.skipped[0][0] == "pictures"
        with pytest.raises(PictureRefused):
            thumbnail(data[:cut])
