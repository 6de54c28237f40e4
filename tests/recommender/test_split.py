from dataclasses import replace

import numpy as np
import pytest

from recommender.data import Interactions, load_movielens
from recommender.split import leave_last_out


def test_ties_in_time_are_broken_by_file_row_order() -> None:
    # user 0 rated items 5, 6, 7 in the same second: the last row is the test item
    log = Interactions(
        n_users=1,
        n_items=8,
        users=np.zeros(4, dtype=np.int64),
        items=np.array([1, 5, 6, 7]),
        values=np.ones(4, dtype=np.float32),
        timestamps=np.array([10, 50, 50, 50]),
    )
    split = leave_last_out(log)
    assert split.valid_items.tolist() == [6]
    assert split.test_items.tolist() == [7]
    assert sorted(split.train.items.tolist()) == [1, 5]


def test_users_with_fewer_than_three_interactions_stay_in_train_and_are_not_evaluated() -> None:
    log = Interactions(
        2,
        5,
        np.array([0, 0, 1, 1, 1]),
        np.array([0, 1, 2, 3, 4]),
        np.ones(5, dtype=np.float32),
        np.arange(5),
    )
    split = leave_last_out(log)
    assert split.users.tolist() == [1]
    assert (split.train.users == 0).sum() == 2


@pytest.mark.integration
def test_ml100k_split_never_leaks_a_held_out_item_into_train() -> None:
    log = load_movielens("100k").interactions
    split = leave_last_out(log)
    pairs = lambda part: set(zip(part.users.tolist(), part.items.tolist(), strict=True))  # noqa: E731
    train, valid, test = pairs(split.train), pairs(split.valid), pairs(split.test)
    assert not train & valid and not train & test and not valid & test
    assert len(split.train) + len(split.valid) + len(split.test) == len(log)
    assert len(split.users) == log.n_users == 943  # every ML-100K user has >= 20 ratings

    # held-out rows are each user's last two by (timestamp, row): nothing in train is later
    last_train = np.full(log.n_users, -1)
    np.maximum.at(last_train, split.train.users, split.train.timestamps)
    order = np.argsort(split.valid.users)
    assert (split.valid.timestamps[order] >= last_train[split.users]).all()
    assert (
        split.test.timestamps[np.argsort(split.test.users)] >= split.valid.timestamps[order]
    ).all()
    # the hash pins the split every reported number used
    assert split.hash == "bc5286d2e7feee9f"


def test_the_id_hash_names_ids_not_indices_so_a_reindexed_copy_hashes_the_same() -> None:
    from recommender.data import IdMap

    log = Interactions(
        n_users=2,
        n_items=4,
        users=np.array([0, 0, 0, 0, 1, 1, 1]),
        items=np.array([0, 1, 2, 3, 3, 1, 2]),
        values=np.ones(7, dtype=np.float32),
        timestamps=np.arange(7),
    )
    users, items = IdMap.from_iterable(["u7", "u9"]), IdMap.from_iterable(["a", "b", "c", "d"])
    # the same data indexed the other way round (another loader, another order)
    flipped = Interactions(
        n_users=2,
        n_items=4,
        users=1 - log.users,
        items=3 - log.items,
        values=log.values,
        timestamps=log.timestamps,
    )
    users_flipped, items_flipped = (
        IdMap.from_iterable(["u9", "u7"]),
        IdMap.from_iterable(["d", "c", "b", "a"]),
    )
    a, b = leave_last_out(log), leave_last_out(flipped)
    assert a.hash != b.hash  # the index hash sees the relabelling
    assert a.id_hash(users, items) == b.id_hash(users_flipped, items_flipped)
    moved = leave_last_out(replace(log, timestamps=np.array([0, 1, 2, 3, 4, 6, 5])))
    assert moved.id_hash(users, items) != a.id_hash(users, items)
