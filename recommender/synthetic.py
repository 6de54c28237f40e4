"""A synthetic catalogue and its users, at any size, for scaling benchmarks (seeded).

MovieLens stops at 3.7k items; a shop or a streaming catalogue has 10-100x more. This makes
data shaped like it so the project's own functions can be timed and sized at 30k or 100k
items without a licence question:

- **power-law popularity**: item i's base appeal falls as ``(i + 1) ** -alpha`` (a few hits,
  a long tail), so histories concentrate on the head as real ones do;
- **latent tastes**: users and items get ``k`` taste factors; a user picks items with
  probability proportional to popularity times ``exp(taste . factors)``, so there is
  collaborative signal to learn, not noise;
- **genres and years** follow the factors (an item's strongest factor names its first genre),
  and **texts from templates** ("A 1987 crime drama about ...") give the text encoder and the
  statement reader something to read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender.data import Catalogue, IdMap, Interactions

GENRES = (
    "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)  # fmt: skip
_SUBJECTS = (
    "a detective", "two sisters", "a small town", "an astronaut", "a boxer", "a family",
    "a con artist", "a soldier", "a teacher", "a runaway", "a band", "a ghost",
)  # fmt: skip
_PLOTS = (
    "who must face the past", "on the road", "against the odds", "in a city at night",
    "after a long war", "chasing a dream", "caught in a lie", "at the end of the world",
)  # fmt: skip


@dataclass(frozen=True)
class SyntheticConfig:
    n_items: int = 3_700
    n_users: int = 6_000
    per_user: int = 40  # mean history length (geometric-ish spread around it)
    factors: int = 8
    alpha: float = 0.9  # power-law exponent of popularity
    taste: float = 3.0  # how strongly tastes steer choices against popularity
    seed: int = 0


def catalogue(config: SyntheticConfig) -> tuple[Catalogue, np.ndarray, np.ndarray]:
    """(catalogue, (n_items, k) item factors, (n_items,) log popularity)."""
    rng = np.random.default_rng(config.seed)
    n, k = config.n_items, config.factors
    factors = rng.normal(size=(n, k)) / np.sqrt(k)
    log_pop = -config.alpha * np.log1p(rng.permutation(n))  # hits anywhere in the id range
    # genre g is carried by factor g % k: items strong on a factor share its genres
    lead = np.argsort(-factors, axis=1)
    genres = tuple(
        tuple(
            sorted(
                {GENRES[int(lead[i, 0]) % len(GENRES)], GENRES[(int(lead[i, 1]) + k) % len(GENRES)]}
            )
        )
        for i in range(n)
    )
    years = rng.integers(1930, 2000, size=n).astype(np.int64)
    titles = tuple(f"Synthetic Film {i}" for i in range(n))
    texts = tuple(
        f"A {years[i]} {' '.join(g.lower() for g in genres[i])} film about "
        f"{_SUBJECTS[i % len(_SUBJECTS)]} {_PLOTS[(i // 7) % len(_PLOTS)]}."
        for i in range(n)
    )
    cat = Catalogue(IdMap.from_iterable(range(1, n + 1)), titles, years, genres, texts)
    return cat, factors, log_pop


def interactions(
    config: SyntheticConfig, item_factors: np.ndarray, log_pop: np.ndarray
) -> Interactions:
    """Each user's history: ``per_user`` items on average, drawn without replacement by
    popularity x taste (Gumbel top-k: one vectorised draw per chunk of users)."""
    rng = np.random.default_rng(config.seed + 1)
    n, k = len(log_pop), config.factors
    lengths = np.clip(
        rng.geometric(1 / config.per_user, size=config.n_users), 5, 20 * config.per_user
    )
    lengths = np.minimum(lengths, n)
    users, items = [], []
    chunk = max(1, 2_000_000 // n)  # bounded memory: chunk x n_items logits at a time
    for start in range(0, config.n_users, chunk):
        stop = min(config.n_users, start + chunk)
        tastes = rng.normal(size=(stop - start, k))
        logits = log_pop[None, :] + config.taste * tastes @ item_factors.T
        logits += rng.gumbel(size=logits.shape)
        for row in range(stop - start):
            m = int(lengths[start + row])
            picked = np.argpartition(-logits[row], m - 1)[:m]
            users.append(np.full(m, start + row, np.int64))
            items.append(picked.astype(np.int64))
    u, i = np.concatenate(users), np.concatenate(items)
    stamps = rng.permutation(len(u)).astype(np.int64) + 1_000_000_000
    values = rng.integers(1, 6, size=len(u)).astype(np.float32)
    return Interactions(config.n_users, n, u, i, values, stamps)
