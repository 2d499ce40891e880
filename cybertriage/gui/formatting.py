"""Plain-text helpers shared by the views: sizes, durations, hex dumps, safe display of evidence text."""

from __future__ import annotations

import html
import string

SEVERITIES = ("critical", "high", "medium", "low", "info")  # worst first, as examiners read them
SEVERITY_COLORS = {"critical": "#b3261e", "high": "#e8590c", "medium": "#c98a00", "low": "#1f6fb2", "info": "#6b7785"}
_PRINTABLE_ASCII = frozenset(string.printable.encode()) - frozenset(b"\t\n\r\x0b\x0c")


def human_size(count: float | None) -> str:
    """Decimal units, as the CLI prints them: 512 B, 7.3 MB."""
    if count is None:
        return ""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(count) < 1000 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return ""  # not reached


def duration(seconds: float) -> str:
    """A short human duration: 45 s, 3 min 05 s, 2 h 10 min."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def printable(text: str | None) -> str:
    """Evidence names may carry control or bidi-override characters: show them, don't obey them."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text or "")


def esc(text: object) -> str:
    """Untrusted text made safe for Qt rich text (HTML)."""
    return html.escape(printable("" if text is None else str(text)))


def hexdump(data: bytes, base: int = 0) -> str:
    """Classic 16-bytes-a-line dump: offset, hex bytes, printable ASCII."""
    lines = []
    for start in range(0, len(data), 16):
        chunk = data[start : start + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk[:8]) + "  " + " ".join(f"{b:02x}" for b in chunk[8:])
        text = "".join(chr(b) if b in _PRINTABLE_ASCII else "." for b in chunk)
        lines.append(f"{base + start:08x}  {hexes:<48}  |{text}|")
    return "\n".join(lines)


def as_text(data: bytes) -> str:
    """Bytes as text for the text view: UTF-8 where it decodes, control characters made visible."""
    text = data.decode("utf-8", "replace")
    return "".join(c if c.isprintable() or c in "\n\t" else "·" for c in text.replace("\r\n", "\n"))
