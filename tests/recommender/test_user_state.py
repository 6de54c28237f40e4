"""A user state scores any item exactly as the stored per-item parts did, in ~2 KB."""

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.models.ease import EASE, EASEConfig
from recommender.models.hybrid import Hybrid, HybridConfig
from recommender.models.popularity import MostPopular
from recommender.serving import component_scores, top_n
from recommender.user_state import ItemSide, UserState, item_side, roles_of, user_states
from tests.recommender.contract import Checkerboard
from tests.recommender.test_attribution import HPARAMS, noisy_checkerboard
from tests.recommender.test_hybrid import BUILDERS, WEIGHTS


@pytest.fixture(scope="module")
def data() -> Checkerboard:
    return noisy_checkerboard()


@pytest.fixture(scope="module")
def hybrid(data: Checkerboard) -> Hybrid:
    config = HybridConfig(weights=WEIGHTS, hparams=HPARAMS)
    return Hybrid(config, builders=BUILDERS).fit(data.interactions, data.catalogue)


def test_parts_from_the_state_equal_the_models_parts_for_every_item_and_for_a_few(
    hybrid: Hybrid, tmp_path: Path
) -> None:
    users = np.arange(hybrid.n_users)
    expected = component_scores(hybrid, users)
    states, parts = user_states(hybrid, users)
    side = item_side(hybrid)
    assert side is not None
    side.save(tmp_path / "items")
    shared = ItemSide.load(tmp_path / "items")  # memory-mapped, as the web processes read it
    assert isinstance(shared.matrices["collaborative"], np.memmap)
    picked = np.array([3, 0, 7])
    for u, state in zip(users, states, strict=True):
        state = UserState.unpack(state.pack())  # through the database column's bytes
        history = hybrid.seen(int(u))
        whole = shared.parts(state, history)
        few = shared.parts(state, history, picked)
        for role, want in expected.items():
            np.testing.assert_allclose(parts[role][u], want[u], atol=1e-6)
            np.testing.assert_allclose(whole[role], want[u], atol=1e-5)
            np.testing.assert_allclose(few[role], want[u][picked], atol=1e-5)


def test_a_state_is_small_and_does_not_grow_with_the_catalogue(hybrid: Hybrid) -> None:
    states, _ = user_states(hybrid, np.arange(3))
    sizes = {len(s.pack()) for s in states}
    # two vectors (SASRec's d=16 hidden state, the text vector) plus three roles' numbers;
    # the catalogue has 40 items here and 100k elsewhere: nothing in the state counts them
    dims = sum(len(r.vector) for r in states[0].roles.values() if r.vector is not None)
    assert max(sizes) < 4 * dims + 600


def test_top_n_keeps_a_state_when_the_model_has_one_and_every_part_otherwise(
    hybrid: Hybrid, data: Checkerboard
) -> None:
    ul = next(top_n(hybrid, np.array([2]), 5, keep_state=True))
    assert ul.state is not None and ul.catalogue == {}
    assert set(ul.state.roles) == {"collaborative", "sequential", "text"}
    plain = next(top_n(hybrid, np.array([2]), 5))
    np.testing.assert_array_equal(ul.items, plain.items)
    np.testing.assert_allclose(ul.scores, plain.scores, atol=1e-5)
    popular = MostPopular().fit(data.interactions, data.catalogue)
    assert roles_of(popular) is None
    fallback = next(top_n(popular, np.array([2]), 5, keep_state=True))
    assert fallback.state is None and set(fallback.catalogue) == {"pop"}


def test_a_model_served_alone_keeps_raw_scores(data: Checkerboard) -> None:
    ease = EASE(EASEConfig(l2=10.0)).fit(data.interactions, data.catalogue)
    (state,), _ = user_states(ease, np.array([4]))
    side = item_side(ease)
    assert side is not None
    got = side.parts(state, ease.seen(4))["ease"]
    np.testing.assert_allclose(got, ease.score_users(np.array([4]))[0], atol=1e-5)


def test_unpack_refuses_bytes_that_are_not_a_state() -> None:
    with pytest.raises(ValueError, match="not a packed user state"):
        UserState.unpack(b"\x80\x04pickle-ish payload....")


def test_item_knn_keeps_a_sparse_item_side_and_scores_like_the_model(
    data: Checkerboard, tmp_path: Path
) -> None:
    from recommender.models.itemknn import ItemKNN, ItemKNNConfig

    knn = ItemKNN(ItemKNNConfig(k=5)).fit(data.interactions, data.catalogue)
    side = item_side(knn)
    assert side is not None
    side.save(tmp_path / "knn")
    shared = ItemSide.load(tmp_path / "knn")
    matrix = shared.matrices["itemknn"]
    assert sp.issparse(matrix) and matrix.nnz <= 5 * knn.n_items  # k per item, not n x n
    users = np.arange(knn.n_users)
    states, _ = user_states(knn, users)
    want = knn.score_users(users)
    picked = np.array([1, 5, 9])
    for u, state in zip(users, states, strict=True):
        got = shared.parts(state, knn.seen(int(u)))["itemknn"]
        np.testing.assert_allclose(got, want[u], atol=1e-5)
        few = shared.parts(state, knn.seen(int(u)), picked)["itemknn"]
        np.testing.assert_allclose(few, want[u][picked], atol=1e-5)


def test_above_eases_size_the_hybrid_is_collaborative_through_item_knn_and_keeps_a_state(
    data: Checkerboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recommender.models import ease as ease_module
    from recommender.models.itemknn import ItemKNN

    monkeypatch.setattr(ease_module, "MAX_ITEMS", data.interactions.n_items - 1)
    with pytest.raises(ValueError, match="serve itemknn, or the hybrid"):
        EASE().fit(data.interactions, data.catalogue)
    config = HybridConfig(weights=WEIGHTS, hparams=HPARAMS)
    hybrid = Hybrid(config, builders={r: b for r, b in BUILDERS.items() if r != "collaborative"})
    hybrid.fit(data.interactions, data.catalogue)
    assert isinstance(hybrid.models["collaborative"], ItemKNN)
    assert ("collaborative", "itemknn") in hybrid.config.components  # saved as fitted
    users = np.arange(hybrid.n_users)
    states, _ = user_states(hybrid, users)
    side = item_side(hybrid)
    assert side is not None
    expected = component_scores(hybrid, users)
    for u, state in zip(users, states, strict=True):
        got = side.parts(state, hybrid.seen(int(u)))
        for role, want in expected.items():
            np.testing.assert_allclose(got[role], want[u], atol=1e-5)


def test_a_state_packed_before_the_spread_was_kept_still_reads() -> None:
    import json
    import struct

    header = [{"role": "text", "kind": "dot", "weight": 1.0, "mean": 0.0, "std": 1.0,
               "normalised": False, "dim": 2}]  # fmt: skip
    text = json.dumps(header).encode()
    data = struct.pack("<3sI", b"US1", len(text)) + text + np.array([1, 2], "<f4").tobytes()
    state = UserState.unpack(data)
    assert state.spread is None and state.roles["text"].vector.tolist() == [1.0, 2.0]
