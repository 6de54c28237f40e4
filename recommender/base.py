"""The one ranker contract (after implicit's ``RecommenderBase``).

Every model takes interactions and the catalogue as arrays, knows users and items only by
dense index, and returns indices with scores. The web app translates ids at its one seam.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Self

import numpy as np

from recommender.artifacts import load_arrays, save_arrays
from recommender.data import Catalogue, Interactions


class Ranker(ABC):
    """fit / score / recommend / save / load.

    ``score`` is the primitive; ``recommend`` ranks all items by it, drops ``exclude`` and the
    user's own training history (every model masks known history, sequential ones included).
    """

    name: str = "ranker"
    # Whether :meth:`fold_in` works: the model's user state is a function of the history it
    # reads (EASE, item-kNN, SASRec, dense text), not of factors learned per user (ALS, BPR).
    can_fold_in: bool = False

    def __init__(self) -> None:
        self.n_users = 0
        self.n_items = 0
        self._seen: list[np.ndarray] = []

    @abstractmethod
    def fit(self, interactions: Interactions, catalogue: Catalogue) -> Self:
        """Learn from ``interactions``; subclasses must call :meth:`_remember`."""

    @abstractmethod
    def score(self, user: int, item_ids: np.ndarray) -> np.ndarray:
        """Scores (len(item_ids),) float32 for one user; higher is better."""

    def _remember(self, interactions: Interactions) -> None:
        self.n_users, self.n_items = interactions.n_users, interactions.n_items
        self._seen = interactions.histories()

    def fold_in(self, interactions: Interactions) -> Self:
        """Read ``interactions`` as the users' histories without learning from them.

        What a deployed model does for someone who rated a film after the last training: the
        weights stay, the input changes. The evaluation's "fold-in" protocol uses it to feed
        the validation item to a model fitted on train, as SASRec's paper and RecBole's
        sequential models do. Models that set ``can_fold_in`` refresh their user caches here.
        """
        raise NotImplementedError(f"{type(self).__name__} learns per-user factors: refit it")

    def folded(self, interactions: Interactions) -> Self:
        """A copy that reads ``interactions`` as its users' histories; this model is untouched.

        What a refresh between trainings scores a slice of users with: their histories as they
        are now (users re-indexed 0..b-1), on the fitted weights, which the copy shares and
        never writes. O(the slice's interactions), whatever the number of users fitted."""
        if not self.can_fold_in:
            raise NotImplementedError(f"{type(self).__name__} learns per-user factors: refit it")
        return copy.copy(self).fold_in(interactions)

    def seen(self, user: int) -> np.ndarray:
        return self._seen[user] if user < len(self._seen) else np.empty(0, dtype=np.int64)

    def recommend(
        self, user: int, n: int = 10, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` (item indices, scores), best first, never an excluded or seen item."""
        scores = self.score(user, np.arange(self.n_items)).astype(np.float64, copy=True)
        scores[self.seen(user)] = -np.inf
        if exclude is not None and len(exclude):
            scores[np.asarray(exclude, dtype=np.int64)] = -np.inf
        n = min(n, int(np.isfinite(scores).sum()))
        top = np.argpartition(-scores, n - 1)[:n] if n else np.empty(0, dtype=np.int64)
        top = top[np.lexsort((top, -scores[top]))]  # ties by index, so results are deterministic
        return top.astype(np.int64), scores[top].astype(np.float32)

    def save(self, path: Path) -> None:
        """Default persistence: the fitted fields as arrays and JSON in one ``.npz``, no
        pickle (recommender.artifacts). Models with other state (torch) override this."""
        values = dict(vars(self))
        config = values.pop("config", None)
        if config is not None:
            values["config"] = asdict(config)
        save_arrays(path, kind=_kind(type(self)), values=values)

    @classmethod
    def load(cls, path: Path) -> Self:
        """What :meth:`save` wrote; a pickled model file (older versions) is refused with
        ``UnreadableArtifact`` saying to retrain, never unpickled."""
        values = load_arrays(path, kind=_kind(cls))
        model = cls()
        if "config" in values:
            model.config = _config_like(model.config, values.pop("config"))  # type: ignore[attr-defined]
        for name, value in values.items():
            setattr(model, name, value)
        return model


def _kind(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _config_like(default: Any, saved: dict[str, Any]) -> Any:
    """``saved`` (a config dataclass as JSON) as ``default``'s class; JSON turned its tuples
    into lists, and they are tuples again."""
    fields = {
        k: tuple(v) if isinstance(getattr(default, k, None), tuple) else v for k, v in saved.items()
    }
    return replace(default, **fields)
