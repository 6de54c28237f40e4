"""Leave-last-out split by time, the protocol every number in this project uses.

Per user, interactions are ordered by (timestamp, file row order); the last one is the test
item, the second-to-last the validation item, the rest train. Users with fewer than three
interactions keep everything in train (they are never evaluated). The split is written out
with a content hash so two runs can prove they used the same one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recommender.data import IdMap, Interactions


@dataclass(frozen=True)
class Split:
    train: Interactions
    valid: Interactions  # one row per evaluated user
    test: Interactions  # one row per evaluated user, same users as valid
    users: np.ndarray  # (n_eval,) evaluated user indices, ascending
    valid_items: np.ndarray  # (n_eval,) aligned with users
    test_items: np.ndarray  # (n_eval,) aligned with users

    @property
    def train_valid(self) -> Interactions:
        """Train plus validation rows: what a model refit for the test stage learns from."""
        t, v = self.train, self.valid
        return Interactions(
            t.n_users,
            t.n_items,
            np.concatenate([t.users, v.users]),
            np.concatenate([t.items, v.items]),
            np.concatenate([t.values, v.values]),
            np.concatenate([t.timestamps, v.timestamps]),
        )

    @property
    def hash(self) -> str:
        """sha256 over the (user, item) pairs of each part: equal iff the splits are equal."""
        h = hashlib.sha256()
        for part in (self.train, self.valid, self.test):
            order = part.chronological_order()
            h.update(np.ascontiguousarray(part.users[order]).astype("<i8").tobytes())
            h.update(np.ascontiguousarray(part.items[order]).astype("<i8").tobytes())
            h.update(b"|")
        return h.hexdigest()[:16]

    def id_hash(self, users: IdMap, items: IdMap) -> str:
        """A hash another implementation can reproduce from the same data file: sha256 of
        the lines ``<part> <user id> <item id>`` (part: train, valid or test; ids as in the
        file), sorted, joined by newlines; the first 16 hex digits. It names no internal
        index and no row order, so two codebases that split alike print the same hash."""
        lines = sorted(
            f"{name} {users.ids[u]} {items.ids[i]}"
            for name, part in (("train", self.train), ("valid", self.valid), ("test", self.test))
            for u, i in zip(part.users.tolist(), part.items.tolist(), strict=True)
        )
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]

    def write(self, path: Path) -> None:
        """JSON with the hash and the held-out items, enough to audit and compare runs."""
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "hash": self.hash,
            "n_train": len(self.train),
            "users": self.users.tolist(),
            "valid_items": self.valid_items.tolist(),
            "test_items": self.test_items.tolist(),
        }
        path.write_text(json.dumps(payload))


def leave_last_out(interactions: Interactions, min_interactions: int = 3) -> Split:
    order = interactions.chronological_order()  # by (user, timestamp, row)
    users = interactions.users[order]
    n = len(order)
    # position of each sorted row counted from its user's end: 0 = last, 1 = second to last
    is_last_of_user = np.r_[users[1:] != users[:-1], True]
    ends = np.flatnonzero(is_last_of_user)
    starts = np.r_[0, ends[:-1] + 1]
    counts = ends - starts + 1
    from_end = np.empty(n, dtype=np.int64)
    for s, e in zip(starts, ends, strict=True):
        from_end[s : e + 1] = np.arange(e - s, -1, -1)
    eligible_user = np.zeros(interactions.n_users, dtype=bool)
    eligible_user[users[ends[counts >= min_interactions]]] = True
    eligible_row = eligible_user[users]

    role = np.zeros(n, dtype=np.int8)  # 0 train, 1 valid, 2 test (in sorted order)
    role[eligible_row & (from_end == 1)] = 1
    role[eligible_row & (from_end == 0)] = 2
    row_role = np.empty(n, dtype=np.int8)
    row_role[order] = role

    train = interactions.subset(row_role == 0)
    valid = interactions.subset(row_role == 1)
    test = interactions.subset(row_role == 2)
    v_order, t_order = np.argsort(valid.users, kind="stable"), np.argsort(test.users, kind="stable")
    eval_users = valid.users[v_order]
    assert np.array_equal(eval_users, test.users[t_order])
    return Split(
        train=train,
        valid=valid,
        test=test,
        users=eval_users,
        valid_items=valid.items[v_order],
        test_items=test.items[t_order],
    )
