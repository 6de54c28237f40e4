"""Dense text retrieval: items and users in one sentence-embedding space, score = cosine.

Items are encoded from :meth:`Catalogue.text` (title, year, genres, description). A user is the
normalised, recency- and rating-weighted mean of the vectors of the items in their history,
optionally blended with extra text vectors (``user_text_vectors``: the hook for a natural-
language profile the user writes or edits). Scoring is one matrix-vector product, cheap enough
for a web request once the item matrix exists.

:meth:`DenseText.encode_histories` applies the same recipe to any history (what attribution
and deletion tests rescore with); :meth:`DenseText.encode_without` gives, in one matrix
product, the user vector with each of several history items left out in turn.

The embedding function is injectable (``embed``), so tests use a tiny encoder and the web app
can pass its own cached :class:`recommender.encoders.TextEncoder`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np

from recommender.base import Ranker
from recommender.data import Catalogue, Interactions
from recommender.registry import ModelSpec

Embed = Callable[[Sequence[str]], np.ndarray]  # texts -> (n, d) float32, rows L2-normalised


@dataclass(frozen=True)
class DenseConfig:
    model: str = "packaged:all-minilm-l6-v2"  # encoder setting (see recommender.encoders)
    cache_dir: str | None = None  # embedding cache root; None = RECOMMENDER_CACHE_DIR or ~/.cache
    # Recency: an item ``a`` positions before the newest one weighs 0.5 ** (a / half_life).
    # 0 disables it. Tastes drift, and the next item resembles recent ones more than old ones.
    recency_half_life: float = 20.0
    # Weight per item = rating ** rating_power (0: ratings ignored, 1: linear in the rating).
    rating_power: float = 0.0
    # Blend of the optional user text vector: u = normalise(history + text_weight * text).
    text_weight: float = 1.0


def _normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; zero rows stay zero."""
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.where(norm > 0, norm, 1.0)).astype(np.float32)


def default_embed(config: DenseConfig) -> Embed:
    """The process-wide cached encoder for ``config.model`` (weights load on first use)."""
    from recommender.encoders import get_encoder

    encoder = get_encoder(config.model, Path(config.cache_dir) if config.cache_dir else None)
    return lambda texts: encoder.encode(texts, progress=len(texts) > 256)


class DenseText(Ranker):
    name = "dense"
    can_fold_in = True

    def __init__(self, config: DenseConfig | None = None, embed: Embed | None = None) -> None:
        super().__init__()
        self.config = config or DenseConfig()
        self._embed = embed
        self.item_vectors = np.zeros((0, 0), dtype=np.float32)  # (n_items, d)
        self.history_vectors = np.zeros((0, 0), dtype=np.float32)  # (n_users, d), unit or 0
        self.user_text_vectors: dict[int, np.ndarray] = {}  # user -> (d,) extra text vector
        self._users = np.zeros((0, 0), dtype=np.float32)  # (n_users, d) final user vectors
        # per user, the ratings aligned with seen(user) (chronological): the recipe weighs by
        # them when rating_power != 0, so rescoring a fitted user's history needs them
        self._seen_values: list[np.ndarray] = []

    @property
    def embed(self) -> Embed:
        if self._embed is None:
            self._embed = default_embed(self.config)
        return self._embed

    def fit(self, interactions: Interactions, catalogue: Catalogue) -> Self:
        self._remember(interactions)
        self.item_vectors = _normalise(np.asarray(self.embed(catalogue.texts()), np.float32))
        if len(self.item_vectors) != self.n_items:
            raise ValueError(f"catalogue has {len(self.item_vectors)} items, data {self.n_items}")
        self.history_vectors = self._history_vectors(interactions)
        self._refresh_users()
        return self

    def fold_in(self, interactions: Interactions) -> Self:
        self._remember(interactions)  # item vectors and user text vectors stay
        self.history_vectors = self._history_vectors(interactions)
        self._refresh_users()
        return self

    def folded(self, interactions: Interactions) -> Self:
        clone = copy.copy(self)
        clone.user_text_vectors = {}  # keyed by this model's user indices, not the slice's
        return clone.fold_in(interactions)

    def _item_weights(self, age: np.ndarray, values: np.ndarray | None) -> np.ndarray:
        """float64 weight of each history entry, any shape: recency times rating.

        ``age`` = how many items the user rated after this one (0 for the newest); ``values``
        (same shape) None weighs every rating alike, which is what ratings all equal give too.
        """
        cfg = self.config
        weight = np.ones(age.shape)
        if cfg.recency_half_life > 0:
            weight *= 0.5 ** (age / cfg.recency_half_life)
        if cfg.rating_power and values is not None:
            weight *= np.maximum(values, 1e-6) ** cfg.rating_power
        return weight

    def _history_vectors(self, interactions: Interactions) -> np.ndarray:
        """(n_users, d): weighted mean of each user's item vectors, normalised."""
        order = interactions.chronological_order()  # by (user, time, row)
        users, items = interactions.users[order], interactions.items[order]
        values = interactions.values[order].astype(np.float64)
        bounds = np.searchsorted(users, np.arange(self.n_users + 1))
        self._seen_values = [values[bounds[u] : bounds[u + 1]] for u in range(self.n_users)]
        age = (bounds[users + 1] - 1 - np.arange(len(users))).astype(np.float64)
        weight = self._item_weights(age, values)
        out = np.zeros((self.n_users, self.item_vectors.shape[1]), dtype=np.float64)
        np.add.at(out, users, weight[:, None] * self.item_vectors[items])
        return _normalise(out)

    def seen_values(self, user: int) -> np.ndarray:
        """(len(seen(user)),) float64 ratings of the user's history, oldest first."""
        if user < len(self._seen_values):
            return self._seen_values[user]
        return np.ones(len(self.seen(user)))

    def encode_histories(
        self, histories: Sequence[np.ndarray], values: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        """(len(histories), d) float32 unit history vectors, the recipe of :meth:`fit`.

        Each history is item indices oldest first, with optional ratings aligned to it; an
        empty history gives a zero vector. ``user_text_vectors`` are not blended in: this is
        the part of the user vector that the history explains.
        """
        out = np.zeros((len(histories), self.item_vectors.shape[1]), dtype=np.float64)
        for row, history in enumerate(histories):
            items = np.asarray(history, dtype=np.int64)
            age = np.arange(len(items) - 1, -1, -1, dtype=np.float64)
            rated = None if values is None else np.asarray(values[row], dtype=np.float64)
            out[row] = self._item_weights(age, rated) @ self.item_vectors[items]  # (d,)
        return _normalise(out)

    def encode_without(
        self, history: np.ndarray, removed: np.ndarray, values: np.ndarray | None = None
    ) -> np.ndarray:
        """(len(removed), d) float32: row k = encode_histories of history minus removed[k].

        Every occurrence of the item goes, and the items before it become one step younger,
        exactly as if it had never been rated. One (m, L) @ (L, d) product for all m removals.
        """
        items = np.asarray(history, dtype=np.int64)
        removed = np.asarray(removed, dtype=np.int64)
        length = len(items)
        gone = items[None, :] == removed[:, None]  # (m, L): entry j is removal k's item
        # entries after j that survive removal k: its age in the shortened history
        later_gone = np.cumsum(gone[:, ::-1], axis=1)[:, ::-1] - gone  # (m, L)
        age = (length - 1 - np.arange(length))[None, :] - later_gone  # (m, L)
        rated = None if values is None else np.broadcast_to(values, gone.shape)
        weight = np.where(gone, 0.0, self._item_weights(age.astype(np.float64), rated))
        return _normalise(weight @ self.item_vectors[items])  # (m, d)

    def score_histories(
        self, histories: Sequence[np.ndarray], values: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        """(len(histories), n_items) float32 cosines with :meth:`encode_histories`' vectors.

        Equals :meth:`score_users` for a fitted user's history and ratings (``seen``,
        ``seen_values``), unless that user has a text vector, which this leaves out.
        """
        return (self.encode_histories(histories, values) @ self.item_vectors.T).astype(np.float32)

    def set_user_text_vectors(self, vectors: Mapping[int, np.ndarray]) -> None:
        """Extra per-user text vectors (e.g. an encoded NL profile), blended into the user.

        Replaces any earlier ones; an empty mapping removes them. Vectors must come from the
        same encoder as the items.
        """
        self.user_text_vectors = {
            int(u): _normalise(np.asarray(v, np.float32)) for u, v in vectors.items()
        }
        self._refresh_users()

    def _refresh_users(self) -> None:
        users = self.history_vectors.copy()  # (n_users, d)
        for u, v in self.user_text_vectors.items():
            if u < len(users):
                users[u] = users[u] + self.config.text_weight * v
        self._users = _normalise(users)

    def user_vector(self, user: int) -> np.ndarray:
        """(d,) unit vector (zeros for an unknown user with no text)."""
        if user < len(self._users):
            return self._users[user]
        extra = self.user_text_vectors.get(user)
        return extra if extra is not None else np.zeros(self.item_vectors.shape[1], np.float32)

    def score(self, user: int, item_ids: np.ndarray) -> np.ndarray:
        return (
            self.item_vectors[np.asarray(item_ids, dtype=np.int64)] @ self.user_vector(user)
        ).astype(np.float32)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """(len(users), n_items) float32 cosines: the evaluation harness's batch hook."""
        vectors = np.stack([self.user_vector(int(u)) for u in users])  # (b, d)
        return (vectors @ self.item_vectors.T).astype(np.float32)

    # Arrays and JSON only (no pickle): the embed function holds a torch model and is not
    # saved; a loaded model scores from its stored vectors and needs no encoder.
    def save(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text_users = np.array(sorted(self.user_text_vectors), dtype=np.int64)
        d = self.item_vectors.shape[1]
        with path.open("wb") as fh:
            np.savez(
                fh,
                config=np.array(json.dumps(asdict(self.config))),
                shape=np.array([self.n_users, self.n_items], dtype=np.int64),
                item_vectors=self.item_vectors,
                history_vectors=self.history_vectors,
                text_users=text_users,
                text_vectors=np.stack([self.user_text_vectors[int(u)] for u in text_users])
                if len(text_users)
                else np.zeros((0, d), np.float32),
                seen_lengths=np.array([len(h) for h in self._seen], dtype=np.int64),
                seen_items=np.concatenate(self._seen) if self._seen else np.zeros(0, np.int64),
                seen_values=np.concatenate(self._seen_values)
                if self._seen_values
                else np.zeros(0, np.float64),
            )

    @classmethod
    def load(cls, path: Path) -> Self:
        with np.load(Path(path), allow_pickle=False) as z:
            model = cls(DenseConfig(**json.loads(str(z["config"]))))
            model.n_users, model.n_items = (int(x) for x in z["shape"])
            model.item_vectors = z["item_vectors"]
            model.history_vectors = z["history_vectors"]
            model.user_text_vectors = dict(
                zip(z["text_users"].tolist(), z["text_vectors"], strict=True)
            )
            bounds = np.r_[0, np.cumsum(z["seen_lengths"])]
            flat = z["seen_items"]
            model._seen = [flat[bounds[u] : bounds[u + 1]] for u in range(model.n_users)]
            # files saved before ratings were kept: equal ratings (exact when rating_power=0)
            values = z["seen_values"] if "seen_values" in z.files else np.ones(len(flat))
            model._seen_values = [values[bounds[u] : bounds[u + 1]] for u in range(model.n_users)]
        model._refresh_users()
        return model


def model_spec() -> ModelSpec:
    def build(hparams: Mapping[str, Any], seed: int) -> Ranker:
        # seed unused: encoding and averaging are deterministic
        return DenseText(DenseConfig(**hparams))

    return ModelSpec(
        "dense",
        build,
        grid={"recency_half_life": [0.0, 5.0, 20.0, 80.0], "rating_power": [0.0, 1.0]},
        summary="MiniLM text embeddings; user = recency-weighted mean of item vectors; cosine",
    )
