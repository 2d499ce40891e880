"""Rich-text (HTML) descriptions of one finding, one file or one evidence item for the details panes (no Qt here).

Everything that came from evidence is escaped: file names, matched strings and
rule metadata are untrusted text. Nothing is shown as JSON: a finding's detail, a
PE's headers, sections, imports and version information are labelled rows and
tables, and a value's line breaks are shown as line breaks.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ..case.record_links import CARRIER_TABLES, AboutFile, about_file
from ..formatting import exact_size
from ..text_safety import visible_html as esc  # evidence text for Qt rich text: made visible, then escaped
from .formatting import SEVERITY_COLORS

_TABLE = '<table cellspacing="0" cellpadding="3">'
_GRID = '<table cellspacing="0" cellpadding="3" border="1" style="border-collapse: collapse; border-color: #cccccc">'


def _rows(pairs: list[tuple[str, Any]]) -> str:
    cells = "".join(f'<tr><td class="k"><b>{esc(k)}</b></td><td>{v}</td></tr>' for k, v in pairs if v not in (None, ""))
    return f"{_TABLE}{cells}</table>"


def _mono(value: Any) -> str:
    return f"<code>{esc(value)}</code>" if value else ""


LINK_SCHEME = "cybertriage"  # the details panes' links: cybertriage://KIND/ID, opened by gui/links.py


def href(kind: str, ident: Any) -> str:
    """The address of a link to a record (file, finding, http …) or to where a file leads (carrier, flow-of,
    lookup-before: the record that carried it, that record's flow, the DNS lookup of its server before it)."""
    return f"{LINK_SCHEME}://{kind}/{int(ident)}"


def link(address: str, html: str) -> str:
    """Rich text made a link (none when the address or the text is empty)."""
    return f'<a href="{address}">{html}</a>' if address and html else html


def text(value: Any) -> str:
    """Evidence text for rich text, its line breaks kept as breaks (every other control character made visible)."""
    if value is None:
        return ""
    lines = str(value).replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ").split("\n")
    return "<br>".join(esc(line) for line in lines)


# stored names whose plain spelling would read wrong
LABELS = {"ts": "Time (UTC)", "sha256": "SHA-256", "sha1": "SHA-1", "md5": "MD5", "url": "URL", "uri": "URI",
          "id": "Record", "http_id": "HTTP record", "capture_evidence_id": "Capture evidence item", "dns": "DNS lookup",
          "qtype": "Query type", "rcode": "Result", "ip": "IP address", "ja3": "JA3", "ja3s": "JA3S", "pdb": "PDB path",
          "tls": "TLS callbacks", "rva": "RVA", "dll_name": "DLL name"}


def label(key: str) -> str:
    """A stored field's name as a label: "virtual_address" → "Virtual address"."""
    if key in LABELS:
        return LABELS[key]
    words = key.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def value_html(value: Any) -> str:
    """Any decoded value as rich text: a mapping as labelled rows, a list of mappings as a table with a column
    per key, other lists one item a line, yes/no for booleans."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return fields_html(value)
    if isinstance(value, list):
        if value and all(isinstance(item, dict) for item in value):
            keys = list(_first_keys(value))
            return grid(keys, [[value_html(item.get(key)) for key in keys] for item in value])
        return "<br>".join(value_html(item) for item in value)
    if isinstance(value, float):
        return esc(f"{value:g}")
    return text(value)


def _first_keys(items: list[dict[str, Any]]) -> dict[str, None]:
    keys: dict[str, None] = {}
    for item in items:
        keys.update(dict.fromkeys(item))
    return keys


def fields_html(values: dict[str, Any]) -> str:
    """A mapping as labelled rows (empty values left out)."""
    return _rows([(label(str(key)), value_html(value)) for key, value in values.items()
                  if value not in (None, "", [], {})])


def grid(titles: list[str], rows: list[list[str]]) -> str:
    """A table with a header row; the cells are rich text already escaped."""
    head = "".join(f"<th align='left'>{esc(label(title))}</th>" for title in titles)
    body = "".join("<tr>" + "".join(f"<td valign='top'>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"{_GRID}<tr>{head}</tr>{body}</table>"


def _severity_badge(severity: str) -> str:
    color = SEVERITY_COLORS.get(severity, "#555555")
    return f'<span style="background:{color}; color:white; font-weight:bold">&nbsp;{esc(severity.upper())}&nbsp;</span>'


def _reasons(file: dict[str, Any]) -> str:
    reasons = file.get("reasons")
    if isinstance(reasons, str):
        reasons = json.loads(reasons)
    if not reasons:
        return ""
    return "<ul>" + "".join(f"<li>{text(r)}</li>" for r in reasons) + "</ul>"


def _hashes(file: dict[str, Any]) -> list[tuple[str, Any]]:
    return [("MD5", _mono(file.get("md5"))), ("SHA-1", _mono(file.get("sha1"))), ("SHA-256", _mono(file.get("sha256")))]


def finding_html(finding: dict[str, Any], file: dict[str, Any] | None,
                 chain: list[tuple[str, str, str]] | None = None, targets: list[str] | None = None) -> str:
    """The finding, what matched where, the chain of evidence it links (a correlation's DNS lookup →
    download → file on disk → its findings, as correlate.chain reads it; each step a link to `targets`' address
    of the same place), and the object it is about (a link to a file) with its hashes and score."""
    detail = json.loads(finding["detail"]) if isinstance(finding.get("detail"), str) and finding["detail"] else {}
    parts = [f"<h3>{_severity_badge(finding['severity'])} {esc(finding['title'])}</h3>",
             _rows([("Analyzer", esc(finding["analyzer"])), ("Rule", esc(finding["rule"])),
                    ("Object", link(href("file", finding["object_id"]) if finding.get("object_kind") == "file" else "",
                                    _mono(finding["object"]))), ("Evidence", esc(finding["evidence"])),
                    ("Recorded", esc(finding.get("created_at")))])]
    meta = detail.get("meta")
    if not isinstance(meta, dict):
        meta = {}
    if meta.get("description"):
        parts.append(f"<p>{text(meta['description'])}</p>")
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
        addresses = targets or [""] * len(chain)
        cells = "".join(f"<tr><td><b>{link(address, esc(what))}</b></td><td>{_mono(when)}</td><td>{text(about)}</td></tr>"
                        for (what, when, about), address in zip(chain, addresses, strict=False))
        parts.append(f"<h4>Linked evidence ({len(chain)})</h4>{_TABLE}{cells}</table>")
    if file is not None:
        parts.append("<h4>Object</h4>")
        parts.append(_rows([("Path", _mono(file["path"])), ("Size", esc(exact_size(file.get("size")))),
                            ("Type", esc(file.get("mime"))), ("Deleted", "yes" if file.get("deleted") else ""),
                            *_hashes(file), ("Score", esc(file.get("score")))]))
        reasons = _reasons(file)
        if reasons:
            parts.append("<b>Why it scores</b>" + reasons)
    rest = {k: v for k, v in detail.items() if k not in ("strings", "meta")}
    if chain:  # the links are listed above, each with what it is
        rest.pop("links", None)
    if rest:
        parts.append("<h4>Detail</h4>" + fields_html(rest))
    other_meta = {k: v for k, v in meta.items() if k != "description"}
    if other_meta:
        parts.append("<h4>Rule metadata</h4>" + fields_html(other_meta))
    return "".join(parts)


def file_html(file: dict[str, Any], conn: sqlite3.Connection | None = None) -> str:
    """Everything the case holds about one file; with the case's connection, the findings about it and the
    artefacts read from it too, each a link to its record."""
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
                    *_origin(file),
                    ("Inode", esc(file.get("inode"))), ("Volume offset", esc(file.get("partition_offset"))),
                    ("Note", esc(file.get("note"))), ("Score", esc(file.get("score") or ""))])]
    reasons = _reasons(file)
    if reasons:
        parts.append("<b>Why it scores</b>" + reasons)
    exif = exif_html(file.get("exif"))
    if exif:
        parts.append(exif)
    if file.get("pe"):
        parts.append(pe_html(json.loads(file["pe"]) if isinstance(file["pe"], str) else file["pe"]))
    if conn is not None and file.get("id") is not None:
        parts.append(_about_html(about_file(conn, file["id"])))
    return "".join(parts)


def _about_html(about: AboutFile) -> str:
    """The file's findings and the artefacts read from it, as links ("and N more" past the first ones)."""
    parts = []
    if about.findings:
        rows = [[link(href("finding", ident), _severity_badge(severity)), link(href("finding", ident), esc(title))]
                for ident, severity, title in about.findings]
        parts.append(f"<h4>Findings about it ({about.finding_count:,})</h4>{grid(['severity', 'title'], rows)}"
                     + _more(about.finding_count, len(rows)))
    if about.artefacts:
        rows = [[link(href("artifact", ident), esc(kind)), _mono(ts), text(summary)]
                for ident, kind, ts, summary in about.artefacts]
        parts.append(f"<h4>Artefacts read from it ({about.artefact_count:,})</h4>{grid(['type', 'ts', 'summary'], rows)}"
                     + _more(about.artefact_count, len(rows)))
    return "".join(parts)


def _more(count: int, shown: int) -> str:
    return f"<p>… and {count - shown:,} more</p>" if count > shown else ""


def _origin(file: dict[str, Any]) -> list[tuple[str, Any]]:
    """A carried file's origin and flow, links to the record that carried it and to its flow, and a link to the
    DNS lookup that named the server before it; an archive member a capture carried links to its archive's."""
    carried_in = str(file.get("path") or "").lstrip("/").split("/", 1)[0] in CARRIER_TABLES
    if file.get("id") is None or not (file.get("flow_id") is not None or (file.get("parent_id") and carried_in)):
        return [("Origin", esc(file.get("origin")))]
    origin = esc(file.get("origin")) if file.get("flow_id") is not None else "the record that carried its archive"
    flow = esc(file.get("flow_id")) if file.get("flow_id") is not None else "its archive's"
    return [("Origin", link(href("carrier", file["id"]), origin)), ("Flow", link(href("flow-of", file["id"]), flow)),
            ("DNS lookup", link(href("lookup-before", file["id"]), "the lookup of its server before it"))]


# the PE summary's headers, in the order an examiner reads them (analyzers/pe.py names them)
PE_HEADERS = (("format", "Format"), ("kind", "Kind"), ("machine_name", "Machine"), ("subsystem", "Subsystem"),
              ("compiled", "Compiled (UTC)"), ("timestamp", "Time stamp"), ("image_base", "Image base"),
              ("imphash", "Import hash"), ("rich_hash", "Rich header hash"), ("dotnet", ".NET"),
              ("complete", "Read in full"))
PE_SECTION_COLUMNS = ("name", "virtual_address", "virtual_size", "raw_offset", "raw_size", "characteristics", "flags",
                      "entropy")
PE_SHOWN = {key for key, _ in PE_HEADERS} | {"entry_point", "sections", "imports", "version_info", "machine",
                                             "authenticode", "data_directories", "section_count", "imports_count",
                                             "imports_listed_in_full", "sections_truncated"}


def pe_html(pe: dict[str, Any]) -> str:
    """A PE's headers as labelled rows, then its sections, imports, version information, signature, data
    directories and the rest of what the PE analyser read, each as a table."""
    entry = pe.get("entry_point") or {}
    where = f"{entry.get('rva')}" + (f" in {entry['section']}" if entry.get("section") else "") if entry else ""
    headers = [(title, value_html(pe.get(key))) for key, title in PE_HEADERS if pe.get(key) not in (None, "")]
    headers.insert(3, ("Entry point", esc(where)))
    parts = ["<h4>PE headers</h4>", _rows(headers)]
    sections = pe.get("sections") or []
    if sections:
        more = " (more not listed)" if pe.get("sections_truncated") else ""
        parts.append(f"<h4>Sections ({len(sections)}{more})</h4>")
        parts.append(grid(list(PE_SECTION_COLUMNS), [[_section_cell(section, key) for key in PE_SECTION_COLUMNS]
                                                     for section in sections]))
    imports = pe.get("imports") or {}
    if imports:
        more = "" if pe.get("imports_listed_in_full", True) else ", more not listed"
        parts.append(f"<h4>Imports ({pe.get('imports_count', sum(len(f) for f in imports.values()))} functions"
                     f"{more})</h4>")
        parts.append(grid(["library", "functions"], [[esc(dll), esc(", ".join(map(str, functions)))]
                                                     for dll, functions in imports.items()]))
    if pe.get("version_info"):
        parts.append("<h4>Version information</h4>" + _rows([(str(k), text(v)) for k, v in pe["version_info"].items()]))
    if pe.get("authenticode"):
        parts.append("<h4>Signature</h4>" + fields_html(pe["authenticode"]))
    directories = pe.get("data_directories") or {}
    if directories:
        parts.append("<h4>Data directories</h4>")
        parts.append(grid(["directory", "address", "size"], [[esc(name), _mono(d.get("address")), esc(d.get("size"))]
                                                             for name, d in directories.items()]))
    rest = {key: value for key, value in pe.items() if key not in PE_SHOWN}
    if any(value not in (None, "", [], {}) for value in rest.values()):
        parts.append("<h4>More</h4>" + fields_html(rest))
    return "".join(parts)


def _section_cell(section: dict[str, Any], key: str) -> str:
    value = section.get(key)
    if key == "flags" and isinstance(value, list):
        return esc(" ".join(map(str, value)))
    if key in ("virtual_address", "characteristics"):
        return _mono(value)
    return value_html(value)


def evidence_html(item: dict[str, Any]) -> str:
    """One evidence item as labelled rows: where it is, its segments, hashes (an E01's stored ones beside those
    computed) and what verification said."""
    segments = item.get("segments")
    if isinstance(segments, str) and segments.startswith("["):
        segments = json.loads(segments)
    return f"<h3>{esc(item.get('path'))}</h3>" + _rows([
        ("Kind", esc(item.get("kind"))), ("Format", esc(item.get("format"))),
        ("Size", esc(exact_size(item.get("size")))), ("Segments", value_html(segments)),
        ("SHA-256", _mono(item.get("sha256"))), ("Stored MD5", _mono(item.get("stored_md5"))),
        ("Computed MD5", _mono(item.get("computed_md5"))), ("Stored SHA-1", _mono(item.get("stored_sha1"))),
        ("Computed SHA-1", _mono(item.get("computed_sha1"))), ("Verified", esc(item.get("verified"))),
        ("Status", esc(item.get("status"))), ("Error", text(item.get("error"))),
        ("Added", esc(item.get("added_at"))), ("Processed", esc(item.get("processed_at")))])


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


