"""What analyzers learn about an object, as typed results that say how the case stores them.

An analyzer adds a result to the item (`item.add(Hashes(...))`); a later analyzer reads it by type
(`item.result(Hashes)`). The pipeline stores every result the same way, knowing none of them: the
columns it fills on the object's row of the files table (`file_columns`), and the rows it adds about
the content itself, once per sha256 (`content_rows`). A result type defined anywhere (in an analyzer's
own module too) is known to the pipeline by being defined: its empty instance gives the columns every
row carries when nothing was found, so every row has the same columns and the writer inserts them in
one statement. A column no result filled before needs its schema version (case/schema.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple


class Result:
    """One analyzer's result on one object. A subclass is a dataclass whose fields all have defaults:
    its empty instance is what the case holds for an object where nothing was found."""

    kinds: ClassVar[list[type[Result]]] = []  # every result type defined, in the order of definition

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Result.kinds.append(cls)

    def file_columns(self) -> dict[str, Any]:
        """The columns it fills on the object's row of the files table."""
        return {}

    def content_rows(self, sha256: str) -> dict[str, list[dict[str, Any]]]:
        """Rows about the content itself, by table: stored once per sha256, whichever object holds it."""
        return {}

    def object_rows(self) -> dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]]:
        """Rows about this object, by table (keyword hits), as the columns and a tuple of values per row: the examiner
        adds its file_id and evidence_id. Tuples, not a dict per row: a file of addresses has thousands of hits."""
        return {}

    def held(self) -> int:
        """How many records it holds, counted against the bound on results kept for reuse."""
        return 0


def empty_file_columns() -> dict[str, Any]:
    """The files-table columns of every result type, as they are for an object where nothing was found."""
    columns: dict[str, Any] = {}
    for kind in Result.kinds:
        columns.update(kind().file_columns())
    return columns


@dataclass(frozen=True)
class Hashes(Result):
    """The content's MD5, SHA-1 and SHA-256, from one read of all of it."""

    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None

    def file_columns(self) -> dict[str, Any]:
        return {"md5": self.md5, "sha1": self.sha1, "sha256": self.sha256}


@dataclass(frozen=True)
class ContentType(Result):
    """What the content is by its bytes (libmagic), and whether the name's extension lies about it."""

    mime: str | None = None
    description: str | None = None
    ext_mismatch: bool = False

    def file_columns(self) -> dict[str, Any]:
        return {"mime": self.mime, "description": self.description, "ext_mismatch": int(self.ext_mismatch)}


@dataclass(frozen=True)
class PeSummary(Result):
    """A Windows executable's structure as the PE analyzer read it: a JSON-ready dict (the report lays it out)."""

    summary: dict[str, Any] | None = None

    def file_columns(self) -> dict[str, Any]:
        pe = json.dumps(self.summary, ensure_ascii=False, default=str) if self.summary is not None else None
        return {"pe": pe}


@dataclass(frozen=True)
class KnownFile(Result):
    """The hash set the content is in, and whether the set calls it good or bad."""

    known: str | None = None
    known_set: str | None = None

    def file_columns(self) -> dict[str, Any]:
        return {"known": self.known, "known_set": self.known_set}


class Indicator(NamedTuple):
    """A network indicator (domain, IP address, URL, e-mail address, host name) and where in the content it is."""

    kind: str
    value: str
    offset: int


@dataclass(frozen=True)
class NetworkIndicators(Result):
    """The network indicators found as strings in the content: facts of the content, whatever its name."""

    found: tuple[Indicator, ...] = ()

    def content_rows(self, sha256: str) -> dict[str, list[dict[str, Any]]]:
        return {"indicators": [{"sha256": sha256, "kind": kind, "value": value, "offset": offset}
                               for kind, value, offset in self.found]}

    def held(self) -> int:
        return len(self.found)


@dataclass(frozen=True)
class Artefact:
    """One thing an artefact records: a run key, a logon event, a program's run, a visit.

    `type` is dotted (`registry.run`, `evtx.event`, `prefetch`, `browser.visit`); `ts` is the time it is about,
    ISO 8601 UTC (`utc()` makes one), or None; `summary` one readable line; `values` the parsed fields, JSON-ready:
    times as ISO 8601 UTC text, numbers as numbers."""

    type: str
    ts: str | None
    summary: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExtractedText(Result):
    """The text of the content as an examiner reads it (a document's paragraphs, a PDF's pages, a binary's strings),
    and how it was got (`pdf`, `document`, `text`, `strings`...): searched by keywords, indexed for `search`. No
    text, got RANDOM: a binary whose bytes look random (compressed or encrypted), where any text is chance."""

    RANDOM: ClassVar[str] = "random bytes"

    text: str = ""
    how: str = ""

    def content_rows(self, sha256: str) -> dict[str, list[dict[str, Any]]]:
        if not self.text:
            return {}
        # `body` is the text for the content index, where the writer keeps it (case/search.py)
        return {"texts": [{"sha256": sha256, "how": self.how, "chars": len(self.text), "body": self.text}]}

    def held(self) -> int:
        return len(self.text) // 1024  # a record per KiB of text, against the bound on results kept for reuse
