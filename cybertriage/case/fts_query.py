"""SQLite FTS5's query language said as a PostgreSQL tsquery, for a case kept in PostgreSQL (issue 26).

The case package searches its text indexes with FTS5 queries: words, "phrases", AND, OR, NOT, parentheses and
`prefix*` (case/search.py takes them from the examiner; browse.fts_query and the timeline make them). In
PostgreSQL the same rows are found by a tsquery over the same tokens: FTS5's unicode61 tokenizer takes runs of
letters and digits, so a word or phrase here becomes the runs of letters and digits it holds, in order
(`'a' <-> 'b'`), each quoted for to_tsquery, which folds case and accents as the index did. A query FTS5 would
refuse is refused with FTS5's words ("fts5: syntax error"), so that callers that retry it as a phrase do so here.

Less common FTS5 forms are taken a little more broadly than FTS5 takes them: NEAR(a b, N) as a AND b, `^a` as a,
a column filter `col: x` as x (each index here has one column).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

_TOKEN = re.compile(r'\s*(?:(?P<string>"(?:[^"]|"")*")|(?P<word>[\w\x1a\u0080-\U0010ffff]+)|(?P<mark>[()*:^+,{}-]))')
_KEYWORDS = ("AND", "OR", "NOT", "NEAR")
_PRECEDENCE = {"OR": 1, "AND": 2, "NOT": 3}  # FTS5's: NOT binds tighter than AND, AND than OR


@dataclass(frozen=True)
class _Token:
    kind: str  # string, word, keyword or mark
    text: str


def to_tsquery(query: str) -> str:
    """`query` (FTS5) as to_tsquery's text; '' for a query that can match nothing (no word in it)."""
    parser = _Parser(_tokens(query))
    tree = parser.expression(0)
    if parser.position != len(parser.tokens):
        raise _syntax_error(parser.tokens[parser.position].text)
    return tree or ""


def words_of(text: str) -> list[str]:
    """The tokens FTS5's unicode61 tokenizer takes from text: runs of letters and digits."""
    return [word for word in re.split(r"[\W_]+", text) if word]


def _syntax_error(near: str) -> sqlite3.OperationalError:
    return sqlite3.OperationalError(f'fts5: syntax error near "{near}"')


def _tokens(query: str) -> list[_Token]:
    tokens, position = [], 0
    while position < len(query):
        if not query[position:].strip():
            break
        found = _TOKEN.match(query, position)
        if found is None:
            raise _syntax_error(query[position:].lstrip()[:1])
        position = found.end()
        if found["string"] is not None:
            tokens.append(_Token("string", found["string"][1:-1].replace('""', '"')))
        elif found["word"] is not None:
            word = found["word"]
            tokens.append(_Token("keyword" if word in _KEYWORDS else "word", word))
        else:
            tokens.append(_Token("mark", found["mark"]))
    return tokens


def _phrase(words: list[str], prefix: bool) -> str | None:
    """A phrase's words in order; None for one without words (it matches nothing, as in FTS5)."""
    if not words:
        return None
    lexemes = [f"'{word}'" for word in words]
    if prefix:
        lexemes[-1] += ":*"
    return lexemes[0] if len(lexemes) == 1 else "(" + " <-> ".join(lexemes) + ")"


def _combine(operator: str, left: str | None, right: str | None) -> str | None:
    """Two parts joined as FTS5 joins them; None (matches nothing) propagates as FTS5's empty phrase does."""
    if operator == "OR":
        return f"({left} | {right})" if left and right else left or right
    if operator == "NOT":
        return f"({left} & !{right})" if left and right else left
    return f"({left} & {right})" if left and right else None


class _Parser:
    """Precedence climbing over FTS5's operators; words or groups side by side are ANDed."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.position = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise _syntax_error("")
        self.position += 1
        return token

    def expression(self, floor: int) -> str | None:
        left = self.primary()
        while (token := self.peek()) is not None and token.text != ")" and token.text != ",":
            operator = token.text if token.kind == "keyword" and token.text in _PRECEDENCE else "AND"
            if _PRECEDENCE[operator] <= floor:
                break
            if operator == token.text:
                self.take()
            left = _combine(operator, left, self.expression(_PRECEDENCE[operator]))
        return left

    def primary(self) -> str | None:
        token = self.take()
        if token.text == "(" and token.kind == "mark":
            inner = self.expression(0)
            self.expect(")")
            return inner
        if token.text in ("^", "-") and token.kind == "mark":
            return self.primary()
        if token.text == "{" and token.kind == "mark":  # {col1 col2}: a filter of columns
            while self.take().text != "}":
                pass
            self.expect(":")
            return self.primary()
        if token.kind == "keyword" and token.text == "NEAR":
            return self.near()
        if token.kind not in ("word", "string"):
            raise _syntax_error(token.text)
        following = self.peek()
        if token.kind == "word" and following is not None and following.text == ":" and following.kind == "mark":
            self.take()  # a column filter
            return self.primary()
        return self.phrase(token)

    def phrase(self, first: _Token) -> str | None:
        """A word or "phrase", with phrases joined by + and a final * for a prefix."""
        words = words_of(first.text)
        prefix = False
        while (token := self.peek()) is not None and token.kind == "mark" and token.text in ("+", "*"):
            self.take()
            if token.text == "*":
                prefix = True
                break
            following = self.take()
            if following.kind not in ("word", "string"):
                raise _syntax_error(following.text)
            words += words_of(following.text)
        return _phrase(words, prefix)

    def near(self) -> str | None:
        """NEAR(a b ..., N): every phrase, ANDed (FTS5 also wants them within N tokens)."""
        self.expect("(")
        parts: list[str | None] = []
        while (token := self.peek()) is not None and token.text not in (")", ","):
            parts.append(self.phrase(self.take()))
        if token is not None and token.text == ",":
            self.take()
            if not self.take().text.isdigit():
                raise _syntax_error(",")
        self.expect(")")
        result: str | None = parts[0] if parts else None
        for part in parts[1:]:
            result = _combine("AND", result, part)
        return result

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text:
            raise _syntax_error(token.text)
