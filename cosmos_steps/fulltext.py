"""`cosmos search`: the user's words -> an FTS5 query (every character literal), and snippets.

Each whitespace-separated word must match, case-insensitively, in a prompt's name or text:
- a plain word (letters and digits) matches words starting with it, through the FTS5 index;
- a word with other characters (`100%`, `snake_case`, `it's`, `x-ray`, `"`) must appear literally
  (a substring test, since the FTS tokenizer drops those characters).
Users never write FTS5 syntax: quotes, `*`, `-`, `NEAR`, `OR` are just text.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any, NamedTuple

TOKEN = re.compile(r"[^\W_]+")
"""What FTS5's unicode61 tokenizer keeps as a token: runs of letters and digits."""

Span = tuple[int, int]


class Term(NamedTuple):
    """One word of the query."""

    text: str

    @property
    def tokens(self) -> list[str]:
        return TOKEN.findall(self.text)

    @property
    def literal(self) -> bool:
        """True when the word holds characters the index cannot see."""
        return TOKEN.fullmatch(self.text) is None

    def pattern(self) -> re.Pattern[str]:
        """A regex finding this word in text the way the search matched it (for highlighting)."""
        if self.literal:
            return re.compile(re.escape(self.text), re.IGNORECASE)
        return re.compile(rf"(?<![^\W_]){re.escape(self.text)}[^\W_]*", re.IGNORECASE)


def parse(query: str) -> list[Term]:
    return [Term(word) for word in query.split()]


def match_expression(terms: list[Term]) -> str | None:
    """The FTS5 MATCH string of the plain words (`"neon"* AND "rain"*`); None if there are none."""
    phrases = [f'"{term.text}"*' for term in terms if not term.literal]
    return " AND ".join(phrases) or None


def search(
    conn: sqlite3.Connection, query: str, limit: int
) -> tuple[list[dict[str, Any]], int, list[Term]]:
    """Newest prompts matching every word; how many match; the parsed words."""
    terms = parse(query)
    clauses, params = [], []
    expression = match_expression(terms)
    if expression:
        clauses.append("p.rowid IN (SELECT rowid FROM prompts_fts WHERE prompts_fts MATCH ?)")
        params.append(expression)
    for term in terms:
        if term.literal:
            fold = "lower" if term.text.isascii() else "casefold"  # SQLite's lower(): ASCII only
            clauses.append(f"(instr({fold}(p.text), ?) > 0 OR instr({fold}(p.name), ?) > 0)")
            params += [term.text.casefold()] * 2
    where = " AND ".join(clauses)
    rows = conn.execute(
        "SELECT p.id, p.name, p.spec, p.kind, p.text, p.created_at FROM prompts p "
        f"WHERE {where} ORDER BY p.created_at DESC, p.rowid DESC LIMIT ?",
        [*params, limit],
    ).fetchall()
    total = conn.execute(f"SELECT COUNT(*) AS n FROM prompts p WHERE {where}", params).fetchone()
    return rows, total["n"], terms


def find_spans(text: str, terms: list[Term]) -> list[Span]:
    """Where the words occur in text: sorted, overlapping spans merged."""
    spans = sorted(
        match.span() for term in terms for match in term.pattern().finditer(text) if match.end()
    )
    merged: list[Span] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def snippet(text: str, terms: list[Term], width: int = 100) -> tuple[str, list[Span]]:
    """About `width` characters of text around the first match, cut at spaces, `…` where cut.

    Returns the snippet and the spans to highlight in it.
    """
    text = " ".join(text.split())
    spans = find_spans(text, terms)
    if len(text) <= width:
        return text, spans
    first_start, first_end = spans[0] if spans else (0, 0)
    start = max(0, min(first_start - width // 3, len(text) - width))
    if start > 0:
        space = text.find(" ", start, first_start)
        start = space + 1 if space != -1 else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", max(first_end, start), end)
        end = space if space > start else end
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    shift = len(prefix) - start
    shown = [
        (max(s, start) + shift, min(e, end) + shift) for s, e in spans if s < end and e > start
    ]
    return prefix + text[start:end] + suffix, shown
