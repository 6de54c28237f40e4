from dataclasses import replace
from functools import cache
from pathlib import Path

import numpy as np

from recommender.base import Ranker
from recommender.data import Interactions
from recommender.encoders import TextEncoder
from recommender.models.dense import DenseConfig, DenseText, model_spec
from tests.recommender.contract import Checkerboard, RankerContract, checkerboard
from tests.recommender.test_encoders import tiny_encoder


@cache
def encoder() -> TextEncoder:
    return tiny_encoder()  # one tiny BERT per test process, no disk cache


def embed(texts: list[str]) -> np.ndarray:
    return encoder().encode(texts)


class TestDenseText(RankerContract):
    def make_model(self) -> Ranker:
        return DenseText(DenseConfig(recency_half_life=0.0), embed=embed)


def test_a_user_is_the_normalised_mean_of_their_item_vectors() -> None:
    data = checkerboard()
    model = DenseText(DenseConfig(recency_half_life=0.0), embed=embed).fit(
        data.interactions, data.catalogue
    )
    items = model.seen(0)
    expected = model.item_vectors[items].mean(0)
    np.testing.assert_allclose(model.user_vector(0), expected / np.linalg.norm(expected), atol=1e-6)
    np.testing.assert_allclose(
        model.score(0, items[:3]), model.item_vectors[items[:3]] @ model.user_vector(0), atol=1e-6
    )


def test_recency_weighting_leans_towards_the_latest_items() -> None:
    vectors = np.eye(3, dtype=np.float32)
    texts = ["old", "older", "newest"]

    def fake_embed(batch: list[str]) -> np.ndarray:
        return np.stack([vectors[texts.index(t)] for t in batch])

    from recommender.data import Catalogue, IdMap

    catalogue = Catalogue(IdMap.from_iterable("abc"), tuple(texts), np.full(3, -1), ((),) * 3)
    log = Interactions(
        1,
        3,
        np.zeros(3, np.int64),
        np.array([1, 0, 2]),
        np.ones(3, np.float32),
        np.array([1, 2, 3]),
    )
    flat = DenseText(DenseConfig(recency_half_life=0.0), embed=fake_embed).fit(log, catalogue)
    recent = DenseText(DenseConfig(recency_half_life=1.0), embed=fake_embed).fit(log, catalogue)
    np.testing.assert_allclose(flat.user_vector(0), np.ones(3) / np.sqrt(3), atol=1e-6)
    u = recent.user_vector(0)
    assert u[2] > u[0] > u[1]  # newest (item 2), then item 0, then the oldest (item 1)


def test_a_user_text_vector_steers_the_scores() -> None:
    data = checkerboard()
    model = DenseText(DenseConfig(recency_half_life=0.0, text_weight=5.0), embed=embed).fit(
        data.interactions, data.catalogue
    )
    user = 0  # a group-0 (comedy) user
    target = data.block(1 - data.group[user])[0]  # a horror film
    before = model.score(user, np.array([target]))[0]
    model.set_user_text_vectors({user: embed([data.catalogue.text(int(target))])[0]})
    after = model.score(user, np.array([target]))[0]
    assert after > before
    model.set_user_text_vectors({})
    np.testing.assert_allclose(model.score(user, np.array([target]))[0], before, rtol=1e-6)


def test_a_loaded_model_needs_no_encoder(tmp_path: Path) -> None:
    data = checkerboard()
    model = DenseText(DenseConfig(), embed=embed).fit(data.interactions, data.catalogue)
    model.set_user_text_vectors({3: embed(["comedy"])[0]})
    model.save(tmp_path / "dense.npz")
    loaded = DenseText.load(tmp_path / "dense.npz")
    assert loaded._embed is None  # scoring uses the stored vectors only
    items = np.arange(data.interactions.n_items)
    np.testing.assert_array_equal(loaded.score(3, items), model.score(3, items))


def rated(data: Checkerboard) -> Checkerboard:
    """The checkerboard with ratings 1 to 5, so the rating weights matter."""
    values = np.random.default_rng(0).integers(1, 6, len(data.interactions)).astype(np.float32)
    return replace(data, interactions=replace(data.interactions, values=values))


def weighted_model(data: Checkerboard) -> DenseText:
    config = DenseConfig(recency_half_life=3.0, rating_power=1.0)
    return DenseText(config, embed=embed).fit(data.interactions, data.catalogue)


def test_encoding_a_fitted_history_reproduces_the_users_scores() -> None:
    data = rated(checkerboard())
    model = weighted_model(data)
    users = np.arange(data.interactions.n_users)
    histories = [model.seen(int(u)) for u in users]
    ratings = [model.seen_values(int(u)) for u in users]
    np.testing.assert_allclose(
        model.score_histories(histories, ratings), model.score_users(users), atol=1e-5
    )


def test_leaving_an_item_out_encodes_the_history_without_it() -> None:
    model = weighted_model(rated(checkerboard()))
    history = np.array([3, 1, 4, 1, 5, 9, 2])  # item 1 twice: both occurrences go
    ratings = np.array([5.0, 1.0, 4.0, 2.0, 5.0, 3.0, 4.0])
    removed = np.unique(history)
    without = model.encode_without(history, removed, ratings)
    assert without.shape == (len(removed), model.item_vectors.shape[1])
    for row, item in enumerate(removed):
        keep = history != item  # the older items become younger, as if item was never rated
        expected = model.encode_histories([history[keep]], [ratings[keep]])[0]
        np.testing.assert_allclose(without[row], expected, atol=1e-6)


def test_a_loaded_model_keeps_the_ratings_its_users_are_weighted_by(tmp_path: Path) -> None:
    data = rated(checkerboard())
    model = weighted_model(data)
    model.save(tmp_path / "dense.npz")
    loaded = DenseText.load(tmp_path / "dense.npz")
    for user in (0, 7):
        np.testing.assert_array_equal(loaded.seen_values(user), model.seen_values(user))


def test_the_spec_builds_from_grid_hparams() -> None:
    spec = model_spec()
    model = spec.build({"recency_half_life": 5.0, "rating_power": 1.0}, 0)
    assert isinstance(model, DenseText)
    assert model.config.recency_half_life == 5.0
    assert all(k in DenseConfig.__dataclass_fields__ for k in spec.grid)
