"""Find catalogue titles mentioned in free text: the grounding check's eyes.

An explanation or a chat reply may mention only its evidence items. To check that, we must
find *every* catalogue title a text mentions, not only the ones we expect, so this module
indexes all titles of the catalogue and scans a text for them.

Matching works on word tokens (letters and digits; punctuation ignored), longest match first
at each position, so "Toy Story 2" is one mention and not also "Toy Story". Titles of two or
more words match case-insensitively. One-word titles ("Heat", "Speed", "Friday") match only
with their catalogue capitalisation, otherwise every "speed" in a sentence would count. That
still flags a sentence that starts with "Heat ..." and such a text fails the check; failing
closed is the right side to err on (the caller falls back to a template).

MovieLens stores "Shining, The" and alternative titles in parentheses ("Seven (Se7en)"); each
title is indexed under its catalogue form, its natural form ("The Shining") and each
parenthesised alternative. Years in parentheses ("(1995)") are removed from a text before
scanning, so "1941" the film is not confused with a year a template wrote.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
_YEAR_IN_PARENS = re.compile(r"\(\s*(1[89]\d\d|20\d\d)\s*\)")
_TRAILING_ARTICLE = re.compile(
    r"^(?P<body>.+), (?P<article>The|A|An|Les|Le|La|L'|Il|Das|Der|Die|El|Los|Las)$"
)
_PARENS = re.compile(r"\s*\(([^()]*)\)")
_MAX_TOKENS = 16  # longer titles are matched by their first 16 words


def _fold(word: str) -> str:
    """Lower case without accents: "Cité" and "cite" are one token."""
    decomposed = unicodedata.normalize("NFKD", word.replace("’", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def natural_title(title: str) -> str:
    """Catalogue form -> the form people write: "Shining, The" -> "The Shining";
    "Seven (Se7en)" -> "Seven"."""
    main = _PARENS.sub("", title).strip() or title
    m = _TRAILING_ARTICLE.match(main)
    if m:
        article = m.group("article")
        sep = "" if article.endswith("'") else " "
        main = f"{article}{sep}{m.group('body')}"
    return main


def aliases(title: str) -> list[str]:
    """Every form under which a title is recognised."""
    out = [title, natural_title(title)]
    for inner in _PARENS.findall(title):
        inner = inner.strip()
        if re.fullmatch(r"\d{4}", inner):
            continue  # a year left in the title ("... Great Giving (1995)") is no other name
        if len(inner) >= 2 and not inner.lower().startswith(("a.k.a", "aka")):
            out.append(natural_title(inner))
        elif inner.lower().startswith(("a.k.a", "aka")):
            out.append(natural_title(inner.split(" ", 1)[-1]))
    return list(dict.fromkeys(a for a in out if _WORD.search(a)))


@dataclass(frozen=True)
class Mention:
    item: int  # catalogue index (the first one, when several items share a title)
    items: tuple[int, ...]  # every catalogue index with this title (remakes share titles)
    start: int  # character span in the scanned text
    end: int
    text: str


class TitleIndex:
    """All catalogue titles, tokenised, for mention finding and title lookup.

    Built once per catalogue (a few ms per thousand titles); cheap to scan with afterwards.
    """

    def __init__(self, titles: Sequence[str], years: Sequence[int] | None = None) -> None:
        self.titles = tuple(titles)
        self.years = tuple(int(y) for y in years) if years is not None else (-1,) * len(titles)
        # folded token tuple -> item indices; one-word titles also need exact capitalisation
        self._multi: dict[tuple[str, ...], list[int]] = {}
        self._single: dict[str, list[int]] = {}  # exact-case word -> items
        self._single_folded: dict[str, list[int]] = {}  # for lookup (not for scanning)
        for i, title in enumerate(self.titles):
            for alias in aliases(title):
                words = _WORD.findall(alias)[:_MAX_TOKENS]
                if len(words) == 1:
                    self._single.setdefault(words[0], []).append(i)
                    self._single_folded.setdefault(_fold(words[0]), []).append(i)
                elif words:
                    self._multi.setdefault(tuple(_fold(w) for w in words), []).append(i)
        self._longest = max((len(k) for k in self._multi), default=1)

    def __len__(self) -> int:
        return len(self.titles)

    @cached_property
    def natural(self) -> tuple[str, ...]:
        return tuple(natural_title(t) for t in self.titles)

    def label(self, index: int) -> str:
        """ "The Shining (1980)": how replies and templates name an item."""
        year = self.years[index]
        return f"{self.natural[index]} ({year})" if year > 0 else self.natural[index]

    def mentions(self, text: str) -> list[Mention]:
        """Every catalogue title in ``text``, longest match first, left to right."""
        scrubbed = _YEAR_IN_PARENS.sub(lambda m: " " * len(m.group(0)), text)
        tokens = [(m.group(0), m.start(), m.end()) for m in _WORD.finditer(scrubbed)]
        folded = [_fold(t[0]) for t in tokens]
        out: list[Mention] = []
        pos = 0
        while pos < len(tokens):
            found: list[int] | None = None
            length = 0
            for n in range(min(self._longest, len(tokens) - pos), 1, -1):
                hit = self._multi.get(tuple(folded[pos : pos + n]))
                if hit:
                    found, length = hit, n
                    break
            if found is None and tokens[pos][0] in self._single:
                found, length = self._single[tokens[pos][0]], 1
            if found is None:
                pos += 1
                continue
            start, end = tokens[pos][1], tokens[pos + length - 1][2]
            out.append(Mention(found[0], tuple(found), start, end, text[start:end]))
            pos += length
        return out

    def lookup(self, query: str) -> list[int]:
        """Items whose title (any alias) is exactly ``query``, case-insensitively."""
        words = tuple(_fold(w) for w in _WORD.findall(query))
        if not words:
            return []
        if len(words) == 1:
            return list(self._single_folded.get(words[0], []))
        return list(self._multi.get(words, []))

    def find_in(self, text: str, min_words: int = 1) -> list[Mention]:
        """Title mentions for *lookup* in a user's message: case-insensitive even for one-word
        titles ("tell me about heat"), longest first."""
        tokens = [(m.group(0), m.start(), m.end()) for m in _WORD.finditer(text)]
        folded = [_fold(t[0]) for t in tokens]
        out: list[Mention] = []
        pos = 0
        while pos < len(tokens):
            hit: list[int] | None = None
            length = 0
            for n in range(min(self._longest, len(tokens) - pos), 1, -1):
                hit = self._multi.get(tuple(folded[pos : pos + n]))
                if hit:
                    length = n
                    break
            if not hit and min_words <= 1:
                hit = self._single_folded.get(folded[pos])
                length = 1
            if hit:
                start, end = tokens[pos][1], tokens[pos + length - 1][2]
                out.append(Mention(hit[0], tuple(hit), start, end, text[start:end]))
                pos += length
            else:
                pos += 1
        return out


def ungrounded(index: TitleIndex, text: str, allowed: Iterable[int]) -> list[Mention]:
    """Mentions in ``text`` of titles that are not among the ``allowed`` catalogue indices.

    A mention is allowed when any item carrying that title is allowed (two films may share a
    title; naming the allowed one is not a hallucination). Empty list = the text passes.
    """
    ok = set(int(i) for i in allowed)
    return [m for m in index.mentions(text) if not ok.intersection(m.items)]


_QUOTED = re.compile(r"[\"“”«»]([^\"“”«»]{2,80})[\"“”«»]|\*\*?([^*]{2,80})\*\*?")


def quoted_unknown(
    index: TitleIndex, text: str, allowed: Iterable[int], extra: Iterable[str] = ()
) -> list[str]:
    """Quoted or emphasised spans that are neither an allowed title nor an ``extra`` phrase.

    An LLM quotes what it believes to be a title; a quoted span that is no catalogue title
    ("The Shinning") is an invented or garbled film and fails the check just the same.
    ``extra``: other phrases the text may quote (the user's statements, genre names).
    """
    ok = set(int(i) for i in allowed)
    allowed_keys = {
        tuple(_fold(w) for w in _WORD.findall(a)) for i in ok for a in aliases(index.titles[i])
    }
    allowed_keys |= {tuple(_fold(w) for w in _WORD.findall(e)) for e in extra}
    bad = []
    for m in _QUOTED.finditer(text):
        span = m.group(1) or m.group(2) or ""
        key = tuple(_fold(w) for w in _WORD.findall(_YEAR_IN_PARENS.sub("", span)))
        if key and key not in allowed_keys:
            bad.append(span)
    return bad


def redact(index: TitleIndex, text: str, allowed: Iterable[int], mask: str = "[a title]") -> str:
    """``text`` with every non-allowed title replaced by ``mask`` (for showing user-written
    statements to an LLM or in a template without smuggling titles in)."""
    out, last = [], 0
    for m in ungrounded(index, text, allowed):
        out.append(text[last : m.start])
        out.append(mask)
        last = m.end
    out.append(text[last:])
    return "".join(out)
