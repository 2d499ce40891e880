"""Chromium-family browsers (Chrome, Edge, Brave, Opera, Vivaldi share one profile layout and schema): the History
database's visits, downloads and searches, the Cookies database's cookies (never their values), the Web Data
database's autofill entries (values masked to their length) and the Bookmarks file.

Times in these files are microseconds since 1601 (WebKit time), except the downloads of old History databases
(before Chrome 26: seconds since 1970) and autofill's first and last use (seconds since 1970)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..results import Artefact
from .base import Deadline
from .browsers_common import (
    EMPTY,
    BrowserDatabase,
    BrowserFile,
    Origin,
    Part,
    Problems,
    UnreadableBrowserFile,
    database_of,
    form_field,
    integer,
    is_sqlite,
    line,
    text,
    unix_time,
    webkit_time,
)

# ui/base/page_transition_types.h: the core type in the low byte, qualifiers in the high bits.
TRANSITIONS = ("link", "typed", "auto_bookmark", "auto_subframe", "manual_subframe", "generated", "auto_toplevel",
               "form_submit", "reload", "keyword", "keyword_generated")
TRANSITION_QUALIFIERS = ((0x00800000, "blocked"), (0x01000000, "forward_back"), (0x02000000, "from_address_bar"),
                         (0x04000000, "home_page"), (0x08000000, "from_api"), (0x10000000, "chain_start"),
                         (0x20000000, "chain_end"), (0x40000000, "client_redirect"), (0x80000000, "server_redirect"))
# components/history/core/browser/download_constants.h: the values the History database stores.
DOWNLOAD_STATES = ("in_progress", "complete", "cancelled", "interrupted", "interrupted")  # 3: the old 'interrupted'
DANGER_TYPES = ("not_dangerous", "dangerous_file", "dangerous_url", "dangerous_content", "maybe_dangerous_content",
                "uncommon_content", "user_validated", "dangerous_host", "potentially_unwanted",
                "allowlisted_by_policy", "async_scanning", "blocked_password_protected", "blocked_too_large",
                "sensitive_content_warning", "sensitive_content_block", "deep_scanned_safe",
                "deep_scanned_opened_dangerous", "prompt_for_scanning", "blocked_unsupported_filetype",
                "dangerous_account_compromise")
BOOKMARKS_LIMIT = 64 * 1024 * 1024  # a Bookmarks file is read whole; one larger than this is not a real one


def named(names: tuple[str, ...], value: Any) -> str | None:
    """The name a browser gives a stored number; 'unknown (N)' for a number it does not define."""
    number = integer(value)
    if number is None:
        return None
    return names[number] if 0 <= number < len(names) else f"unknown ({number})"


def transition(value: Any) -> tuple[str | None, list[str]]:
    """A visit's transition: its core type's name and its qualifiers' names (stored signed or unsigned)."""
    number = integer(value)
    if number is None:
        return None, []
    number &= 0xFFFFFFFF
    return named(TRANSITIONS, number & 0xFF), [name for bit, name in TRANSITION_QUALIFIERS if number & bit]


def visits(db: BrowserDatabase, where: Origin) -> Iterator[Artefact]:
    """Every visit with its page's URL and title (a visit whose page row is gone keeps its time)."""
    columns = db.pick("v", "visits", "id", "url", "visit_time", "from_visit", "transition", "visit_duration")
    for row in db.rows(f"SELECT {columns} FROM visits v ORDER BY v.id"):
        page = db.by_id("urls", row["url"], "url", "title", "visit_count", "typed_count") or EMPTY
        core, qualifiers = transition(row["transition"])
        url, title, visited = text(page["url"]), text(page["title"]), webkit_time(row["visit_time"])
        duration = integer(row["visit_duration"])
        values = where.values(visit_id=integer(row["id"]), visited=visited, url=url, title=title,
                              transition=core, transition_qualifiers=qualifiers, from_visit=integer(row["from_visit"]),
                              visit_count=integer(page["visit_count"]), typed_count=integer(page["typed_count"]))
        if duration:
            values["duration_seconds"] = duration / 1_000_000
        yield Artefact("browser.visit", visited, line("Visited", url, f"({title})" if title else None), values)


def downloads(db: BrowserDatabase, where: Origin) -> Iterator[Artefact]:
    """Every download: the newer schema (a URL chain, WebKit times, state and danger) or the old one."""
    if "downloads_url_chains" in db.tables or db.has("downloads", "target_path"):
        yield from _downloads(db, where)
    else:
        yield from _old_downloads(db, where)


def _downloads(db: BrowserDatabase, where: Origin) -> Iterator[Artefact]:
    chains: dict[int | None, list[str]] = {}
    if db.has("downloads_url_chains", "id", "chain_index", "url"):
        for link in db.rows("SELECT id, url FROM downloads_url_chains ORDER BY id, chain_index"):
            chains.setdefault(integer(link["id"]), []).append(text(link["url"]) or "")
    columns = db.pick("d", "downloads", "id", "target_path", "current_path", "start_time", "end_time",
                      "received_bytes", "total_bytes", "state", "danger_type", "interrupt_reason", "mime_type",
                      "original_mime_type", "referrer", "tab_url", "site_url", "opened", "last_access_time")
    for row in db.rows(f"SELECT {columns} FROM downloads d ORDER BY d.id"):
        chain = chains.get(integer(row["id"]), [])
        url, target = (chain[-1] if chain else None), text(row["target_path"])
        started, state = webkit_time(row["start_time"]), named(DOWNLOAD_STATES, row["state"])
        received, total = integer(row["received_bytes"]), integer(row["total_bytes"])
        values = where.values(download_id=integer(row["id"]), url=url, url_chain=chain, target_path=target,
                              current_path=text(row["current_path"]), started=started,
                              ended=webkit_time(row["end_time"]), received_bytes=received, total_bytes=total,
                              state=state, danger_type=named(DANGER_TYPES, row["danger_type"]),
                              interrupt_reason=integer(row["interrupt_reason"]), mime_type=text(row["mime_type"]),
                              original_mime_type=text(row["original_mime_type"]), referrer=text(row["referrer"]),
                              tab_url=text(row["tab_url"]), site_url=text(row["site_url"]),
                              opened=integer(row["opened"]), last_opened=webkit_time(row["last_access_time"]))
        yield Artefact("browser.download", started, _download_line(url, target, received, total, state), values)


def _old_downloads(db: BrowserDatabase, where: Origin) -> Iterator[Artefact]:
    columns = db.pick("d", "downloads", "id", "full_path", "url", "start_time", "received_bytes", "total_bytes",
                      "state")
    for row in db.rows(f"SELECT {columns} FROM downloads d ORDER BY d.id"):
        url, target = text(row["url"]), text(row["full_path"])
        started, state = unix_time(row["start_time"]), named(DOWNLOAD_STATES, row["state"])
        received, total = integer(row["received_bytes"]), integer(row["total_bytes"])
        values = where.values(download_id=integer(row["id"]), url=url, url_chain=[url] if url else [],
                              target_path=target, started=started, received_bytes=received, total_bytes=total,
                              state=state)
        yield Artefact("browser.download", started, _download_line(url, target, received, total, state), values)


def _download_line(url: str | None, target: str | None, received: int | None, total: int | None,
                   state: str | None) -> str:
    size = f"{received} of {total} bytes" if received != total else f"{total} bytes"
    details = ", ".join(part for part in (size if total is not None else "", state or "") if part)
    return line("Downloaded", url, "to", target or "(no path)", f"({details})" if details else None)


def searches(db: BrowserDatabase, where: Origin) -> Iterator[Artefact]:
    """The terms typed into a search engine, with the results page they led to (its last visit is the time)."""
    columns = db.pick("k", "keyword_search_terms", "keyword_id", "url_id", "term")
    for row in db.rows(f"SELECT {columns} FROM keyword_search_terms k ORDER BY k.rowid"):
        page = db.by_id("urls", row["url_id"], "url", "title", "last_visit_time") or EMPTY
        term, url, last = text(row["term"]), text(page["url"]), webkit_time(page["last_visit_time"])
        values = where.values(term=term, url=url, title=text(page["title"]), last_visited=last,
                              keyword_id=integer(row["keyword_id"]))
        yield Artefact("browser.search", last, line("Searched for", f'"{term}"', f"({url})" if url else None), values)


def cookies(db: BrowserDatabase, where: Origin) -> Iterator[Artefact]:
    """Which sites set which cookies and when: never the value (a session's credential)."""
    columns = db.pick("c", "cookies", "host_key", "name", "path", "creation_utc", "last_access_utc", "expires_utc",
                      "is_secure", "secure", "is_httponly", "httponly", "is_persistent", "persistent")
    for row in db.rows(f"SELECT {columns} FROM cookies c ORDER BY c.rowid"):
        host, name, created = text(row["host_key"]), text(row["name"]), webkit_time(row["creation_utc"])
        values = where.values(host=host, name=name, path=text(row["path"]), created=created,
                              last_accessed=webkit_time(row["last_access_utc"]),
                              expires=webkit_time(row["expires_utc"]),
                              secure=_flag(row["is_secure"], row["secure"]),
                              http_only=_flag(row["is_httponly"], row["httponly"]),
                              persistent=_flag(row["is_persistent"], row["persistent"]))
        yield Artefact("browser.cookie", created, line("Cookie", name, "set by", host), values)


def _flag(*columns: Any) -> bool | None:
    """A yes/no column under either of the names versions gave it."""
    number = next((integer(value) for value in columns if value is not None), None)
    return None if number is None else bool(number)


def autofill(db: BrowserDatabase, where: Origin) -> Iterator[Artefact]:
    """What was typed into forms, by field name: how often and when, the value masked to its length."""
    columns = db.pick("a", "autofill", "name", "value", "count", "date_created", "date_last_used")
    for row in db.rows(f"SELECT {columns} FROM autofill a ORDER BY a.rowid"):
        yield form_field(where, text(row["name"]), row["value"], integer(row["count"]),
                         unix_time(row["date_created"]), unix_time(row["date_last_used"]))


def bookmarks(path: Path, where: Origin, deadline: Deadline, problems: Problems) -> Iterator[Artefact]:
    """The Bookmarks file (JSON): every bookmark with the folders it sits in."""
    size = path.stat().st_size
    if size > BOOKMARKS_LIMIT:
        raise UnreadableBrowserFile(f"a Bookmarks file of {size} bytes is larger than any browser writes")
    document = json.loads(path.read_bytes().decode("utf-8", "replace"))
    roots = document.get("roots") if isinstance(document, dict) else None
    if not isinstance(roots, dict):
        raise UnreadableBrowserFile("not a Chromium Bookmarks file: no 'roots'")
    stack: list[tuple[list[str], Any]] = [([], node) for node in reversed(roots.values())]
    while stack:
        deadline.check()
        folders, node = stack.pop()
        if not isinstance(node, dict):
            continue
        name = text(node.get("name"))
        if node.get("type") == "folder" or "children" in node:
            inside = [*folders, name or ""]
            children = node.get("children")
            stack.extend((inside, child) for child in reversed(children if isinstance(children, list) else []))
            continue
        url, added, folder = text(node.get("url")), webkit_time(node.get("date_added")), "/".join(folders)
        values = where.values(name=name, url=url, folder=folder, added=added,
                              last_used=webkit_time(node.get("date_last_used")))
        yield Artefact("browser.bookmark", added, line("Bookmarked", url, f"({name})" if name else None,
                                                       "in", folder or "(top)"), values)


def _bookmarks_json(head: bytes) -> bool:
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") and b'"roots"' in head


CHROMIUM_FILES = (
    BrowserFile("Chromium history", "chromium", frozenset({"history", "archived history"}), is_sqlite,
                database_of("Chromium history", (Part("visits", ("visits",), visits),
                                                 Part("downloads", ("downloads",), downloads),
                                                 Part("searches", ("keyword_search_terms",), searches)))),
    BrowserFile("Chromium cookies", "chromium", frozenset({"cookies"}), is_sqlite,
                database_of("Chromium cookies", (Part("cookies", ("cookies",), cookies),))),
    BrowserFile("Chromium web data", "chromium", frozenset({"web data"}), is_sqlite,
                database_of("Chromium web data", (Part("autofill entries", ("autofill",), autofill),))),
    BrowserFile("Chromium bookmarks", "chromium", frozenset({"bookmarks"}), _bookmarks_json, bookmarks),
)
