"""Ranking metrics for leave-last-out evaluation, beyond-accuracy metrics, a paired bootstrap.

Accuracy metrics take ``ranks``: the 0-based position of each user's one held-out item in that
user's ranking of every candidate item (0 = first). Every function returns one value per user,
so two models can be compared user by user (:func:`paired_bootstrap_ci`); the mean over users is
the reported number. With one held-out item Recall@k equals HR@k.

Beyond-accuracy metrics take ``top``: (n_users, k) recommended item indices, best first, and
item statistics from the training data the lists were produced from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def ndcg_at_k(ranks: np.ndarray, k: int) -> np.ndarray:
    """(n_users,) NDCG@k for one relevant item: 1 / log2(rank + 2) inside the top k, else 0.

    The ideal DCG is 1 (the item at rank 0), so DCG is already normalised.
    """
    ranks = np.asarray(ranks, dtype=np.float64)
    return np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)


def recall_at_k(ranks: np.ndarray, k: int) -> np.ndarray:
    """(n_users,) Recall@k (= HR@k with one held-out item): 1 if the item is in the top k."""
    return (np.asarray(ranks) < k).astype(np.float64)


def mrr_at_k(ranks: np.ndarray, k: int) -> np.ndarray:
    """(n_users,) reciprocal rank 1 / (rank + 1), cut to 0 outside the top k."""
    ranks = np.asarray(ranks, dtype=np.float64)
    return np.where(ranks < k, 1.0 / (ranks + 1.0), 0.0)


def item_counts(known_items: np.ndarray, n_items: int) -> np.ndarray:
    """(n_items,) number of training interactions per item (the popularity every metric uses)."""
    return np.bincount(np.asarray(known_items, dtype=np.int64), minlength=n_items)


def catalogue_coverage(top: np.ndarray, n_items: int) -> float:
    """Share of the whole catalogue that appears in at least one user's list."""
    return len(np.unique(top)) / n_items


def novelty(top: np.ndarray, counts: np.ndarray, n_users: int) -> np.ndarray:
    """(n_users,) mean self-information -log2 p(i) of each list, p(i) = count_i / n_users.

    p(i) is the share of training users who interacted with item i (Zhou et al. 2010). An item
    nobody interacted with is counted as seen once, so its novelty is the finite maximum
    log2(n_users) instead of infinity.
    """
    share = np.maximum(counts, 1) / n_users  # (n_items,)
    info = -np.log2(share)
    return info[top].mean(axis=1)


def intra_list_diversity(top: np.ndarray, genre_matrix: np.ndarray) -> np.ndarray:
    """(n_users,) mean pairwise Jaccard distance between the genre sets of a list's items.

    Jaccard distance 1 - |A & B| / |A | B|; two items that both lack genres count as identical
    (distance 0), so missing metadata never inflates diversity.
    """
    n, k = top.shape
    if k < 2:
        return np.zeros(n)
    g = (np.asarray(genre_matrix) > 0).astype(np.float32)[top]  # (n, k, n_genres)
    inter = np.einsum("nig,njg->nij", g, g)  # (n, k, k)
    sizes = g.sum(axis=2)  # (n, k)
    union = sizes[:, :, None] + sizes[:, None, :] - inter  # (n, k, k)
    dist = np.where(union > 0, 1.0 - inter / np.maximum(union, 1.0), 0.0)
    iu = np.triu_indices(k, 1)
    return dist[:, iu[0], iu[1]].mean(axis=1)


def popularity_percentile(counts: np.ndarray) -> np.ndarray:
    """(n_items,) each item's popularity percentile in [0, 100] among all catalogue items.

    The "mean" percentile rank (as ``scipy.stats.percentileofscore(kind="mean")``): the share of
    items strictly less popular plus half the share exactly as popular, so ties split evenly.
    """
    counts = np.asarray(counts)
    ordered = np.sort(counts)
    below = np.searchsorted(ordered, counts, side="left")
    at_or_below = np.searchsorted(ordered, counts, side="right")
    return 100.0 * (below + at_or_below) / (2.0 * len(counts))


def mean_popularity_percentile(top: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(n_users,) mean popularity percentile of each list's items (100 = the most popular)."""
    return popularity_percentile(counts)[top].mean(axis=1)


@dataclass(frozen=True)
class BootstrapCI:
    """Mean of a per-user difference and its two-sided percentile confidence interval."""

    mean: float
    low: float
    high: float
    level: float
    resamples: int

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def paired_bootstrap_ci(
    a: np.ndarray,
    b: np.ndarray,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> BootstrapCI:
    """Confidence interval of mean(a - b) by resampling users with replacement.

    ``a`` and ``b`` are per-user scores of two models on the same users, aligned. Resampling the
    pairs (not each model separately) keeps the strong per-user correlation, which is what makes
    small differences between models detectable.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError("paired_bootstrap_ci needs two aligned, non-empty 1-d arrays")
    diff = a - b  # (n_users,)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    # chunks keep the (chunk, n_users) index matrix small on large user sets
    chunk = max(1, 2_000_000 // len(diff))
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        idx = rng.integers(0, len(diff), size=(stop - start, len(diff)))
        means[start:stop] = diff[idx].mean(axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return BootstrapCI(float(diff.mean()), float(low), float(high), level, resamples)
