"""What a report says about keyword hits (the Keyword hits section): for each keyword list, its terms with how many
hits and objects each has, and the first objects each term hit with a snippet. Every hit is in the case's
keyword_hits table; `cybertriage export --what keyword-hits` writes them all."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from ..case import browse

TERMS_PER_LIST = 50  # terms shown per list, most hits first
OBJECTS_PER_TERM = 3  # the first objects shown per term


@dataclass
class KeywordTerm:
    term: str
    hits: int
    objects: int
    first: list[dict[str, Any]]  # path, evidence, hits, offset, snippet of the first objects, in path order


@dataclass
class KeywordListHits:
    name: str
    hits: int
    objects: int  # objects with a hit of any of its terms, counted once per term
    terms: list[KeywordTerm]  # at most TERMS_PER_LIST, most hits first
    terms_total: int


@dataclass
class KeywordOverview:
    """The keyword hits of the case as the report shows them."""

    lists: list[KeywordListHits] = field(default_factory=list)

    @property
    def hits(self) -> int:
        return sum(shown.hits for shown in self.lists)


def collect_keywords(db: sqlite_utils.Database) -> KeywordOverview:
    by_list: dict[str, list[dict[str, Any]]] = {}
    for row in browse.keyword_terms(db.conn):
        by_list.setdefault(row["list"], []).append(row)
    lists = []
    for name, terms in by_list.items():
        ranked = sorted(terms, key=lambda row: (-row["hits"], row["term"]))
        shown = [KeywordTerm(row["term"], row["hits"], row["objects"],
                             browse.keyword_objects(db.conn, name, row["term"], OBJECTS_PER_TERM))
                 for row in ranked[:TERMS_PER_LIST]]
        lists.append(KeywordListHits(name, sum(row["hits"] for row in terms), sum(row["objects"] for row in terms),
                                     shown, len(terms)))
    return KeywordOverview(lists)
