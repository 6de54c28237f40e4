"""Semantic item IDs: residual k-means codes and the trie of valid IDs (TIGER, Rajput et al.
2023; the residual k-means variant of RQ-VAE that later reproductions found more stable).

An item's ID is ``levels`` codes from residual quantisation of its content vector (level 1
clusters the vectors, level 2 clusters what level 1 left over, ...) plus a final collision
code: the item's rank among the items whose codes are all equal, so every ID names exactly
one item. Similar items share prefixes, which is what lets a sequence model trained on some
items place an item it has never seen: its ID is made of codes it has seen.

Codebook collapse (most vectors on a few codes) is the failure public implementations report
most; here k-means++ seeding plus re-seeding every empty code at the worst-fitted point keeps
every code in use whenever there are at least as many distinct vectors as codes.
:func:`code_stats` reports utilisation and collisions so a run shows it.

:class:`CodeTrie` holds the IDs of the *active* items (counts of active items under every
prefix): retiring, restoring and adding an item change the counts, and decoding asks it which
next codes still lead to an item the user may get.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


def _sq_dist(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(n, k) squared Euclidean distances, float64."""
    d = (x * x).sum(1)[:, None] - 2.0 * x @ centres.T + (centres * centres).sum(1)[None, :]
    return np.maximum(d, 0.0)


def kmeans(x: np.ndarray, k: int, iters: int, rng: np.random.Generator) -> np.ndarray:
    """(k, d) centres: greedy k-means++ seeding, Lloyd steps, empty codes re-seeded.

    An empty code takes the point farthest from its centre (one point per empty code), so a
    code is only ever unused when there are fewer distinct points than codes.
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    centres = np.empty((k, x.shape[1]))
    centres[0] = x[rng.integers(n)]
    nearest = _sq_dist(x, centres[:1])[:, 0]
    trials = 2 + int(np.log(k))  # greedy k-means++ (as scikit-learn): the best of a few draws
    for j in range(1, k):
        total = nearest.sum()
        picks = (
            rng.choice(n, size=trials, p=nearest / total)
            if total > 0
            else rng.integers(n, size=trials)
        )
        candidates = np.minimum(nearest[None, :], _sq_dist(x[picks], x))  # (trials, n)
        best = int(candidates.sum(1).argmin())
        centres[j], nearest = x[picks[best]], candidates[best]
    for _ in range(iters):
        dist = _sq_dist(x, centres)
        assign = dist.argmin(1)
        counts = np.bincount(assign, minlength=k)
        sums = np.zeros_like(centres)
        np.add.at(sums, assign, x)
        filled = counts > 0
        moved = sums[filled] / counts[filled, None]
        done = np.allclose(moved, centres[filled]) and filled.all()
        centres[filled] = moved
        empty = np.flatnonzero(~filled)
        if len(empty):
            worst = np.argsort(-dist[np.arange(n), assign], kind="stable")[: len(empty)]
            centres[empty[: len(worst)]] = x[worst]
        elif done:
            break
    return centres


@dataclass
class ResidualQuantizer:
    """``levels`` codebooks of ``codebook_size`` centres each, fitted level by level."""

    levels: int = 3
    codebook_size: int = 64
    iters: int = 30
    seed: int = 0

    def __post_init__(self) -> None:
        self.codebooks: list[np.ndarray] = []  # levels x (K, d) float64

    def fit(self, x: np.ndarray) -> ResidualQuantizer:
        rng = np.random.default_rng(self.seed)
        residual = np.asarray(x, dtype=np.float64).copy()
        self.codebooks = []
        for _ in range(self.levels):
            k = min(self.codebook_size, len(residual))
            centres = kmeans(residual, k, self.iters, rng)
            codes = _sq_dist(residual, centres).argmin(1)
            residual -= centres[codes]
            self.codebooks.append(centres)
        return self

    def encode(self, x: np.ndarray) -> np.ndarray:
        """(n, levels) int64 codes: at each level the centre nearest to what is left."""
        if not self.codebooks:
            raise RuntimeError("the quantizer is not fitted")
        residual = np.asarray(x, dtype=np.float64).copy()
        out = np.empty((len(residual), len(self.codebooks)), dtype=np.int64)
        for level, centres in enumerate(self.codebooks):
            out[:, level] = _sq_dist(residual, centres).argmin(1)
            residual -= centres[out[:, level]]
        return out

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """(n, d) the sum of each code's centre: the vector the ID stands for."""
        codes = np.asarray(codes, dtype=np.int64)
        return sum(c[codes[:, level]] for level, c in enumerate(self.codebooks))  # type: ignore[return-value]


def with_collision_level(codes: np.ndarray, taken: Iterable[tuple[int, ...]] = ()) -> np.ndarray:
    """(n, levels + 1): each row's codes plus its rank among the rows with equal codes.

    ``taken``: IDs (levels + 1 codes) already in use, e.g. the catalogue's before an import,
    so a new item that lands on an existing prefix gets the next free collision code.
    """
    used: dict[tuple[int, ...], int] = defaultdict(int)
    for full in taken:
        prefix = tuple(full[:-1])
        used[prefix] = max(used[prefix], int(full[-1]) + 1)
    last = np.empty(len(codes), dtype=np.int64)
    for row, prefix in enumerate(map(tuple, np.asarray(codes).tolist())):
        last[row] = used[prefix]
        used[prefix] += 1
    return np.column_stack([codes, last]).astype(np.int64)


def code_stats(ids: np.ndarray, codebook_size: int) -> dict[str, object]:
    """Utilisation per level (share of the codebook in use), collisions and ID depth.

    ``collision_rate``: share of items whose content codes (all but the last) are shared with
    another item, i.e. that need the collision code to be told apart.
    """
    ids = np.asarray(ids, dtype=np.int64)
    levels = ids.shape[1] - 1
    content = ids[:, :levels]
    _, inverse, counts = np.unique(content, axis=0, return_inverse=True, return_counts=True)
    used_per_level = [len(np.unique(content[:, level])) for level in range(levels)]
    return {
        "items": len(ids),
        "levels": levels,
        "codebook_size": codebook_size,
        "utilisation": [round(u / codebook_size, 4) for u in used_per_level],
        "codes_used": used_per_level,
        "collision_rate": round(float((counts[inverse.ravel()] > 1).mean()), 4)
        if len(ids)
        else 0.0,
        "max_collision": int(counts.max()) if len(counts) else 0,
        "distinct_prefixes": [
            len({tuple(r) for r in content[:, : level + 1].tolist()}) for level in range(levels)
        ],
    }


class CodeTrie:
    """The IDs of the active items, as counts of active items under every prefix.

    ``ids``: (n_items, depth) full IDs (content codes plus the collision code), item index =
    row. A prefix is allowed when some active item lies under it; ``blocked`` (a Counter of
    prefixes from :meth:`prefix_counts`, e.g. of the user's history) subtracts items that
    must not be returned, so decoding can never end on one of them.
    """

    def __init__(self, ids: np.ndarray, active: np.ndarray | None = None) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        self.depth = self.ids.shape[1]
        self.active = (
            np.ones(len(self.ids), dtype=bool)
            if active is None
            else np.asarray(active, bool).copy()
        )
        self._count: Counter[tuple[int, ...]] = Counter()
        self._item: dict[tuple[int, ...], int] = {}
        for item, full in enumerate(map(tuple, self.ids.tolist())):
            self._item[full] = item
            if self.active[item]:
                self._bump(item, +1)

    def _prefixes(self, item: int) -> list[tuple[int, ...]]:
        full = tuple(self.ids[item].tolist())
        return [full[:level] for level in range(self.depth + 1)]  # the root () first

    def _bump(self, item: int, by: int) -> None:
        for prefix in self._prefixes(item):
            self._count[prefix] += by

    def prefix_counts(self, items: Iterable[int]) -> Counter[tuple[int, ...]]:
        """How many of ``items`` (the active ones, each once) lie under every prefix."""
        out: Counter[tuple[int, ...]] = Counter()
        for item in {int(i) for i in items}:
            if 0 <= item < len(self.active) and self.active[item]:
                out.update(self._prefixes(item))
        return out

    def retire(self, item: int) -> None:
        if self.active[item]:
            self.active[item] = False
            self._bump(item, -1)

    def restore(self, item: int) -> None:
        if not self.active[item]:
            self.active[item] = True
            self._bump(item, +1)

    def add(self, full_id: Iterable[int]) -> int:
        """Append an active item with this ID; returns its index."""
        full = tuple(int(c) for c in full_id)
        if len(full) != self.depth or full in self._item:
            raise ValueError(f"ID {full} is malformed or already names item {self._item.get(full)}")
        item = len(self.ids)
        self.ids = np.vstack([self.ids, np.array(full, dtype=np.int64)[None]])
        self.active = np.r_[self.active, True]
        self._item[full] = item
        self._bump(item, +1)
        return item

    def allows(
        self, prefix: tuple[int, ...], blocked: Counter[tuple[int, ...]] | None = None
    ) -> bool:
        """Whether some active item not in ``blocked`` lies under ``prefix`` (``()``: any)."""
        return self._count.get(prefix, 0) - (blocked[prefix] if blocked else 0) > 0

    def children_mask(
        self, prefix: tuple[int, ...], size: int, blocked: Counter[tuple[int, ...]] | None = None
    ) -> np.ndarray:
        """(size,) bool: the next codes after ``prefix`` that lead to an allowed item."""
        mask = np.zeros(size, dtype=bool)
        for code in range(size):
            child = (*prefix, code)
            left = self._count.get(child, 0) - (blocked[child] if blocked else 0)
            mask[code] = left > 0
        return mask

    def items_under(
        self, prefix: tuple[int, ...], blocked_items: set[int] | None = None
    ) -> list[int]:
        """Active items whose ID starts with ``prefix`` (not in ``blocked_items``)."""
        n = len(prefix)
        rows = np.flatnonzero(
            self.active & (self.ids[:, :n] == np.asarray(prefix, dtype=np.int64)).all(1)
        )
        return [int(r) for r in rows if not blocked_items or int(r) not in blocked_items]

    def item_of(self, full_id: Iterable[int]) -> int | None:
        """The active item this full ID names, else None (no such ID, or retired)."""
        item = self._item.get(tuple(int(c) for c in full_id))
        return item if item is not None and self.active[item] else None
