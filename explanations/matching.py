"""What a profile statement names, and which catalogue items truly fit it.

A user audit found explanations citing "your taste for documentaries" on Pulp Fiction: a
statement counted as a reason whenever its text embedding sat a little closer to the item than
to the average film. This module decides instead from the catalogue's facts, with the parser
of :mod:`explanations.parsing`:

- **facts**: the statement names genres (synonyms included: "cartoons" is Animation) and/or a
  year range ("films from the 90s", "before 1980"). An item fits iff it has one of the genres
  (any of them: "violent" names Action, Crime and War, and a crime film is violent enough),
  none of the genres a clause of the same text rules out ("thrillers but no gore"), and a
  known year inside the range. Words beyond the facts ("slow-burn" in "slow-burn thrillers")
  cannot be checked, so they never make an item fit or fail; the explanation quotes them as
  the user's words and states only the fact ("it's a thriller").
- **title**: every clause is a catalogue title, bare or after "like" / "similar to" ("films
  like Heat", a critique's "films like Toy Story (Animation, ...)"). "Like Heat" asks for films
  similar to Heat, not for Heat itself, so the statement is anchored on Heat's own catalogue
  text vector (more reliable than the encoder's reading of the words "films like Heat"): an
  item fits iff it *is* a named title or its cosine to the anchor has a catalogue z-score of at
  least ``TITLE_MIN_Z``. Titles take precedence over genre words in the same statement.
  Recognising titles needs a :class:`TitleIndex`; without one such a statement is free text.
- **free**: anything else. An item fits iff the z-score of its cosine with the statement
  (against the whole catalogue, as :mod:`explanations.scoring` computes it) is at least
  ``FREE_TEXT_MIN_Z``, calibrated with :func:`min_z_for_precision` on genre statements whose
  truth is known (95% precision).

Parsing is rules on a few words, memoised by text, so re-ranking on every request stays cheap.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from explanations.parsing import Clause, split_clauses
from explanations.titles import TitleIndex, natural_title
from explanations.understanding import GenreReader, understand
from recommender.data import Catalogue

# Free text fits an item at or above this z-score of its cosine: the pooled threshold at which
# genre statements scored as free text ("I like horror films" against each item's text) are
# 95% precise on ML-100K (`python -m explanations.evaluate`, calibration: 5.28). So a free-text
# statement is cited only for its few closest items; below that similarity is too often wrong.
FREE_TEXT_MIN_Z = 5.3
# A "films like Heat" statement fits the items whose text is close to Heat's: a claim of
# similarity, which is what the cosine measures, so it keeps the top 2-3% of the catalogue.
TITLE_MIN_Z = 2.0

Kind = Literal["facts", "title", "free"]

_PARENS = re.compile(r"\s*\([^()]*\)")
_SIMILAR = re.compile(
    r"^(?:(?:films?|movies?|something|anything|stuff)\s+)?"
    r"(?:like|similar to|such as|in the vein of|along the lines of|reminiscent of|akin to|"
    r"as good as)\s+",
    re.IGNORECASE,
)


def years_phrase(
    lo: int | None,
    hi: int | None,
    *,
    decade: str,
    span: str,
    since: str,
    until: str,
    single: str | None = None,
) -> str:
    """An inclusive year range in words, each shape from its template ({lo}, {hi}, and
    {before} = lo - 1, {after} = hi + 1 for exclusive wordings); "" without a range. One
    function for the labels, the statements and the chat, so they cannot disagree on what
    a range is."""
    values = {"lo": lo, "hi": hi}
    values["before"] = lo - 1 if lo is not None else None
    values["after"] = hi + 1 if hi is not None else None
    if lo is not None and hi is not None:
        if single is not None and lo == hi:
            return single.format(**values)
        return (decade if lo % 10 == 0 and hi == lo + 9 else span).format(**values)
    if lo is not None:
        return since.format(**values)
    if hi is not None:
        return until.format(**values)
    return ""


@dataclass(frozen=True)
class StatementFacts:
    """The checkable content of one statement's text (see the module doc for the kinds)."""

    genres: tuple[str, ...] = ()  # every genre the statement names (for labels and claims)
    without_genres: tuple[str, ...] = ()  # an item fits only with none of these
    year_min: int | None = None  # inclusive bounds on the item's year
    year_max: int | None = None
    titles: tuple[int, ...] = ()  # catalogue indices a title statement names
    title_names: tuple[str, ...] = ()  # their natural titles, aligned with ``titles``
    # an item fits iff it has a genre of *every* group: "crime dramas" is ((Crime,), (Drama,)),
    # "violent" ((Action, Crime, War),), "comedies or dramas" ((Comedy, Drama),). Empty: one
    # group of all ``genres`` (any of them will do)
    groups: tuple[tuple[str, ...], ...] = ()
    without_years: tuple[tuple[int, int], ...] = ()  # "not from the 90s": inclusive ranges

    @property
    def genre_groups(self) -> tuple[tuple[str, ...], ...]:
        if self.groups:
            return self.groups
        return (self.genres,) if self.genres else ()

    @property
    def kind(self) -> Kind:
        if self.titles:
            return "title"
        if self.genres or self.without_genres or self.has_years or self.without_years:
            return "facts"
        return "free"

    @property
    def has_years(self) -> bool:
        return self.year_min is not None or self.year_max is not None

    @property
    def decade(self) -> int | None:
        """The decade when the year range is exactly one ("the 1970s"), else None."""
        lo, hi = self.year_min, self.year_max
        return lo if lo is not None and lo % 10 == 0 and hi == lo + 9 else None

    def fits(self, genres: Sequence[str], year: int) -> bool:
        """Whether an item with these genres and year fits a "facts" statement (an item of
        unknown year fits no year range: we cannot say it does)."""
        if self.kind != "facts":
            return False
        if any(not set(genres) & set(group) for group in self.genre_groups):
            return False
        if set(genres) & set(self.without_genres):
            return False
        if any(lo <= year <= hi for lo, hi in self.without_years):
            return False
        if self.has_years:
            if year <= 0:
                return False
            if self.year_min is not None and year < self.year_min:
                return False
            if self.year_max is not None and year > self.year_max:
                return False
        return True

    def years_label(self) -> str:
        """ "1990s", "1980-1990", "from 1980", "up to 1979" ("" without a range)."""
        return years_phrase(
            self.year_min, self.year_max,
            decade="{lo}s", span="{lo}-{hi}", since="from {lo}", until="up to {hi}",
        )  # fmt: skip

    def label(self, genres: Sequence[str] = ()) -> str:
        """What the statement matched on, for the evidence record: "genre: Animation",
        "1990s", "genre: Action; 1990s", "similar to: Heat", "similar text". With an item's
        ``genres``, only the genres the item actually has are named."""
        kind = self.kind
        if kind == "title":
            return "similar to: " + ", ".join(self.title_names)
        if kind == "free":
            return "similar text"
        named = [g for g in self.genres if not genres or g in genres]
        parts = ["genre: " + ", ".join(named)] if named else []
        if self.without_genres:
            parts.append("not: " + ", ".join(self.without_genres))
        if self.has_years:
            parts.append(self.years_label())
        parts.extend(f"not {lo}-{hi}" for lo, hi in self.without_years)
        return "; ".join(parts)


def _title_reference(clause: Clause, index: TitleIndex) -> list[int]:
    """Catalogue indices a clause names as a whole ("like Heat" -> Heat). The parser drops
    words a title may contain ("film", a leading "the"), so its topic and rest are both tried,
    each also with "the" put back."""
    for words in (clause.topic, clause.rest):
        words = _SIMILAR.sub("", words.strip())
        for query in (words, "the " + words) if words else ():
            if hits := index.lookup(query):
                return hits
    return []


def _titles_named(clauses: Sequence[Clause], index: TitleIndex | None) -> list[int]:
    """Catalogue indices when *every* clause is a title ("Heat, Alien"), else none."""
    if index is None or not clauses:
        return []
    # a clause with genre or year words is about those ("western" is a genre before it is
    # the 1997 film Western)
    references = [[] if c.genres or c.has_years else _title_reference(c, index) for c in clauses]
    if not all(references):
        return []
    return list(dict.fromkeys(i for ref in references for i in ref))


def _read_facts(
    text: str,
    vocabulary: tuple[str, ...],
    index: TitleIndex | None,
    newest_year: int | None,
    reader: GenreReader | None,
) -> StatementFacts:
    """Genres, exclusions and years, read as the chat reads a request (one understanding
    layer, :func:`explanations.understanding.understand`): films with their year cut out,
    "newer than Heat", decades in words, "recent"/"classic" against the catalogue's newest
    year, typos, clipped compounds ("rom-com"), words that name no genre read by ``reader``
    ("spooky"), and genre words of one phrase that all apply ("crime dramas" is both) while a
    list is any of them ("comedies or dramas")."""
    u = understand(text, vocabulary, index, newest_year, reader)
    request = u.request
    groups = request.genre_groups
    genres = tuple(dict.fromkeys(g for group in groups for g in group))
    return StatementFacts(
        genres=genres,
        without_genres=tuple(g for g in request.exclude_genres if g not in genres),
        year_min=request.year_min,
        year_max=request.year_max,
        groups=groups,
        without_years=u.exclude_years,
    )


@lru_cache(maxsize=4096)
def _parse(
    text: str,
    vocabulary: tuple[str, ...],
    index: TitleIndex | None,
    newest_year: int | None,
    reader: GenreReader | None,
) -> StatementFacts:
    # parenthesised parts are labels ("films like Toy Story (Animation, Comedy)", "(1995)"):
    # their commas would cut the statement into clauses that are not the user's meaning
    bare = _PARENS.sub("", text)
    titles = _titles_named(split_clauses(bare, vocabulary), index)
    if titles:
        assert index is not None
        names = tuple(dict.fromkeys(natural_title(index.titles[i]) for i in titles))
        return StatementFacts(titles=tuple(titles), title_names=names)
    return _read_facts(bare, vocabulary, index, newest_year, reader)


def statement_facts(
    text: str,
    vocabulary: Sequence[str],
    index: TitleIndex | None = None,
    newest_year: int | None = None,
    reader: GenreReader | None = None,
) -> StatementFacts:
    """What ``text`` names: genres of ``vocabulary``, a year range, or catalogue titles.
    ``newest_year`` (the catalogue's) anchors "recent" and "classic"; without it they are
    not read as years. ``reader`` reads words that name no genre ("spooky"); without it they
    stay free text."""
    return _parse(text, tuple(vocabulary), index, newest_year, reader)


def newest_year(catalogue: Catalogue) -> int | None:
    """The catalogue's newest release year ("recent" and "classic" are relative to it)."""
    years = np.asarray(catalogue.years)
    return int(years.max()) if len(years) and years.max() > 0 else None


def _group_hits(catalogue: Catalogue, facts: StatementFacts) -> np.ndarray:
    """(n_items, n_groups) bool: whether each item has a genre of each of the groups."""
    vocab = {g: j for j, g in enumerate(catalogue.genre_vocabulary)}
    has = catalogue.genre_matrix > 0  # (n_items, n_genres)
    hits = np.zeros((len(catalogue), len(facts.genre_groups)), dtype=bool)
    for k, group in enumerate(facts.genre_groups):
        cols = [vocab[g] for g in group if g in vocab]
        if cols:
            hits[:, k] = has[:, cols].any(axis=1)
    return hits


def _other_facts(catalogue: Catalogue, facts: StatementFacts) -> np.ndarray:
    """(n_items,) bool: none of the ruled-out genres, and a known year inside the range and
    outside every excluded range."""
    vocab = {g: j for j, g in enumerate(catalogue.genre_vocabulary)}
    out = np.ones(len(catalogue), dtype=bool)
    cols = [vocab[g] for g in facts.without_genres if g in vocab]
    if cols:
        out &= ~(catalogue.genre_matrix[:, cols] > 0).any(axis=1)
    if facts.has_years or facts.without_years:
        years = np.asarray(catalogue.years)
        out &= years > 0
        if facts.year_min is not None:
            out &= years >= facts.year_min
        if facts.year_max is not None:
            out &= years <= facts.year_max
        for lo, hi in facts.without_years:
            out &= (years < lo) | (years > hi)
    return out


def catalogue_fit(catalogue: Catalogue, facts: StatementFacts) -> np.ndarray:
    """(n_items,) bool: the items a "facts" statement fits, or the items a "title" statement
    names (similar items are found by the caller from text vectors); all False for free text.
    Vectorised over the catalogue: a few microseconds per statement on ML-1M."""
    n = len(catalogue)
    kind = facts.kind
    if kind == "title":
        out = np.zeros(n, dtype=bool)
        out[list(facts.titles)] = True
        return out
    if kind == "free":
        return np.zeros(n, dtype=bool)
    return _group_hits(catalogue, facts).all(axis=1) & _other_facts(catalogue, facts)


def catalogue_affinity(catalogue: Catalogue, facts: StatementFacts) -> np.ndarray:
    """(n_items,) float in [0, 1]: how fully each item fits a "facts" statement: 1 where
    :func:`catalogue_fit` holds, else 0. A film with only some of a compound statement's
    genres ("crime dramas": a crime film) gets nothing: a part of its score the statement
    raised would be one no explanation can cite (it is not a crime drama)."""
    return catalogue_fit(catalogue, facts).astype(np.float64)


def min_z_for_precision(z: np.ndarray, truth: np.ndarray, target: float = 0.95) -> float:
    """The smallest threshold t such that items with ``z >= t`` are at least ``target``
    precise against ``truth`` (bool, same shape); ``inf`` if no threshold reaches it.

    Meant for calibrating ``FREE_TEXT_MIN_Z``: score genre statements ("documentaries") as if
    they were free text, and use their genre facts as the truth.
    """
    z = np.asarray(z, dtype=np.float64).ravel()
    truth = np.asarray(truth, dtype=bool).ravel()
    if z.shape != truth.shape:
        raise ValueError("z and truth must have the same number of entries")
    order = np.argsort(-z, kind="stable")
    zs, hits = z[order], truth[order]
    # precision of "z >= zs[k]" counts every tie of zs[k], so evaluate at the last of each run
    last = np.r_[zs[1:] != zs[:-1], True] if len(zs) else np.zeros(0, dtype=bool)
    precision = np.cumsum(hits) / np.arange(1, len(zs) + 1)
    ok = last & (precision >= target)
    return float(zs[ok].min()) if ok.any() else float("inf")
