"""Pictures with a GPS position as map files: KML 2.2 (Google Earth) and GeoJSON (RFC 7946, QGIS).

Both are written with the standard library from the rows of `queries.gps`. Names and paths come from evidence:
in KML they are made visible (a control character is not allowed in XML) and escaped by ElementTree; in GeoJSON
they are JSON strings. Coordinates are longitude, latitude[, altitude], in that order, as both formats require.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any, TextIO

from ..text_safety import visible

KML_NAMESPACE = "http://www.opengis.net/kml/2.2"
MAP_FORMATS = ("kml", "geojson")
_DETAILS = ("path", "evidence", "taken", "taken_local", "make", "model", "serial", "altitude", "id")


def _position(row: dict[str, Any]) -> list[float]:
    position = [float(row["longitude"]), float(row["latitude"])]
    if row.get("altitude") is not None:
        position.append(float(row["altitude"]))
    return position


def _camera(row: dict[str, Any]) -> str:
    return " ".join(str(part) for part in (row.get("make"), row.get("model")) if part)


def _description(row: dict[str, Any]) -> str:
    when = row.get("taken") or "time unknown"
    if row.get("taken") and row.get("taken_local"):
        when += " (camera's local time, zone not recorded)"
    lines = (row["path"], f"Evidence: {row['evidence']}", f"Taken: {when}", f"Camera: {_camera(row)}" if _camera(row) else "")
    return "\n".join(visible(line) for line in lines if line)  # each line made visible, the breaks kept


def write_kml(rows: Iterable[dict[str, Any]], out: TextIO, title: str = "cybertriage: pictures with GPS") -> None:
    """One Placemark per picture: its name, a description, its time (when it is UTC), its fields as ExtendedData
    and its Point (altitude above sea level when recorded)."""
    ET.register_namespace("", KML_NAMESPACE)

    def sub(parent: ET.Element, tag: str, text: str | None = None, shown: bool = False) -> ET.Element:
        element = ET.SubElement(parent, f"{{{KML_NAMESPACE}}}{tag}")
        if text is not None:
            element.text = text if shown else visible(text)
        return element

    root = ET.Element(f"{{{KML_NAMESPACE}}}kml")
    document = sub(root, "Document")
    sub(document, "name", title)
    for row in rows:
        placemark = sub(document, "Placemark")
        sub(placemark, "name", str(row["path"]).rsplit("/", 1)[-1] or str(row["path"]))
        sub(placemark, "description", _description(row), shown=True)
        if row.get("taken") and not row.get("taken_local"):
            sub(sub(placemark, "TimeStamp"), "when", row["taken"])
        extended = sub(placemark, "ExtendedData")
        for name in _DETAILS:
            if row.get(name) is not None:
                data = sub(extended, "Data")
                data.set("name", name)
                sub(data, "value", str(row[name]))
        point = sub(placemark, "Point")
        if row.get("altitude") is not None:
            sub(point, "altitudeMode", "absolute")
        sub(point, "coordinates", ",".join(repr(value) for value in _position(row)))
    ET.indent(root)
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(ET.tostring(root, encoding="unicode"))
    out.write("\n")


def write_geojson(rows: Iterable[dict[str, Any]], out: TextIO) -> None:
    """A FeatureCollection of Point features (WGS 84, the only system RFC 7946 allows), the picture's fields as
    each feature's properties."""
    features = [{"type": "Feature", "id": row["id"],
                 "geometry": {"type": "Point", "coordinates": _position(row)},
                 "properties": {name: row.get(name) for name in _DETAILS if name != "id"}}
                for row in rows]
    json.dump({"type": "FeatureCollection", "features": features}, out, ensure_ascii=False, indent=1)
    out.write("\n")
