"""Re-rank a stored candidate list by the user's profile: arithmetic only, no model calls.

Inputs are what the web app already stores: the candidates' hybrid scores and components, the
catalogue's item text vectors (MiniLM, unit length) and one vector per profile statement. The
only model call an edit needs is embedding the one new or changed statement
(:func:`embed_statements` caches the rest by text), so saving an edit and re-sorting fits
inside a request.

Calibration (why an edit moves items but cannot erase the collaborative signal)
------------------------------------------------------------------------------
For candidate items c and statements s (shapes: C candidates, S statements, d dims):

1. ``sim = V[c] @ S.T`` (C, S): cosines of item text and statement text.
2. z-score each statement's column with the mean and standard deviation of that statement's
   cosines over the *whole catalogue*, then clip to [-z_max, z_max]. Raw MiniLM cosines sit in
   a narrow band (0.1-0.5) that differs per statement; the z-score makes "how much better than
   a typical film this item matches" comparable across statements, and the clip stops one
   near-duplicate text from dominating. Catalogue statistics rather than the candidates' own:
   for a horror fan most candidates are horror, and a z-score within the candidates would call
   a horror film typical and let "avoids horror" barely touch it. (Cost: one (n_items, d) @
   (d, S) product, about 1 ms on ML-1M.)
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

Filters (genres, years, hidden items) remove candidates outright and are reported as such.
Ties are broken by candidate index, so the same inputs always give the same order (a revert to
an earlier profile restores the earlier list exactly).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from explanations.profile import Filters, Profile, Statement
from recommender.data import Catalogue
from recommender.encoders import text_sha

Encode = Callable[[Sequence[str]], np.ndarray]  # texts -> (n, d) float32, unit rows


@dataclass(frozen=True)
class ScoringConfig:
    alpha: float = 1.0  # profile units per hybrid-score spread per unit of statement weight
    z_max: float = 3.0  # clip of the per-statement z-scores
    cap: float = 4.0  # |total profile part| <= cap * spread (soft, via tanh)
    min_spread: float = 1e-6  # below this the hybrid carries no signal; spread := 1


@dataclass(frozen=True)
class Reranked:
    """The re-ranked list; every array is aligned with ``items`` (best first)."""

    items: np.ndarray  # (n,) catalogue indices that passed the filters
    scores: np.ndarray  # (n,) float64 final scores
    components: dict[str, np.ndarray]  # role -> (n,); the hybrid's roles plus "profile"
    statement_ids: tuple[str, ...]  # (S,) column labels of ``contributions``
    contributions: np.ndarray  # (n, S) per-statement parts; rows sum to components["profile"]
    removed: dict[int, str] = field(default_factory=dict)  # item index -> which filter removed it

    def contribution(self, item: int) -> dict[str, float]:
        """statement id -> its part of ``item``'s score."""
        row = int(np.flatnonzero(self.items == item)[0])
        return {sid: float(self.contributions[row, j]) for j, sid in enumerate(self.statement_ids)}


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

    ``sims``: (C, S) candidate-statement cosines; ``stats``: (2, S) each statement's cosine
    mean and std over the whole catalogue.
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


def profile_rerank(
    candidates: np.ndarray,
    base_scores: np.ndarray,
    base_components: Mapping[str, np.ndarray],
    item_vectors: np.ndarray,
    statement_vectors: np.ndarray,
    profile: Profile,
    catalogue: Catalogue,
    config: ScoringConfig = ScoringConfig(),
) -> Reranked:
    """Final score = hybrid score + calibrated profile part; filtered; best first.

    Shapes: candidates, base_scores (C,); base_components role -> (C,); item_vectors
    (n_items, d) for the whole catalogue; statement_vectors (S, d) aligned with
    ``profile.statements`` (from :func:`embed_statements`).
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    base = np.asarray(base_scores, dtype=np.float64)
    if len(profile.statements) != len(statement_vectors):
        raise ValueError("statement_vectors must have one row per profile statement")
    keep, removed = filter_mask(catalogue, candidates, profile.filters)
    spread = float(base.std()) if len(base) else 0.0
    spread = spread if spread > config.min_spread else 1.0
    if len(profile.statements):
        # one (n_items, d) @ (d, S) product gives the catalogue statistics and, by indexing,
        # the candidates' cosines; float32 is plenty for cosines of unit vectors
        sims_all = item_vectors @ statement_vectors.T.astype(item_vectors.dtype)  # (n_items, S)
        stats = np.stack([sims_all.mean(axis=0), sims_all.std(axis=0)]).astype(np.float64)
        sims = sims_all[candidates]  # (C, S)
    else:
        stats, sims = np.zeros((2, 0)), np.zeros((len(candidates), 0))
    parts = profile_contributions(sims, profile.statements, spread, stats, config)  # (C, S)
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
        statement_ids=tuple(s.id for s in profile.statements),
        contributions=parts[order],
        removed=removed,
    )
