"""Indexes a scan drops while it inserts rows and makes again at its end, stopped or not: kept up row by row they
cost the case writer more than sorting the rows once. Queries stay right meanwhile, only slower.

- the timeline's time indexes (case/timeline_sources.py);
- keyword hits by list and term: the terms arrive in no order (every e-mail address of a customer file), so each
  row lands on another page of the index. On the disk benchmark's 259,000 hits it cost the writer 1.5 of its 2 s
  for them; sorted once at the end, 0.2 s.
"""

from __future__ import annotations

from sqlite_utils import Database

from . import timeline

KEYWORD_TERMS = ("list", "term")  # the index the Keyword Hits view groups by (schema.py makes it, named by sqlite-utils)


def drop(db: Database) -> None:
    timeline.drop_indexes(db)
    db.execute(f"DROP INDEX IF EXISTS [idx_keyword_hits_{'_'.join(KEYWORD_TERMS)}]")


def create(db: Database) -> None:
    if "keyword_hits" in db.table_names():
        db.table("keyword_hits").create_index(list(KEYWORD_TERMS), if_not_exists=True)
    timeline.create_indexes(db)
