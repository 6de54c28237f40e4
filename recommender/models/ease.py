"""EASE (Steck 2019): a closed-form item-item linear model with a zero diagonal.

With X the binary (n_users, n_items) training matrix and G = X^T X + lambda I, the weights are
B = I - P / diag(P) with P = G^-1 (column j divided by P_jj), which forces diag(B) = 0 so an
item cannot explain itself. A user's scores are x_u B. Cost: one dense n_items^2 inverse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from recommender.base import Ranker
from recommender.data import Catalogue, Interactions
from recommender.models import user_rows
from recommender.registry import ModelSpec

# The largest catalogue EASE is fitted on: the Gram matrix, its float64 inverse and B cost
# about 20 n^2 bytes at once (8 GB at 20k items; 30k items need 22-29 GB, more than a 24 GB
# worker). Above it a hybrid's collaborative role is item kNN (Hybrid.sized_components).
MAX_ITEMS = 20_000


@dataclass(frozen=True)
class EASEConfig:
    # L2 penalty on B (added to the Gram diagonal). Larger shrinks toward popularity; the best
    # value grows with the data set (about 100 on ML-100K, a few hundred on ML-1M).
    l2: float = 200.0


class EASE(Ranker):
    name = "ease"
    can_fold_in = True

    def __init__(self, config: EASEConfig | None = None) -> None:
        super().__init__()
        self.config = config or EASEConfig()
        self.weights = np.zeros((0, 0), dtype=np.float32)  # B: (n_items, n_items)
        self.history: sp.csr_matrix | None = None  # (n_users, n_items) binary, set by fit

    def fit(self, interactions: Interactions, catalogue: Catalogue) -> Self:
        if interactions.n_items > MAX_ITEMS:
            raise ValueError(
                f"EASE needs about {20 * interactions.n_items**2 / 1e9:.0f} GB for "
                f"{interactions.n_items:,} items (at most {MAX_ITEMS:,} are fitted): serve "
                "itemknn, or the hybrid, whose collaborative part is item kNN at this size"
            )
        self._remember(interactions)
        x = interactions.to_csr(binary=True)  # (n_users, n_items)
        self.history = x.astype(np.float32)
        # float64 for the inverse: G's diagonal is in the thousands on ML-1M and float32 loses
        # the small off-diagonal terms that carry the signal.
        gram = np.asarray((x.T @ x).toarray(), dtype=np.float64)  # (n_items, n_items)
        gram[np.diag_indices_from(gram)] += self.config.l2
        # numpy's general inverse: on our OpenBLAS build it beat LAPACK's Cholesky potrf+potri
        # through scipy by 8x (0.4 s vs 3.3 s at 1,682 items), despite doing more arithmetic.
        p = np.linalg.inv(gram)  # (n_items, n_items)
        p = (p + p.T) / 2.0  # G is symmetric; remove the round-off asymmetry
        b = -p / np.diag(p)[None, :]  # (n_items, n_items): column j scaled by -1/P_jj
        b[np.diag_indices_from(b)] = 0.0
        self.weights = b.astype(np.float32)
        return self

    def fold_in(self, interactions: Interactions) -> Self:
        self._remember(interactions)
        self.history = interactions.to_csr(binary=True).astype(np.float32)  # X; B unchanged
        return self

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """(len(users), n_items) float32 = X[users] @ B."""
        assert self.history is not None, "fit first"
        rows = user_rows(self.history, users)  # (b, n_items) sparse
        return np.asarray(rows @ self.weights, dtype=np.float32)

    def score(self, user: int, item_ids: np.ndarray) -> np.ndarray:
        return self.score_users(np.array([user]))[0, np.asarray(item_ids, dtype=np.int64)]

    def score_histories(
        self, histories: Sequence[np.ndarray], values: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        """(len(histories), n_items) float32 = x @ B for arbitrary histories of item indices.

        x is binary, as in :meth:`fit`: an item listed twice counts once and ``values``
        (ratings) are ignored. A fitted user's own history gives exactly :meth:`score_users`.
        """
        rows = [np.unique(np.asarray(h, dtype=np.int64)) for h in histories]
        indptr = np.r_[0, np.cumsum([len(r) for r in rows])]
        indices = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        x = sp.csr_matrix(
            (np.ones(len(indices), dtype=np.float32), indices, indptr),
            shape=(len(rows), self.n_items),
        )  # (b, n_items) binary, like the fitted history rows
        return np.asarray(x @ self.weights, dtype=np.float32)


def model_spec() -> ModelSpec:
    def build(hparams: Mapping[str, Any], seed: int) -> Ranker:
        # seed unused: the closed form is deterministic
        return EASE(EASEConfig(**hparams))

    return ModelSpec(
        "ease",
        build,
        grid={"l2": [50.0, 100.0, 200.0, 300.0, 500.0, 1000.0, 2000.0]},
        baseline=True,
        summary="closed-form item-item regression, zero diagonal",
    )
