"""Shared fixtures: a 16-film catalogue whose right answers are obvious, a keyword encoder.

The encoder is a stand-in for MiniLM built in code: each text becomes a bag of genre
dimensions (through the parser's synonym table) plus hashed word buckets, L2-normalised. So
"horror films" lands near every Horror item and "animated films" near every Animation item,
which is what the tests need to know the right answer in advance.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np
import pytest

from explanations.parsing import GENRE_SYNONYMS
from explanations.titles import TitleIndex
from recommender.data import Catalogue, IdMap

FILMS = [  # (external id, title, year, genres)
    (101, "Toy Story", 1995, ("Animation", "Children's", "Comedy")),
    (102, "Aladdin", 1992, ("Animation", "Children's", "Comedy", "Musical")),
    (103, "Lion King, The", 1994, ("Animation", "Children's", "Musical")),
    (104, "Shining, The", 1980, ("Horror",)),
    (105, "Scream", 1996, ("Horror", "Thriller")),
    (106, "Alien", 1979, ("Horror", "Sci-Fi")),
    (107, "Aliens", 1986, ("Action", "Sci-Fi", "Thriller")),
    (108, "Heat", 1995, ("Action", "Crime", "Thriller")),
    (109, "Fargo", 1996, ("Crime", "Drama", "Thriller")),
    (110, "Sound of Music, The", 1965, ("Musical",)),
    (111, "Grease", 1978, ("Comedy", "Musical", "Romance")),
    (112, "Airplane!", 1980, ("Comedy",)),
    (113, "Annie Hall", 1977, ("Comedy", "Romance")),
    (114, "Seven (Se7en)", 1995, ("Crime", "Thriller")),
    (115, "Babe", 1995, ("Children's", "Comedy", "Drama")),
    (116, "Predator", 1987, ("Action", "Sci-Fi", "Thriller")),
]
GENRES = sorted({g for f in FILMS for g in f[3]})


def make_catalogue() -> Catalogue:
    return Catalogue(
        ids=IdMap.from_iterable(f[0] for f in FILMS),
        titles=tuple(f[1] for f in FILMS),
        years=np.array([f[2] for f in FILMS], dtype=np.int64),
        genres=tuple(f[3] for f in FILMS),
    )


class KeywordEncoder:
    """texts -> (n, len(GENRES) + 32) unit vectors; counts calls to check caching."""

    def __init__(self) -> None:
        self.calls = 0
        self.texts_encoded = 0

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts_encoded += len(texts)
        out = np.zeros((len(texts), len(GENRES) + 32), dtype=np.float32)
        for row, text in enumerate(texts):
            low = text.lower()
            for phrase, genres in GENRE_SYNONYMS.items():
                if re.search(r"(?<![\w-])" + re.escape(phrase) + r"(?![\w-])", low):
                    for g in genres:
                        if g in GENRES:
                            out[row, GENRES.index(g)] += 2.0
            for g in GENRES:
                if g.lower() in low:
                    out[row, GENRES.index(g)] += 2.0
            for word in re.findall(r"[a-z0-9]+", low):
                out[row, len(GENRES) + zlib.crc32(word.encode()) % 32] += 0.3
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)


@pytest.fixture
def catalogue() -> Catalogue:
    return make_catalogue()


@pytest.fixture
def index(catalogue: Catalogue) -> TitleIndex:
    return TitleIndex(catalogue.titles, catalogue.years.tolist())


@pytest.fixture
def encode() -> KeywordEncoder:
    return KeywordEncoder()


@pytest.fixture
def item_vectors(catalogue: Catalogue, encode: KeywordEncoder) -> np.ndarray:
    return encode(catalogue.texts())


def history_rows(catalogue: Catalogue, items_ratings: Sequence[tuple[int, float]]) -> list[tuple]:
    """(item_id, title, year, genres, rating) rows for catalogue indices with ratings."""
    return [
        (
            catalogue.ids.external(i),
            catalogue.titles[i],
            int(catalogue.years[i]),
            catalogue.genres[i],
            r,
        )
        for i, r in items_ratings
    ]
