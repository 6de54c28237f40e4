"""A user's state: what it takes to score *any* item for them, in about two kilobytes.

The worker used to store every item's score parts per user (``catalogue_scores``: n_items x
roles float16, 22 KB at 3.7k items, 600 KB at 100k) so that a statement could bring in an
item outside the stored top 100. What those parts are made of is much smaller:

- a **dot** role (SASRec, the dense text model) scores item i as ``v . E[i]``: the user's
  vector ``v`` (d floats) is the state, the item matrix ``E`` is shared by everyone;
- a **history** role (EASE) scores item i as ``sum_h B[h, i]`` over the user's history h: the
  history is already stored (their interactions), ``B`` is shared;
- a hybrid z-scores each role's raw scores over the items the user has not seen and weighs
  them (:func:`recommender.models.hybrid.normalise`): the state keeps that mean and std, so a
  part is ``w (raw - mean) / std`` for one item as for all of them.

So a :class:`UserState` is a few vectors and numbers per role (1.9 KB for the served hybrid,
whatever the catalogue size), and an :class:`ItemSide` holds the shared matrices, saved as
``.npy`` files that every web process memory-maps (the page cache holds one copy). Scoring a
set of candidates costs O(candidates x d) for a dot role and O(history x candidates) for a
history role, never a pass over the catalogue.

Models whose parts cannot be written this way (item kNN, ALS/BPR, popularity, the semantic-ID
model, a rank-normalised hybrid) get ``None`` from :func:`roles_of`; the caller keeps the
per-item parts for them.
"""

from __future__ import annotations

import json
import shutil
import struct
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse as sp

from recommender.base import Ranker
from recommender.harness import score_users

DOT, HISTORY = "dot", "history"
_MAGIC = b"US1"
_HEADER = struct.Struct("<3sI")  # magic, length of the JSON header in bytes


@dataclass(frozen=True)
class Role:
    """One part of the served score: where its raw scores come from and how they are scaled."""

    name: str  # the word an explanation cites ("sequential"), or the model's name when alone
    kind: str  # DOT or HISTORY
    weight: float
    normalised: bool  # z-scored over the user's unseen items (a hybrid's parts) or raw
    model: Ranker


@dataclass(frozen=True)
class RoleState:
    kind: str
    weight: float
    mean: float
    std: float  # 0 with ``normalised``: a constant row (no signal), the part is 0
    normalised: bool
    vector: np.ndarray | None = None  # (d,) float32 for a DOT role

    def scale(self, raw: np.ndarray) -> np.ndarray:
        """Raw scores -> this role's part, exactly as the model's ``components_users`` does."""
        from recommender.models.hybrid import zscored

        raw = np.asarray(raw, np.float64)
        return self.weight * zscored(raw, self.mean, self.std) if self.normalised else raw


@dataclass(frozen=True)
class UserState:
    roles: dict[str, RoleState]
    # std of the total score over the user's unseen items: the scale a statement's part is
    # measured in, read without scoring the catalogue (None: not computed)
    spread: float | None = None

    def pack(self) -> bytes:
        """Bytes for a database column: a JSON header, then each DOT vector as float32.

        No pickle: :meth:`unpack` reads numbers only.
        """
        header, blobs = [], []
        for name, r in self.roles.items():
            dim = 0 if r.vector is None else len(r.vector)
            header.append(
                {"role": name, "kind": r.kind, "weight": r.weight, "mean": r.mean,
                 "std": r.std, "normalised": r.normalised, "dim": dim}
            )  # fmt: skip
            if r.vector is not None:
                blobs.append(np.asarray(r.vector, "<f4").tobytes())
        body = {"roles": header, "spread": self.spread}
        text = json.dumps(body, separators=(",", ":")).encode()
        return _HEADER.pack(_MAGIC, len(text)) + text + b"".join(blobs)

    @classmethod
    def unpack(cls, data: bytes) -> UserState:
        data = bytes(data)
        magic, length = _HEADER.unpack_from(data)
        if magic != _MAGIC:
            raise ValueError("not a packed user state")
        body = json.loads(data[_HEADER.size : _HEADER.size + length])
        if isinstance(body, list):  # the first format: the roles alone, no spread
            body = {"roles": body, "spread": None}
        offset, roles = _HEADER.size + length, {}
        for h in body["roles"]:
            vector = None
            if h["dim"]:
                vector = np.frombuffer(data, "<f4", count=h["dim"], offset=offset).copy()
                offset += 4 * h["dim"]
            roles[h["role"]] = RoleState(
                h["kind"], h["weight"], h["mean"], h["std"], h["normalised"], vector
            )
        return cls(roles, body.get("spread"))


@dataclass
class ItemSide:
    """role -> the item matrix everyone's state is scored against: (n_items, d) for a DOT role,
    (n_items, n_items) for a HISTORY role (row h = what history item h adds to each item)."""

    kinds: dict[str, str]
    matrices: dict[str, np.ndarray]  # a HISTORY role's may be scipy CSR (item kNN)

    @property
    def n_items(self) -> int:
        return next(iter(self.matrices.values())).shape[0] if self.matrices else 0

    def parts(
        self, state: UserState, history: np.ndarray, items: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """role -> (len(items),) float64 parts (every item when ``items`` is None).

        ``history``: the user's positive history as model item indices (HISTORY roles read
        it; duplicates count once, as EASE's binary input does).
        """
        history = np.unique(np.asarray(history, np.int64))
        out = {}
        for name, r in state.roles.items():
            matrix = self.matrices[name]
            # float32 arithmetic, as the models score (a float64 copy of a 100k x 384 matrix
            # would cost more than the product itself)
            if r.kind == DOT:
                assert r.vector is not None
                rows = matrix if items is None else matrix[np.asarray(items, np.int64)]
                raw = rows @ r.vector.astype(np.float32)
            elif len(history) and sp.issparse(matrix):  # item kNN: a few neighbours per row
                block = matrix[history] if items is None else matrix[history][:, items]
                raw = np.asarray(block.sum(axis=0), np.float32).ravel()
            elif len(history):
                block = matrix[history] if items is None else matrix[np.ix_(history, items)]
                raw = block.sum(axis=0, dtype=np.float32)
            else:
                raw = np.zeros(self.n_items if items is None else len(items), np.float32)
            out[name] = r.scale(raw)
        return out

    def save(self, directory: Path) -> None:
        """``manifest.json`` + one ``.npy`` per role, written aside then renamed into place, so
        a reader sees the whole directory or none of it."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
        try:
            manifest = []
            for i, (name, matrix) in enumerate(self.matrices.items()):
                entry: dict[str, object] = {"role": name, "kind": self.kinds[name]}
                entry["file"] = f"{i}.npy"
                if sp.issparse(matrix):  # CSR as its three arrays, each memory-mappable
                    csr = sp.csr_matrix(matrix, dtype=np.float32)
                    for part in ("data", "indices", "indptr"):
                        np.save(staging / f"{i}.{part}.npy", getattr(csr, part))
                    entry |= {"sparse": True, "shape": list(csr.shape)}
                else:
                    np.save(staging / f"{i}.npy", np.ascontiguousarray(matrix, np.float32))
                manifest.append(entry)
            (staging / "manifest.json").write_text(json.dumps(manifest))
            staging.rename(directory)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not (directory / "manifest.json").is_file():  # another writer did not win
                raise

    @classmethod
    def load(cls, directory: Path, mmap: bool = True) -> ItemSide:
        """Memory-mapped by default: web processes share the pages, and a request touches only
        the rows of its candidates."""
        directory = Path(directory)
        manifest = json.loads((directory / "manifest.json").read_text())
        kinds, matrices = {}, {}
        mode: Literal["r"] | None = "r" if mmap else None
        for entry in manifest:
            kinds[entry["role"]] = entry["kind"]
            if entry.get("sparse"):
                stem = entry["file"].removesuffix(".npy")
                data, indices, indptr = (
                    np.load(directory / f"{stem}.{part}.npy", mmap_mode=mode, allow_pickle=False)
                    for part in ("data", "indices", "indptr")
                )
                shape = tuple(entry["shape"])
                matrices[entry["role"]] = sp.csr_matrix((data, indices, indptr), shape=shape)
            else:
                matrices[entry["role"]] = np.load(
                    directory / entry["file"], mmap_mode=mode, allow_pickle=False
                )
        return cls(kinds, matrices)


def _kind(model: Ranker) -> str | None:
    from recommender.models.dense import DenseText
    from recommender.models.ease import EASE
    from recommender.models.itemknn import ItemKNN
    from recommender.models.sasrec import SASRec

    if isinstance(model, EASE | ItemKNN):
        return HISTORY
    if isinstance(model, SASRec | DenseText):
        return DOT
    return None


def roles_of(model: Ranker) -> list[Role] | None:
    """The served score's roles, or None when some part cannot be written as a user state."""
    from recommender.models.hybrid import Hybrid

    if isinstance(model, Hybrid):
        if model.config.normalisation != "zscore":
            return None
        roles = []
        for name in model.config.roles():
            kind = _kind(model.models[name])
            if kind is None:
                return None
            weight = model.config.weight(name)
            roles.append(Role(name, kind, weight, True, model.models[name]))
        return roles
    kind = _kind(model)
    return None if kind is None else [Role(model.name, kind, 1.0, False, model)]


def _item_matrix(role: Role) -> np.ndarray:
    model: object = role.model
    if role.kind == HISTORY:
        from recommender.models.itemknn import ItemKNN

        if isinstance(model, ItemKNN):  # sparse: k neighbours per item, not n x n
            return sp.csr_matrix(model.similarity, dtype=np.float32)  # type: ignore[return-value]
        return np.asarray(model.weights, np.float32)  # type: ignore[attr-defined]
    vectors = model.item_vectors  # type: ignore[attr-defined]
    return np.asarray(vectors() if callable(vectors) else vectors, np.float32)


def item_side(model: Ranker) -> ItemSide | None:
    roles = roles_of(model)
    if roles is None:
        return None
    return ItemSide({r.name: r.kind for r in roles}, {r.name: _item_matrix(r) for r in roles})


def _user_vectors(role: Role, users: np.ndarray) -> np.ndarray:
    """(len(users), d) float32: the vector the role's model scores each user with."""
    from recommender.models.dense import DenseText

    model = role.model
    if isinstance(model, DenseText):
        return np.stack([model.user_vector(int(u)) for u in users]).astype(np.float32)
    vectors = model.user_vectors()  # type: ignore[attr-defined]  # SASRec
    out = np.zeros((len(users), vectors.shape[1]), np.float32)
    for row, u in enumerate(users):  # SASRec scores a user with no sequence 0 everywhere
        if u < len(vectors) and len(model.seen(int(u))):
            out[row] = vectors[u]
    return out


def user_states(
    model: Ranker, users: np.ndarray, roles: Sequence[Role] | None = None
) -> tuple[list[UserState], dict[str, np.ndarray]]:
    """Each user's state, and role -> (len(users), n_items) parts over every item.

    The parts equal :func:`recommender.serving.component_scores` (a test holds them to it):
    the raw scores are computed once and both the moments and the parts come from them.
    """
    roles = roles_of(model) if roles is None else list(roles)
    if roles is None:
        raise TypeError(f"{model.name} has no user state; keep its per-item parts")
    from recommender.models.hybrid import seen_rows, zscore_moments, zscored

    users = np.asarray(users, np.int64)
    seen = seen_rows(model, users)
    states: list[dict[str, RoleState]] = [{} for _ in users]
    parts: dict[str, np.ndarray] = {}
    for role in roles:
        vectors = _user_vectors(role, users) if role.kind == DOT else None
        raw = np.asarray(score_users(role.model, users), np.float64)
        if role.normalised:
            mean, std = zscore_moments(raw, seen)
        else:
            mean, std = np.zeros(len(users)), np.ones(len(users))
        for row in range(len(users)):
            vector = None if vectors is None else vectors[row]
            states[row][role.name] = RoleState(
                role.kind, role.weight, float(mean[row]), float(std[row]), role.normalised, vector
            )
        normalised = zscored(raw, mean[:, None], std[:, None]) if role.normalised else None
        parts[role.name] = raw if normalised is None else role.weight * normalised
    total = np.sum(list(parts.values()), axis=0)  # (b, n_items)
    spread = [
        float(row[~mask].std()) if (~mask).sum() > 1 else None
        for row, mask in zip(total, seen, strict=True)
    ]
    return [UserState(s, d) for s, d in zip(states, spread, strict=True)], parts
