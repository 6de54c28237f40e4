"""Re-rank a stored candidate list by the user's profile: arithmetic only, no model calls.

Inputs are what the web app already stores: the candidates' hybrid scores and components, the
catalogue's item text vectors (MiniLM, unit length) and one vector per profile statement. The
only model call an edit needs is embedding the one new or changed statement
(:func:`embed_statements` caches the rest by text), so saving an edit and re-sorting fits
inside a request.

Calibration (why an edit moves items but cannot erase the collaborative signal)
------------------------------------------------------------------------------
For candidate items c and statements s (shapes: C candidates, S statements, d dims):

1. ``a[:, s]`` (n_items,): each statement's affinity with every catalogue item. What it is
   depends on what the statement names (:mod:`explanations.matching`):

   - genres or years ("animated films", "films from the 90s"): the catalogue's fact, 1 for
     an item that fits and 0 otherwise (a compound statement gives an item with some of its
     genres a little: :func:`explanations.matching.catalogue_affinity`). So "likes
     documentaries" raises exactly the documentaries, instead of raising whatever film's
     text happens to sit near the word.
   - a title ("films like Heat"): the cosine of each item's text vector with Heat's.
   - free text ("slow-burn stories about grief"): the cosine of item text and statement text.

2. z-score each column with its mean and standard deviation over the *whole catalogue*, then
   clip to [-z_max, z_max]. Raw MiniLM cosines sit in a narrow band (0.1-0.5) that differs
   per statement; the z-score makes "how much better than a typical film this item matches"
   comparable across statements, and the clip stops one near-duplicate text from dominating.
   For a 0/1 fact with prevalence p the gap between fitting and not fitting is
   1/sqrt(p(1-p)) >= 2 standard units, and rare genres are held back by the clip. A fact
   moves only the films it fits (:func:`statement_stats`): by that fitting z for a generated
   statement, and by ``prefer_z`` ("likes") or ``avoid_z`` ("avoids") units for one the
   person stated (a strong statement, below), so a rare fact asked for is no weaker than a
   common one; the films it does not fit are left alone, so every part is one a sentence
   can cite. Catalogue
   statistics rather than the candidates' own: for a horror fan most candidates are horror,
   and a z-score within the candidates would call a horror film typical and let "avoids
   horror" barely touch it. (Cost: one (n_items, d) @ (d, S) product for the text columns,
   about 1 ms on ML-1M, and a boolean mask per fact column.)
3. ``contribution[c, s] = sign(s) * weight(s) * alpha * spread * z[c, s]`` where ``spread`` is
   the standard deviation of the hybrid score over the same candidates. So the profile part is
   measured in units of the spread of the collaborative ranking: with alpha = 1 and weight 1, an
   item that matches a statement two standard deviations better than the other candidates moves
   by two "spreads", enough to enter or leave a top 10 of 100, but it does not outrank an item
   whose hybrid score is several spreads higher, and candidates that match no statement keep
   their hybrid order among themselves.
4. The total profile part per item is soft-capped at ``cap * spread`` (tanh), however many
   statements agree; per-statement contributions are scaled by the same factor, so they still
   sum to the profile part and the components still sum to the final score.

Two strengths, and retrieval
----------------------------
A statement the user wrote, or that a critique or the chat produced (``EXPLICIT_SOURCES``), is
what the person asked for: it is measured in units of the spread of the user's hybrid score
over the *whole catalogue* (``explicit_alpha``), which is several times the spread inside the
top 100, and capped on its own (``explicit_cap``). So "likes animated films" lifts animated
films past the collaborative favourites the way the person expects, and the weight slider
moves the share of the top 10 from a nudge to a takeover. Statements generated from the
history are guesses that mostly restate what the model already knows: they keep the gentle
unit above (``alpha`` times the candidates' spread) and never bring new items in, so an
unedited generated profile costs no accuracy.

With :class:`CatalogueScores` (the same model's parts for every item, stored by the worker
beside the top 100), explicit "likes" statements also *retrieve*: the ``retrieve`` eligible
items that score best with the explicit parts are merged into the candidates with their
stored parts, so a taste the collaborative model did not already guess reaches the list, and
its explanation cites the same components as any other card. (Cost: one (n_items, S) pass
and a partial sort, about a millisecond on ML-1M.)

On a large catalogue (``recommender.ann.EXACT_BELOW`` items and up) "films like Heat" does not
take Heat's cosine with every item: with :class:`TitleSearch` the nearest items come from an
index over the item vectors, the stored list and what may be retrieved get an exact cosine,
and the column's catalogue mean and std come in closed form (:func:`_title_std`), so the
scored items get the same z-scores; an item the index did not return can still be brought
in when its genre set's bound says it might rank (:meth:`_TitleColumn.widen`).

Whether an item *matches* a statement (what an explanation may cite) is decided alongside:
the fact for genre and year statements, ``z >= free_text_min_z`` for free text (calibrated to
95% precision) and ``z >= title_min_z`` for "films like Heat".

Filters (genres, years, hidden items) remove candidates outright and are reported as such.
Ties are broken by candidate index, so the same inputs always give the same order (a revert to
an earlier profile restores the earlier list exactly).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from explanations.matching import (
    FREE_TEXT_MIN_Z,
    TITLE_MIN_Z,
    StatementFacts,
    catalogue_affinity,
    catalogue_fit,
    newest_year,
    statement_facts,
)
from explanations.profile import Filters, Profile, Statement
from explanations.titles import TitleIndex
from explanations.understanding import GenreReader
from recommender.ann import NearestItems
from recommender.data import Catalogue
from recommender.encoders import text_sha

Encode = Callable[[Sequence[str]], np.ndarray]  # texts -> (n, d) float32, unit rows


# What the user wrote, or asked for through a critique or the chat: explicit intent, which
# steers strongly and retrieves from the whole catalogue. "generated" statements are guesses
# from the history and stay gentle (see the module doc, "Two strengths").
EXPLICIT_SOURCES = frozenset({"user", "critique", "conversation"})


@dataclass(frozen=True)
class ScoringConfig:
    alpha: float = 1.0  # generated: profile units per candidates' spread per unit of weight
    z_max: float = 3.0  # clip of the per-statement z-scores
    cap: float = 4.0  # |generated profile part| <= cap * spread (soft, via tanh)
    # explicit: units of the *catalogue's* spread of the user's hybrid score per unit of
    # weight, and its own soft cap. Chosen with `python -m explanations.evaluate` (steering):
    # at weight 1 one "likes <genre>" statement puts >= 60% of that genre in the top 10
    explicit_alpha: float = 1.0
    explicit_cap: float = 12.0
    retrieve: int = 100  # items explicit statements bring in from the whole catalogue
    # a new user's "likes <genre>" statements already chose the base (what that genre's fans
    # watch: new_user_base), so their own part is this much of an explicit one; 0.1 beat
    # popularity on held-out users where 0, 0.25 and more did not (steering_eval.cold_start)
    # (0.1 was chosen when a covered fact's z was its catalogue z-score, clipped at 3; with
    # the fixed prefer_z step, 0.03 keeps the same size: 0.03 * 10 ~ 0.1 * 3)
    covered_alpha: float = 0.03
    # an explicit "avoids <genre or years>" holds each fitting item down by this many units
    # (of the catalogue's spread, at weight 1): on ML-100K no user's best item stands more
    # than 4.5 spreads above their 30th best, so at 6 (5.5 after the soft cap) the avoided
    # genre leaves the top 10 (`python -m explanations.evaluate`, steering: avoid 0%)
    avoid_z: float = 6.0
    # an explicit "likes <genres or years>" lifts each item that is what it asks for by this
    # many units (8.2 after the soft cap), whatever the fact's prevalence. The catalogue
    # z-score of a 0/1 fact is clipped at z_max for a rare fact ("film noir", "70s
    # thrillers"), which left such a statement at 62% of the top 10 where a common genre got
    # 99%; at 10, statements in people's own words fill 88% of the top 10 (dev split of
    # `python -m explanations.understanding_eval`; 6 gave 79%), and weight 0.25 still nudges
    prefer_z: float = 10.0
    min_spread: float = 1e-6  # below this the hybrid carries no signal; spread := 1
    free_text_min_z: float = FREE_TEXT_MIN_Z  # free-text statements match from this z up
    title_min_z: float = TITLE_MIN_Z  # "films like Heat" statements match from this z up


@dataclass(frozen=True)
class Reranked:
    """The re-ranked list; every array is aligned with ``items`` (best first)."""

    items: np.ndarray  # (n,) catalogue indices that passed the filters
    scores: np.ndarray  # (n,) float64 final scores
    components: dict[str, np.ndarray]  # role -> (n,); the hybrid's roles plus "profile"
    statement_ids: tuple[str, ...]  # (S,) column labels of ``contributions``
    contributions: np.ndarray  # (n, S) per-statement parts; rows sum to components["profile"]
    removed: dict[int, str] = field(default_factory=dict)  # item index -> which filter removed it
    matches: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=bool))  # (n, S)
    facts: tuple[StatementFacts, ...] = ()  # (S,) what each statement names

    def _row(self, item: int) -> int:
        return int(np.flatnonzero(self.items == item)[0])

    def contribution(self, item: int) -> dict[str, float]:
        """statement id -> its part of ``item``'s score."""
        row = self._row(item)
        return {sid: float(self.contributions[row, j]) for j, sid in enumerate(self.statement_ids)}

    def matched(self, item: int) -> dict[str, bool]:
        """statement id -> whether ``item`` truly fits the statement (what may be cited)."""
        row = self._row(item)
        return {sid: bool(self.matches[row, j]) for j, sid in enumerate(self.statement_ids)}

    def facts_by_id(self) -> dict[str, StatementFacts]:
        """statement id -> what it names (for :func:`explanations.explain.collect_evidence`)."""
        return dict(zip(self.statement_ids, self.facts, strict=True))


def embed_statements(
    statements: Sequence[Statement],
    encode: Encode,
    cache: MutableMapping[str, np.ndarray] | None = None,
) -> np.ndarray:
    """(S, d) vectors for the statements' texts; only texts missing from ``cache`` are encoded.

    ``cache`` maps sha256(text) -> vector: the web app keeps it per profile so an edit embeds
    one text (~10 ms with MiniLM) rather than all of them.
    """
    cache = {} if cache is None else cache
    shas = [text_sha(s.text) for s in statements]
    missing = list(dict.fromkeys(h for h in shas if h not in cache))
    if missing:
        by_sha = {text_sha(s.text): s.text for s in statements}
        fresh = np.asarray(encode([by_sha[h] for h in missing]), dtype=np.float32)
        cache.update(zip(missing, fresh, strict=True))
    if not shas:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([cache[h] for h in shas]).astype(np.float32)


def filter_keep(catalogue: Catalogue, items: np.ndarray, filters: Filters) -> np.ndarray:
    """(len(items),) bool: the items that pass ``filters``, in array operations over the
    candidates (a retrieval pool can be a large part of the catalogue)."""
    items = np.asarray(items, dtype=np.int64)
    keep = np.ones(len(items), dtype=bool)
    if filters.is_empty() or not len(items):
        return keep
    if filters.exclude_items:  # a handful of hidden items: look each up
        hidden = {catalogue.ids.index(x) for x in filters.exclude_items if x in catalogue.ids}
        keep &= ~np.isin(items, np.fromiter(hidden, dtype=np.int64, count=len(hidden)))
    vocab = {g: j for j, g in enumerate(catalogue.genre_vocabulary)}
    has = catalogue.genre_matrix[items] > 0
    if filters.include_genres:
        cols = [vocab[g] for g in filters.include_genres if g in vocab]
        keep &= has[:, cols].any(axis=1) if cols else False
    if cols := [vocab[g] for g in filters.exclude_genres if g in vocab]:
        keep &= ~has[:, cols].any(axis=1)
    years = np.asarray(catalogue.years)[items]
    if filters.year_min is not None:
        keep &= (years <= 0) | (years >= filters.year_min)
    if filters.year_max is not None:
        keep &= (years <= 0) | (years <= filters.year_max)
    return keep


def filter_mask(
    catalogue: Catalogue, items: np.ndarray, filters: Filters
) -> tuple[np.ndarray, dict[int, str]]:
    """(keep mask (len(items),), item -> reason for each removed item); the reasons are
    worded for the removed items only."""
    keep = filter_keep(catalogue, items, filters)
    removed: dict[int, str] = {}
    excluded_ids = set(filters.exclude_items)
    for i in np.asarray(items, dtype=np.int64)[~keep].tolist():
        genres, year = catalogue.genres[i], int(catalogue.years[i])
        if excluded_ids and catalogue.ids.external(i) in excluded_ids:
            removed[i] = "hidden item"
        elif filters.include_genres and not set(genres) & set(filters.include_genres):
            removed[i] = "not in: " + ", ".join(filters.include_genres)
        elif set(genres) & set(filters.exclude_genres):
            removed[i] = "excluded genre: " + ", ".join(
                sorted(set(genres) & set(filters.exclude_genres))
            )
        elif filters.year_min is not None and year < filters.year_min:
            removed[i] = f"before {filters.year_min}"
        else:
            removed[i] = f"after {filters.year_max}"
    return keep, removed


def profile_contributions(
    sims: np.ndarray,
    statements: Sequence[Statement],
    spread: float,
    stats: np.ndarray,
    config: ScoringConfig = ScoringConfig(),
    explicit_spread: float | None = None,
    covered: Collection[str] = (),
    strong: Sequence[bool] | np.ndarray | None = None,
) -> np.ndarray:
    """(C, S) calibrated per-statement parts (steps 2-4 of the module doc).

    ``sims``: (C, S) candidate-statement affinities (a 0/1 fact or a cosine, step 1);
    ``stats``: (2, S) each statement's affinity mean and std over the whole catalogue, and
    optionally a third row, each column's upper clip of z (:func:`statement_stats`);
    ``spread``: the unit of generated statements (the candidates' spread); ``explicit_spread``:
    the unit of explicit ones (the catalogue's spread; ``spread`` when None); ``covered``: ids
    of statements the base already reflects (``config.covered_alpha``); ``strong``: (S,)
    which statements get the explicit unit (default: every explicit one; see
    :func:`strong_statements`). Each group's
    total is soft-capped on its own, so a strong explicit statement never lifts the cap on
    what the generated ones may do, and vice versa.
    """
    n, s = sims.shape[0], len(statements)
    if n == 0 or s == 0:
        return np.zeros((n, s))
    sims = sims.astype(np.float64)
    mean, std = stats[0], stats[1]  # (S,) each
    z = np.where(std > 1e-9, (sims - mean) / np.where(std > 1e-9, std, 1.0), 0.0)
    # stats' optional third row: each column's upper clip (a strong avoid's is avoid_z)
    upper = stats[2] if len(stats) > 2 else np.full(s, config.z_max)
    z = np.clip(z, -config.z_max, upper[None, :])
    explicit = (
        np.array([st.source in EXPLICIT_SOURCES for st in statements])
        if strong is None
        else np.asarray(strong, dtype=bool)
    )  # (S,)
    unit_spread = spread if explicit_spread is None else explicit_spread
    alphas = [
        config.covered_alpha if st.id in covered else config.explicit_alpha for st in statements
    ]
    unit = np.where(explicit, np.array(alphas) * unit_spread, config.alpha * spread)  # (S,)
    signed = np.array([st.sign * st.weight for st in statements])  # (S,)
    parts = z * (unit * signed)[None, :]  # (C, S)
    for group, limit in (
        (~explicit, config.cap * spread),
        (explicit, config.explicit_cap * unit_spread),
    ):
        if not group.any():
            continue
        total = parts[:, group].sum(axis=1)  # (C,)
        capped = limit * np.tanh(total / limit)
        scale = np.where(np.abs(total) > 1e-12, capped / np.where(total == 0, 1.0, total), 1.0)
        parts[:, group] *= scale[:, None]
    return parts


@dataclass(frozen=True)
class CatalogueScores:
    """The user's hybrid score of every catalogue item, by component (the worker stores it
    beside the top 100): what lets an explicit statement bring in an item the top 100 lacks,
    scored with the same components as the rest.

    ``components``: role -> (n_items,) parts (summing to the hybrid score); ``eligible``:
    (n_items,) bool, the items the list may show (active, not in the history).
    """

    components: Mapping[str, np.ndarray]
    eligible: np.ndarray

    @functools.cached_property
    def total(self) -> np.ndarray:
        """(n_items,) the hybrid score: the parts' sum, computed once."""
        return np.sum([np.asarray(v, np.float64) for v in self.components.values()], axis=0)

    def spread(self, floor: float) -> float | None:
        """std of the hybrid score over the eligible items (None below ``floor``)."""
        values = self.total[self.eligible]
        if len(values) < 2:
            return None
        std = float(values.std())
        return std if std > floor else None

    def parts_of(self, items: np.ndarray) -> dict[str, np.ndarray]:
        """role -> (len(items),) float64 parts of those catalogue items."""
        return {r: np.asarray(v, np.float64)[items] for r, v in self.components.items()}

    def totals_of(self, items: np.ndarray) -> np.ndarray:
        return self.total[items]


@dataclass(frozen=True)
class ScoredOnDemand:
    """The same for a user whose parts are scored when asked, for the items asked about
    (from a user state: ``recommender.user_state``), so retrieval costs O(its pool), not a
    pass over the catalogue. ``score``: catalogue rows -> role -> (len(rows),) parts;
    ``stored_spread``: the total score's std over the user's unseen items, from the worker."""

    eligible: np.ndarray
    score: Callable[[np.ndarray], dict[str, np.ndarray]]
    stored_spread: float | None

    def spread(self, floor: float) -> float | None:
        if self.stored_spread is None:  # a state written without it: measure it once
            everything = self.totals_of(np.flatnonzero(self.eligible))
            return CatalogueScores({"total": everything}, np.ones(len(everything), bool)).spread(
                floor
            )
        return self.stored_spread if self.stored_spread > floor else None

    def parts_of(self, items: np.ndarray) -> dict[str, np.ndarray]:
        return self.score(np.asarray(items, np.int64))

    def totals_of(self, items: np.ndarray) -> np.ndarray:
        parts = self.parts_of(items)
        return np.sum(list(parts.values()), axis=0) if parts else np.zeros(len(items))


WholeCatalogue = CatalogueScores | ScoredOnDemand


@dataclass(frozen=True)
class TextMoments:
    """The item vectors' mean (d,) and second moment ``V^T V / n`` (d, d), float64: a free-text
    statement's cosine with every item has mean ``mu . s`` and variance ``s M s - (mu . s)^2``,
    so its z-scores need the cosines of the candidates only, not a pass over the catalogue
    (O(d^2) per statement instead of O(n_items d); computed once per set of item vectors)."""

    mean: np.ndarray
    second: np.ndarray

    @classmethod
    def of(cls, item_vectors: np.ndarray) -> TextMoments:
        v = np.asarray(item_vectors, np.float64)
        n = max(len(v), 1)
        return cls(v.sum(axis=0) / n, (v.T @ v) / n)

    def cosine_moments(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(k,), (k,): the mean and std over the catalogue of each row's cosines."""
        s = np.asarray(vectors, np.float64)
        mean = s @ self.mean
        var = np.sum((s @ self.second) * s, axis=1) - mean**2  # s M s per row
        return mean, np.sqrt(np.maximum(var, 0.0))


Neighbours = tuple[np.ndarray, np.ndarray]  # (n_items, k) item indices, (n_items, k) cosines


def zscore(x: np.ndarray) -> np.ndarray:
    """(x - mean) / std over the whole array; a constant one becomes zeros."""
    x = np.asarray(x, np.float64)
    std = float(x.std())
    return (x - x.mean()) / std if std > 1e-9 else np.zeros_like(x)


def genre_overlap(catalogue: Catalogue, titles: Sequence[int]) -> np.ndarray:
    """(n,) the largest Jaccard overlap of each item's genres with one of ``titles``': "more
    like Toy Story" is first of all more animated family comedies."""
    has = catalogue.genre_matrix > 0  # (n, G)
    return genre_overlap_of(has, has[list(titles)])


def genre_overlap_of(has: np.ndarray, named: np.ndarray) -> np.ndarray:
    """(m,) the largest Jaccard overlap of each row of ``has`` (m, G) bool with one of the
    rows of ``named`` (T, G) bool."""
    out = np.zeros(len(has))
    for row in named:
        inter = (has & row).sum(axis=1)
        union = (has | row).sum(axis=1)
        out = np.maximum(out, np.divide(inter, union, out=np.zeros(len(out)), where=union > 0))
    return out


def cowatch_affinity(neighbours: Neighbours, titles: Sequence[int], n: int) -> np.ndarray:
    """(n,) co-watch cosine of every item with the closest of ``titles``, from each title's
    stored neighbour list (:meth:`recommender.cowatch.CoWatch.neighbours`); 0 beyond it."""
    index, sims = neighbours
    out = np.zeros(n)
    for t in titles:
        if 0 <= t < len(index):
            np.maximum.at(out, index[t], sims[t].astype(np.float64))
    return out


@dataclass(frozen=True)
class GenreGroups:
    """The catalogue's items grouped by their exact set of genres (a few hundred sets however
    many items): a title statement's genre overlap is a function of the set, so its values
    and its covariance with the text cosine cost O(sets), not a pass over the items."""

    group: np.ndarray  # (n,) int64: each item's set
    genres: np.ndarray  # (U, G) bool: each set's genres
    counts: np.ndarray  # (U,) items per set
    vector_sums: np.ndarray  # (U, d) float64: the sum of each set's item vectors
    members: np.ndarray  # (n,) item indices ordered by set: set u is members[starts[u]:starts[u+1]]
    starts: np.ndarray  # (U + 1,)

    def items_of(self, sets: np.ndarray) -> np.ndarray:
        """The items of ``sets``, concatenated."""
        parts = [self.members[self.starts[u] : self.starts[u + 1]] for u in sets.tolist()]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    @classmethod
    def of(cls, catalogue: Catalogue, item_vectors: np.ndarray) -> GenreGroups:
        genres, group, counts = np.unique(
            catalogue.genre_matrix > 0, axis=0, return_inverse=True, return_counts=True
        )
        group = np.asarray(group, np.int64).reshape(-1)
        members = np.argsort(group, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        sums = (
            np.add.reduceat(item_vectors[members], starts[:-1], axis=0, dtype=np.float64)
            if len(members)
            else np.zeros((0, item_vectors.shape[1]))
        )  # (U, d)
        return cls(group, genres, counts, sums, members, starts)


@dataclass(frozen=True)
class TitleSearch:
    """What scores "films like Heat" without a pass over every item vector: the nearest
    ``reach`` items by text come from ``index`` (:mod:`recommender.ann`), and only those, the
    stored list and what else may be retrieved get an exact cosine. The column's catalogue
    mean and std, which the exact path measures over every item, come from ``moments`` and
    ``groups`` in closed form, so the z-scores of the items scored are the same."""

    index: NearestItems
    moments: TextMoments
    groups: GenreGroups
    # text neighbours the index returns: retrieval keeps a title statement's 3 * retrieve
    # best (_could_fit), and an HNSW search costs about linearly in k
    reach: int = 300

    @classmethod
    def of(cls, catalogue: Catalogue, item_vectors: np.ndarray, index: NearestItems) -> TitleSearch:
        return cls(index, TextMoments.of(item_vectors), GenreGroups.of(catalogue, item_vectors))


@dataclass
class _TitleColumn:
    """A title statement's affinity column whose text part is filled row by row: the genre
    and co-watch parts are dense (cheap), the text cosine is added for ``known`` rows only."""

    affinity: np.ndarray  # (n_items, S), the column ``j`` of which this fills
    j: int
    vectors: np.ndarray  # (n_items, d) item vectors
    anchor: np.ndarray  # (d,) unit, or zeros
    text_mean: float
    text_std: float  # 0: the text part is 0 everywhere
    known: np.ndarray  # (n_items,) bool
    groups: GenreGroups
    set_part: np.ndarray  # (U,) each genre set's genre part + the co-watch part of 0
    text_floor: float = -np.inf  # the text part of the index's farthest answer
    mean: float = 0.0  # the whole column's, over the catalogue
    std: float = 0.0

    def widen(self, pool: np.ndarray, k: int) -> None:
        """Fill the items of ``pool`` that could be among its ``k`` best and are not known
        yet: an item the index did not return has a text part below ``text_floor``, so its
        value is at most ``text_floor + set_part`` of its genre set. Sets whose bound beats
        the k-th best known value are scored whole (a few, of a few thousand items each)."""
        if k <= 0:
            return
        known = self.affinity[pool[self.known[pool]], self.j]
        kth = -np.inf if len(known) < k else float(np.partition(known, len(known) - k)[-k])
        sets = np.flatnonzero(self.text_floor + self.set_part > kth)
        if len(sets):
            self.fill(self.groups.items_of(sets))

    def fill(self, rows: np.ndarray) -> None:
        rows = np.sort(np.asarray(rows, np.int64))
        rows = rows[~self.known[rows] & np.append(True, rows[1:] != rows[:-1])]  # new, once
        if len(rows) and self.text_std > 1e-9:
            cos = self.vectors[rows] @ self.anchor.astype(self.vectors.dtype)  # (R,)
            self.affinity[rows, self.j] += (cos - self.text_mean) / self.text_std
        self.known[rows] = True


@dataclass(frozen=True)
class _Part:
    """One z-scored part of a title column: (n,) raw values and their catalogue mean, std."""

    values: np.ndarray
    mean: float
    std: float

    @classmethod
    def of(cls, values: np.ndarray) -> _Part:
        return cls(values, float(values.mean()), float(values.std()))

    @property
    def varies(self) -> bool:
        return self.std > 1e-9

    def z(self, values: np.ndarray | float) -> np.ndarray:
        """z-scores of ``values`` (zeros for a constant part, as :func:`zscore` gives)."""
        v = np.asarray(values, np.float64)
        return (v - self.mean) / self.std if self.varies else np.zeros_like(v)


def _title_std(
    anchor: np.ndarray,
    text: tuple[float, float],
    genre: _Part,
    per_group: np.ndarray,
    cow: _Part,
    item_vectors: np.ndarray,
    groups: GenreGroups,
) -> float:
    """The catalogue std of z(text) + z(genre) + z(co-watch) without the text column: the
    parts' variances (1, or 0 for a constant part) plus twice their covariances, text x genre
    through the genre sets' vector sums, text x co-watch through the few co-watched items,
    genre x co-watch densely (both are cheap columns). ``text``: the cosine's mean, std."""
    n = len(genre.values)
    (t_mean, t_std), t_varies = text, text[1] > 1e-9
    var = float(t_varies) + float(genre.varies) + float(cow.varies)
    var += 2 * float(genre.z(genre.values) @ cow.z(cow.values)) / n
    if t_varies:  # sum_i cos_i z_i = sum_i (cos_i - mean) z_i, as sum_i z_i = 0
        var += 2 * float(anchor @ (genre.z(per_group) @ groups.vector_sums)) / (n * t_std)
        co_watched = np.flatnonzero(cow.values)
        if cow.varies and len(co_watched):
            cos = np.asarray(item_vectors[co_watched], np.float64) @ anchor  # (k,)
            shared = float(cos @ cow.values[co_watched]) - n * t_mean * cow.mean
            var += 2 * shared / (n * t_std * cow.std)
    return float(np.sqrt(max(var, 0.0)))


def _title_column(
    affinity: np.ndarray,
    j: int,
    titles: Sequence[int],
    item_vectors: np.ndarray,
    catalogue: Catalogue,
    neighbours: Neighbours | None,
    search: TitleSearch,
) -> _TitleColumn:
    """Column ``j`` of ``affinity`` for "films like <titles>" as :func:`statement_affinities`
    computes it (z(text) + z(genre overlap) + z(co-watch)), with the text part known for the
    index's ``reach`` nearest items and the co-watched ones; its catalogue moments exact."""
    n, groups = len(catalogue), search.groups
    anchor = np.asarray(item_vectors[list(titles)], np.float64).sum(axis=0)  # (d,)
    norm = float(np.linalg.norm(anchor))
    anchor = anchor / norm if norm > 0 else anchor
    t_mean, t_std = (float(x[0]) for x in search.moments.cosine_moments(anchor[None, :]))
    per_group = genre_overlap_of(groups.genres, catalogue.genre_matrix[list(titles)] > 0)  # (U,)
    genre = _Part.of(per_group[groups.group])  # (n,)
    cow = _Part.of(
        cowatch_affinity(neighbours, titles, n) if neighbours is not None else np.zeros(n)
    )
    affinity[:, j] = genre.z(genre.values) + cow.z(cow.values)
    set_part = genre.z(per_group) + float(cow.z(0.0))  # (U,) an item that nobody co-watched
    column = _TitleColumn(
        affinity, j, item_vectors, anchor, t_mean, t_std, np.zeros(n, bool), groups, set_part
    )
    column.std = _title_std(anchor, (t_mean, t_std), genre, per_group, cow, item_vectors, groups)
    if t_std > 1e-9:
        near, cos = search.index.search(anchor[None, :].astype(np.float32), search.reach)
        column.fill(near[0])
        # an item the index did not return is farther than its last answer (every item it
        # holds, when it returned fewer), or is one with no vector yet (cosine 0)
        farthest = float(cos[0, -1]) if near.shape[1] >= search.reach else -1.0
        column.text_floor = (max(farthest, 0.0) - t_mean) / t_std
    else:
        column.text_floor = 0.0  # no text part anywhere
    column.fill(np.flatnonzero(cow.values))
    return column


def statement_affinities(
    statements: Sequence[Statement],
    statement_vectors: np.ndarray,
    item_vectors: np.ndarray,
    catalogue: Catalogue,
    index: TitleIndex | None = None,
    neighbours: Neighbours | None = None,
    reader: GenreReader | None = None,
    free_text: bool = True,
    titles: bool = True,
) -> tuple[np.ndarray, np.ndarray, tuple[StatementFacts, ...]]:
    """Step 1 of the module doc over the whole catalogue ("films like Heat": the z-scored
    cosine to Heat's text vector plus the z-scored genre overlap with it, plus the z-scored
    co-watch cosine when ``neighbours`` is given). ``free_text=False`` leaves free-text
    columns at 0 for the caller to fill for its candidates only (:class:`TextMoments`);
    ``titles=False`` leaves title columns at 0 likewise (:class:`TitleSearch`).

    Returns (affinity (n_items, S) float64, fit (n_items, S) bool, facts (S,)): ``fit`` is the
    catalogue's fact for genre/year statements and the named titles themselves for title
    statements (all False for free text; a z-score threshold adds the similar items later).
    """
    n, s = len(catalogue), len(statements)
    vocabulary = catalogue.genre_vocabulary
    newest = newest_year(catalogue)
    # only what a person wrote goes to the reader: a generated statement's words are the
    # LLM's, and reading "stories about friendship" as a genre would make claims of it
    facts = tuple(
        statement_facts(
            st.text, vocabulary, index, newest, reader if st.source in EXPLICIT_SOURCES else None
        )
        for st in statements
    )
    affinity = np.zeros((n, s), dtype=np.float64)
    fit = np.zeros((n, s), dtype=bool)
    free = [j for j, f in enumerate(facts) if f.kind == "free"]
    if free and free_text:
        # float32 is plenty for cosines of unit vectors
        vectors = statement_vectors[free].astype(item_vectors.dtype)
        affinity[:, free] = item_vectors @ vectors.T  # (n_items, F)
    for j, f in enumerate(facts):
        if f.kind == "free":
            continue
        fit[:, j] = catalogue_fit(catalogue, f)
        if f.kind == "facts":
            # "likes funny animated films" scores by the share of its genres an item has;
            # "avoids violent films" (Action, Crime or War) holds down any of them
            liked = statements[j].polarity == "likes"
            affinity[:, j] = catalogue_affinity(catalogue, f) if liked else fit[:, j]
        elif titles:  # "like Heat": similarity to Heat's own text vector
            anchor = item_vectors[list(f.titles)].sum(axis=0)  # (d,), the vectors' dtype
            norm = np.linalg.norm(anchor)
            text = item_vectors @ (anchor / norm if norm > 0 else anchor)
            affinity[:, j] = zscore(text) + zscore(genre_overlap(catalogue, f.titles))
            if neighbours is not None:
                # what the same people watch, beside what the text says: text alone finds
                # "Ghost in the Shell" for "more like Ghost"; co-watching finds Pretty Woman
                affinity[:, j] += zscore(cowatch_affinity(neighbours, f.titles, n))
    return affinity, fit, facts


def strong_statements(
    statements: Sequence[Statement], facts: Sequence[StatementFacts]
) -> np.ndarray:
    """(S,) bool: explicit statements whose match the catalogue can vouch for (genres, years,
    titles). Free text stays gentle even when the user wrote it: its similarity is not
    evidence enough to pull items in (95% precision needs z >= 5.3, which 0.2% of items
    reach), and a large part nobody can explain is what a reader would notice."""
    return np.array(
        [
            st.source in EXPLICIT_SOURCES and f.kind != "free"
            for st, f in zip(statements, facts, strict=True)
        ],
        dtype=bool,
    )


def affinity_moments(
    affinity: np.ndarray,
    facts: Sequence[StatementFacts],
    statement_vectors: np.ndarray,
    text_moments: TextMoments | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(S,), (S,): each affinity column's mean and std over the catalogue, once per re-rank;
    free-text columns from ``text_moments`` when given (their columns were not computed)."""
    free = [j for j, f in enumerate(facts) if f.kind == "free"]
    rest = [j for j in range(len(facts)) if j not in free]
    mean, std = np.zeros(len(facts)), np.zeros(len(facts))
    if rest:
        cols = affinity[:, rest]
        mean[rest], std[rest] = cols.mean(axis=0), cols.std(axis=0)
    if free:
        if text_moments is not None:
            mean[free], std[free] = text_moments.cosine_moments(statement_vectors[free])
        else:
            cols = affinity[:, free]
            mean[free], std[free] = cols.mean(axis=0), cols.std(axis=0)
    return mean, std


def statement_stats(
    moments: tuple[np.ndarray, np.ndarray],
    statements: Sequence[Statement],
    facts: Sequence[StatementFacts],
    strong: np.ndarray,
    config: ScoringConfig,
) -> np.ndarray:
    """(3, S) the affinity's mean and std over the catalogue (step 2) and the clip of its z
    (``z_max``). A genre or year statement moves only the films it fits, by a fixed step,
    and leaves the rest alone (z = fit * step): a z-score would also shift every film it does
    not fit ("avoids horror" lifting every other film a little), a part of the score no
    explanation can cite. The step is ``prefer_z`` / ``avoid_z`` for a strong one, whatever
    the genre's prevalence (a common genre's z of ~1 let a favourite drama survive "avoids
    dramas"), and the catalogue z of a fitting film, clipped at ``z_max``, for a gentle one.
    ``moments``: :func:`affinity_moments`."""
    mean, std = moments
    stats = np.stack([mean, std, np.full(len(mean), config.z_max)])
    for j, (st, f) in enumerate(zip(statements, facts, strict=True)):
        if f.kind != "facts":
            continue
        if strong[j]:
            step = config.avoid_z if st.polarity == "avoids" else config.prefer_z
        elif std[j] > 1e-9:
            step = min((1.0 - mean[j]) / std[j], config.z_max)
        else:
            continue
        stats[:, j] = (0.0, 1.0 / step, step)
    return stats


def _could_fit(
    pool: np.ndarray,
    affinity: np.ndarray,
    fit: np.ndarray,
    likes: list[int],
    facts: Sequence[StatementFacts],
    limit: int,
    lazy: Mapping[int, _TitleColumn] | None = None,
) -> np.ndarray:
    """The part of ``pool`` a strong "likes" statement could bring in: the items a genre or
    year statement fits, and a title statement's ``limit`` most similar items (with ``lazy``,
    among the items its column knows: the index's nearest ones). Only these are scored: the
    rest get no part from the statements and rank below the stored list anyway."""
    keep = np.zeros(len(pool), dtype=bool)
    for j in likes:
        if facts[j].kind == "facts":
            keep |= fit[pool, j]
            continue
        rows = np.arange(len(pool))
        if lazy and j in lazy:
            lazy[j].widen(pool, min(limit, len(pool)))
            rows = rows[lazy[j].known[pool]]
        k = min(limit, len(rows))
        if k:
            near = affinity[pool[rows], j]
            keep[rows[np.argpartition(-near, k - 1)[:k]]] = True
    return pool[keep]


def _retrieve(
    catalogue: Catalogue,
    candidates: np.ndarray,
    catalogue_scores: WholeCatalogue,
    affinity: np.ndarray,
    fit: np.ndarray,
    facts: Sequence[StatementFacts],
    stats: np.ndarray,
    strong: np.ndarray,
    profile: Profile,
    spread: float,
    explicit_spread: float,
    config: ScoringConfig,
    lazy: Mapping[int, _TitleColumn] | None = None,
) -> np.ndarray:
    """Catalogue indices, not among ``candidates``, of the ``config.retrieve`` eligible items
    that score best with the strong statements' parts (generated ones and free text never
    retrieve) and pass the filters."""
    statements = profile.statements
    explicit = [j for j in range(len(statements)) if strong[j]]
    if not explicit or not any(statements[j].polarity == "likes" for j in explicit):
        return np.zeros(0, np.int64)
    pool = np.flatnonzero(catalogue_scores.eligible)
    pool = pool[~np.isin(pool, candidates)]
    likes = [j for j in explicit if statements[j].polarity == "likes"]
    pool = _could_fit(pool, affinity, fit, likes, facts, 3 * config.retrieve, lazy)
    if len(pool) and not profile.filters.is_empty():
        pool = pool[filter_keep(catalogue, pool, profile.filters)]
    if not len(pool):
        return np.zeros(0, np.int64)
    for column in (lazy or {}).values():  # the exact text part of what is scored
        column.fill(pool)
    chosen = [statements[j] for j in explicit]
    cols = affinity[:, explicit]  # (n_items, E)
    parts = profile_contributions(
        cols[pool], chosen, spread, stats[:, explicit], config, explicit_spread
    )
    score = catalogue_scores.totals_of(pool) + parts.sum(axis=1)
    k = min(config.retrieve, len(pool))
    top = np.argpartition(-score, k - 1)[:k]
    return pool[top[np.lexsort((pool[top], -score[top]))]]


def _extended(
    candidates: np.ndarray,
    base: np.ndarray,
    base_components: dict[str, np.ndarray],
    extra: np.ndarray,
    catalogue_scores: WholeCatalogue,
) -> tuple[np.ndarray, np.ndarray]:
    """``candidates`` and ``base`` with the retrieved items appended; ``base_components``
    extended in place with their parts: the same model's, read off the whole catalogue."""
    extra_parts = catalogue_scores.parts_of(extra)
    added_total = (
        np.sum(list(extra_parts.values()), axis=0) if extra_parts else np.zeros(len(extra))
    )  # the total is the parts' sum
    for role in set(base_components) | set(extra_parts):
        known = base_components.get(role, np.zeros(len(candidates)))
        more = extra_parts.get(role)
        added = np.zeros(len(extra)) if more is None else np.asarray(more)
        base_components[role] = np.concatenate([known, added.astype(np.float64)])
    return np.concatenate([candidates, extra]), np.concatenate([base, added_total])


def _matched(
    sims: np.ndarray,
    moments: tuple[np.ndarray, np.ndarray],
    facts: Sequence[StatementFacts],
    config: ScoringConfig,
) -> np.ndarray:
    """(C, S) bool: a text or title statement matches from its z-score threshold on; facts
    statements never match by similarity (their fit decides)."""
    mean, std = moments
    z = np.where(std > 1e-9, (sims - mean) / np.where(std > 1e-9, std, 1.0), 0.0)
    floor = np.array(
        [
            np.inf
            if f.kind == "facts"
            else config.title_min_z
            if f.kind == "title"
            else config.free_text_min_z
            for f in facts
        ]
    )  # (S,)
    return z >= floor[None, :]


def profile_rerank(
    candidates: np.ndarray,
    base_scores: np.ndarray,
    base_components: Mapping[str, np.ndarray],
    item_vectors: np.ndarray,
    statement_vectors: np.ndarray,
    profile: Profile,
    catalogue: Catalogue,
    config: ScoringConfig = ScoringConfig(),
    *,
    index: TitleIndex | None = None,
    catalogue_scores: WholeCatalogue | None = None,
    covered: Collection[str] = (),
    neighbours: Neighbours | None = None,
    reader: GenreReader | None = None,
    text_moments: TextMoments | None = None,
    title_search: TitleSearch | None = None,
) -> Reranked:
    """Final score = hybrid score + calibrated profile part; filtered; best first.

    Shapes: candidates, base_scores (C,); base_components role -> (C,); item_vectors
    (n_items, d) for the whole catalogue; statement_vectors (S, d) aligned with
    ``profile.statements`` (from :func:`embed_statements`; only free-text rows are read).
    ``index``: the catalogue's :class:`TitleIndex`, to read "films like Heat" as a title
    statement; without it such a statement is free text. ``catalogue_scores``: the user's
    hybrid parts over the whole catalogue; with it, explicit statements retrieve items
    beyond ``candidates`` and are measured in the catalogue's spread (module doc).
    ``covered``: statements the base already reflects (a new user's, :func:`new_user_base`).
    ``neighbours``: each item's most co-watched items, for "films like Heat".
    ``reader``: reads statement words that name no genre ("spooky": horror), as the chat does.
    ``text_moments``: :meth:`TextMoments.of` the item vectors; with it, free text is scored
    for the candidates only (the same z-scores, without a pass over the catalogue).
    ``title_search``: an index over the item vectors; with it, "films like Heat" brings in
    candidates from the index and scores a few hundred items' text, not every item's.
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    base = np.asarray(base_scores, dtype=np.float64)
    statements = profile.statements
    if len(statements) != len(statement_vectors):
        raise ValueError("statement_vectors must have one row per profile statement")
    spread = float(base.std()) if len(base) else 0.0
    spread = spread if spread > config.min_spread else 1.0
    explicit_spread = spread
    if catalogue_scores is not None:
        explicit_spread = catalogue_scores.spread(config.min_spread) or spread
    facts: tuple[StatementFacts, ...] = ()
    base_components = {r: np.asarray(v, np.float64) for r, v in base_components.items()}
    if len(statements):
        affinity, fit, facts = statement_affinities(
            statements, statement_vectors, item_vectors, catalogue, index, neighbours, reader,
            free_text=text_moments is None, titles=title_search is None,
        )  # (n_items, S) each  # fmt: skip
        strong = strong_statements(statements, facts)
        lazy = {
            j: _title_column(
                affinity, j, f.titles, item_vectors, catalogue, neighbours, title_search
            )
            for j, f in enumerate(facts)
            if f.kind == "title" and title_search is not None
        }
        for column in lazy.values():
            column.fill(candidates)
        moments = affinity_moments(affinity, facts, statement_vectors, text_moments)
        for j, column in lazy.items():  # the column was not computed for every item
            moments[0][j], moments[1][j] = column.mean, column.std
        stats = statement_stats(moments, statements, facts, strong, config)
        if catalogue_scores is not None:
            extra = _retrieve(
                catalogue,
                candidates,
                catalogue_scores,
                affinity,
                fit,
                facts,
                stats,
                strong,
                profile,
                spread,
                explicit_spread,
                config,
                lazy,
            )
            if len(extra):
                candidates, base = _extended(
                    candidates, base, base_components, extra, catalogue_scores
                )
        sims = affinity[candidates]  # (C, S)
        free = [j for j, f in enumerate(facts) if f.kind == "free"]
        if free and text_moments is not None:  # the free-text cosines of the candidates only
            vectors = statement_vectors[free].astype(item_vectors.dtype)
            sims[:, free] = item_vectors[candidates] @ vectors.T
        matches = fit[candidates] | _matched(sims, moments, facts, config)
    else:
        stats, sims = np.zeros((2, 0)), np.zeros((len(candidates), 0))
        matches = np.zeros((len(candidates), 0), dtype=bool)
        strong = np.zeros(0, dtype=bool)
    keep, removed = filter_mask(catalogue, candidates, profile.filters)
    parts = profile_contributions(
        sims, statements, spread, stats, config, explicit_spread, covered, strong
    )
    profile_part = parts.sum(axis=1)
    final = base + profile_part
    idx = np.flatnonzero(keep)
    order = idx[np.lexsort((candidates[idx], -final[idx]))]  # best first, ties by item index
    components = {role: v[order] for role, v in base_components.items()}
    components["profile"] = profile_part[order]
    return Reranked(
        items=candidates[order],
        scores=final[order],
        components=components,
        statement_ids=tuple(s.id for s in statements),
        contributions=parts[order],
        removed=removed,
        matches=matches[order],
        facts=facts,
    )


def new_user_base(
    profile: Profile,
    catalogue: Catalogue,
    counts: np.ndarray,
    fans: np.ndarray | None = None,
) -> tuple[str, np.ndarray, frozenset[str]]:
    """(role, (n_items,) z-scored base, covered statement ids) of a user with no ratings.

    The base is how many fans of the genres their own "likes" statements name watched each
    item (``fans``: (G, n_items), :func:`recommender.models.popularity.genre_fans`), else how
    many people did (``counts``); log counts, so a cult favourite of westerns fans is not
    flattened by blockbusters. The statements that named those genres are *covered*: the
    base already says them, so :func:`profile_rerank` gives them ``covered_alpha``.
    """
    vocabulary = list(catalogue.genre_vocabulary)
    named: dict[str, set[int]] = {}
    for s in profile.statements:
        if s.polarity == "likes" and s.source in EXPLICIT_SOURCES and s.weight > 0:
            facts = statement_facts(s.text, vocabulary, newest_year=newest_year(catalogue))
            if facts.kind == "facts" and facts.genres and not facts.without_genres:
                named[s.id] = {vocabulary.index(g) for g in facts.genres if g in vocabulary}
    role, raw, covered = "popularity", np.asarray(counts, np.float64), frozenset[str]()
    genres = sorted(set().union(*named.values())) if named else []
    if genres and fans is not None and fans.shape == (len(vocabulary), len(catalogue)):
        summed = fans[genres].sum(axis=0)
        if summed.any():
            role, raw, covered = "fans", summed, frozenset(named)
    return role, zscore(np.log1p(raw)), covered
