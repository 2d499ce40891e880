"""The case's SQL, written for SQLite, said in PostgreSQL's dialect (for a case kept in PostgreSQL).

The case package speaks SQLite. Rather than write every query twice, a statement is parsed once with sqlglot and
given PostgreSQL's words for what SQLite means: `?` placeholders, LIKE that ignores case, NULLs sorting first,
`INSERT OR IGNORE`/`OR REPLACE`, SQLite's JSON and aggregate functions with SQLite's output, `rowid` as the
table's integer key, and FTS5's MATCH, bm25() and snippet() as PostgreSQL's full-text search (case/postgres_text.py,
case/fts_query.py). What the store needs to know about its tables (their keys) is given as a `Tables` map.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import sqlglot
from sqlglot import exp

from ..errors import UsageError
from .fts_query import to_tsquery

# table -> its primary key columns; a table whose key is one integer column `id` has that as its rowid
Tables = Mapping[str, tuple[str, ...]]
# Tables without an integer id whose SQLite rowid the case uses: the store gives them a column named rowid.
ROWID_TABLES = frozenset({"texts", "content_fts"})
_QUOTED = re.compile(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")")
_NAMED = re.compile(r"(?<!:):([A-Za-z_][A-Za-z0-9_]*)")
_INDEX_HINT = re.compile(r"\s(?:NOT\s+INDEXED|INDEXED\s+BY\s+\w+)\b", re.IGNORECASE)  # SQLite's planner hints
# FTS5's `table MATCH query`, which sqlglot does not read: said as a function call first (ct_match(table, query)).
_MATCH = re.compile(r"([\w\[\]\"]+)\s+MATCH\s+(\?|'(?:[^']|'')*')", re.IGNORECASE)
# The full-text tables and their text: in PostgreSQL each also has `ct_vector`, the text's tsvector (postgres.py).
_TEXT_COLUMNS = {"content_fts": "body", "files_fts": "path", "findings_fts": "title"}


@dataclass(frozen=True)
class Statement:
    """A statement in PostgreSQL's words, and what its runner needs to know to act as SQLite would."""

    sql: str  # with psycopg's `%s` / `%(name)s` placeholders
    inserts_into: str | None = None  # the table an INSERT writes
    sets_rowid: bool = False  # the INSERT gives the row's integer key itself (the key's sequence must follow)
    returns_rowid: bool = False  # the INSERT returns the rows' keys (for the cursor's lastrowid)
    typed_numbers: bool = False  # integer parameters go typed: a VALUES list (not an INSERT's) gives them no type
    full_text: tuple[str, ...] = ()  # parameters holding FTS5 queries (to_tsquery's text is given instead); when
    # set, the statement's `?` are named ct_p0, ct_p1... (a query may be used twice: to match and to rank)


# An INSERT of many rows of parameters (the case writer's: up to 500 rows of 27 columns). Parsing it whole costs
# sqlglot a second for every row count met; its first row is said in PostgreSQL and repeated instead.
_ROW = r"\((?:\s*\?\s*,)*\s*\?\s*\)"
_MANY_ROWS = re.compile(rf"(?P<one>\s*INSERT\s+(?:OR\s+\w+\s+)?INTO\s+[^(]+\([^)]*\)\s*VALUES\s*{_ROW})"
                        rf"(?P<more>(?:\s*,\s*{_ROW})+)\s*", re.IGNORECASE)
_PG_ROW = re.compile(r"VALUES \((?:%s, )*%s\)")


def translate(sql: str, tables: Tables, returning: bool = True) -> Statement:
    """`sql` (SQLite) as PostgreSQL. With `returning`, a single INSERT also returns the keys it gave its rows."""
    key = tuple(sorted(tables.items()))
    many = _MANY_ROWS.fullmatch(sql)
    if many is None:
        return _translate(sql, key, returning)
    one = _translate(many["one"], key, returning)
    row = _PG_ROW.search(one.sql)
    if row is None:  # said otherwise than a VALUES list of parameters: the whole statement, parsed
        return _translate(sql, key, returning)
    rows = 1 + many["more"].count("(")
    values = row[0].removeprefix("VALUES ")
    return replace(one, sql=f"{one.sql[:row.start()]}VALUES {', '.join([values] * rows)}{one.sql[row.end():]}")


@functools.lru_cache(maxsize=4096)
def _translate(sql: str, tables: tuple[tuple[str, tuple[str, ...]], ...], returning: bool) -> Statement:
    keys = dict(tables)
    sql = _INDEX_HINT.sub("", sql)
    matches = [found[2] for found in _MATCH.finditer(sql)]
    if matches:
        sql = _MATCH.sub(r"ct_match(\1, \2)", sql)
    if "?" in matches:  # a parameter holding a query, used again by bm25() or snippet(): parameters are named
        sql = _numbered(sql)
    try:
        statements = sqlglot.parse(sql, read="sqlite")
    except sqlglot.errors.ParseError as error:
        raise UsageError(f"statement not understood for PostgreSQL: {error}") from None
    parsed = [statement for statement in statements if statement is not None]
    if len(parsed) != 1:
        raise UsageError(f"one statement at a time in PostgreSQL, not {len(parsed)}")
    statement = parsed[0]
    full_text: tuple[str, ...] = ()
    if matches:
        full_text = _full_text(statement)
    statement = _children_first(statement, functools.partial(_node, keys=keys))
    statement = _children_first(statement, _truth)
    if not isinstance(statement, exp.Insert):
        typed = any(not isinstance(values.parent, exp.Insert) for values in statement.find_all(exp.Values))
        return Statement(_placeholders(statement.sql(dialect="postgres", identify=True)), typed_numbers=typed,
                         full_text=full_text)
    _conflict(statement, keys)
    table = _inserted_table(statement)
    rowid = "id" if keys.get(table) == ("id",) else "rowid"
    columns = statement.this.expressions if isinstance(statement.this, exp.Schema) else []
    sets_rowid = any(column.name in (rowid, "rowid") for column in columns)
    returns = returning and (rowid == "id" or table in ROWID_TABLES) and not statement.args.get("returning")
    if returns:
        statement.set("returning", exp.Returning(expressions=[exp.column(rowid)]))
    return Statement(_placeholders(statement.sql(dialect="postgres", identify=True)), table, sets_rowid, returns,
                     full_text=full_text)


def _numbered(sql: str) -> str:
    """SQLite's positional `?` (outside quotes) named :ct_p0, :ct_p1... in order, so that a parameter can be used
    in more than one place of the PostgreSQL statement."""
    parts = _QUOTED.split(sql)
    number = 0
    for index in range(0, len(parts), 2):
        pieces = parts[index].split("?")
        text = pieces[0]
        for piece in pieces[1:]:
            text += f":ct_p{number}{piece}"
            number += 1
        parts[index] = text
    return "".join(parts)


def _full_text(statement: exp.Expression) -> tuple[str, ...]:
    """FTS5's MATCH, bm25() and snippet() in PostgreSQL's full-text terms, in place: `t MATCH q` is
    `t.ct_vector @@ ct_fts_query(q)`, bm25(t) is -ts_rank (lower is better in both) and snippet(t, ...) is
    ts_headline's (ct_fts_snippet). Returns the names of the parameters that hold FTS5 queries."""
    queried: list[str] = []
    for match in list(statement.find_all(exp.Anonymous)):
        if match.name.lower() != "ct_match":
            continue
        target, query = match.expressions
        name = target.name
        if isinstance(query, exp.Placeholder):
            queried.append(query.name)
            tsquery: exp.Expression = exp.Anonymous(this="ct_fts_query", expressions=[query])
        else:
            tsquery = exp.Anonymous(this="ct_fts_query", expressions=[exp.Literal.string(to_tsquery(query.name))])
        vector = exp.column("ct_vector", table=name)
        select = match.find_ancestor(exp.Select)
        for function in list(select.find_all(exp.Anonymous)) if select else []:
            if function.find_ancestor(exp.Select) is select and function.expressions \
                    and function.expressions[0].name == name:
                _rank_or_snippet(function, name, vector, tsquery)
        match.replace(exp.MatchAgainst(this=tsquery, expressions=[vector]))
    return tuple(queried)


def _rank_or_snippet(function: exp.Anonymous, name: str, vector: exp.Column, tsquery: exp.Expression) -> None:
    """bm25(t) and snippet(t, column, start, end, ellipsis, tokens) of a table matched in the same SELECT."""
    kind = function.name.lower()
    if kind == "bm25":
        rank = exp.Anonymous(this="ts_rank", expressions=[vector.copy(), tsquery.copy()])
        function.replace(exp.Neg(this=rank))
    elif kind == "snippet":
        _, _, start, end, ellipsis, tokens = function.expressions
        text = exp.column(_TEXT_COLUMNS.get(_table_named(function, name), "body"), table=name)
        function.replace(exp.Anonymous(this="ct_fts_snippet", expressions=[
            text, tsquery.copy(), _typed(start), _typed(end), _typed(ellipsis), tokens]))


def _table_named(node: exp.Expression, name: str) -> str:
    """The table a name in a SELECT stands for (itself, or the table it is an alias of)."""
    select = node.find_ancestor(exp.Select)
    for table in select.find_all(exp.Table) if select else []:
        if table.alias_or_name == name:
            return table.name
    return name


def _inserted_table(insert: exp.Insert) -> str:
    target = insert.this
    return (target.this if isinstance(target, exp.Schema) else target).name


def _children_first(node: exp.Expression, change: Callable[[exp.Expression], exp.Expression]) -> exp.Expression:
    """`change` applied to every node after its children, so that what replaces a node holds changed children."""
    for child in list(node.iter_expressions()):
        key, index = child.arg_key, child.index  # before `change` may put the child inside what replaces it
        changed = _children_first(child, change)
        if changed is not child and key:
            node.set(key, changed, index)
    return change(node)


def _node(node: exp.Expression, keys: dict[str, tuple[str, ...]]) -> exp.Expression:
    """One node in PostgreSQL's terms (called for every node, children first)."""
    if isinstance(node, exp.Like):
        return exp.ILike(this=node.this, expression=node.expression)
    if isinstance(node, exp.JSONExtract):
        return exp.Anonymous(this="ct_json_extract", expressions=[node.this, exp.Literal.string(_path(node))])
    if isinstance(node, exp.GroupConcat):
        return _group_concat(node)
    if isinstance(node, exp.JSONObject):
        return _json_object(node)
    if isinstance(node, exp.Anonymous):
        return _function(node)
    if isinstance(node, exp.Select) and node.args.get("group"):
        _one_value_per_group(node)
    if isinstance(node, exp.Coalesce):
        return _coalesce(node)
    if isinstance(node, exp.Is) and not isinstance(node.expression, (exp.Null, exp.Boolean)):  # SQLite's `a IS ?`
        return exp.NullSafeEQ(this=node.this, expression=node.expression)
    if isinstance(node, exp.Is) and isinstance(node.this, exp.Placeholder):  # `? IS NULL`: the value's type is moot
        node.set("this", _typed(node.this))
    if isinstance(node, exp.In) and isinstance(node.args.get("field"), exp.Column):  # SQLite's `x IN table`
        table = node.args["field"].name
        node.set("field", None)
        node.set("query", exp.select("*").from_(table).subquery())
    if isinstance(node, exp.Subquery) and isinstance(node.parent, (exp.From, exp.Join)) and not node.alias:
        node.set("alias", exp.TableAlias(this=exp.to_identifier(f"ct_from_{node.index or 0}_{id(node) % 997}")))
    if isinstance(node, exp.Limit) and not isinstance(node.expression, exp.Literal):
        node.set("expression", exp.Anonymous(this="ct_limit", expressions=[node.expression]))  # -1: no limit
    if isinstance(node, exp.Column) and node.name.lower() == "rowid":
        return _rowid(node, keys)
    if isinstance(node, exp.Column) and not node.table and isinstance(node.parent, exp.Expression):
        return _alias(node)
    return node


def _alias(node: exp.Column) -> exp.Expression:
    """SQLite lets WHERE name what SELECT computed (`... AS k WHERE k > ?`); PostgreSQL needs the expression.
    An alias that is also a column the expression reads (`lower(query) AS query`) stays the table's column."""
    where = node.find_ancestor(exp.Where, exp.Select)
    if not isinstance(where, exp.Where) or not isinstance(where.parent, exp.Select):
        return node
    for selected in where.parent.expressions:
        if isinstance(selected, exp.Alias) and selected.alias == node.name:
            if any(column.name == node.name for column in selected.this.find_all(exp.Column)):
                return node
            return exp.Paren(this=selected.this.copy())
    return node


# Where SQLite takes any value as true or false (non-zero is true), and PostgreSQL wants a boolean.
_LOGIC = (exp.And, exp.Or, exp.Not, exp.Xor)
_BOOLEAN = (exp.Predicate, *_LOGIC, exp.Boolean, exp.Null, exp.Escape, exp.MatchAgainst)


def _truth(node: exp.Expression) -> exp.Expression:
    """SQLite's truth in PostgreSQL: a number or text where a condition goes becomes ct_truth(value) (non-zero),
    and a comparison where a value goes becomes the integer 1 or 0, as SQLite gives them."""
    if _is_condition(node):
        if not isinstance(node, (*_BOOLEAN, exp.Paren)):
            return exp.Anonymous(this="ct_truth", expressions=[node])
    elif isinstance(node, (exp.Predicate, exp.Escape, *_LOGIC)) and _in_value_place(node):
        return exp.Cast(this=node, to=exp.DataType.build("int"))
    return node


def _is_condition(node: exp.Expression) -> bool:
    """Whether `node` stands where a condition is expected (WHERE, ON, WHEN, AND's operands...)."""
    parent, key = node.parent, node.arg_key
    if parent is None:
        return False
    if isinstance(parent, exp.Paren):
        return _is_condition(parent)
    if isinstance(parent, exp.Escape):  # `a LIKE b ESCAPE c`: the LIKE stands where the whole does
        return False
    if isinstance(parent, (exp.Where, exp.Having)) or isinstance(parent, _LOGIC):
        return True
    if isinstance(parent, exp.Join):
        return key == "on"
    return isinstance(parent, exp.If) and key == "this"


def _in_value_place(node: exp.Expression) -> bool:
    """Whether a comparison's result is used as a value (selected, summed, compared) rather than as a condition."""
    parent = node.parent
    while isinstance(parent, exp.Paren):
        node, parent = parent, parent.parent
    if isinstance(parent, exp.Escape):  # LIKE's ESCAPE belongs to the LIKE: the whole is the value, if any
        return False
    if parent is None or isinstance(parent, (exp.Update, exp.OnConflict)):  # SET a = b is no comparison
        return False
    return not _is_condition(node) and not isinstance(parent, (exp.Filter, exp.Exists))


def _one_value_per_group(select: exp.Select) -> None:
    """SQLite lets a grouped query select a column it neither groups nor aggregates (`e.path` of the evidence
    joined to each grouped file); PostgreSQL wants an aggregate, so such a column becomes min(column), the one
    value it has in the group. (Where the value differs within a group, the query must say which row it means.)"""
    group = select.args["group"].expressions
    aliases = {selected.alias: selected.this for selected in select.expressions if isinstance(selected, exp.Alias)}
    grouped = {expression.sql() for expression in group}
    for expression in group:
        if isinstance(expression, exp.Column) and not expression.table and expression.name in aliases:
            grouped |= {column.sql() for column in aliases[expression.name].find_all(exp.Column)}
            grouped.add(aliases[expression.name].sql())
    places = [*select.expressions, *(select.args["order"].expressions if select.args.get("order") else [])]
    for place in places:
        for column in list(place.find_all(exp.Column)):
            if column.sql() in grouped or (not column.table and column.name in aliases):
                continue
            inner = column.find_ancestor(exp.Select) is not select
            if (inner and not _outer_reference(column, select)) or _in_aggregate(column, select):
                continue
            value = exp.Min(this=column.copy())
            column.replace(exp.alias_(value, column.name) if column is place else value)


def _outer_reference(column: exp.Column, select: exp.Select) -> bool:
    """Whether a column of a subquery names a table of the grouped `select` around it (a correlated subquery's
    `k.list`): PostgreSQL takes an aggregate of it, min(k.list), as the outer group's value."""
    if not column.table:
        return False
    inner = column.find_ancestor(exp.Select)
    while inner is not None and inner is not select:
        if column.table in _own_tables(inner):
            return False
        inner = inner.find_ancestor(exp.Select)
    return inner is select and column.table in _own_tables(select)


def _own_tables(select: exp.Select) -> set[str]:
    """The names (aliases) of the tables a SELECT reads directly: its FROM and JOINs."""
    sources = [select.args["from"].this] if select.args.get("from") else []
    sources += [join.this for join in select.args.get("joins") or []]
    return {source.alias_or_name for source in sources}


def _in_aggregate(node: exp.Expression, select: exp.Select) -> bool:
    parent = node.parent
    while parent is not None and parent is not select:
        if isinstance(parent, exp.AggFunc) or (isinstance(parent, exp.Anonymous) and parent.name == "string_agg"):
            return True
        parent = parent.parent
    return False


def _coalesce(node: exp.Coalesce) -> exp.Expression:
    """coalesce(number, '') mixes types as SQLite may; PostgreSQL wants one, so with a text default all are text."""
    values = [node.this, *node.expressions]
    if not any(isinstance(value, exp.Literal) and value.is_string for value in values):
        return node
    text = [value if isinstance(value, exp.Literal) else exp.Cast(this=value, to=exp.DataType.build("text"))
            for value in values]
    return exp.Coalesce(this=text[0], expressions=text[1:])


def _path(node: exp.JSONExtract) -> str:
    """A JSON path as SQLite wrote it ('$.a.b')."""
    path = node.expression
    if isinstance(path, exp.JSONPath):
        return "$" + "".join(f".{part.this}" for part in path.expressions if isinstance(part, exp.JSONPathKey))
    return path.name


def _group_concat(node: exp.GroupConcat) -> exp.Expression:
    """group_concat(x [, sep]) -> string_agg(x::text, sep), with SQLite's default ',' and DISTINCT kept."""
    value, distinct = node.this, False
    if isinstance(value, exp.Distinct):
        value, distinct = value.expressions[0], True
    text: exp.Expression = exp.Cast(this=value, to=exp.DataType.build("text"))
    if distinct:
        text = exp.Distinct(expressions=[text])
    separator = node.args.get("separator") or exp.Literal.string(",")
    return exp.Anonymous(this="string_agg", expressions=[text, separator])


def _json_text(value: exp.Expression) -> exp.Expression:
    """A value as SQLite's JSON functions write it: to_jsonb's text, `null` for NULL."""
    jsonb = exp.Anonymous(this="to_jsonb", expressions=[_typed(value)])
    return exp.Coalesce(this=exp.Cast(this=jsonb, to=exp.DataType.build("text")),
                        expressions=[exp.Literal.string("null")])


def _typed(value: exp.Expression) -> exp.Expression:
    """A string literal or a parameter has no type of its own in PostgreSQL; as text, functions of any type take it."""
    if isinstance(value, exp.Placeholder) or (isinstance(value, exp.Literal) and value.is_string):
        return exp.Cast(this=value, to=exp.DataType.build("text"))
    return value


def _json_object(node: exp.JSONObject) -> exp.Expression:
    """json_object(k, v, ...) as SQLite writes it ({"k":v,...}, keys in the order given, no spaces)."""
    parts: list[exp.Expression] = [exp.Literal.string("{")]
    for index, pair in enumerate(node.expressions):
        parts += [exp.Literal.string(","), ] if index else []
        parts += [_json_text(pair.this), exp.Literal.string(":"), _json_text(pair.expression)]
    parts.append(exp.Literal.string("}"))
    return functools.reduce(lambda left, right: exp.DPipe(this=left, expression=right), parts)


def _function(node: exp.Anonymous) -> exp.Expression:
    """SQLite functions sqlglot leaves by name."""
    name = node.name.lower()
    if name == "json_group_array":  # '[' || string_agg(to_jsonb(x)::text, ',') || ']', '[]' for no rows
        jsonb = exp.Anonymous(this="to_jsonb", expressions=[_typed(value) for value in node.expressions])
        text = exp.Cast(this=jsonb, to=exp.DataType.build("text"))
        inner = exp.Coalesce(this=exp.Anonymous(this="string_agg", expressions=[text, exp.Literal.string(",")]),
                             expressions=[exp.Literal.string("")])
        return exp.DPipe(this=exp.DPipe(this=exp.Literal.string("["), expression=inner),
                         expression=exp.Literal.string("]"))
    if name == "json_each":  # the values of a JSON array, as SQL values
        return exp.Anonymous(this="ct_json_each", expressions=node.expressions)
    if name == "instr":
        return exp.Anonymous(this="strpos", expressions=node.expressions)
    return node


def _rowid(node: exp.Column, keys: dict[str, tuple[str, ...]]) -> exp.Expression:
    """`rowid` of a table keyed by an integer `id` is that id; ROWID_TABLES have a column named rowid."""
    table = _table_of(node)
    if table is not None and keys.get(table) == ("id",):
        return exp.Column(this=exp.to_identifier("id"), table=node.args.get("table"))
    return node


def _table_of(node: exp.Column) -> str | None:
    """The table a column belongs to: by its qualifier's alias, or the first table of its SELECT."""
    select = node.find_ancestor(exp.Select, exp.Update, exp.Delete)
    if select is None:
        return None
    qualifier = node.table
    for table in select.find_all(exp.Table):
        if not qualifier or qualifier in (table.alias_or_name, table.name):
            return table.name
    return None


def _conflict(insert: exp.Insert, keys: dict[str, tuple[str, ...]]) -> None:
    """INSERT OR IGNORE -> ON CONFLICT DO NOTHING; INSERT OR REPLACE -> ON CONFLICT (key) DO UPDATE."""
    alternative = (insert.args.get("alternative") or "").upper()
    written = insert.args.get("conflict")
    if written is not None:  # an upsert's SET: a bare column on the right is the row already there
        table = _inserted_table(insert)
        for assignment in written.expressions:
            for column in assignment.expression.find_all(exp.Column):
                if not column.table:
                    column.set("table", exp.to_identifier(table))
    if not alternative:
        return
    insert.set("alternative", None)
    if alternative == "IGNORE":
        insert.set("conflict", exp.OnConflict(action=exp.var("DO NOTHING")))
        return
    if alternative != "REPLACE":
        raise UsageError(f"INSERT OR {alternative} has no PostgreSQL form here")
    schema = insert.this
    key = keys.get(_inserted_table(insert), ())
    columns = [column.name for column in schema.expressions] if isinstance(schema, exp.Schema) else []
    updates = [exp.EQ(this=exp.column(name), expression=exp.column(name, table="excluded"))
               for name in columns if name not in key]
    conflict = exp.OnConflict(conflict_keys=[exp.to_identifier(name) for name in key], action=exp.var("DO UPDATE"),
                              expressions=updates) if updates else exp.OnConflict(action=exp.var("DO NOTHING"))
    insert.set("conflict", conflict)


def _placeholders(sql: str) -> str:
    """SQLite's `?` and `:name` as psycopg's `%s` and `%(name)s`, and a literal % as %%, outside quotes."""
    parts = _QUOTED.split(sql)
    for index in range(0, len(parts), 2):  # the even parts are outside quotes
        text = parts[index].replace("%", "%%").replace("?", "%s")
        parts[index] = _NAMED.sub(r"%(\1)s", text)
    for index in range(1, len(parts), 2):
        if parts[index].startswith("'"):
            parts[index] = parts[index].replace("%", "%%")
    return "".join(parts)
