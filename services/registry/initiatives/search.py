"""Full-text search of initiatives: one tokenisation for PostgreSQL and SQLite.

Words are runs of letters and digits (Unicode), NFKC-normalised and case-folded. Chinese,
Japanese and Korean text has no spaces between words and neither PostgreSQL's parser nor
SQLite's ``unicode61`` tokenizer segments it, so runs of CJK characters are indexed as
overlapping character bigrams (``海洋保护`` -> ``海洋 洋保 保护``), as Lucene's CJKAnalyzer
does; a lone CJK character is kept as a unigram. A query is tokenised the same way and every
token must match as a prefix (``coral`` finds ``corals``; ``海`` finds ``海洋``).

Storage: PostgreSQL keeps the distinct tokens as a ``tsvector`` literal (column
``initiatives.search_document``, GIN index, no stemming: the ``simple`` configuration's
behaviour without its parser, so index and query see exactly these tokens); SQLite keeps the
same text in the column and indexes it with the FTS5 table ``initiatives_fts``
(external content, kept in sync by triggers).
"""

from __future__ import annotations

import re
import unicodedata

#: Han, Hiragana/Katakana, Hangul, CJK compatibility and extension blocks.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
                  r"\U00020000-\U0002ffff]+")
_WORD = re.compile(r"[^\W_]+")
#: Longer "words" (hashes, run-together URLs) are not worth indexing.
MAX_TOKEN_LENGTH = 60


def tokens(text: str | None) -> list[str]:
    """The search tokens of ``text`` in order (with repeats): words and CJK bigrams."""
    if not text:
        return []
    text = unicodedata.normalize("NFKC", text).casefold()
    if not _CJK.search(text):
        return [t for t in _WORD.findall(text) if len(t) <= MAX_TOKEN_LENGTH]
    out: list[str] = []
    for word in _WORD.findall(text):
        start = 0
        for match in _CJK.finditer(word):
            if match.start() > start:
                out.append(word[start:match.start()])
            run = match.group()
            if len(run) == 1:
                out.append(run)
            else:
                out.extend(run[i:i + 2] for i in range(len(run) - 1))
            start = match.end()
        if start < len(word):
            out.append(word[start:])
    return [t for t in out if len(t) <= MAX_TOKEN_LENGTH]


def search_document(title: str | None, description: str | None) -> str:
    """The distinct tokens of title and description, space-separated (the stored document).

    Tokens hold only letters and digits, so the text is also a valid ``tsvector`` literal.
    """
    return " ".join(dict.fromkeys(tokens(title) + tokens(description)))


def pg_tsquery(q: str) -> str | None:
    """A ``tsquery`` literal matching every token of ``q`` as a prefix; None if ``q`` has none."""
    terms = list(dict.fromkeys(tokens(q)))
    return " & ".join(f"{t}:*" for t in terms) if terms else None


def fts5_query(q: str) -> str | None:
    """An FTS5 MATCH expression matching every token of ``q`` as a prefix; None if none."""
    terms = list(dict.fromkeys(tokens(q)))
    return " AND ".join(f'"{t}"*' for t in terms) if terms else None
