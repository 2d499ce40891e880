"""Rich-text (HTML) descriptions of one finding or one file for the details panes (no Qt here).

Everything that came from evidence is escaped: file names, matched strings and
rule metadata are untrusted text.
"""

from __future__ import annotations

import json
from typing import Any

from ..formatting import exact_size
from ..text_safety import visible_html as esc  # evidence text for Qt rich text: made visible, then escaped
from .formatting import SEVERITY_COLORS

_TABLE = '<table cellspacing="0" cellpadding="3">'
_PRE = '<pre style="white-space: pre-wrap">'


def _rows(pairs: list[tuple[str, Any]]) -> str:
    cells = "".join(f'<tr><td class="k"><b>{esc(k)}</b></td><td>{v}</td></tr>' for k, v in pairs if v not in (None, ""))
    return f"{_TABLE}{cells}</table>"


def _mono(value: Any) -> str:
    return f"<code>{esc(value)}</code>" if value else ""


def _severity_badge(severity: str) -> str:
    color = SEVERITY_COLORS.get(severity, "#555555")
    return f'<span style="background:{color}; color:white; font-weight:bold">&nbsp;{esc(severity.upper())}&nbsp;</span>'


def _reasons(file: dict[str, Any]) -> str:
    reasons = file.get("reasons")
    if isinstance(reasons, str):
        reasons = json.loads(reasons)
    if not reasons:
        return ""
    return "<ul>" + "".join(f"<li>{esc(r)}</li>" for r in reasons) + "</ul>"


def _hashes(file: dict[str, Any]) -> list[tuple[str, Any]]:
    return [("MD5", _mono(file.get("md5"))), ("SHA-1", _mono(file.get("sha1"))), ("SHA-256", _mono(file.get("sha256")))]


def finding_html(finding: dict[str, Any], file: dict[str, Any] | None,
                 chain: list[tuple[str, str, str]] | None = None) -> str:
    """The finding, what matched where, the chain of evidence it links (a correlation's DNS lookup →
    download → file on disk → its findings, as correlate.chain reads it), and the object it is about
    with its hashes and score."""
    detail = json.loads(finding["detail"]) if isinstance(finding.get("detail"), str) and finding["detail"] else {}
    parts = [f"<h3>{_severity_badge(finding['severity'])} {esc(finding['title'])}</h3>",
             _rows([("Analyzer", esc(finding["analyzer"])), ("Rule", esc(finding["rule"])),
                    ("Object", _mono(finding["object"])), ("Evidence", esc(finding["evidence"])),
                    ("Recorded", esc(finding.get("created_at")))])]
    meta = detail.get("meta")
    if not isinstance(meta, dict):
        meta = {}
    if meta.get("description"):
        parts.append(f"<p>{esc(meta['description'])}</p>")
    strings = detail.get("strings")
    if isinstance(strings, list) and strings:
        parts.append(f"<h4>Matched strings ({len(strings)})</h4>")
        cells = "".join(
            f"<tr><td>{_mono(s.get('identifier'))}</td><td align='right'>{esc(s.get('offset'))}</td>"
            f"<td>{_mono(_offset_hex(s.get('offset')))}</td><td>{_mono(s.get('data'))}</td></tr>"
            for s in strings if isinstance(s, dict))
        parts.append(f"{_TABLE}<tr><th align='left'>String</th><th>Offset</th><th>Hex</th>"
                     f"<th align='left'>Data</th></tr>{cells}</table>")
    if chain:
        cells = "".join(f"<tr><td><b>{esc(what)}</b></td><td>{_mono(when)}</td><td>{esc(text)}</td></tr>"
                        for what, when, text in chain)
        parts.append(f"<h4>Linked evidence ({len(chain)})</h4>{_TABLE}{cells}</table>")
    if file is not None:
        parts.append("<h4>Object</h4>")
        parts.append(_rows([("Path", _mono(file["path"])), ("Size", esc(exact_size(file.get("size")))),
                            ("Type", esc(file.get("mime"))), ("Deleted", "yes" if file.get("deleted") else ""),
                            *_hashes(file), ("Score", esc(file.get("score")))]))
        reasons = _reasons(file)
        if reasons:
            parts.append("<b>Why it scores</b>" + reasons)
    rest = {k: v for k, v in detail.items() if k != "strings"}
    if rest:
        parts.append("<h4>Detail</h4>" + _PRE + esc(json.dumps(rest, indent=2, ensure_ascii=False)) + "</pre>")
    return "".join(parts)


def file_html(file: dict[str, Any]) -> str:
    """Everything the case holds about one file."""
    if file.get("implied"):
        return f"<h3>{esc(file['path'])}</h3><p>A folder inside an archive (it has no entry of its own).</p>"
    name = esc(file["path"])
    deleted = ' <span style="color:#b3261e">(deleted)</span>' if file.get("deleted") else ""
    parts = [f"<h3>{name}{deleted}</h3>",
             _rows([("Kind", esc(file.get("kind"))), ("Size", esc(exact_size(file.get("size")))),
                    ("Type", esc(file.get("mime"))), ("Description", esc(file.get("description"))),
                    ("Extension mismatch", "yes" if file.get("ext_mismatch") else ""),
                    *_hashes(file),
                    ("Modified", esc(file.get("mtime"))), ("Accessed", esc(file.get("atime"))),
                    ("Changed", esc(file.get("ctime"))), ("Created", esc(file.get("crtime"))),
                    ("Origin", esc(file.get("origin"))), ("Flow", esc(file.get("flow_id"))),
                    ("Inode", esc(file.get("inode"))), ("Volume offset", esc(file.get("partition_offset"))),
                    ("Note", esc(file.get("note"))), ("Score", esc(file.get("score") or ""))])]
    reasons = _reasons(file)
    if reasons:
        parts.append("<b>Why it scores</b>" + reasons)
    exif = exif_html(file.get("exif"))
    if exif:
        parts.append(exif)
    if file.get("pe"):
        pe = json.loads(file["pe"]) if isinstance(file["pe"], str) else file["pe"]
        parts.append("<h4>PE</h4>" + _PRE + esc(json.dumps(pe, indent=2, ensure_ascii=False)) + "</pre>")
    return "".join(parts)


def exif_html(exif: Any) -> str:
    """A picture's EXIF: camera, serial, original time (said to be local when the camera recorded no offset),
    GPS position and size; '' for a file without."""
    if isinstance(exif, str):
        exif = json.loads(exif)
    if not isinstance(exif, dict) or not exif:
        return ""
    taken = exif.get("taken")
    if taken and exif.get("taken_local"):
        taken = f"{taken} (camera's local time: no offset from UTC recorded)"
    position = ""
    if exif.get("latitude") is not None and exif.get("longitude") is not None:
        position = f"{exif['latitude']:.7f}, {exif['longitude']:.7f}"
        if exif.get("altitude") is not None:
            position += f" · {exif['altitude']:g} m"
    size = f"{exif['width']} × {exif['height']} pixels" if exif.get("width") and exif.get("height") else ""
    return "<h4>EXIF</h4>" + _rows([
        ("Camera make", esc(exif.get("make"))), ("Camera model", esc(exif.get("model"))),
        ("Serial number", _mono(exif.get("serial"))), ("Taken", esc(taken)),
        ("As written", _mono(exif.get("taken_written"))), ("GPS position", esc(position)),
        ("GPS time", esc(exif.get("gps_time"))), ("Size", esc(size))])


def _offset_hex(offset: Any) -> str:
    return f"0x{offset:x}" if isinstance(offset, int) else ""


