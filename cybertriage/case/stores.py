"""Which store holds a case: SQLite's case.db in the case folder (the default), or a PostgreSQL server that several
workstations and examiners share, named by the folder's store.json. Light to import: a case in SQLite never loads
the PostgreSQL client."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError

STORE_FILE = "store.json"  # in the case folder: which PostgreSQL store holds the case


@dataclass(frozen=True)
class StoreAddress:
    """Where a case's PostgreSQL store is: the server's URL (never with a password) and the case's schema."""

    url: str
    schema: str


def store_of(case_dir: Path) -> StoreAddress | None:
    """The PostgreSQL store the case folder names, or None for a case kept in SQLite (its case.db)."""
    path = case_dir / STORE_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return StoreAddress(str(record["url"]), str(record["schema"]))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"{path} does not say which store holds the case: {error}") from None


def in_postgres(db: Any) -> bool:
    """Whether this open case is kept in PostgreSQL (postgres.PostgresCase, which knows its address), where several
    processes write at once and each statement is a round trip; a case in SQLite has one writer at a time."""
    return getattr(db, "address", None) is not None


def refuse_password(url: str) -> None:
    """A password on the command line is seen by every user of the machine: take it from the environment."""
    import psycopg

    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error as error:
        raise UsageError(f"the store's URL {url!r} is not a PostgreSQL address: {error}") from None
    if info.get("password"):
        raise UsageError("the store's URL holds a password: give it in PGPASSWORD or ~/.pgpass instead")
