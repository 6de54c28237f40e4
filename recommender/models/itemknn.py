"""ItemKNN: cosine item-item similarity over the binary training matrix, top-k neighbours.

A user's score for item j is the sum of j's similarities to the items in the user's history,
counting only pairs where j is among the k nearest neighbours of the history item (Deshpande &
Karypis 2004). The top-k search is implicit's ``all_pairs_knn`` (via ``ItemItemRecommender``); we
keep only its sparse matrix, so a saved model does not depend on implicit's pickling.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import scipy.sparse as sp
from implicit.nearest_neighbours import ItemItemRecommender

from recommender.base import Ranker
from recommender.data import Catalogue, Interactions
from recommender.models import user_rows
from recommender.registry import ModelSpec


@dataclass(frozen=True)
class ItemKNNConfig:
    # Neighbours kept per item. Small k sharpens toward close co-occurrence; tuned on validation.
    k: int = 50
    # Threads for the similarity computation (rows are independent, so results do not depend
    # on the count).
    num_threads: int = 2


class ItemKNN(Ranker):
    name = "itemknn"
    can_fold_in = True

    def __init__(self, config: ItemKNNConfig | None = None) -> None:
        super().__init__()
        self.config = config or ItemKNNConfig()
        self.similarity = sp.csr_matrix((0, 0), dtype=np.float32)  # (n_items, n_items)
        self.history = sp.csr_matrix((0, 0), dtype=np.float32)  # (n_users, n_items) binary

    def fit(self, interactions: Interactions, catalogue: Catalogue) -> Self:
        self._remember(interactions)
        self.history = interactions.to_csr(binary=True).astype(np.float32)  # (n_users, n_items)
        # cosine = dot product of L2-normalised item columns; normalising here (as implicit's
        # CosineRecommender does, but keeping CSR) avoids its COO-to-CSR conversion warning
        norms = np.sqrt(np.asarray(self.history.power(2).sum(axis=0)).ravel())  # (n_items,)
        unit = self.history @ sp.diags(1.0 / np.maximum(norms, 1e-12)).astype(np.float32)
        # implicit counts an item as its own nearest neighbour (similarity 1); ask for one more
        # and drop the diagonal so k real neighbours remain.
        knn = ItemItemRecommender(K=self.config.k + 1, num_threads=self.config.num_threads)
        knn.fit(sp.csr_matrix(unit, dtype=np.float64), show_progress=False)  # needs doubles
        sim = sp.csr_matrix(knn.similarity, dtype=np.float32)  # row i: neighbours of item i
        sim.setdiag(0.0)
        sim.eliminate_zeros()
        self.similarity = sim
        return self

    def fold_in(self, interactions: Interactions) -> Self:
        self._remember(interactions)
        self.history = interactions.to_csr(binary=True).astype(np.float32)  # similarity kept
        return self

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """(len(users), n_items) float32: history rows times the neighbour matrix."""
        rows = user_rows(self.history, users)  # (b, n_items)
        return np.asarray((rows @ self.similarity).toarray(), dtype=np.float32)

    def score(self, user: int, item_ids: np.ndarray) -> np.ndarray:
        return self.score_users(np.array([user]))[0, np.asarray(item_ids, dtype=np.int64)]


def model_spec() -> ModelSpec:
    def build(hparams: Mapping[str, Any], seed: int) -> Ranker:
        # seed unused: the similarity is deterministic
        return ItemKNN(ItemKNNConfig(**hparams))

    return ModelSpec(
        "itemknn",
        build,
        grid={"k": [5, 10, 20, 50, 100, 200, 400]},
        baseline=True,
        summary="cosine item-item, top-k neighbours per item",
    )
