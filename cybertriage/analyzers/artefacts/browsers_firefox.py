"""Firefox (and its relatives: Tor Browser, Waterfox, LibreWolf keep the same profile files): places.sqlite's
visits, bookmarks and downloads, cookies.sqlite's cookies (never their values), formhistory.sqlite's form entries
(values masked to their length), and the moz_downloads table of the downloads.sqlite of old versions.

Times are PRTime, microseconds since 1970, except a cookie's expiry (seconds) and a download's end in its
metadata annotation (milliseconds)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from ..results import Artefact
from .browsers_common import (
    EMPTY,
    BrowserDatabase,
    BrowserFile,
    Origin,
    Part,
    database_of,
    form_field,
    integer,
    is_sqlite,
    line,
    prtime,
    text,
    unix_time,
)

# toolkit/components/places/nsINavHistoryService.idl: TRANSITION_*
VISIT_TYPES = {1: "link", 2: "typed", 3: "bookmark", 4: "embed", 5: "redirect_permanent", 6: "redirect_temporary",
               7: "download", 8: "framed_link", 9: "reload"}
# nsIDownloadManager's states, also those of the downloads/metaData annotation.
DOWNLOAD_STATES = {-1: "not_started", 0: "downloading", 1: "complete", 2: "failed", 3: "cancelled", 4: "paused",
                   5: "queued", 6: "blocked_parental", 7: "scanning", 8: "dirty", 9: "blocked_policy"}
BOOKMARK = 1  # moz_bookmarks.type: 1 a bookmark, 2 a folder, 3 a separator
FOLDER_DEPTH = 64  # folders deeper than this (or a loop of them, in a damaged file) end the path


def named(names: dict[int, str], value: Any) -> str | None:
    number = integer(value)
    if number is None:
        return None
    return names.get(number, f"unknown ({number})")


def file_path(uri: str | None) -> str | None:
    """The local path a file: URI names (file:///C:/Users/… is C:/Users/…); other text as it is."""
    if not uri or not uri.startswith("file:"):
        return uri
    parts = urlsplit(uri)
    path = unquote(parts.path)
    if len(path) > 2 and path[0] == "/" and path[2] == ":":
        path = path[1:]  # a Windows drive
    return f"//{parts.netloc}{path}" if parts.netloc else path


def visits(db: BrowserDatabase, where: Origin) -> Iterator[Artefact]:
    """Every visit with its page's URL and title and how the user got there."""
    columns = db.pick("v", "moz_historyvisits", "id", "place_id", "visit_date", "visit_type", "from_visit")
    for row in db.rows(f"SELECT {columns} FROM moz_historyvisits v ORDER BY v.id"):
        page = db.by_id("moz_places", row["place_id"], "url", "title", "visit_count", "typed") or EMPTY
        url, title, visited = text(page["url"]), text(page["title"]), prtime(row["visit_date"])
        values = where.values(visit_id=integer(row["id"]), visited=visited, url=url, title=title,
                              transition=named(VISIT_TYPES, row["visit_type"]), from_visit=integer(row["from_visit"]),
                              visit_count=integer(page["visit_count"]), typed=integer(page["typed"]))
        yield Artefact("browser.visit", visited, line("Visited", url, f"({title})" if title else None), values)


def bookmarks(db: BrowserDatabase, where: Origin) -> Iterator[Artefact]:
    """Every bookmark (tags are bookmarks in a folder under 'tags') with the folders it sits in."""
    folders: dict[int, tuple[int | None, str]] = {}
    for row in db.rows(f"SELECT {db.pick('b', 'moz_bookmarks', 'id', 'parent', 'title')} FROM moz_bookmarks b "
                       f"WHERE b.type <> {BOOKMARK}"):
        number = integer(row["id"])
        if number is not None:
            folders[number] = (integer(row["parent"]), text(row["title"]) or "")
    columns = db.pick("b", "moz_bookmarks", "id", "fk", "parent", "title", "dateAdded", "lastModified")
    for row in db.rows(f"SELECT {columns} FROM moz_bookmarks b WHERE b.type = {BOOKMARK} ORDER BY b.id"):
        page = db.by_id("moz_places", row["fk"], "url") or EMPTY
        name, url, added = text(row["title"]), text(page["url"]), prtime(row["dateAdded"])
        folder = _folder_path(folders, integer(row["parent"]))
        values = where.values(name=name, url=url, folder=folder, added=added,
                              modified=prtime(row["lastModified"]), bookmark_id=integer(row["id"]))
        yield Artefact("browser.bookmark", added, line("Bookmarked", url, f"({name})" if name else None,
                                                       "in", folder or "(top)"), values)


def _folder_path(folders: dict[int, tuple[int | None, str]], parent: int | None) -> str:
    """The titles of the folders from the top down to this one (the untitled root left out)."""
    titles: list[str] = []
    seen: set[int] = set()
    while parent is not None and parent in folders and parent not in seen and len(titles) < FOLDER_DEPTH:
        seen.add(parent)
        parent, title = folders[parent]
        if title:
            titles.append(title)
    return "/".join(reversed(titles))


def downloads(db: BrowserDatabase, where: Origin) -> Iterator[Artefact]:
    """Downloads as places.sqlite keeps them since Firefox 26: annotations of the downloaded URL's page, its
    destination (a file: URI) and a JSON metadata (state, end in milliseconds, size)."""
    if not db.has("moz_annos", "place_id", "anno_attribute_id", "content") or not db.has("moz_anno_attributes"):
        return
    sql = (f"SELECT a.place_id AS place_id, n.name AS name, a.content AS content, "
           f"{db.pick('a', 'moz_annos', 'dateAdded')}, {db.pick('p', 'moz_places', 'url')} FROM moz_annos a "
           "JOIN moz_anno_attributes n ON n.id = a.anno_attribute_id LEFT JOIN moz_places p ON p.id = a.place_id "
           "WHERE n.name IN ('downloads/destinationFileURI', 'downloads/metaData') ORDER BY a.place_id, n.name")
    current: dict[str, Any] | None = None
    for row in db.rows(sql):
        place = integer(row["place_id"])
        if current is not None and current["place"] != place:
            yield _annotated_download(current, where)
            current = None
        if current is None:
            current = {"place": place, "url": text(row["url"])}
        if row["name"] == "downloads/destinationFileURI":
            current["target"], current["added"] = text(row["content"]), row["dateAdded"]
        else:
            current["metadata"] = text(row["content"])
    if current is not None:
        yield _annotated_download(current, where)


def _annotated_download(found: dict[str, Any], where: Origin) -> Artefact:
    try:
        metadata = json.loads(found.get("metadata") or "{}")
    except ValueError:
        metadata = {}
    if not isinstance(metadata, dict):
        metadata = {}
    url, uri, started = found["url"], found.get("target"), prtime(found.get("added"))
    target, state = file_path(uri), named(DOWNLOAD_STATES, metadata.get("state"))
    size = integer(metadata.get("fileSize"))
    values = where.values(url=url, target_path=target, target_uri=uri, started=started,
                          ended=unix_time(metadata.get("endTime"), 1000), total_bytes=size, state=state,
                          deleted=metadata.get("deleted") if isinstance(metadata.get("deleted"), bool) else None)
    return Artefact("browser.download", started, _download_line(url, target, size, state), values)


def old_downloads(db: BrowserDatabase, where: Origin) -> Iterator[Artefact]:
    """Downloads as Firefox 3 to 25 kept them, in the moz_downloads table of downloads.sqlite."""
    columns = db.pick("d", "moz_downloads", "id", "name", "source", "target", "startTime", "endTime", "state",
                      "currBytes", "maxBytes", "mimeType", "referrer")
    for row in db.rows(f"SELECT {columns} FROM moz_downloads d ORDER BY d.id"):
        url, uri, started = text(row["source"]), text(row["target"]), prtime(row["startTime"])
        target, state, size = file_path(uri), named(DOWNLOAD_STATES, row["state"]), integer(row["maxBytes"])
        values = where.values(download_id=integer(row["id"]), name=text(row["name"]), url=url, target_path=target,
                              target_uri=uri, started=started, ended=prtime(row["endTime"]),
                              received_bytes=integer(row["currBytes"]), total_bytes=size, state=state,
                              mime_type=text(row["mimeType"]), referrer=text(row["referrer"]))
        yield Artefact("browser.download", started, _download_line(url, target, size, state), values)


def _download_line(url: str | None, target: str | None, size: int | None, state: str | None) -> str:
    details = ", ".join(part for part in (f"{size} bytes" if size is not None else "", state or "") if part)
    return line("Downloaded", url, "to", target or "(no path)", f"({details})" if details else None)


def cookies(db: BrowserDatabase, where: Origin) -> Iterator[Artefact]:
    """Which sites set which cookies and when: never the value."""
    columns = db.pick("c", "moz_cookies", "host", "name", "path", "creationTime", "lastAccessed", "expiry",
                      "isSecure", "isHttpOnly")
    for row in db.rows(f"SELECT {columns} FROM moz_cookies c ORDER BY c.rowid"):
        host, name, created = text(row["host"]), text(row["name"]), prtime(row["creationTime"])
        secure, http_only = integer(row["isSecure"]), integer(row["isHttpOnly"])
        values = where.values(host=host, name=name, path=text(row["path"]), created=created,
                              last_accessed=prtime(row["lastAccessed"]), expires=unix_time(row["expiry"]),
                              secure=None if secure is None else bool(secure),
                              http_only=None if http_only is None else bool(http_only))
        yield Artefact("browser.cookie", created, line("Cookie", name, "set by", host), values)


def form_history(db: BrowserDatabase, where: Origin) -> Iterator[Artefact]:
    """What was typed into forms, by field name: how often and when, the value masked to its length."""
    columns = db.pick("f", "moz_formhistory", "fieldname", "value", "timesUsed", "firstUsed", "lastUsed")
    for row in db.rows(f"SELECT {columns} FROM moz_formhistory f ORDER BY f.rowid"):
        yield form_field(where, text(row["fieldname"]), row["value"], integer(row["timesUsed"]),
                         prtime(row["firstUsed"]), prtime(row["lastUsed"]))


FIREFOX_FILES = (
    BrowserFile("Firefox places", "firefox", frozenset({"places.sqlite"}), is_sqlite,
                database_of("Firefox places", (Part("visits", ("moz_historyvisits", "moz_places"), visits),
                                               Part("bookmarks", ("moz_bookmarks", "moz_places"), bookmarks),
                                               Part("downloads", ("moz_annos", "moz_anno_attributes"), downloads),
                                               Part("downloads", ("moz_downloads",), old_downloads)))),
    BrowserFile("Firefox downloads", "firefox", frozenset({"downloads.sqlite"}), is_sqlite,
                database_of("Firefox downloads", (Part("downloads", ("moz_downloads",), old_downloads),))),
    BrowserFile("Firefox cookies", "firefox", frozenset({"cookies.sqlite"}), is_sqlite,
                database_of("Firefox cookies", (Part("cookies", ("moz_cookies",), cookies),))),
    BrowserFile("Firefox form history", "firefox", frozenset({"formhistory.sqlite"}), is_sqlite,
                database_of("Firefox form history", (Part("form entries", ("moz_formhistory",), form_history),))),
)
