"""All SQL lives in cybertriage/case/ (issue 25): no other module of the package holds SQL text about the case (the
browser parsers' SQL reads the evidence's own databases, Sigma's a private table of events: named below).

Every string literal of every module outside case/ is read with `ast` (an f-string with `x` for its values); one that
starts, after whitespace, like an SQL statement (SELECT, INSERT, UPDATE, DELETE, CREATE, PRAGMA, WITH,
ALTER, DROP, REPLACE, in capitals, with the words SQL puts after them), or is a whole BEGIN, COMMIT or
ROLLBACK, is SQL.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import cybertriage

PACKAGE = Path(cybertriage.__file__).parent
# A statement as SQL spells it, keyword in capitals and the word that must follow it ("DELETE FROM",
# "UPDATE files SET", "PRAGMA query_only"): not prose such as "Select a case" or "DELETE removes nothing".
SQL_START = re.compile(r"""\s*(SELECT\s+(DISTINCT\s+)?[\w*(]
                          |INSERT\s+(OR\s+\w+\s+)?INTO\s|REPLACE\s+INTO\s|UPDATE\s+\S+\s+SET\s|DELETE\s+FROM\s
                          |(CREATE|DROP)\s+(TEMP\s+|UNIQUE\s+|VIRTUAL\s+)?(TABLE|INDEX|VIEW|TRIGGER)\s|ALTER\s+TABLE\s
                          |PRAGMA\s+\w|WITH\s+(RECURSIVE\s+)?\w+(\(.*?\))?\s+AS\s
                          |(BEGIN|COMMIT|ROLLBACK)(\s+(DEFERRED|IMMEDIATE|EXCLUSIVE|TRANSACTION))?\s*;?\s*$)""",
                       re.VERBOSE | re.DOTALL)


def string_texts(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, text) of every string literal; an f-string reads with `x` where its values go."""
    pieces = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            pieces.update(id(value) for value in node.values)
            yield node.lineno, "".join(value.value if isinstance(value, ast.Constant) else "x" for value in node.values)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in pieces:
            yield node.lineno, node.value


def sql_strings(source: str) -> list[tuple[int, str]]:
    """(line, text) of each string literal in `source` that starts like an SQL statement."""
    return sorted((line, text) for line, text in string_texts(ast.parse(source)) if SQL_START.match(text))


def test_the_detector_finds_sql_and_passes_prose() -> None:
    source = '''
db.execute("SELECT count(*) FROM files")
db.execute(f"""
    UPDATE files SET score = ? WHERE id = {x}""")
conn.execute("PRAGMA query_only = ON")
conn.execute("WITH RECURSIVE t(n) AS (SELECT 1) SELECT n FROM t")
db.execute("INSERT OR IGNORE INTO tags VALUES (?)")
db.execute(f"DROP TABLE IF EXISTS [{name}]")
conn.execute(f"SELECT {names} FROM [{table}]")
db.execute("BEGIN")
label = "Select a case folder"
help = "DELETE removes nothing: evidence is read-only"
title = "Update the report"
note = "WITH the examiner's key; CREATE a case first; PRAGMA: see the manual; BEGIN here"
'''
    assert [line for line, _ in sql_strings(source)] == [2, 3, 5, 6, 7, 8, 9, 10]


# Modules whose SQL is not about the case: a browser's history is an SQLite database, and reading it is parsing it
# (the parsers open a private read-only copy); Sigma rules are SQL run over a private in-memory table of one event
# log's events (pySigma's SQLite backend). None of them ever sees the case database.
NOT_THE_CASE = {"analyzers/artefacts/browsers_chromium.py", "analyzers/artefacts/browsers_firefox.py",
                "analyzers/artefacts/browsers_common.py", "analyzers/artefacts/sigma.py"}


def test_no_module_outside_case_holds_sql() -> None:
    holders: dict[str, list[str]] = {}
    for module in sorted(PACKAGE.rglob("*.py")):
        relative = module.relative_to(PACKAGE)
        if relative.parts[0] == "case" or relative.as_posix() in NOT_THE_CASE:
            continue
        found = sql_strings(module.read_text(encoding="utf-8"))
        if found:
            holders[relative.as_posix()] = [f"{line}: {text.strip()[:60]}" for line, text in found]
    assert holders == {}, "SQL belongs in cybertriage/case/ (its read API or its named writes)"
