"""MostPopular: every user gets the items most interacted with in training (the floor)."""

from __future__ import annotations

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
