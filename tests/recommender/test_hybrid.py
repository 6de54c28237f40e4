from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import recommender.models.hybrid as hybrid_module
from recommender.base import Ranker
from recommender.models.dense import DenseConfig, DenseText
from recommender.models.ease import EASE, EASEConfig
from recommender.models.hybrid import (
    Builder,
    Hybrid,
    HybridConfig,
    config_from_flat,
    flat_hparams,
    normalise,
    simplex,
)
from recommender.models.sasrec import SASRec
from recommender.registry import TuneResult
from recommender.split import leave_last_out
from tests.recommender.contract import Checkerboard, RankerContract
from tests.recommender.test_dense import embed
from tests.recommender.test_sasrec import TINY, shuffled_checkerboard

BUILDERS: dict[str, Builder] = {
    "collaborative": lambda hp, seed: EASE(EASEConfig(**{"l2": 10.0, **hp})),
    "sequential": lambda hp, seed: SASRec(replace(TINY, seed=seed, **hp)),
    "text": lambda hp, seed: DenseText(
        DenseConfig(**{"recency_half_life": 0.0, **hp}), embed=embed
    ),
}
WEIGHTS = {"collaborative": 0.5, "sequential": 0.3, "text": 0.2}


def no_search(split: Any, catalogue: Any, seed: int) -> TuneResult:
    return TuneResult({}, 0.0)  # keep the test fast: components use their builder defaults


class TestHybrid(RankerContract):
    def make_model(self) -> Ranker:
        return Hybrid(HybridConfig(weights=WEIGHTS), builders=BUILDERS)

    def make_data(self) -> Checkerboard:
        return shuffled_checkerboard()


@pytest.fixture(scope="module")
def data() -> Checkerboard:
    return shuffled_checkerboard()


@pytest.fixture(scope="module")
def fitted(data: Checkerboard) -> Hybrid:
    return Hybrid(HybridConfig(weights=WEIGHTS), builders=BUILDERS).fit(
        data.interactions, data.catalogue
    )


def test_components_are_named_by_role_and_sum_to_the_score(
    fitted: Hybrid, data: Checkerboard
) -> None:
    items = np.arange(data.interactions.n_items)
    for user in (0, 5, 11):
        parts = fitted.score_components(user, items)
        assert set(parts) == {"collaborative", "sequential", "text"}
        assert all(p.dtype == np.float32 and p.shape == items.shape for p in parts.values())
        np.testing.assert_allclose(
            sum(parts.values()), fitted.score(user, items), rtol=1e-5, atol=1e-5
        )


def test_a_component_with_zero_weight_contributes_nothing(data: Checkerboard) -> None:
    config = HybridConfig(weights={"collaborative": 1.0, "sequential": 0.0, "text": 0.0})
    model = Hybrid(config, builders=BUILDERS).fit(data.interactions, data.catalogue)
    parts = model.score_components(2, np.arange(5))
    assert not parts["sequential"].any() and not parts["text"].any()


def test_zscores_ignore_seen_items_and_constant_rows() -> None:
    scores = np.array([[100.0, 1.0, 2.0, 3.0], [5.0, 5.0, 5.0, 5.0]])
    seen = np.array([[True, False, False, False], [False, False, False, False]])
    z = normalise(scores, seen, "zscore")
    np.testing.assert_allclose(z[0, 1:].mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(z[0, 1:].std(), 1.0)
    assert not z[1].any()  # no signal, no contribution
    r = normalise(scores, seen, "rank")
    np.testing.assert_allclose(r[0, 1:], [0.0, 0.5, 1.0])


def test_the_weight_grid_is_the_simplex() -> None:
    grid = simplex(3, 0.25)
    assert len(grid) == 15  # C(4 + 2, 2)
    assert all(abs(sum(w) - 1) < 1e-12 and min(w) >= 0 for w in grid)


def test_tuning_never_looks_at_the_test_items(data: Checkerboard) -> None:
    split = leave_last_out(data.interactions)
    tuners = dict.fromkeys(("collaborative", "sequential", "text"), no_search)
    config = HybridConfig(weight_step=0.25)
    chosen, result = Hybrid.tune(split, data.catalogue, config, builders=BUILDERS, tuners=tuners)
    assert abs(sum(chosen.weights.values()) - 1) < 1e-9
    assert result.valid_ndcg == max(t["valid_ndcg"] for t in result.trials)
    scrambled = replace(split, test_items=np.roll(split.test_items, 1))
    again, _ = Hybrid.tune(scrambled, data.catalogue, config, builders=BUILDERS, tuners=tuners)
    assert again.weights == chosen.weights


def test_a_catalogue_too_large_for_every_user_tunes_its_weights_on_a_seeded_sample(
    data: Checkerboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    split = leave_last_out(data.interactions)
    users, items = hybrid_module.tuning_sample(split, seed=0)
    assert users.tolist() == split.users.tolist()  # small: every user, as before
    monkeypatch.setattr(hybrid_module, "TUNE_MIN_USERS", 5)
    monkeypatch.setattr(hybrid_module, "TUNE_CELLS", 5 * split.train.n_items)
    users, items = hybrid_module.tuning_sample(split, seed=0)
    assert len(users) == 5 and set(users.tolist()) <= set(split.users.tolist())
    where = {u: i for u, i in zip(split.users.tolist(), split.valid_items.tolist(), strict=True)}
    assert items.tolist() == [where[u] for u in users.tolist()]  # still aligned
    assert hybrid_module.tuning_sample(split, seed=0)[0].tolist() == users.tolist()  # seeded
    tuners = dict.fromkeys(("collaborative", "sequential", "text"), no_search)
    config = HybridConfig(weight_step=0.5)
    chosen, _ = Hybrid.tune(split, data.catalogue, config, builders=BUILDERS, tuners=tuners)
    assert abs(sum(chosen.weights.values()) - 1) < 1e-9


def test_flat_hparams_round_trip_through_the_registry_format() -> None:
    config = HybridConfig(
        hparams={"collaborative": {"l2": 200.0}, "sequential": {"epochs": 7}}, weights=WEIGHTS
    )
    flat = flat_hparams(config)
    assert flat["w_text"] == 0.2 and flat["collaborative.l2"] == 200.0
    back = config_from_flat(flat, seed=0)
    assert back.weights == WEIGHTS and back.hparams == config.hparams


def test_a_saved_hybrid_reloads_its_components(
    fitted: Hybrid, data: Checkerboard, tmp_path: Path
) -> None:
    fitted.save(tmp_path / "hybrid.zip")
    loaded = Hybrid.load(tmp_path / "hybrid.zip")
    assert set(loaded.models) == set(fitted.models)
    items = np.arange(data.interactions.n_items)
    for role, part in fitted.score_components(4, items).items():
        np.testing.assert_array_equal(loaded.score_components(4, items)[role], part)
