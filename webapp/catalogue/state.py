"""The catalogue as the request path sees it: arrays and a title index, cached per process.

Everything on the request path is arithmetic on stored rows and vectors: the catalogue, its
title index and the aligned item-vector matrix are cached per process and rebuilt only when
the catalogue's cheap signature changes (one query per request).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from django.db import connection

from explanations.scoring import GenreGroups, TextMoments, TitleSearch
from explanations.titles import TitleIndex
from recommender import ann
from recommender.data import Catalogue
from webapp import ml
from webapp.catalogue.models import CatalogueStats, CatalogueVersion, Item, ItemVectors
from webapp.catalogue.selectors import catalogue_from_db


@dataclass(frozen=True)
class CatalogueState:
    catalogue: Catalogue
    index: TitleIndex
    texts: tuple[str, ...]
    texts_hash: str
    signature: tuple[Any, ...]
    # pks of the active items: retiring or restoring one moves its updated_at, so this set
    # is rebuilt exactly when the signature changes (no query per request)
    active: frozenset[Any] = frozenset()
    # (n_items,) interactions per item, aligned with the catalogue: a new user's list starts
    # from it (the statistics task moves the signature when it changes the counts)
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    # (G, n_items) per genre of ``catalogue.genre_vocabulary``: how many of its fans liked each
    # item (the latest statistics row; None before the statistics task has run)
    fans: np.ndarray | None = None
    # ((n_items, k) indices, (n_items, k) cosines): each item's most co-watched items
    neighbours: tuple[np.ndarray, np.ndarray] | None = None

    def position(self, pk: Any) -> int | None:
        ids = self.catalogue.ids
        return ids.index(pk) if pk in ids else None


def _signature() -> tuple[Any, ...]:
    """Changes whenever an item row, its genres or the statistics change: the number and
    random token database triggers write on each such write (CatalogueVersion), one
    primary-key read per request whatever the catalogue's size (the token: a rolled-back
    write takes its number back, and the next one must not look like it). Without that row
    (a test database flushed between tests) the aggregate scan below stands in."""
    table = connection.ops.quote_name(CatalogueVersion._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT number, token FROM {table} WHERE id = 1")
        row = cursor.fetchone()
    return ("version", *row) if row else _scanned()


def _scanned() -> tuple[Any, ...]:
    """The aggregate over the items table: one round trip (the ORM cannot put two aggregates
    over different tables in one query), but a pass over every item.

    generated_at too: the enrichment task writes descriptions with .update(), which leaves
    updated_at alone; the active count is a second guard on retire / restore; the latest
    statistics row, because the statistics task bulk-updates the items' counts.
    """
    q = connection.ops.quote_name
    items, links = q(Item._meta.db_table), q(Item.genres.through._meta.db_table)
    stats = q(CatalogueStats._meta.db_table)
    sql = (
        "SELECT i.n, i.edited, i.generated, i.top, i.active, g.n, g.top,"
        f" (SELECT MAX({q('id')}) FROM {stats}) FROM"
        f" (SELECT COUNT(*) AS n, MAX({q('updated_at')}) AS edited,"
        f" MAX({q('generated_at')}) AS generated, MAX({q('id')}) AS top,"
        f" SUM(CASE WHEN {q('is_active')} THEN 1 ELSE 0 END) AS active FROM {items}) i,"
        f" (SELECT COUNT(*) AS n, MAX({q('id')}) AS top FROM {links}) g"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return tuple(cursor.fetchone())


@functools.lru_cache(maxsize=2)
def _catalogue_state(signature: tuple[Any, ...]) -> CatalogueState:
    catalogue = catalogue_from_db()
    texts = tuple(catalogue.texts())
    digest = hashlib.sha256()
    for pk, text in zip(catalogue.ids.ids, texts, strict=True):
        digest.update(f"{pk}\t{text}\n".encode())
    rows = Item.objects.values_list("pk", "is_active", "interaction_count")
    counts = np.zeros(len(catalogue), np.int64)
    active = []
    for pk, is_active, count in rows:
        if is_active:
            active.append(pk)
        if pk in catalogue.ids:
            counts[catalogue.ids.index(pk)] = count
    return CatalogueState(
        catalogue,
        TitleIndex(catalogue.titles, catalogue.years.tolist()),
        texts,
        digest.hexdigest(),
        signature,
        frozenset(active),
        counts,
        *_audience(catalogue),
    )


def _key(pk: str) -> Any:
    return int(pk) if pk.isdigit() else pk  # JSON keys are strings


def _audience(
    catalogue: Catalogue,
) -> tuple[np.ndarray | None, tuple[np.ndarray, np.ndarray] | None]:
    """The latest statistics row's genre fans and co-watch neighbours, as catalogue arrays."""
    stats = (
        CatalogueStats.objects.order_by("-computed_at", "-id")
        .only("genre_fans", "item_neighbours")
        .first()
    )
    if stats is None:
        return None, None
    return _fans(catalogue, stats.genre_fans), _neighbours(catalogue, stats.item_neighbours)


def _neighbours(
    catalogue: Catalogue, stored: dict[str, list[list[Any]]]
) -> tuple[np.ndarray, np.ndarray] | None:
    if not stored:
        return None
    k = max(len(v) for v in stored.values())
    index = np.zeros((len(catalogue), k), np.int64)
    sims = np.zeros((len(catalogue), k), np.float32)
    ids = catalogue.ids
    for pk, pairs in stored.items():
        a = _key(pk)
        if a not in ids:
            continue
        row = ids.index(a)
        for col, (b, cos) in enumerate(pairs):
            if b in ids:
                index[row, col], sims[row, col] = ids.index(b), cos
    return index, sims


def _fans(catalogue: Catalogue, stored: dict[str, dict[str, int]]) -> np.ndarray | None:
    if not stored:
        return None
    vocabulary = list(catalogue.genre_vocabulary)
    out = np.zeros((len(vocabulary), len(catalogue)))
    for genre, per_item in stored.items():
        if genre not in vocabulary:
            continue
        g = vocabulary.index(genre)
        for pk, count in per_item.items():
            key = _key(pk)
            if key in catalogue.ids:
                out[g, catalogue.ids.index(key)] = count
    return out


def catalogue_state() -> CatalogueState:
    return _catalogue_state(_signature())


def encoder_key() -> str:
    """The configured encoder's cache identity; computing it loads no weights."""
    return ml.encoder().key


def item_vectors_row(*, texts_hash: str | None = None) -> ItemVectors | None:
    rows = ItemVectors.objects.filter(encoder_key=encoder_key())
    if texts_hash is not None:
        rows = rows.filter(texts_hash=texts_hash)
    return rows.first()


@functools.lru_cache(maxsize=4)
def _load_vectors(path: str) -> tuple[np.ndarray, np.ndarray]:
    vectors = np.load(path, mmap_mode=None)  # (n, d) float32
    ids = np.load(path.removesuffix(".npy") + ".ids.npy")  # (n,) int64 item pks
    return vectors, ids


@functools.lru_cache(maxsize=4)
def _aligned(path: str, signature: tuple[Any, ...]) -> np.ndarray:
    """The stored vectors re-indexed to the current catalogue; items added since the vectors
    were computed get a zero row (they match no statement until the worker embeds them)."""
    vectors, ids = _load_vectors(path)
    state = _catalogue_state(signature)
    pks = state.catalogue.ids.ids
    if len(ids) == len(pks) and np.array_equal(ids, np.asarray(pks)):
        return vectors
    where: dict[Any, int] = {int(pk): row for row, pk in enumerate(ids.tolist())}
    out = np.zeros((len(pks), vectors.shape[1]), dtype=np.float32)
    for i, pk in enumerate(pks):
        if (row := where.get(pk)) is not None:
            out[i] = vectors[row]
    return out


@functools.lru_cache(maxsize=4)
def _moments(path: str, signature: tuple[Any, ...]) -> TextMoments:
    return TextMoments.of(_aligned(path, signature))


def text_moments(state: CatalogueState, row: ItemVectors | None) -> TextMoments | None:
    """The aligned item vectors' moments (explanations.scoring.TextMoments), once per process
    and vectors file: free-text statements are then scored for a list's candidates only."""
    return _moments(row.path, state.signature) if row else None


def ann_index_path(vectors_path: str) -> Path:
    """Where the item vectors' nearest-neighbour index lives: beside the vectors file."""
    return Path(vectors_path.removesuffix(".npy") + ".usearch")


@functools.lru_cache(maxsize=4)
def _title_search(path: str, signature: tuple[Any, ...]) -> TitleSearch | None:
    vectors, ids = _load_vectors(path)
    state = _catalogue_state(signature)
    if len(vectors) < ann.EXACT_BELOW or not np.array_equal(ids, state.catalogue.ids.ids):
        # a small catalogue: exact cosines cost a millisecond; items added or removed since
        # the vectors were embedded: the index's rows are not the catalogue's (until the
        # worker embeds again, exact scoring it is)
        return None
    index = ann.open_or_rebuild(ann_index_path(path), vectors)  # memory-mapped, or exact
    return TitleSearch(index, _moments(path, signature), GenreGroups.of(state.catalogue, vectors))


def title_search(state: CatalogueState, row: ItemVectors | None) -> TitleSearch | None:
    """The item vectors' index for "films like Heat", once per process and vectors file
    (:class:`explanations.scoring.TitleSearch`); None below ``ann.EXACT_BELOW`` items, where
    every item's cosine is computed. A missing or corrupt index file is rebuilt in the
    background (a log line) while exact search answers."""
    return _title_search(row.path, state.signature) if row else None


def item_vectors(
    state: CatalogueState, row: ItemVectors | Literal["read"] | None = "read"
) -> np.ndarray | None:
    """(n_items, d) vectors aligned with ``state.catalogue``, or None before the first run
    of the item-vectors task. Possibly a little stale (see ``vectors_stale``). ``row``: the
    ItemVectors row when the caller has read it already."""
    if isinstance(row, str):
        row = item_vectors_row()
    return _aligned(row.path, state.signature) if row else None
