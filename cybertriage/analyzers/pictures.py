"""Pictures: the camera, the time and the place their EXIF records, and small thumbnails made on request.

EXIF is read with Pillow from the picture's headers; no pixel is decoded, so a scan pays only for parsing the
metadata. Thumbnails are made later, by the application and the report, one picture at a time (`thumbnail`),
bounded in pixels so that a decompression bomb is refused before it is decoded.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

from .base import Analyzer, Finding, Item
from .results import ContentType, Result

logger = logging.getLogger(__name__)

try:  # HEIC/HEIF (iPhone pictures) through libheif; without it they are noted in the ledger, not read
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_READER: str | None = None
except ImportError as missing:  # pragma: no cover - pillow-heif is a dependency; a build may lack its wheel
    HEIF_READER = f"HEIC pictures not read: pillow-heif is not installed ({missing})"

# Pictures whose EXIF is read: JPEG, TIFF (and the camera raw formats built on it), PNG's eXIf, WebP, HEIC.
EXIF_MIMES = frozenset({"image/jpeg", "image/tiff", "image/png", "image/webp", "image/heic", "image/heif",
                        "image/x-canon-cr2", "image/x-nikon-nef", "image/x-sony-arw", "image/x-adobe-dng"})
HEIF_MIMES = frozenset({"image/heic", "image/heif"})
THUMBNAIL_SIZE = 256
# A thumbnail decodes the picture once: beyond this many pixels (a 80-megapixel frame) it is refused rather than
# decoded, which bounds its memory and time. Pillow itself refuses above twice its MAX_IMAGE_PIXELS when opening.
THUMBNAIL_MAX_PIXELS = 80_000_000

# EXIF tags (CIPA DC-008): main image, Exif and GPS IFDs
_MAKE, _MODEL, _DATETIME = 0x010F, 0x0110, 0x0132
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_ORIGINAL, _OFFSET_ORIGINAL, _BODY_SERIAL = 0x9003, 0x9011, 0xA431
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON, _GPS_ALT_REF, _GPS_ALT = 1, 2, 3, 4, 5, 6
_GPS_TIME, _GPS_DATE = 7, 29
_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")


class PictureRefused(Exception):
    """A picture that is not decoded: unreadable, or too large to decode safely."""


@dataclass(frozen=True)
class PictureExif(Result):
    """What a picture's EXIF says about the camera, the time and the place.

    `taken` is the original time: ISO 8601 UTC ending in Z when the camera recorded its offset from UTC, else the
    local time as written, with `taken_local` true (the zone is unknown, never guessed). `gps_time` is the GPS
    receiver's UTC time. Latitude and longitude are decimal degrees (south and west negative), altitude metres
    above sea level (below negative)."""

    make: str | None = None
    model: str | None = None
    serial: str | None = None
    taken: str | None = None
    taken_local: bool = False
    taken_written: str | None = None  # the time and offset as the camera wrote them
    latitude: float | None = None
    longitude: float | None = None
    altitude: float | None = None
    gps_time: str | None = None
    width: int | None = None
    height: int | None = None

    def fields(self) -> dict[str, Any]:
        """The fields the picture has, by name (a JSON object; nothing for an empty one)."""
        return {name: value for name, value in asdict(self).items() if value not in (None, False)}

    def file_columns(self) -> dict[str, Any]:
        fields = self.fields()
        return {"exif": json.dumps(fields, ensure_ascii=False) if fields else None}


def _text(value: Any) -> str | None:
    """An ASCII tag's text, trimmed of the NULs and spaces cameras pad it with; None when empty."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        return None
    text = value.replace("\x00", " ").strip()
    return text or None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if number == number and abs(number) != float("inf") else None  # NaN (0/0 rationals) is no value


def _degrees(parts: Any, ref: Any, negative: str) -> float | None:
    """Degrees, minutes and seconds (three rationals) as signed decimal degrees."""
    if not isinstance(parts, tuple) or len(parts) != 3:
        return None
    numbers = [_number(part) for part in parts]
    if any(number is None for number in numbers):
        return None
    degrees, minutes, seconds = (float(number) for number in numbers if number is not None)
    value = degrees + minutes / 60 + seconds / 3600
    return -value if _text(ref) == negative else value


def _altitude(gps: dict[int, Any]) -> float | None:
    altitude = _number(gps.get(_GPS_ALT))
    if altitude is None:
        return None
    below = gps.get(_GPS_ALT_REF) in (1, b"\x01")
    return round(-altitude if below else altitude, 3)


def _original_time(written: str | None, offset: str | None) -> tuple[str | None, bool]:
    """(the time, whether it is local): UTC when the offset is known, else the local time as written."""
    if not written:
        return None, False
    try:
        moment = dt.datetime.strptime(written[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None, False
    match = _OFFSET.match(offset or "")
    if match is None:
        return moment.strftime("%Y-%m-%dT%H:%M:%S"), True
    sign = -1 if match.group(1) == "-" else 1
    shift = dt.timedelta(hours=int(match.group(2)), minutes=int(match.group(3))) * sign
    return (moment - shift).strftime("%Y-%m-%dT%H:%M:%SZ"), False


def _gps_time(gps: dict[int, Any]) -> str | None:
    date, stamp = _text(gps.get(_GPS_DATE)), gps.get(_GPS_TIME)
    if not date or not isinstance(stamp, tuple) or len(stamp) != 3:
        return None
    numbers = [_number(part) for part in stamp]
    if any(number is None for number in numbers):
        return None
    hours, minutes, seconds = (float(number) for number in numbers if number is not None)
    try:
        day = dt.datetime.strptime(date, "%Y:%m:%d")
    except ValueError:
        return None
    return (day + dt.timedelta(hours=hours, minutes=minutes, seconds=int(seconds))).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_exif(picture: Image.Image) -> PictureExif:
    """The EXIF fields of an opened picture (its headers; no pixel is decoded)."""
    exif = picture.getexif()
    details = exif.get_ifd(_EXIF_IFD)
    gps = exif.get_ifd(_GPS_IFD)
    written = _text(details.get(_ORIGINAL)) or _text(exif.get(_DATETIME))
    offset = _text(details.get(_OFFSET_ORIGINAL)) if details.get(_ORIGINAL) else None
    taken, local = _original_time(written, offset)
    latitude = _degrees(gps.get(_GPS_LAT), gps.get(_GPS_LAT_REF), "S")
    longitude = _degrees(gps.get(_GPS_LON), gps.get(_GPS_LON_REF), "W")
    if latitude is None or longitude is None or not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        latitude = longitude = None  # half a position, or one off the globe, places nothing
    width, height = picture.size
    return PictureExif(
        make=_text(exif.get(_MAKE)), model=_text(exif.get(_MODEL)), serial=_text(details.get(_BODY_SERIAL)),
        taken=taken, taken_local=local, taken_written=" ".join(filter(None, (written, offset))) or None,
        latitude=latitude, longitude=longitude, altitude=_altitude(gps) if latitude is not None else None,
        gps_time=_gps_time(gps), width=width or None, height=height or None)


def open_picture(data: bytes) -> Image.Image:
    """The picture opened from its bytes (headers read, pixels not yet); PictureRefused if it cannot be, or if
    Pillow calls it a decompression bomb."""
    try:
        return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as error:
        raise PictureRefused(f"decompression bomb: {error}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as error:
        raise PictureRefused(f"unreadable picture: {type(error).__name__}: {error}") from None


def thumbnail(data: bytes, size: int = THUMBNAIL_SIZE) -> bytes:
    """A PNG thumbnail at most `size` pixels on its longer side (the first frame of an animation), decoded with a
    bound on pixels; PictureRefused for a picture that cannot be decoded or is too large to decode."""
    picture = open_picture(data)
    width, height = picture.size
    if width * height > THUMBNAIL_MAX_PIXELS:
        raise PictureRefused(f"{width} × {height} pixels: beyond the {THUMBNAIL_MAX_PIXELS:,} a thumbnail decodes")
    try:
        picture.draft("RGB", (size, size))  # JPEG decodes straight at 1/2 … 1/8 scale: a fraction of the work
        picture.thumbnail((size, size))
        small = picture.convert("RGBA" if "A" in picture.getbands() or "transparency" in picture.info else "RGB")
        out = io.BytesIO()
        small.save(out, "PNG")
    except Image.DecompressionBombError as error:
        raise PictureRefused(f"decompression bomb: {error}") from None
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as error:
        raise PictureRefused(f"undecodable picture: {type(error).__name__}: {error}") from None
    return out.getvalue()


class Pictures(Analyzer):
    """EXIF of pictures (camera, serial, original time, GPS position): the gallery's filters and the GPS export."""

    NAME = "pictures"

    def analyze(self, item: Item) -> Iterable[Finding]:
        content_type = item.result(ContentType)
        mime = content_type.mime if content_type is not None else None
        if item.obj.kind not in ("file", "virtual") or mime not in EXIF_MIMES or not item.head:
            return
        if mime in HEIF_MIMES and HEIF_READER is not None:
            item.skipped.append((self.NAME, HEIF_READER))
            return
        # the whole picture when it was kept; else its first chunk, where JPEG and TIFF keep their EXIF
        data = item.data if item.data is not None else item.head
        try:
            with open_picture(data) as picture:
                exif = read_exif(picture)
        except PictureRefused as refused:
            item.skipped.append((self.NAME, f"EXIF not read: {refused}"))
            if str(refused).startswith("decompression bomb"):
                yield Finding(self.NAME, "decompression-bomb", "low", "Picture declares more pixels than a decoder "
                              "should allocate (decompression bomb)", {"reason": str(refused), "mime": mime})
            return
        except Exception as error:  # noqa: BLE001 - Pillow's EXIF parser on hostile bytes: recorded, never fatal
            item.skipped.append((self.NAME, f"EXIF not read: {type(error).__name__}: {error}"))
            return
        if exif.fields():
            item.add(exif)
