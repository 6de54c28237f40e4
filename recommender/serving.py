"""Fit a model for serving and precompute per-user lists with their score components.

The evaluation harness answers "how good is it"; this module answers "what do we show".
Hyperparameters are still chosen on the validation split (the registry recipe), then the
model is refit on every interaction, because in production the newest interaction is the
most valuable one. The web app stores what :func:`top_n` returns; nothing here runs in a
request.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recommender import registry
from recommender.attribution import NEWEST, Attribution, attribute
from recommender.base import Ranker
from recommender.data import Dataset
from recommender.harness import grid_search, score_users
from recommender.split import leave_last_out
from recommender.user_state import UserState, roles_of, user_states

Progress = Callable[[float, str], None]


def _quiet(fraction: float, message: str) -> None:
    return None


@dataclass
class TrainedModel:
    name: str
    model: Ranker
    hparams: dict[str, Any]
    valid_ndcg: float
    split_hash: str
    seconds: dict[str, float] = field(default_factory=dict)


def train_for_serving(
    name: str,
    dataset: Dataset,
    seed: int = 0,
    progress: Progress = _quiet,
    hparams: dict[str, Any] | None = None,
) -> TrainedModel:
    """Tune ``name`` on the leave-last-out validation split, then refit on all interactions.

    Pass ``hparams`` to skip the search (e.g. to retrain with last time's choice).
    """
    spec = registry.get(name)
    seconds: dict[str, float] = {}
    split = leave_last_out(dataset.interactions)
    valid_ndcg = float("nan")
    if hparams is None:
        progress(0.05, f"tuning {name} on the validation split")
        start = time.perf_counter()
        if spec.tune is not None:
            result = spec.tune(split, dataset.catalogue, seed)
        else:
            result = grid_search(spec, split, dataset.catalogue, seed)
        hparams, valid_ndcg = dict(result.hparams), result.valid_ndcg
        seconds["tune"] = time.perf_counter() - start
    progress(0.7, f"fitting {name} on all {len(dataset.interactions):,} interactions")
    start = time.perf_counter()
    model = spec.build(hparams, seed).fit(dataset.interactions, dataset.catalogue)
    seconds["fit"] = time.perf_counter() - start
    return TrainedModel(name, model, hparams, valid_ndcg, split.hash, seconds)


@dataclass(frozen=True)
class UserList:
    """One user's top-n: item indices best first, total scores, and the parts that sum to them.

    ``attributions`` (empty unless asked for) is aligned with ``items``: per item, role -> up
    to k (history item index, share > 0), best first, a share being how much of that role's
    part the history item accounts for (see :mod:`recommender.attribution`).
    """

    user: int
    items: np.ndarray  # (n,) item indices
    scores: np.ndarray  # (n,) float32
    components: dict[str, np.ndarray]  # role -> (n,) float32; sums to ``scores``
    attributions: list[Attribution] = field(default_factory=list)  # (n,) or empty
    # role -> (n_items,) the user's part for *every* item (only with ``keep_all``, or with
    # ``keep_state`` for a model without a user state): what lets the profile bring in items
    # beyond the top n, scored by the same model
    catalogue: dict[str, np.ndarray] = field(default_factory=dict)
    # what scores any item in about 2 KB (with ``keep_state``, for models that have one)
    state: UserState | None = None


def component_scores(model: Ranker, users: np.ndarray) -> dict[str, np.ndarray]:
    """role -> (len(users), n_items) scores. A model without parts has one: its own name."""
    parts = getattr(model, "components_users", None)
    if callable(parts):
        return {role: np.asarray(s, dtype=np.float64) for role, s in parts(users).items()}
    return {model.name: score_users(model, users).astype(np.float64)}


def top_n(
    model: Ranker,
    users: np.ndarray,
    n: int,
    excluded_items: np.ndarray | None = None,
    batch: int = 256,
    attribute_k: int = 0,
    attribute_last: int = NEWEST,
    keep_all: bool = False,
    keep_state: bool = False,
) -> Iterator[UserList]:
    """Each user's best ``n`` unseen, non-excluded items with score components.

    ``excluded_items``: (n_items,) bool mask, e.g. retired items. ``attribute_k`` > 0 also
    cites, per item and role, up to that many history items with their shares
    (:func:`recommender.attribution.attribute`; the sequential role looks at the newest
    ``attribute_last`` positions), computed per chunk of ``batch`` users. ``keep_state``:
    what it takes to score any item later, as a :class:`UserState` when the model has one
    (its parts computed from the same raw scores), else every item's parts (``keep_all``).
    """
    users = np.asarray(users, dtype=np.int64)
    roles = roles_of(model) if keep_state else None
    keep_all = keep_all or (keep_state and roles is None)
    for start in range(0, len(users), batch):
        chunk = users[start : start + batch]
        states: list[UserState | None] = [None] * len(chunk)
        if roles is not None:
            found, parts = user_states(model, chunk, roles)  # role -> (b, n_items)
            states = list(found)
        else:
            parts = component_scores(model, chunk)  # role -> (b, n_items)
        total, lists = _best(model, chunk, parts, n, excluded_items)
        evidence = (
            attribute(model, chunk, lists, k=attribute_k, last=attribute_last)
            if attribute_k > 0
            else [[] for _ in lists]
        )
        for row, (user, cand) in enumerate(zip(chunk, lists, strict=True)):
            yield UserList(
                user=int(user),
                items=cand,
                scores=total[row, cand].astype(np.float32),
                components={role: p[row, cand].astype(np.float32) for role, p in parts.items()},
                attributions=evidence[row],
                catalogue={r: p[row].astype(np.float16) for r, p in parts.items()}
                if keep_all
                else {},
                state=states[row],
            )


def _best(
    model: Ranker,
    chunk: np.ndarray,
    parts: dict[str, np.ndarray],
    n: int,
    excluded_items: np.ndarray | None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """(b, n_items) totals with unshowable items at -inf, and each row's best ``n`` item
    indices, best first, ties by index."""
    total = np.sum(list(parts.values()), axis=0)  # (b, n_items)
    total[~np.isfinite(total)] = -np.inf
    if excluded_items is not None:
        total[:, excluded_items] = -np.inf
    for row, user in enumerate(chunk):
        total[row, model.seen(int(user))] = -np.inf
    k = min(n, total.shape[1])
    head = np.argpartition(-total, k - 1, axis=1)[:, :k]  # (b, k) unordered
    lists = []
    for row in range(len(chunk)):
        cand = head[row]
        cand = cand[np.isfinite(total[row, cand])]
        lists.append(cand[np.lexsort((cand, -total[row, cand]))])  # best first, ties by index
    return total, lists


def pack_parts(parts: dict[str, np.ndarray]) -> bytes:
    """role -> (n_items,) float16 parts as bytes (``numpy.savez``: names and shapes included,
    no pickle), for a database column."""
    buffer = io.BytesIO()
    arrays = {role: np.asarray(v, np.float16) for role, v in parts.items()}
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as bool
    return buffer.getvalue()


def unpack_parts(data: bytes) -> dict[str, np.ndarray]:
    """The inverse of :func:`pack_parts` (arrays as float64; never unpickles)."""
    with np.load(io.BytesIO(bytes(data)), allow_pickle=False) as found:
        return {role: found[role].astype(np.float64) for role in found.files}
