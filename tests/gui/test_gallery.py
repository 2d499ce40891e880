"""The Gallery tab, the Media tab and the GPS list, offscreen. Pictures are drawn by Pillow in known colours and their
EXIF written by `exiftool`; the counts, cameras and positions expected are what `exiftool -j -n` reads back. A
synthetic case of 100,000 pictures measures paging and scrolling."""

from __future__ import annotations

import json
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QListView

from cybertriage.case import browse
from cybertriage.case.store import open_case as open_store
from cybertriage.gui.gallery_view import THUMBNAIL, GalleryModel, GalleryView, ThumbnailLoader
from tests.conftest import run_cli
from tests.gui.conftest import count
from tests.gui.test_window import open_case

KML = "{http://www.opengis.net/kml/2.2}"
COLOURS = [(200, 30, 30), (30, 160, 60), (40, 70, 210), (230, 200, 20)]
CAMERAS = [("Canon", "Canon EOS R5"), ("Apple", "iPhone 13"), ("Canon", "Canon EOS R5"), None]


@pytest.fixture(scope="module")
def picture_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("gallery") / "evidence"
    for number, colour in enumerate(COLOURS):
        place = folder / ("DCIM" if number < 3 else "Screens")
        place.mkdir(parents=True, exist_ok=True)
        picture = place / f"picture{number}.jpg"
        Image.new("RGB", (400, 300), colour).save(picture, quality=95)
        camera = CAMERAS[number]
        if camera is not None:
            subprocess.run(["exiftool", "-q", "-overwrite_original", f"-Make={camera[0]}", f"-Model={camera[1]}",
                            f"-DateTimeOriginal=2024:0{number + 1}:15 12:00:00", "-OffsetTimeOriginal=+00:00",
                            f"-GPSLatitude={10 + number}.25", "-GPSLatitudeRef=N", f"-GPSLongitude={20 + number}.5",
                            "-GPSLongitudeRef=W", str(picture)], check=True)
    case = tmp_path_factory.mktemp("gallery-case") / "case"
    result = run_cli("scan", "--case", case, "--no-yara", "--quiet", folder)
    assert result.code in (0, 1), result.stderr
    return case, folder


def exiftool(folder: Path) -> list[dict]:
    output = subprocess.run(["exiftool", "-j", "-n", "-r", "-ext", "jpg", str(folder)], capture_output=True, text=True,
                            check=True).stdout
    return json.loads(output)


@pytest.fixture
def gallery(qtbot, picture_case):
    case, _ = picture_case
    opened: list[int] = []
    messages: list[tuple] = []
    view = GalleryView(opened.append, lambda *said: messages.append(said))
    qtbot.addWidget(view.widget)
    view.widget.show()
    view.open(browse.connect(case), case)
    view.tab_shown()
    yield view, opened, messages
    view.open(None, None)


def test_gallery_lists_every_picture_and_filters_by_camera_date_and_folder(qtbot, qtmodeltester, gallery, picture_case):
    view, _, _ = gallery
    entries = exiftool(picture_case[1])
    assert view.model is not None and view.model.total == len(entries) == view.model.rowCount()
    qtmodeltester.check(view.model)
    canon = sum(1 for entry in entries if entry.get("Model") == "Canon EOS R5")
    view.camera.setCurrentIndex(view.camera.findData("Canon Canon EOS R5"))
    view.refresh()
    assert view.model.total == canon == 2
    view.camera.setCurrentIndex(0)
    view.since.setText("2024-02-01")
    view.until.setText("2024-02-28")
    view.refresh()
    in_february = [entry for entry in entries if str(entry.get("DateTimeOriginal", "")).startswith("2024:02")]
    assert [view.model.picture(0).name] == [Path(entry["SourceFile"]).name for entry in in_february]
    view.since.setText("")
    view.until.setText("")
    view.folder.setText("/Screens")
    view.refresh()
    assert [view.model.picture(row).path for row in range(view.model.total)] == ["/Screens/picture3.jpg"]


def test_thumbnails_load_lazily_in_the_pictures_colours(qtbot, gallery):
    view, _, _ = gallery
    model = view.model
    assert model is not None and not model.thumbnails
    for row in range(model.rowCount()):
        model.data(model.index(row), Qt.ItemDataRole.DecorationRole)  # what painting a cell asks
    qtbot.waitUntil(lambda: len(model.thumbnails) == model.rowCount(), timeout=10_000)
    for picture in (model.picture(row) for row in range(model.total)):
        icon = model.thumbnails[picture.id]
        assert icon is not None
        image = icon.pixmap(128, 128).toImage()
        assert max(image.width(), image.height()) == 128
        colour = image.pixelColor(image.width() // 2, image.height() // 2)
        wanted = COLOURS[int(picture.name[len("picture"):-len(".jpg")])]
        assert all(abs(a - b) <= 6 for a, b in zip((colour.red(), colour.green(), colour.blue()), wanted, strict=True))


def test_details_show_exif_and_opening_asks_for_the_media_viewer(qtbot, gallery):
    view, opened, _ = gallery
    first = view.model.index(0)
    view.view.setCurrentIndex(first)
    assert "EXIF" in view.details.toPlainText() and "Canon EOS R5" in view.details.toPlainText()
    view.view.activated.emit(first)
    assert opened == [view.model.picture(0).id]
    chosen = view.model.picture(2).id
    view.view.setCurrentIndex(view.model.index(2))
    view.mark_stale()  # a snapshot of the case during a scan: read again, the examiner's place kept
    assert view.view.currentIndex().data(Qt.ItemDataRole.UserRole) == chosen


def test_gps_list_and_kml_match_exiftool(qtbot, gallery, picture_case, tmp_path):
    view, _, messages = gallery
    placed = [entry for entry in exiftool(picture_case[1]) if "GPSLatitude" in entry]
    assert view.gps.rowCount() == len(placed) == 3
    written = view.write_kml(tmp_path / "places.kml")
    assert written is not None, messages
    marks = ET.parse(written).getroot().findall(f"{KML}Document/{KML}Placemark")
    by_name = {Path(entry["SourceFile"]).name: entry for entry in placed}
    assert sorted(mark.findtext(f"{KML}name") for mark in marks) == sorted(by_name)
    for mark in marks:
        entry = by_name[mark.findtext(f"{KML}name") or ""]
        lon, lat = (float(part) for part in (mark.findtext(f"{KML}Point/{KML}coordinates") or "").split(","))
        assert (lon, lat) == pytest.approx((entry["GPSLongitude"], entry["GPSLatitude"]), abs=1e-7)
    refused = view.write_kml(picture_case[0] / "case.db")
    assert refused is None and "refusing" in str(messages[-1][0])


def test_the_media_tab_shows_the_picture(qtbot, main_window, picture_case):
    case, _ = picture_case
    open_case(qtbot, main_window, case)
    file_id = count(case, "SELECT id FROM files WHERE path = '/DCIM/picture1.jpg'")
    main_window.show_picture(file_id)
    media = main_window.files.content_viewer.media
    assert main_window.files.content_viewer.tabs.currentWidget() is media
    qtbot.waitUntil(lambda: media.image is not None, timeout=10_000)
    assert (media.image.width(), media.image.height()) == (400, 300)
    colour = media.image.pixelColor(200, 150)
    assert all(abs(a - b) <= 6 for a, b in zip((colour.red(), colour.green(), colour.blue()), COLOURS[1], strict=True))
    main_window.tabs.setCurrentWidget(main_window.gallery.widget)
    assert main_window.gallery.model is not None and main_window.gallery.model.total == len(COLOURS)


def test_100000_pictures_page_and_scroll_without_freezing(qtbot, tmp_path, capsys):
    """A synthetic case: 100,000 picture rows (no bytes behind them: every thumbnail is refused, quickly)."""
    case = tmp_path / "case"
    case.mkdir()
    db = open_store(case, create=True)
    evidence = db["evidence"].insert({"path": "/synthetic", "kind": "folder"}).last_pk
    db["files"].insert_all(({"evidence_id": evidence, "path": f"/DCIM/{n // 1000:03d}/IMG_{n:06d}.jpg",
                             "name": f"IMG_{n:06d}.jpg", "kind": "file", "size": 1, "mime": "image/jpeg",
                             "exif": json.dumps({"make": "Canon", "model": f"EOS {n % 7}"})}
                            for n in range(100_000)), batch_size=10_000)
    db.close()
    conn = browse.connect(case)
    loader = ThumbnailLoader(lambda file_id, size: b"")
    started = time.perf_counter()
    model = GalleryModel(conn, loader, browse.PictureFilter())
    view = QListView()
    view.setViewMode(QListView.ViewMode.IconMode)
    view.setUniformItemSizes(True)
    view.setIconSize(QSize(THUMBNAIL, THUMBNAIL))
    view.setGridSize(QSize(THUMBNAIL + 24, THUMBNAIL + 36))
    view.resize(1200, 800)
    view.setModel(model)
    view.show()
    qtbot.addWidget(view)
    qtbot.wait(1)
    opened = time.perf_counter() - started
    assert model.rowCount() == 100_000 and len(model.pages) <= 2  # only what is painted is read
    bar = view.verticalScrollBar()
    steps = [bar.maximum() * n // 200 for n in range(201)]
    slowest = 0.0
    started = time.perf_counter()
    for value in steps:  # the scroll bar dragged from top to bottom
        step = time.perf_counter()
        bar.setValue(value)
        qtbot.wait(1)
        slowest = max(slowest, time.perf_counter() - step)
    through = time.perf_counter() - started
    last = model.index(99_999)
    assert last.data() == "IMG_099999.jpg" and len(model.pages) <= 20
    with capsys.disabled():
        print(f"\ngallery, 100,000 pictures: open {opened * 1000:.0f} ms; dragged top to bottom in {len(steps)} steps in "
              f"{through:.2f} s, slowest step {slowest * 1000:.0f} ms")
    assert slowest < 2.0  # a freeze, not a slow step on a busy machine
    loader.stop()
    conn.close()
