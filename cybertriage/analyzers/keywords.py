"""Keyword hits: the examiner's keyword lists and the built-in lists matched over each object's text.

The text is what the text analyzer extracted (documents, PDFs, UTF-16 text, strings of binaries); an object it
extracted nothing from, if it is text or of no known type and at most 16 MiB, is searched in its raw content,
decoded as UTF-16 when it starts with a UTF-16 byte-order mark or has a NUL in every other byte, else as UTF-8
(bytes that are not become U+FFFD, one each), so that an ASCII or UTF-8 term is still found in a file of no known
format. Pictures, sound, video and compressed streams with no extracted text are not searched, nor content whose
bytes the text analyzer found random-looking (compressed or encrypted: a match there would be chance). Offsets are
in characters of that text. Each list with hits on an object is one finding (the examiner's lists medium, the
built-in ones info: an e-mail address in a file is no reason to look at it first); every hit is a row of
`keyword_hits`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import regex

from .base import Analyzer, Finding, Item, Settings
from .keyword_lists import BUILTIN_LISTS, REGEX_TIMEOUT, KeywordList, Outline, Term, fold, lower, read_keyword_file
from .results import ContentType, ExtractedText, Result

SNIPPETS = 3  # snippets kept per term in a finding
ROWS_PER_TERM = 100  # hits stored per term and object; the count goes on to COUNT_LIMIT
COUNT_LIMIT = 10_000
VALUES_PER_LIST = 1000  # different values of one built-in list kept per object (a customer file holds a million)
TERMS_IN_FINDING = 20  # terms a finding details, most hits first; the keyword_hits rows have them all (100 made a
# finding of a file of addresses 17 KB of JSON: the disk benchmark's findings table 25 MB, a copy of keyword_hits)
CONTEXT = 40  # characters either side of a hit in its snippet
TIME_LIMIT = 30.0  # seconds of matching for one object, all lists together
RAW_LIMIT = 16 * 1024 * 1024  # bytes of raw content decoded and searched when there is no extracted text
# Raw content searched when nothing was extracted: text, and content of no known type. Pictures, sound, video and
# compressed streams are not: their bytes decoded as text are noise (their members are objects of their own).
RAW_MIMES = frozenset({"", "application/octet-stream", "application/json", "application/xml", "application/csv"})


# One place in an object's text where a term matched, as its row of `keyword_hits`: a plain tuple, made and stored
# without a conversion (a file of addresses has thousands).
KeywordHit = tuple[str, str, int, int, str]
HIT_COLUMNS = ("list", "term", "offset", "length", "snippet")


@dataclass(frozen=True)
class KeywordHits(Result):
    """The keyword hits in one object's text, stored as rows of `keyword_hits` tied to the object."""

    hits: tuple[KeywordHit, ...] = ()

    def object_rows(self) -> dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]]:
        return {"keyword_hits": (HIT_COLUMNS, list(self.hits))}

    def held(self) -> int:
        return len(self.hits)


@dataclass
class TermHits:
    """A term's hits in one text: how many, and where (the first ROWS_PER_TERM)."""

    count: int = 0
    places: list[tuple[int, int]] = field(default_factory=list)  # (start, end)


@dataclass
class Matching:
    """What matching one text found, by (list, term), and what it could not finish."""

    found: dict[tuple[str, str], TermHits] = field(default_factory=dict)
    unfinished: list[str] = field(default_factory=list)  # why a term was not searched to the end
    values: dict[str, int] = field(default_factory=dict)  # different terms (values) found, by list


def snippet(text: str, start: int, end: int) -> str:
    """The hit with CONTEXT characters either side, on one line."""
    before = text[max(0, start - CONTEXT):start]
    after = text[end:end + CONTEXT]
    return " ".join(f"{before}[{text[start:end]}]{after}".split())


def _add(matching: Matching, key: tuple[str, str], start: int, end: int) -> bool:
    """Count one hit; False when the term has reached COUNT_LIMIT, or its list VALUES_PER_LIST different values."""
    hits = matching.found.get(key)
    if hits is None:
        values = matching.values[key[0]] = matching.values.get(key[0], 0) + 1
        if values > VALUES_PER_LIST:
            matching.unfinished.append(f"{key[0]}: more than {VALUES_PER_LIST} different values, the first kept")
            return False
        hits = matching.found[key] = TermHits()
    hits.count += 1
    if len(hits.places) < ROWS_PER_TERM:
        hits.places.append((start, end))
    return hits.count < COUNT_LIMIT


def _match_term(matching: Matching, keywords: KeywordList, term: Term, texts: dict[str, str], outline: Outline,
                ends: float) -> None:
    """One term over the text (its lower-case or folded copy, offsets the same), within the time left."""
    haystack = texts["folded" if term.folded else "lower" if term.kind == "literal" else "text"]
    if term.sieve is not None and not term.sieve(outline):  # no match can be there: a pass in C, not a search
        return
    timeout = max(0.01, min(REGEX_TIMEOUT, ends - time.monotonic()))
    try:
        found = _checked(term, haystack, timeout) if term.check is not None else (
            (match.start(), match.end(), term.text) for match in _matches(term, haystack, timeout))
        for start, end, value in found:
            if start == end:  # a pattern's empty match at a word's edge finds nothing
                continue
            if not _add(matching, (keywords.name, value), start, end):
                break
    except TimeoutError:
        matching.unfinished.append(f"{keywords.name}: {term.text} timed out")


def _checked(term: Term, text: str, timeout: float) -> Iterator[tuple[int, int, str]]:
    """A built-in term's values whose checksum holds: (start, end, value). The search goes on right after the part a
    value used, so that a candidate that ran into the next number (an IBAN, then a card) leaves it to be found."""
    assert term.check is not None
    ends = time.monotonic() + timeout
    at = 0
    while True:
        # One finditer goes on from the end of a value that used all its match, as a new search from there would (the
        # patterns match no empty text), without a call per value. concurrent=False: the search keeps the GIL. Left to
        # its default on a str, the regex module lets it go and takes it back at every check of its time limit, and
        # the threads' hand-offs cost more CPU (futex calls) than the search; between two values this thread runs Python.
        # A pattern compiled by re (keyword_lists: e-mail addresses) has no time limit of its own: it is checked here,
        # between two values (its pattern is linear, so one search between two values is short).
        matches = (term.pattern.finditer(text, at) if isinstance(term.pattern, re.Pattern) else
                   term.pattern.finditer(text, at, timeout=max(0.001, ends - time.monotonic()), concurrent=False))
        for match in matches:
            if time.monotonic() > ends:
                raise TimeoutError
            checked = term.check(match.group())
            if checked is None:
                at = match.start() + 1
                break
            value, used = checked
            yield match.start(), match.start() + used, value
            if used != match.end() - match.start():
                at = match.start() + max(used, 1)
                break
        else:
            return


def _matches(term: Term, haystack: str, timeout: float) -> Iterator[regex.Match[str]]:
    """The term's matches in order; a fuzzy term's only around the places that hold one of its parts whole (fuzzy
    matching tries every position, five times slower than finding the parts). TimeoutError past `timeout`."""
    pattern = term.pattern
    assert isinstance(pattern, regex.Pattern)  # the examiner's terms are compiled by regex, with its time limits
    if not term.pieces:
        yield from pattern.finditer(haystack, timeout=timeout, concurrent=True)
        return
    reach = len(term.text) + len(term.pieces)  # a match is at most the word and its errors long
    windows: list[tuple[int, int]] = []
    for piece in term.pieces:
        at = haystack.find(piece)
        while at >= 0:
            windows.append((max(0, at - reach), min(len(haystack), at + len(piece) + reach)))
            at = haystack.find(piece, at + 1)
    ends = time.monotonic() + timeout
    last = 0
    for start, end in _merged(windows, haystack):
        left = ends - time.monotonic()
        if left <= 0:
            raise TimeoutError
        for match in pattern.finditer(haystack, max(start, last), end, timeout=left, concurrent=True):
            last = match.end()
            yield match


def _merged(windows: list[tuple[int, int]], haystack: str) -> Iterator[tuple[int, int]]:
    """Windows sorted and joined where they touch, each widened to the ends of the words at its edges (a window's end
    read as the text's end would let a match stop inside a word)."""
    current: tuple[int, int] | None = None
    for start, end in sorted(windows):
        while start > 0 and (haystack[start - 1].isalnum() or haystack[start - 1] == "_"):
            start -= 1
        while end < len(haystack) and (haystack[end].isalnum() or haystack[end] == "_"):
            end += 1
        if current is not None and start <= current[1]:
            current = (current[0], max(current[1], end))
            continue
        if current is not None:
            yield current
        current = (start, end)
    if current is not None:
        yield current


def match_text(lists: Iterable[KeywordList], text: str, time_limit: float = TIME_LIMIT) -> Matching:
    """Every list's terms over the text: hits by (list, term), a built-in list's term being the value found."""
    matching = Matching()
    lists = list(lists)
    kinds = {term.kind for keywords in lists for term in keywords.terms}
    texts = {"text": text, "lower": lower(text) if "literal" in kinds else "",  # each copy made only when a term needs it
             "folded": fold(text) if "fuzzy" in kinds else ""}
    outline = Outline(text)
    ends = time.monotonic() + time_limit
    for keywords in lists:
        for term in keywords.terms:
            if time.monotonic() > ends:
                matching.unfinished.append(f"{keywords.name}: {term.text} not searched (time limit)")
                continue
            _match_term(matching, keywords, term, texts, outline, ends)
    return matching


def raw_text(data: bytes) -> tuple[str, str]:
    """Raw content as text, and how it was decoded: UTF-16 by its byte-order mark or its NULs, else UTF-8."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace"), "raw UTF-16"
    sample = data[:4096]
    if len(sample) >= 8 and sample[1::2].count(0) >= len(sample) // 2 * 0.9:
        return data.decode("utf-16-le", "replace"), "raw UTF-16LE"
    if len(sample) >= 8 and sample[0::2].count(0) >= len(sample) // 2 * 0.9:
        return data.decode("utf-16-be", "replace"), "raw UTF-16BE"
    return data.decode("utf-8", "replace"), "raw UTF-8"


class Keywords(Analyzer):
    """Matches the examiner's keyword lists and the built-in ones over each object's text."""

    NAME = "keyword"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        chosen = [BUILTIN_LISTS[name] for name in settings.builtin_keywords]
        self.lists = tuple(read_keyword_file(path) for path in settings.keyword_files) + tuple(chosen)

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return bool(settings.keyword_files or settings.builtin_keywords)

    def analyze(self, item: Item) -> Iterable[Finding]:
        text, how = self._text(item)
        if not text:
            return
        matching = match_text(self.lists, text)
        for reason in matching.unfinished:
            item.skipped.append((self.NAME, reason))
        if not matching.found:
            return
        snippets = {place: snippet(text, *place) for found in matching.found.values() for place in found.places}
        hits = [(list_name, term, start, end - start, snippets[start, end])
                for (list_name, term), found in matching.found.items() for start, end in found.places]
        item.add(KeywordHits(tuple(hits)))
        yield from self._findings(matching, snippets, how)

    def _text(self, item: Item) -> tuple[str, str]:
        """The object's extracted text, or its raw content decoded when nothing was extracted."""
        extracted = item.result(ExtractedText)
        if extracted is not None and extracted.text:
            return extracted.text, extracted.how
        if extracted is not None and extracted.how == ExtractedText.RANDOM:  # compressed or encrypted: chance matches
            return "", ""
        content_type = item.result(ContentType)
        mime = (content_type.mime if content_type else None) or ""
        if item.data is not None and 0 < len(item.data) <= RAW_LIMIT and (mime in RAW_MIMES or mime.startswith("text/")):
            return raw_text(item.data)
        return "", ""

    def _findings(self, matching: Matching, snippets: dict[tuple[int, int], str], how: str) -> Iterable[Finding]:
        by_list: dict[str, list[tuple[str, TermHits]]] = {}
        for (list_name, term), found in matching.found.items():
            by_list.setdefault(list_name, []).append((term, found))
        for keywords in self.lists:
            terms = by_list.get(keywords.name)
            if not terms:
                continue
            shown = ", ".join(term for term, _ in terms[:5]) + (f" and {len(terms) - 5} more" if len(terms) > 5 else "")
            count = sum(found.count for _, found in terms)
            detailed = sorted(terms, key=lambda pair: -pair[1].count)[:TERMS_IN_FINDING]
            detail = {"list": keywords.name, "text": how, "terms": [term for term, _ in terms[:TERMS_IN_FINDING]],
                      "terms_total": len(terms), "hits": {
                          term: {"count": found.count, "snippets": [{"offset": start, "snippet": snippets[start, end]}
                                                                    for start, end in found.places[:SNIPPETS]]}
                          for term, found in detailed}}
            yield Finding(self.NAME, keywords.name, "info" if keywords.builtin else "medium",
                          f"Keyword hits ({keywords.name}, {count}): {shown}", detail)
