"""MostPopular: every user gets the items most interacted with in training (the floor)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from recommender.base import Ranker
from recommender.data import Catalogue, Interactions
from recommender.registry import ModelSpec


@dataclass(frozen=True)
class PopularityConfig:
    # Count each (user, item) pair once, so a user who logged an item twice does not double it.
    distinct_users: bool = True


class MostPopular(Ranker):
    name = "pop"
    can_fold_in = True

    def __init__(self, config: PopularityConfig | None = None) -> None:
        super().__init__()
        self.config = config or PopularityConfig()
        self.counts = np.zeros(0, dtype=np.float32)  # (n_items,)

    def fit(self, interactions: Interactions, catalogue: Catalogue) -> Self:
        self._remember(interactions)
        if self.config.distinct_users:
            x = interactions.to_csr(binary=True)  # (n_users, n_items)
            counts = np.asarray(x.sum(axis=0)).ravel()
        else:
            counts = np.bincount(interactions.items, minlength=interactions.n_items)
        self.counts = counts.astype(np.float32)
        return self

    def fold_in(self, interactions: Interactions) -> Self:
        self._remember(interactions)  # the counts stay those of the fitted data
        return self

    def score(self, user: int, item_ids: np.ndarray) -> np.ndarray:
        return self.counts[np.asarray(item_ids, dtype=np.int64)]

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """(len(users), n_items): the same popularity row for everyone."""
        return np.broadcast_to(self.counts, (len(users), self.n_items)).copy()


def model_spec() -> ModelSpec:
    def build(hparams: Mapping[str, Any], seed: int) -> Ranker:
        # seed unused: counting is deterministic
        return MostPopular(PopularityConfig(**hparams))

    return ModelSpec(
        "pop",
        build,
        grid={},
        baseline=True,
        summary="items by number of training users (no personalisation)",
    )


# -- popularity among the fans of a genre (a new user's list) ---------------------------------

FAVOURITE_GENRES = 2  # a user is a fan of the genres they like most relative to the catalogue
MIN_GENRE_ITEMS = 3  # ... among genres they liked at least this many films of
LIKED = 4.0  # a rating at or above this is "liked"


def favourite_genres(
    genre_matrix: np.ndarray,
    items: np.ndarray,
    values: np.ndarray,
    top: int = FAVOURITE_GENRES,
    min_items: int = MIN_GENRE_ITEMS,
) -> list[int]:
    """Genre columns a user with this history likes most: the highest lift (share of their
    liked films with the genre / share of the catalogue with it), among genres with at least
    ``min_items`` liked films; ties by column. All films count when none is liked."""
    has = genre_matrix > 0  # (n_items, G)
    liked = items[values >= LIKED]
    liked = liked if len(liked) else items
    if not len(liked):
        return []
    counts = has[liked].sum(axis=0)  # (G,)
    lift = (counts / len(liked)) / (has.mean(axis=0) + 1e-9)
    ok = [g for g in range(has.shape[1]) if counts[g] >= min_items]
    return sorted(ok, key=lambda g: (-lift[g], g))[:top]


def genre_fans(
    interactions: Interactions,
    genre_matrix: np.ndarray,
    top: int = FAVOURITE_GENRES,
    min_items: int = MIN_GENRE_ITEMS,
) -> np.ndarray:
    """(G, n_items) how many fans of each genre (:func:`favourite_genres`) interacted with
    each item: "popular with people who love westerns", which a new user who says they love
    westerns is better served by than by what everyone watches (``python -m
    explanations.evaluate``, cold start)."""
    n_genres = genre_matrix.shape[1]
    out = np.zeros((n_genres, interactions.n_items), dtype=np.float64)
    order = np.lexsort((np.arange(len(interactions)), interactions.users))
    users = interactions.users[order]
    bounds = np.flatnonzero(np.r_[True, users[1:] != users[:-1], True])
    items, values = interactions.items[order], interactions.values[order]
    for a, b in itertools.pairwise(bounds):
        seen = np.unique(items[a:b])  # one count per (user, item)
        for g in favourite_genres(genre_matrix, items[a:b], values[a:b], top, min_items):
            out[g, seen] += 1.0
    return out
