"""Text from evidence made safe to show and to hand on, one implementation for the CLI, the GUI and the reports.

Names, titles and strings read from evidence are the suspect's words. A right-to-left override can make
`gpj.exe` read as `exe.jpg`, a carriage return or an escape sequence can rewrite what a terminal shows, and a
cell starting with `=` is a formula to a spreadsheet. So what is shown has such characters written out
(`\\u202e`) instead of obeyed, and what goes into a CSV cell cannot start a formula.
"""

from __future__ import annotations

import html
from typing import Any

# What a spreadsheet takes as the start of a formula (OWASP "CSV injection"): = + - @, and tab and carriage
# return, after which some spreadsheets look for one of those again.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def visible(text: Any) -> str:
    """Evidence text made safe to show: control, bidi-override/isolate, zero-width and other
    invisible characters become `\\u202e`-style text instead of being obeyed; None becomes ''."""
    if text is None:
        return ""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escaped(c) for c in text)


def _escaped(c: str) -> str:
    code = ord(c)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def visible_html(text: Any) -> str:
    """Evidence text for HTML (the HTML report, Qt rich text): made visible, then its markup characters escaped."""
    return html.escape(visible(text))


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell that a spreadsheet shows as text: a string that would start a formula gets a leading `'`."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
