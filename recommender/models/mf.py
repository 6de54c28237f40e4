"""Implicit-feedback matrix factorisation through the ``implicit`` library: ALS and BPR.

Both train in chunks of ``eval_every`` epochs from one seeded random stream, so a fit that runs
``iterations`` epochs is exactly the run that early stopping watched when it picked that
count (see :func:`mf_tune`). Only the factor arrays are kept after training: scoring is a dot
product and a saved model does not depend on implicit's own pickling.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from threadpoolctl import threadpool_limits  # installed with implicit

from recommender.base import Ranker
from recommender.data import Catalogue, Interactions
from recommender.registry import ModelSpec, TuneResult
from recommender.split import Split


@dataclass(frozen=True)
class ALSConfig:
    # Latent dimensions.
    factors: int = 64
    # L2 penalty on both factor matrices.
    regularization: float = 0.1
    # Confidence of an observed interaction (implicit scales the binary matrix by it).
    alpha: float = 5.0
    # Total epochs; early stopping on validation picks it.
    iterations: int = 15
    # Epochs per training chunk (and between validation checks while tuning).
    eval_every: int = 3
    # Each ALS half-step solves users (or items) independently, so threads do not change
    # results; 2 matches our machines.
    num_threads: int = 2
    # Seeds the initial factors.
    random_state: int = 0


@dataclass(frozen=True)
class BPRConfig:
    # Latent dimensions (implicit adds one more for the item bias).
    factors: int = 64
    # SGD step size.
    learning_rate: float = 0.05
    # L2 penalty per SGD update.
    regularization: float = 0.01
    # Total epochs; early stopping on validation picks it.
    iterations: int = 100
    # Epochs per training chunk (and between validation checks while tuning).
    eval_every: int = 10
    # One thread: implicit's BPR is Hogwild SGD, and two threads racing on shared factors
    # make results differ run to run.
    num_threads: int = 1
    # Seeds the initial factors and the negative sampling.
    random_state: int = 0


MFConfig = ALSConfig | BPRConfig


class _ImplicitMF(Ranker):
    """Shared training loop; subclasses say which implicit model to make."""

    config: MFConfig

    def __init__(self) -> None:
        super().__init__()
        self.user_factors = np.zeros((0, 0), dtype=np.float32)  # (n_users, d)
        self.item_factors = np.zeros((0, 0), dtype=np.float32)  # (n_items, d)
        self.epochs_trained = 0

    def _make(self, rng: np.random.Generator) -> Any:
        raise NotImplementedError

    def fit(self, interactions: Interactions, catalogue: Catalogue) -> Self:
        for _ in self.train_chunks(interactions, catalogue):
            pass
        return self

    def train_chunks(self, interactions: Interactions, catalogue: Catalogue) -> Iterator[int]:
        """Train ``config.iterations`` epochs, yielding the epoch count after each chunk.

        After each yield the model scores with the factors so far, which is what early
        stopping needs. Passing one Generator (not an int) to implicit makes each chunk
        continue the random stream rather than replay it.
        """
        self._remember(interactions)
        user_items = interactions.to_csr(binary=True).astype(np.float32)  # (n_users, n_items)
        self.epochs_trained = 0
        # implicit's native code does its own threading; BLAS threads on top only contend
        # (implicit warns about it when the model is made, hence inside the limit)
        with threadpool_limits(1, "blas"):
            model = self._make(np.random.default_rng(self.config.random_state))
            while self.epochs_trained < self.config.iterations:
                chunk = min(self.config.eval_every, self.config.iterations - self.epochs_trained)
                model.iterations = chunk
                model.fit(user_items, show_progress=False)
                self.epochs_trained += chunk
                self.user_factors = np.array(model.user_factors, dtype=np.float32)
                self.item_factors = np.array(model.item_factors, dtype=np.float32)
                yield self.epochs_trained

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """(len(users), n_items) float32 dot products; unknown users score 0 everywhere."""
        users = np.asarray(users, dtype=np.int64)
        u = np.zeros((len(users), self.item_factors.shape[1]), dtype=np.float32)  # (b, d)
        known = users < len(self.user_factors)
        u[known] = self.user_factors[users[known]]
        return u @ self.item_factors.T

    def score(self, user: int, item_ids: np.ndarray) -> np.ndarray:
        items = np.asarray(item_ids, dtype=np.int64)
        if user >= len(self.user_factors):
            return np.zeros(len(items), dtype=np.float32)
        # multiply-and-sum, not a BLAS matvec: for one user BLAS gains nothing, and waking its
        # thread pool on 2 cores put 10 ms spikes into recommend() (p95 12 ms vs 0.5 ms)
        return (self.item_factors[items] * self.user_factors[user]).sum(axis=1, dtype=np.float32)


class ALS(_ImplicitMF):
    name = "als"

    def __init__(self, config: ALSConfig | None = None) -> None:
        super().__init__()
        self.config: ALSConfig = config or ALSConfig()

    def _make(self, rng: np.random.Generator) -> AlternatingLeastSquares:
        c = self.config
        return AlternatingLeastSquares(
            factors=c.factors,
            regularization=c.regularization,
            alpha=c.alpha,
            iterations=c.eval_every,
            num_threads=c.num_threads,
            random_state=rng,
        )


class BPR(_ImplicitMF):
    name = "bpr"

    def __init__(self, config: BPRConfig | None = None) -> None:
        super().__init__()
        self.config: BPRConfig = config or BPRConfig()

    def _make(self, rng: np.random.Generator) -> BayesianPersonalizedRanking:
        c = self.config
        return BayesianPersonalizedRanking(
            factors=c.factors,
            learning_rate=c.learning_rate,
            regularization=c.regularization,
            iterations=c.eval_every,
            num_threads=c.num_threads,
            random_state=rng,
        )


def mf_tune(
    build: Callable[[Mapping[str, Any], int], _ImplicitMF],
    grid: Mapping[str, Sequence[Any]],
    max_iterations: int,
    patience: int,
) -> Callable[[Split, Catalogue, int], TuneResult]:
    """A ``tune`` hook: grid search over ``grid`` with early stopping on the epoch count.

    For each combination, train up to ``max_iterations`` epochs on ``split.train``, score
    validation NDCG@10 after every chunk, stop after ``patience`` chunks without improvement,
    and keep the best epoch count. Test items are never looked at.
    """

    def tune(split: Split, catalogue: Catalogue, seed: int) -> TuneResult:
        from recommender.harness import validate  # evaluation imports the registry

        keys = list(grid)
        trials: list[dict[str, Any]] = []
        for values in itertools.product(*(grid[k] for k in keys)):
            params = dict(zip(keys, values, strict=True))
            model = build({**params, "iterations": max_iterations}, seed)
            curve: list[tuple[int, float]] = []
            best_epochs, best, stale = 0, -1.0, 0
            for epochs in model.train_chunks(split.train, catalogue):
                ndcg = validate(model, split)
                curve.append((epochs, round(ndcg, 6)))
                if ndcg > best:
                    best_epochs, best, stale = epochs, ndcg, 0
                else:
                    stale += 1
                    if stale >= patience:
                        break
            trials.append({**params, "iterations": best_epochs, "valid_ndcg": best, "curve": curve})
        chosen = max(trials, key=lambda t: t["valid_ndcg"])  # first wins ties: grid order
        hparams = {k: chosen[k] for k in [*keys, "iterations"]}
        return TuneResult(hparams, float(chosen["valid_ndcg"]), trials)

    return tune


def als_spec() -> ModelSpec:
    def build(hparams: Mapping[str, Any], seed: int) -> ALS:
        return ALS(ALSConfig(**{**hparams, "random_state": seed}))

    grid: dict[str, list[Any]] = {
        "factors": [64, 128],
        "regularization": [0.1, 1.0],
        "alpha": [1.0, 3.0],
    }
    return ModelSpec(
        "als",
        build,
        tune=mf_tune(build, grid, max_iterations=30, patience=2),
        baseline=True,
        summary="implicit ALS (Hu et al. 2008), conjugate gradient",
    )


def bpr_spec() -> ModelSpec:
    def build(hparams: Mapping[str, Any], seed: int) -> BPR:
        return BPR(BPRConfig(**{**hparams, "random_state": seed}))

    # lr 0.05 peaks within ~20 epochs, 0.01 needs ~100 and its validation curve is noisy,
    # hence patience 5 checks (50 epochs). One thread makes an ML-1M epoch about 0.5 s, so the
    # grid is kept small to hold the ML-1M run to a few minutes.
    grid: dict[str, list[Any]] = {
        "factors": [128],
        "learning_rate": [0.01, 0.05],
        "regularization": [0.01],
    }
    return ModelSpec(
        "bpr",
        build,
        tune=mf_tune(build, grid, max_iterations=200, patience=5),
        baseline=True,
        summary="implicit BPR (Rendle et al. 2009), SGD with sampled negatives",
    )
