"""What a report says about pictures (the Pictures section): those whose EXIF places them, as a table with their
coordinates, time and camera, and thumbnails of the pictures the examiner tagged — only those, never every picture
of the case. `cybertriage export --what gps --format kml` writes every position as a map."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from ..analyzers.pictures import PictureRefused, thumbnail
from ..case import browse
from ..case.objects import ObjectReader
from ..errors import CybertriageError

PLACES_SHOWN = 500  # positions listed; the export holds them all
TAGGED_SHOWN = 60  # thumbnails of tagged pictures
REPORT_THUMBNAIL = 200  # pixels on the longer side
THUMBNAIL_MAX_BYTES = 64 * 1024 * 1024


@dataclass
class TaggedPicture:
    """A tagged picture: its thumbnail (PNG), or why it has none."""

    path: str
    evidence: str
    tags: str
    png: bytes | None
    why: str = ""


@dataclass
class PictureOverview:
    places: list[dict[str, Any]] = field(default_factory=list)  # id, path, evidence, exif (decoded)
    places_total: int = 0
    tagged: list[TaggedPicture] = field(default_factory=list)
    tagged_total: int = 0


def collect_pictures(db: sqlite_utils.Database, case_dir: Path) -> PictureOverview:
    places = browse.gps_pictures(db.conn)
    # The tagged files as the application lists them (rows by name), on the report's own connection: a case
    # archived read-only opens no other.
    conn, factory = db.conn, db.conn.row_factory
    conn.row_factory = sqlite3.Row
    try:
        tagged = [row for row in browse.tagged_files(conn) if row.get("mime") in browse.PICTURE_MIMES]
        evidence = {row["id"]: row["path"] for row in browse.evidence_list(conn)}
    finally:
        conn.row_factory = factory
    shown = []
    if tagged:
        reader = ObjectReader(case_dir)
        try:
            for row in tagged[:TAGGED_SHOWN]:
                png, why = _thumbnail_of(reader, row)
                shown.append(TaggedPicture(row["path"], evidence.get(row["evidence_id"], ""), row.get("tags") or "",
                                           png, why))
        finally:
            reader.close()
    return PictureOverview(places[:PLACES_SHOWN], len(places), shown, len(tagged))


def _thumbnail_of(reader: ObjectReader, row: dict[str, Any]) -> tuple[bytes | None, str]:
    size = row.get("size") or 0
    if size > THUMBNAIL_MAX_BYTES:
        return None, f"not read: {size:,} bytes"
    try:
        return thumbnail(reader.read(row["id"], 0, size), REPORT_THUMBNAIL), ""
    except (PictureRefused, CybertriageError, OSError) as refused:
        return None, str(refused)
