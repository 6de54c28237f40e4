"""What a person's ratings clearly show: the tastes a generated profile may claim.

A generated statement is a claim about a person ("likes crime dramas"). It is kept only when
their ratings show it clearly, by a lift test:

- **likes** a genre combination: the share of the person's *liked* films that have *all* of
  its genres is at least ``MIN_LIFT`` times the share of everyone's liked films that have
  them (the base rate), and at least ``MIN_FILMS`` of their liked films have them;
- **avoids**: the same over *disliked* films (against everyone's disliked films);
- a **decade** likewise, over the films' release years.

The base rates are weights per catalogue item (how many people liked / disliked it), so the
test costs O(catalogue) per candidate and nothing per other user. Candidates are every single
genre, every pair of genres and every decade of the person's films; the strongest are kept
(films x log lift, so both evidence and specificity count) without two that say the same
thing, and a "likes" and an "avoids" that contradict each other are never both kept (the
weaker goes). Evidence for a statement is films that fully match it.

No Django, no model: :mod:`explanations.generate` asks the LLM to phrase these tastes and
checks its sentence against them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

from explanations.matching import StatementFacts
from explanations.phrasing import genre_noun
from explanations.profile import Polarity

MIN_LIFT = 1.5  # the person's share at least this times everyone's
MIN_FILMS = 3  # ... with at least this many of their films
MAX_LIKES, MAX_AVOIDS, MAX_DECADES = 3, 2, 1
LIKED_RATING, DISLIKED_RATING = 4.0, 2.0  # MovieLens stars, as explanations.generate
EVIDENCE = 3
# the person's share must beat MIN_LIFT x everyone's at the low end of a one-sigma Wilson
# interval. The point estimate alone kept chance pairs (3 films of a few): on the 30% of
# each ML-100K user's ratings held out at random, the films their statements name were 1.46x
# (likes) and 1.55x (avoids) as common as everyone's; with z = 1, 1.61x and 1.71x, at 2.8
# statements a profile instead of 4.1 (z = 1.64: 1.76x / 1.93x, but 1 profile in 5 empty)
CONFIDENCE_Z = 1.0
FILL_TO = 3  # ... and a profile with fewer is filled from point estimates (see tastes)
# two tastes say the same thing when this share of one's films are the other's
SAME_FILMS = 0.7


@dataclass(frozen=True)
class BaseRates:
    """Everyone's liked and disliked films, as weights over catalogue items."""

    vocabulary: tuple[str, ...]
    has: np.ndarray  # (n_items, G) bool: item has genre
    years: np.ndarray  # (n_items,) release years (<= 0: unknown)
    liked: np.ndarray  # (n_items,) how many people liked each item
    disliked: np.ndarray  # (n_items,) ... disliked it
    memo: dict[tuple[str, tuple[str, ...], int | None], float] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def of(
        cls,
        genres: Sequence[Sequence[str]],
        years: Sequence[int] | np.ndarray,
        liked: Sequence[float] | np.ndarray | None = None,
        disliked: Sequence[float] | np.ndarray | None = None,
    ) -> BaseRates:
        """Without weights, every catalogue item counts once: the catalogue's own base rate
        (the web app passes how often each item was rated)."""
        vocabulary = tuple(sorted({g for gs in genres for g in gs}))
        col = {g: j for j, g in enumerate(vocabulary)}
        has = np.zeros((len(genres), len(vocabulary)), dtype=bool)
        for i, gs in enumerate(genres):
            has[i, [col[g] for g in gs]] = True
        ones = np.ones(len(genres))
        like = ones if liked is None else np.asarray(liked, np.float64)
        dislike = like if disliked is None else np.asarray(disliked, np.float64)
        return cls(vocabulary, has, np.asarray(years), like, dislike)

    def rate(self, polarity: Polarity, genres: Sequence[str], decade: int | None) -> float:
        key = (polarity, tuple(sorted(genres)), decade)
        if key not in self.memo:
            self.memo[key] = self._rate(polarity, genres, decade)
        return self.memo[key]

    def _rate(self, polarity: Polarity, genres: Sequence[str], decade: int | None) -> float:
        weights = self.liked if polarity == "likes" else self.disliked
        total = float(weights.sum())
        if total <= 0 or not set(genres) <= set(self.vocabulary):
            return 0.0
        return float(weights[self.fits(genres, decade)].sum()) / total

    def fits(self, genres: Sequence[str], decade: int | None) -> np.ndarray:
        """(n_items,) bool: the catalogue items that have all ``genres`` (and the decade);
        none when a genre is not in the catalogue."""
        if not set(genres) <= set(self.vocabulary):
            return np.zeros(len(self.years), dtype=bool)
        cols = [self.vocabulary.index(g) for g in genres]
        out = np.asarray(self.has[:, cols].all(axis=1))
        if decade is not None:
            out &= (self.years >= decade) & (self.years <= decade + 9)
        return out


@dataclass(frozen=True)
class Rated:
    item_id: Hashable
    genres: tuple[str, ...]
    year: int
    rating: float | None

    def pool(self) -> Polarity | None:
        if self.rating is None or self.rating >= LIKED_RATING:
            return "likes"
        return "avoids" if self.rating <= DISLIKED_RATING else None


@dataclass(frozen=True)
class Taste:
    """One measured taste: what a statement may say, and why."""

    polarity: Polarity
    genres: tuple[str, ...]  # the film has all of them (empty: a decade taste)
    decade: int | None
    films: tuple[Hashable, ...]  # the person's films (in that pool) that fit it
    share: float  # of the person's liked (disliked) films
    base: float  # of everyone's
    evidence: tuple[Hashable, ...] = ()

    @property
    def lift(self) -> float:
        return self.share / self.base if self.base > 0 else math.inf

    @property
    def strength(self) -> float:
        return len(self.films) * math.log(max(self.lift, 1.0))

    @property
    def text(self) -> str:
        """The canonical wording, which the statement reader reads back as this taste:
        "crime dramas", "films from the 1970s", "westerns from the 1950s"."""
        noun = genre_noun(self.genres, plural=True) if self.genres else "films"
        return f"{noun} from the {self.decade}s" if self.decade is not None else noun

    def key(self) -> tuple[str, frozenset[str], int | None]:
        return self.polarity, frozenset(self.genres), self.decade


def claimed(facts: StatementFacts, polarity: Polarity) -> Taste | None:
    """The taste a statement's facts claim (one genre combination and/or one decade), to
    test it or find it among the measured ones; None for anything else (free text, a word
    naming several genres such as "violent", exclusions, a range that is no decade)."""
    if facts.kind != "facts" or facts.without_genres or facts.without_years:
        return None
    if any(len(g) > 1 for g in facts.genre_groups) or (facts.has_years and facts.decade is None):
        return None
    if not facts.genres and facts.decade is None:
        return None
    return Taste(polarity, facts.genres, facts.decade, (), 0.0, 0.0)


def _candidates(films: Sequence[Rated]) -> set[tuple[tuple[str, ...], int | None]]:
    out: set[tuple[tuple[str, ...], int | None]] = set()
    for f in films:
        gs = sorted(set(f.genres))
        out.update(((g,), None) for g in gs)
        out.update((pair, None) for pair in itertools.combinations(gs, 2))
        if f.year > 0:
            decade = f.year // 10 * 10
            out.add(((), decade))
            out.update(((g,), decade) for g in gs)  # "1970s thrillers"
    return out


def _fits(f: Rated, genres: Sequence[str], decade: int | None) -> bool:
    if not set(genres) <= set(f.genres):
        return False
    return decade is None or (f.year > 0 and decade <= f.year <= decade + 9)


def measure(
    polarity: Polarity,
    genres: Sequence[str],
    decade: int | None,
    history: Sequence[Rated],
    base: BaseRates,
) -> Taste:
    """The lift test's figures for one candidate over ``history``."""
    pool = [f for f in history if f.pool() == polarity]
    fitting = [f for f in pool if _fits(f, genres, decade)]
    share = len(fitting) / len(pool) if pool else 0.0
    best = sorted(
        fitting, key=lambda f: -(f.rating or 0.0) if polarity == "likes" else (f.rating or 0.0)
    )
    return Taste(
        polarity, tuple(genres), decade, tuple(f.item_id for f in fitting), share,
        base.rate(polarity, genres, decade), tuple(f.item_id for f in best[:EVIDENCE]),
    )  # fmt: skip


def wilson_low(k: int, n: int, z: float) -> float:
    """The low end of the Wilson interval of a share k/n (0 without films)."""
    if n == 0:
        return 0.0
    p = k / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - spread) / (1 + z * z / n))


def holds(t: Taste, min_lift: float = MIN_LIFT, min_films: int = MIN_FILMS, z: float = 0.0) -> bool:
    """The lift test; with ``z`` > 0 the share must clear it at the low end of its interval
    (a share of 3 films in 5 is weaker evidence than 30 in 50)."""
    if len(t.films) < min_films or t.lift < min_lift:
        return False
    if z <= 0:
        return True
    n = round(len(t.films) / t.share) if t.share > 0 else 0
    return wilson_low(len(t.films), n, z) >= min_lift * t.base


def _same(a: Taste, b: Taste) -> bool:
    if a.polarity != b.polarity:
        return False
    shared = len(set(a.films) & set(b.films))
    return shared >= SAME_FILMS * min(len(a.films), len(b.films))


def contradicts(like: Taste, avoid: Taste) -> bool:
    """An "avoids" that covers everything a "likes" names: "avoids comedies" beside "likes
    romantic comedies", "avoids films from the 1980s" beside "likes 1980s comedies" (not
    "avoids romantic comedies" beside "likes comedies": that one is narrower)."""
    if avoid.decade is not None and avoid.decade != like.decade:
        return False
    if not avoid.genres and avoid.decade is None:
        return False
    return set(avoid.genres) <= set(like.genres)


def _found(history: Sequence[Rated], base: BaseRates, min_lift: float, z: float) -> list[Taste]:
    """Every candidate that passes the lift test, strongest first."""
    found = [
        t
        for polarity in ("likes", "avoids")
        for genres, decade in _candidates([f for f in history if f.pool() == polarity])
        if holds(t := measure(polarity, genres, decade, history, base), min_lift, z=z)  # type: ignore[arg-type]
    ]
    return sorted(found, key=lambda t: (-t.strength, t.text))


def _fits_beside(t: Taste, kept: Sequence[Taste]) -> bool:
    """Whether ``t`` may join ``kept``: within its kind's limit, not the same as one kept,
    not contradicting one."""
    kind = (t.polarity, t.decade is not None)
    limit = (
        MAX_DECADES if t.decade is not None else {"likes": MAX_LIKES}.get(t.polarity, MAX_AVOIDS)
    )
    if sum((k.polarity, k.decade is not None) == kind for k in kept) >= limit:
        return False
    if any(_same(t, k) for k in kept):
        return False
    return not any(
        contradicts(k, t) if t.polarity == "avoids" else contradicts(t, k)
        for k in kept
        if k.polarity != t.polarity
    )


def tastes(
    history: Sequence[Rated],
    base: BaseRates,
    *,
    min_lift: float = MIN_LIFT,
    z: float = CONFIDENCE_Z,
) -> list[Taste]:
    """The person's clearest tastes, strongest first: at most ``MAX_LIKES`` likes,
    ``MAX_AVOIDS`` avoids and ``MAX_DECADES`` decades (alone or with a genre), none saying
    the same as another, none contradicting a stronger one. Tastes that clear the lift at
    the low end of their interval come first; a profile with fewer than ``FILL_TO`` is
    filled with ones that clear it on the point estimate (still ``MIN_FILMS`` films), so a
    person with few ratings is more than "likes 1990s dramas"."""
    kept: list[Taste] = []
    for t in _found(history, base, min_lift, z):
        if _fits_beside(t, kept):
            kept.append(t)
    if len(kept) < FILL_TO and z > 0:
        for t in _found(history, base, min_lift, 0.0):
            if len(kept) >= FILL_TO:
                break
            if t.key() not in {k.key() for k in kept} and _fits_beside(t, kept):
                kept.append(t)
    return kept


__all__ = ["BaseRates", "Rated", "Taste", "contradicts", "holds", "measure", "tastes"]
