"""The case's text indexes in PostgreSQL (issue 26): what SQLite's FTS5 tables give a case kept in SQLite.

In SQLite, `content_fts` (every text, path and record, case/search.py), `files_fts` (file paths) and `findings_fts`
(finding titles) are FTS5 tables. Here `content_fts` is a table of the same rows with `ct_vector`, the body's
tsvector, indexed with GIN; `files_fts` and `findings_fts` are views over files and findings whose `ct_vector` an
expression index covers; the triggers that put each table's rows in `content_fts` are SQLite's (search.INDEXED),
said in PL/pgSQL. The dialect (case/dialect.py) turns MATCH, bm25() and snippet() into
`ct_vector @@ ct_fts_query(...)`, ts_rank and ts_headline (ct_fts_snippet).

A text's `ct_vector` is made as its row is inserted, except by a scan's case writer: its texts get theirs from a
second session while the scan goes on (postgres.VectorFiller) and, for what is left, at the scan's end on one session
per core, up to 8 (postgres.fill_vectors). The server's word parser is most of the store's cost, and one session is
one core.

Words are what FTS5's unicode61 tokenizer takes: runs of letters and digits, without case or accents. PostgreSQL's
parser would read `alice@example.com` or `/home/alex/.bash_history` as one token, so punctuation is made a
separator before the text is parsed (`ct_fts_words`), in both the index and the snippet (where it is marked by
U+0001 around it and taken out again, so that the snippet shows the text as it is). Accents are taken off by the
`unaccent` dictionary when the server has it. Limits: PostgreSQL keeps a word's position up to 16,383, so a phrase
(`"a b"`) is found only in a text's first 16,383 words; a text whose words would pass the 1 MB a tsvector may hold
is indexed by its first 200,000 characters.
"""

from __future__ import annotations

from .search import INDEXED, SHIFT, SOURCES

# The ASCII punctuation and symbols, and Unicode's common punctuation and spaces: separators between words, as for
# FTS5 (PostgreSQL's parser, in the C locale, would take any character past ASCII as a letter).
PUNCTUATION = (r"[!-/:-@[-`{-~\u00a0-\u00a9\u00ab-\u00b1\u00b4\u00b6-\u00b8\u00bb\u00bf\u00d7\u00f7"
               r"\u2000-\u206f\u3000-\u303f\ufeff]")
FALLBACK_CHARS = 200_000  # characters of a text indexed when all of it passes a tsvector's 1 MB

# A scan's case writer sets this on its session: the texts it inserts get their words (ct_vector) from other
# sessions (fill_statement: one while the scan goes on, one per core at its end), not from the writer's one server
# process.
LATER_SETTING = "cybertriage.vectors"
LEFT_FOR_LATER = "ct_vector IS NULL AND body IS NOT NULL"
FILL_ROWS = 64  # texts a statement gives their words to: a short lock, and sessions share the work by rows


def fill_statement() -> str:
    """Words for up to FILL_ROWS texts left for later, skipping rows another session is filling."""
    return (f"UPDATE content_fts SET ct_vector = ct_fts_vector(body) WHERE rowid IN (SELECT rowid FROM content_fts "
            f"WHERE {LEFT_FOR_LATER} LIMIT {FILL_ROWS} FOR UPDATE SKIP LOCKED)")


def full_text_statements(schema: str, unaccent: str | None) -> list[str]:
    """The text search configuration, functions, tables, views, indexes and triggers of the case's text indexes in
    `schema`; `unaccent`: the schema of the unaccent extension, if the database has it."""
    config = f'"{schema}".ct_fts'
    statements = [f"CREATE TEXT SEARCH CONFIGURATION {config} (COPY = pg_catalog.simple)"]
    if unaccent:
        statements.append(f"ALTER TEXT SEARCH CONFIGURATION {config} ALTER MAPPING FOR word, hword, hword_part, "
                          f'numword, numhword WITH "{unaccent}".unaccent, simple')
    words = f"regexp_replace($1, '{PUNCTUATION}', ' ', 'g')"
    statements += [
        f"""CREATE FUNCTION ct_fts_vector(text) RETURNS tsvector LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF length($1) < {FALLBACK_CHARS} THEN
    RETURN to_tsvector('{config}', {words});
  END IF;
  BEGIN
    RETURN to_tsvector('{config}', {words});
  EXCEPTION WHEN program_limit_exceeded THEN
    RETURN to_tsvector('{config}', regexp_replace(left($1, {FALLBACK_CHARS}), '{PUNCTUATION}', ' ', 'g'));
  END;
END $$""",
        f"CREATE FUNCTION ct_fts_query(text) RETURNS tsquery LANGUAGE sql STABLE AS $$ "
        f"SELECT to_tsquery('{config}', $1) $$",
        # snippet(table, column, start, end, ellipsis, tokens): the best fragment of up to `tokens` words
        f"""CREATE FUNCTION ct_fts_snippet(text, tsquery, text, text, text, integer) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT replace(ts_headline('{config}', regexp_replace($1, '({PUNCTUATION})', chr(1) || '\\1' || chr(1), 'g'), $2,
                             format('StartSel="%s", StopSel="%s", MaxWords=%s, MinWords=%s, ShortWord=0, '
                                    'MaxFragments=1, FragmentDelimiter="%s"',
                                    $3, $4, greatest($6, 2), greatest($6 / 2, 1), $5)), chr(1), '')
$$""",
        'CREATE TABLE content_fts (rowid BIGINT PRIMARY KEY, body TEXT COLLATE "C", ct_vector tsvector)',
        f"""CREATE FUNCTION ct_content_vector() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('{LATER_SETTING}', true) IS DISTINCT FROM 'later' THEN
    NEW.ct_vector := ct_fts_vector(NEW.body);
  END IF;
  RETURN NEW;
END $$""",
        "CREATE TRIGGER content_fts_vector BEFORE INSERT ON content_fts FOR EACH ROW EXECUTE FUNCTION ct_content_vector()",
        "CREATE INDEX content_fts_words ON content_fts USING gin (ct_vector)",
        f"CREATE INDEX content_fts_later ON content_fts (rowid) WHERE {LEFT_FOR_LATER}",
        "CREATE VIEW files_fts AS SELECT id AS rowid, path, ct_fts_vector(path) AS ct_vector FROM files",
        "CREATE INDEX files_path_words ON files USING gin (ct_fts_vector(path))",
        "CREATE VIEW findings_fts AS SELECT id AS rowid, title, ct_fts_vector(title) AS ct_vector FROM findings",
        "CREATE INDEX findings_title_words ON findings USING gin (ct_fts_vector(title))",
    ]
    for table, (source, expression) in INDEXED.items():
        base = SOURCES[source] << SHIFT
        body = expression.replace("[values]", '"values"')
        statements.append(f"""CREATE FUNCTION ct_{table}_content() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO "{schema}".content_fts (rowid, body) VALUES ({base} + NEW.id, {body});
  ELSE
    DELETE FROM "{schema}".content_fts WHERE rowid = {base} + OLD.id;
  END IF;
  RETURN NULL;
END $$""")
        for event, suffix in (("INSERT", "ai"), ("DELETE", "ad")):
            statements.append(f'CREATE TRIGGER "{table}_content_{suffix}" AFTER {event} ON "{table}" '
                              f"FOR EACH ROW EXECUTE FUNCTION ct_{table}_content()")
    return statements
