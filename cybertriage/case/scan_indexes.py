"""Indexes a scan drops while it inserts rows and makes again at its end, stopped or not: kept up row by row they
cost the case writer more than sorting the rows once. Queries stay right meanwhile, only slower.

- the timeline's time indexes (case/timeline_sources.py);
- in a case kept in PostgreSQL, the words of the content index (postgres_text.LATER_SETTING): the server's word
  parser, on the writer's one session, was most of the store's cost; at the end every core takes a share;
- keyword hits by list and term: the terms arrive in no order (every e-mail address of a customer file), so each
  row lands on another page of the index. On the disk benchmark's 259,000 hits it cost the writer 1.5 of its 2 s
  for them; sorted once at the end, 0.2 s.
"""

from __future__ import annotations

import os
from typing import Any, cast

from sqlite_utils import Database

from . import timeline
from .stores import in_postgres
from .timeline_sources import tables

# As schema 17 made it through sqlite-utils (the same name and text in sqlite_master), in SQL that the PostgreSQL
# store takes too.
KEYWORD_INDEX = "idx_keyword_hits_list_term"
KEYWORD_INDEX_SQL = f'CREATE INDEX IF NOT EXISTS "{KEYWORD_INDEX}"\n    ON "keyword_hits" ("list", "term")'
FILL_SESSIONS = 8  # sessions that give the texts their words at the end, one per core up to this many


def drop(db: Database) -> None:
    timeline.drop_indexes(db)
    db.execute(f'DROP INDEX IF EXISTS "{KEYWORD_INDEX}"')


def create(db: Database) -> None:
    if "keyword_hits" in tables(db):
        db.execute(KEYWORD_INDEX_SQL)
    timeline.create_indexes(db)
    if in_postgres(db):
        from . import postgres  # the PostgreSQL client only for a case kept there

        sessions = min(FILL_SESSIONS, os.cpu_count() or 2)
        postgres.fill_vectors(cast(Any, db).address, cast(Any, db).case_dir, sessions=sessions)
