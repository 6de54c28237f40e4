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
