"""The contract every :class:`recommender.base.Ranker` passes, as a reusable test mixin.

Use it by subclassing with a ``make_model`` that returns a small, unfitted model::

    from tests.recommender.contract import RankerContract

    class TestSASRec(RankerContract):
        def make_model(self) -> Ranker:
            return SASRec(SASRecConfig(hidden=16, layers=1, epochs=30, seed=0))

pytest collects the inherited ``test_*`` methods for each subclass. Hooks:

``make_model(self) -> Ranker`` (required)
    A fresh, unfitted model. Keep it tiny: the data set is 24 users x 20 items and the whole
    class should run in about a second. It must be deterministic (seed it).
``make_data(self) -> Checkerboard`` (optional)
    The data set; defaults to :func:`checkerboard`. Override to change its size.
``assert_known_answer(self, model, data)`` (optional)
    The known-answer check. The default asserts that each user's held-out item from their own
    block outscores every item of the other block. A model that cannot personalise
    (MostPopular) overrides it with the answer it should give.

The fitted model is shared by the tests of one class (a class-scoped fixture), so a test must
not mutate it. The checkerboard: users in group g interacted with 8 of the 10 items in block g
and none in the other block; one of the two missing items is their held-out item. Items carry
text (title, genre, a one-line description) that separates the blocks, so text models can pass
too. Timestamps follow each user's item order, so sequences are well defined.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from recommender.base import Ranker
from recommender.data import Catalogue, IdMap, Interactions

N_GROUPS = 2


@dataclass(frozen=True)
class Checkerboard:
    interactions: Interactions
    catalogue: Catalogue
    group: np.ndarray  # (n_users,) block each user belongs to
    held_out: np.ndarray  # (n_users,) an unseen item of the user's own block
    items_per_block: int

    def block(self, g: int) -> np.ndarray:
        return np.arange(g * self.items_per_block, (g + 1) * self.items_per_block)


def checkerboard(users_per_group: int = 12, items_per_block: int = 10) -> Checkerboard:
    """Two user groups x two item blocks; see the module docstring."""
    n_users, n_items = N_GROUPS * users_per_group, N_GROUPS * items_per_block
    rows: list[tuple[int, int]] = []
    group = np.arange(n_users) % N_GROUPS  # interleaved so both groups span the index range
    held_out = np.empty(n_users, dtype=np.int64)
    for u in range(n_users):
        start = group[u] * items_per_block
        held = start + u % items_per_block
        dropped = start + (u + 3) % items_per_block  # a second gap: "most", not all, items
        held_out[u] = held
        rows += [(u, i) for i in range(start, start + items_per_block) if i not in (held, dropped)]
    users, items = np.array(rows).T
    interactions = Interactions(
        n_users=n_users,
        n_items=n_items,
        users=users.astype(np.int64),
        items=items.astype(np.int64),
        values=np.ones(len(rows), dtype=np.float32),
        timestamps=1_000_000 + np.arange(len(rows), dtype=np.int64) * 60,
    )
    themes = [("Comedy", "a light-hearted comedy"), ("Horror", "a dark, frightening horror")]
    titles, genres, descriptions = [], [], []
    for i in range(n_items):
        genre, blurb = themes[i // items_per_block]
        titles.append(f"{genre} Film {i % items_per_block + 1}")
        genres.append((genre,))
        descriptions.append(f"{blurb} film.")
    catalogue = Catalogue(
        ids=IdMap.from_iterable(f"item-{i}" for i in range(n_items)),
        titles=tuple(titles),
        years=np.full(n_items, 2000, dtype=np.int64),
        genres=tuple(genres),
        descriptions=tuple(descriptions),
    )
    return Checkerboard(interactions, catalogue, group, held_out, items_per_block)


def with_held_out_rated(data: Checkerboard, users: np.ndarray) -> Interactions:
    """The data where ``users`` also rated their held-out item, after everything else."""
    base = data.interactions
    return Interactions(
        n_users=base.n_users,
        n_items=base.n_items,
        users=np.r_[base.users, users],
        items=np.r_[base.items, data.held_out[users]],
        values=np.r_[base.values, np.ones(len(users), dtype=np.float32)],
        timestamps=np.r_[base.timestamps, np.full(len(users), base.timestamps.max() + 60)],
    )


class RankerContract:
    """Mixin: inherit it in a ``Test...`` class and implement :meth:`make_model`."""

    # users the per-user checks visit (all 24 by default; lower it for a slow model)
    users_checked: ClassVar[int | None] = None

    def make_model(self) -> Ranker:
        raise NotImplementedError("RankerContract subclasses implement make_model()")

    def make_data(self) -> Checkerboard:
        return checkerboard()

    def assert_known_answer(self, model: Ranker, data: Checkerboard) -> None:
        for u in self._users(data):
            other = data.block(1 - data.group[u])
            scores = model.score(u, np.r_[data.held_out[u], other])
            assert scores[0] > scores[1:].max(), (
                f"user {u}: held-out item {data.held_out[u]} scored {scores[0]:.4g}, "
                f"best other-block item {scores[1:].max():.4g}"
            )

    # -- fixtures ---------------------------------------------------------------------------

    # class-scoped, so one fit serves every test of the class; pytest wants those as
    # classmethods, and the hooks are instance methods, hence cls()
    @pytest.fixture(scope="class")
    @classmethod
    def data(cls) -> Checkerboard:
        return cls().make_data()

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, data: Checkerboard) -> Ranker:
        return cls().make_model().fit(data.interactions, data.catalogue)

    def _users(self, data: Checkerboard) -> range:
        n = data.interactions.n_users
        return range(n if self.users_checked is None else min(n, self.users_checked))

    # -- the contract -----------------------------------------------------------------------

    def test_fit_returns_the_model_itself(self, data: Checkerboard) -> None:
        model = self.make_model()
        assert model.fit(data.interactions, data.catalogue) is model
        assert isinstance(model, Ranker)
        assert (model.n_users, model.n_items) == (
            data.interactions.n_users,
            data.interactions.n_items,
        )

    def test_score_gives_one_finite_float32_per_requested_item(
        self, fitted: Ranker, data: Checkerboard
    ) -> None:
        items = np.array([3, 0, 17, 3])
        scores = fitted.score(0, items)
        assert scores.shape == (4,)
        assert scores.dtype == np.float32
        assert np.isfinite(scores).all()
        assert scores[0] == scores[3]  # the same item scores the same wherever it is asked
        full = fitted.score(0, np.arange(data.interactions.n_items))
        np.testing.assert_allclose(full[items], scores, rtol=1e-5, atol=1e-6)

    def test_it_ranks_the_held_out_item_of_the_users_block_above_the_other_block(
        self, fitted: Ranker, data: Checkerboard
    ) -> None:
        self.assert_known_answer(fitted, data)

    def test_recommend_never_returns_seen_or_excluded_items(
        self, fitted: Ranker, data: Checkerboard
    ) -> None:
        histories = data.interactions.histories()
        for u in self._users(data):
            exclude = np.array([data.held_out[u], (u * 7) % data.interactions.n_items])
            items, _ = fitted.recommend(u, n=data.interactions.n_items, exclude=exclude)
            assert not set(items.tolist()) & set(histories[u].tolist())
            assert not set(items.tolist()) & set(exclude.tolist())
            assert len(set(items.tolist())) == len(items)

    def test_recommend_returns_n_items_best_first_with_their_scores(
        self, fitted: Ranker, data: Checkerboard
    ) -> None:
        for u in self._users(data):
            items, scores = fitted.recommend(u, n=5)
            assert items.shape == scores.shape == (5,)
            assert items.dtype == np.int64
            assert scores.dtype == np.float32
            assert np.all(np.diff(scores) <= 0), "scores must be non-increasing"
            np.testing.assert_allclose(fitted.score(u, items), scores, rtol=1e-5, atol=1e-6)

    def test_recommend_stops_when_unseen_items_run_out(
        self, fitted: Ranker, data: Checkerboard
    ) -> None:
        seen = len(np.unique(data.interactions.histories()[0]))
        items, _ = fitted.recommend(0, n=10 * data.interactions.n_items)
        assert len(items) == data.interactions.n_items - seen

    def test_batch_scores_match_single_user_scores(
        self, fitted: Ranker, data: Checkerboard
    ) -> None:
        from recommender.harness import score_users

        users = np.arange(data.interactions.n_users)
        batch = score_users(fitted, users)  # the model's own batch hook when it has one
        assert batch.shape == (len(users), data.interactions.n_items)
        single = np.stack([fitted.score(int(u), np.arange(batch.shape[1])) for u in users])
        np.testing.assert_allclose(batch, single, rtol=1e-5, atol=1e-6)

    def test_save_then_load_gives_identical_scores(
        self, fitted: Ranker, data: Checkerboard, tmp_path: Path
    ) -> None:
        path = tmp_path / "model.bin"
        fitted.save(path)
        loaded = type(fitted).load(path)
        items = np.arange(data.interactions.n_items)
        for u in self._users(data):
            np.testing.assert_array_equal(loaded.score(u, items), fitted.score(u, items))
        np.testing.assert_array_equal(loaded.recommend(1, n=5)[0], fitted.recommend(1, n=5)[0])

    def test_fitting_again_gives_identical_scores(self, fitted: Ranker, data: Checkerboard) -> None:
        again = self.make_model().fit(data.interactions, data.catalogue)
        items = np.arange(data.interactions.n_items)
        for u in self._users(data):
            np.testing.assert_array_equal(again.score(u, items), fitted.score(u, items))

    def test_fold_in_reads_new_history_and_learns_nothing(self, data: Checkerboard) -> None:
        model = self.make_model().fit(data.interactions, data.catalogue)
        base = data.interactions
        users = np.array(list(self._users(data)), dtype=np.int64)
        items = np.arange(base.n_items)
        before = [model.score(int(u), items) for u in users]
        extra = with_held_out_rated(data, users)
        if not model.can_fold_in:
            with pytest.raises(NotImplementedError):
                model.fold_in(extra)
            return
        assert model.fold_in(extra) is model
        for u in users:
            assert data.held_out[u] in model.seen(int(u))
            assert data.held_out[u] not in model.recommend(int(u), n=base.n_items)[0]
        # the weights did not move: reading the fitted history again gives the fitted scores
        model.fold_in(base)
        for u, scores in zip(users, before, strict=True):
            np.testing.assert_allclose(model.score(int(u), items), scores, rtol=1e-5, atol=1e-6)

    def test_a_folded_slice_scores_as_fold_in_does_and_leaves_the_model_alone(
        self, data: Checkerboard
    ) -> None:
        """A refresh between trainings folds in a slice of users, re-indexed 0..b-1, on a
        copy: the slice's scores are those of the whole model folded in, and the served
        model's own users score as before."""
        model = self.make_model().fit(data.interactions, data.catalogue)
        base = data.interactions
        users = np.array(list(self._users(data)), dtype=np.int64)[:3]
        items = np.arange(base.n_items)
        before = [model.score(int(u), items) for u in users]
        # the slice: those users' histories plus their held-out item, rated last
        rows = np.isin(base.users, users)
        slice_users = np.searchsorted(users, base.users[rows])
        folded_input = Interactions(
            n_users=len(users),
            n_items=base.n_items,
            users=np.r_[slice_users, np.arange(len(users))],
            items=np.r_[base.items[rows], data.held_out[users]],
            values=np.r_[base.values[rows], np.ones(len(users), dtype=np.float32)],
            timestamps=np.r_[
                base.timestamps[rows], np.full(len(users), base.timestamps.max() + 60)
            ],
        )
        if not model.can_fold_in:
            with pytest.raises(NotImplementedError):
                model.folded(folded_input)
            return
        folded = model.folded(folded_input)
        assert folded is not model and folded.n_users == len(users)
        whole = copy.deepcopy(model).fold_in(with_held_out_rated(data, users))
        for row, u in enumerate(users):
            assert data.held_out[u] in folded.seen(row)
            np.testing.assert_allclose(
                folded.score(row, items), whole.score(int(u), items), rtol=1e-4, atol=1e-5
            )
            np.testing.assert_array_equal(model.score(int(u), items), before[row])
            assert data.held_out[u] not in model.seen(int(u))
