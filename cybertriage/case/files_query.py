"""The Files tab's questions: a folder sorted on any column, and files filtered across the case.

The files table keeps no parent link for filesystem entries, so a file's folder is an expression over its path,
and schema 19 indexes it together with the size: a folder of 100,000 files comes sorted by size from the index.
A name glob ending in a plain extension (`*.ps1`) reads the index on the name's last suffix; sizes, deleted files
and hash prefixes have indexes of their own. Nothing here imports Qt.
"""

from __future__ import annotations

import sqlite3

import sqlite_utils

# The folder holding a path, with its trailing '/': "/Windows/System32/" for "/Windows/System32/cmd.exe", "/" for
# "/boot.ini" (rtrim strips every character of the path but '/', from the right). An archive member
# "/docs/a.zip!b.txt" lies in "/docs/", as the folder listing shows it.
FOLDER = "rtrim(path, replace(path, '/', ''))"
# What follows the name's last dot, in lower case ("ps1" for "Run.PS1", the whole name when it has no dot): every
# name a glob "*.ps1" matches has the suffix "ps1".
SUFFIX = "lower(substr(name, length(rtrim(name, replace(name, '.', ''))) + 1))"

INDEXES = {
    "files_folder_size": f"files (evidence_id, partition_offset, {FOLDER}, size)",
    "files_suffix": f"files ({SUFFIX})",
    "files_size": "files (size)",
    "files_deleted": "files (evidence_id, path) WHERE deleted = 1",
}


def create_indexes(db: sqlite_utils.Database | sqlite3.Connection) -> None:
    """The indexes the Files tab's sorts and filters read (schema 19)."""
    for name, target in INDEXES.items():
        db.execute(f"CREATE INDEX IF NOT EXISTS [{name}] ON {target}")
