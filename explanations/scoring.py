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
     an item that fits and 0 otherwise. So "likes documentaries" raises exactly the
     documentaries and lowers every other film by the same small amount, instead of raising
     whatever film's text happens to sit near the word.
   - a title ("films like Heat"): the cosine of each item's text vector with Heat's.
   - free text ("slow-burn stories about grief"): the cosine of item text and statement text.

2. z-score each column with its mean and standard deviation over the *whole catalogue*, then
   clip to [-z_max, z_max]. Raw MiniLM cosines sit in a narrow band (0.1-0.5) that differs
   per statement; the z-score makes "how much better than a typical film this item matches"
   comparable across statements, and the clip stops one near-duplicate text from dominating.
   For a 0/1 fact with prevalence p the gap between fitting and not fitting is
   1/sqrt(p(1-p)) >= 2 standard units, and rare genres are held back by the clip. Catalogue
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

Whether an item *matches* a statement (what an explanation may cite) is decided alongside:
the fact for genre and year statements, ``z >= free_text_min_z`` for free text (calibrated to
95% precision) and ``z >= title_min_z`` for "films like Heat".

Filters (genres, years, hidden items) remove candidates outright and are reported as such.
Ties are broken by candidate index, so the same inputs always give the same order (a revert to
an earlier profile restores the earlier list exactly).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from explanations.matching import (
    FREE_TEXT_MIN_Z,
    TITLE_MIN_Z,
    StatementFacts,
    catalogue_affinity,
    catalogue_fit,
    statement_facts,
)
from explanations.profile import Filters, Profile, Statement
from explanations.titles import TitleIndex
from recommender.data import Catalogue
from recommender.encoders import text_sha

Encode = Callable[[Sequence[str]], np.ndarray]  # texts -> (n, d) float32, unit rows


@dataclass(frozen=True)
class ScoringConfig:
    alpha: float = 1.0  # profile units per hybrid-score spread per unit of statement weight
    z_max: float = 3.0  # clip of the per-statement z-scores
    cap: float = 4.0  # |total profile part| <= cap * spread (soft, via tanh)
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


def filter_mask(
    catalogue: Catalogue, items: np.ndarray, filters: Filters
) -> tuple[np.ndarray, dict[int, str]]:
    """(keep mask (len(items),), item -> reason for each removed item)."""
    keep = np.ones(len(items), dtype=bool)
    removed: dict[int, str] = {}
    if filters.is_empty():
        return keep, removed
    excluded_ids = set(filters.exclude_items)
    for row, i in enumerate(items.tolist()):
        genres, year = catalogue.genres[i], int(catalogue.years[i])
        reason = None
        if excluded_ids and catalogue.ids.external(i) in excluded_ids:
            reason = "hidden item"
        elif filters.include_genres and not set(genres) & set(filters.include_genres):
            reason = "not in: " + ", ".join(filters.include_genres)
        elif set(genres) & set(filters.exclude_genres):
            reason = "excluded genre: " + ", ".join(
                sorted(set(genres) & set(filters.exclude_genres))
            )
        elif year > 0 and filters.year_min is not None and year < filters.year_min:
            reason = f"before {filters.year_min}"
        elif year > 0 and filters.year_max is not None and year > filters.year_max:
            reason = f"after {filters.year_max}"
        if reason:
            keep[row] = False
            removed[i] = reason
    return keep, removed


def profile_contributions(
    sims: np.ndarray,
    statements: Sequence[Statement],
    spread: float,
    stats: np.ndarray,
    config: ScoringConfig = ScoringConfig(),
) -> np.ndarray:
    """(C, S) calibrated per-statement parts (steps 2-4 of the module doc).

    ``sims``: (C, S) candidate-statement affinities (a 0/1 fact or a cosine, step 1);
    ``stats``: (2, S) each statement's affinity mean and std over the whole catalogue.
    """
    n, s = sims.shape[0], len(statements)
    if n == 0 or s == 0:
        return np.zeros((n, s))
    sims = sims.astype(np.float64)
    mean, std = stats[0], stats[1]  # (S,) each
    z = np.where(std > 1e-9, (sims - mean) / np.where(std > 1e-9, std, 1.0), 0.0)
    z = np.clip(z, -config.z_max, config.z_max)
    signed = np.array([st.sign * st.weight for st in statements])  # (S,)
    parts = config.alpha * spread * z * signed[None, :]  # (C, S)
    total = parts.sum(axis=1)  # (C,)
    limit = config.cap * spread
    capped = limit * np.tanh(total / limit)
    scale = np.where(np.abs(total) > 1e-12, capped / np.where(total == 0, 1.0, total), 1.0)
    return parts * scale[:, None]


def statement_affinities(
    statements: Sequence[Statement],
    statement_vectors: np.ndarray,
    item_vectors: np.ndarray,
    catalogue: Catalogue,
    index: TitleIndex | None = None,
) -> tuple[np.ndarray, np.ndarray, tuple[StatementFacts, ...]]:
    """Step 1 of the module doc over the whole catalogue.

    Returns (affinity (n_items, S) float64, fit (n_items, S) bool, facts (S,)): ``fit`` is the
    catalogue's fact for genre/year statements and the named titles themselves for title
    statements (all False for free text; a z-score threshold adds the similar items later).
    """
    n, s = len(catalogue), len(statements)
    vocabulary = catalogue.genre_vocabulary
    facts = tuple(statement_facts(st.text, vocabulary, index) for st in statements)
    affinity = np.zeros((n, s), dtype=np.float64)
    fit = np.zeros((n, s), dtype=bool)
    free = [j for j, f in enumerate(facts) if f.kind == "free"]
    if free:
        # float32 is plenty for cosines of unit vectors
        vectors = statement_vectors[free].astype(item_vectors.dtype)
        affinity[:, free] = item_vectors @ vectors.T  # (n_items, F)
    for j, f in enumerate(facts):
        if f.kind == "free":
            continue
        fit[:, j] = catalogue_fit(catalogue, f)
        if f.kind == "facts":
            affinity[:, j] = catalogue_affinity(catalogue, f)
        else:  # "like Heat": similarity to Heat's own text vector
            anchor = item_vectors[list(f.titles)].sum(axis=0)  # (d,), the vectors' dtype
            norm = np.linalg.norm(anchor)
            affinity[:, j] = item_vectors @ (anchor / norm if norm > 0 else anchor)
    return affinity, fit, facts


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
) -> Reranked:
    """Final score = hybrid score + calibrated profile part; filtered; best first.

    Shapes: candidates, base_scores (C,); base_components role -> (C,); item_vectors
    (n_items, d) for the whole catalogue; statement_vectors (S, d) aligned with
    ``profile.statements`` (from :func:`embed_statements`; only free-text rows are read).
    ``index``: the catalogue's :class:`TitleIndex`, to read "films like Heat" as a title
    statement; without it such a statement is free text.
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    base = np.asarray(base_scores, dtype=np.float64)
    statements = profile.statements
    if len(statements) != len(statement_vectors):
        raise ValueError("statement_vectors must have one row per profile statement")
    keep, removed = filter_mask(catalogue, candidates, profile.filters)
    spread = float(base.std()) if len(base) else 0.0
    spread = spread if spread > config.min_spread else 1.0
    facts: tuple[StatementFacts, ...] = ()
    if len(statements):
        affinity, fit, facts = statement_affinities(
            statements, statement_vectors, item_vectors, catalogue, index
        )  # (n_items, S) each
        mean, std = affinity.mean(axis=0), affinity.std(axis=0)  # (S,) each
        stats = np.stack([mean, std])
        sims = affinity[candidates]  # (C, S)
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
        )  # (S,) the z from which a text or title statement matches; facts decide the rest
        matches = fit[candidates] | (z >= floor[None, :])
    else:
        stats, sims = np.zeros((2, 0)), np.zeros((len(candidates), 0))
        matches = np.zeros((len(candidates), 0), dtype=bool)
    parts = profile_contributions(sims, statements, spread, stats, config)  # (C, S)
    profile_part = parts.sum(axis=1)
    final = base + profile_part
    idx = np.flatnonzero(keep)
    order = idx[np.lexsort((candidates[idx], -final[idx]))]  # best first, ties by item index
    components = {
        role: np.asarray(v, dtype=np.float64)[order] for role, v in base_components.items()
    }
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
