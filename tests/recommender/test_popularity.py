import numpy as np

from recommender.base import Ranker
from recommender.models.popularity import MostPopular
from tests.recommender.contract import Checkerboard, RankerContract


class TestMostPopular(RankerContract):
    def make_model(self) -> Ranker:
        return MostPopular()

    def assert_known_answer(self, model: Ranker, data: Checkerboard) -> None:
        # no personalisation: every user's scores are the item's number of training users
        counts = np.bincount(data.interactions.items, minlength=data.interactions.n_items)
        for u in self._users(data):
            np.testing.assert_array_equal(model.score(u, np.arange(len(counts))), counts)


def test_it_ranks_the_most_interacted_item_first_and_breaks_ties_by_index() -> None:
    from recommender.data import Interactions

    # items 2 and 0 have two users each, item 1 one; user 2 has seen nothing
    interactions = Interactions(
        n_users=3,
        n_items=3,
        users=np.array([0, 1, 0, 1, 0]),
        items=np.array([2, 2, 0, 0, 1]),
        values=np.ones(5, dtype=np.float32),
        timestamps=np.arange(5),
    )
    model = MostPopular().fit(interactions, catalogue=None)  # type: ignore[arg-type]
    items, scores = model.recommend(2, n=3)
    assert items.tolist() == [0, 2, 1]
    assert scores.tolist() == [2.0, 2.0, 1.0]


def test_genre_fans_count_what_the_fans_of_each_genre_liked() -> None:
    from recommender.data import Interactions
    from recommender.models.popularity import favourite_genres, genre_fans

    # genres: 0 = common (every item), 1 = rare (items 2, 3); user 0 likes the rare items
    genres = np.array([[1, 0], [1, 0], [1, 1], [1, 1]], dtype=np.float32)
    users = np.array([0, 0, 1, 1, 1])
    items = np.array([2, 3, 0, 1, 2])
    values = np.array([5, 4, 5, 5, 2], dtype=np.float32)
    data = Interactions(2, 4, users, items, values, np.arange(5))
    # lift: user 0's liked films are all rare-genre (lift 2) -> a fan of 1 first
    assert favourite_genres(genres, items[:2], values[:2], top=1, min_items=1) == [1]
    fans = genre_fans(data, genres, top=1, min_items=1)
    assert fans.shape == (2, 4)
    assert fans[1].tolist() == [0, 0, 1, 1]  # only user 0 is a fan of genre 1
