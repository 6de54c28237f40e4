from dataclasses import replace

import numpy as np
import pytest

from recommender.attribution import attribute, parts_from_history, together
from recommender.data import Interactions
from recommender.models.ease import EASE, EASEConfig
from recommender.models.hybrid import Hybrid, HybridConfig
from recommender.models.popularity import MostPopular
from tests.recommender.contract import Checkerboard, checkerboard
from tests.recommender.test_hybrid import BUILDERS, WEIGHTS

ROLES = ("collaborative", "sequential", "text")
# the text component weighs by recency and rating, so its recipe is exercised in full
HPARAMS = {"text": {"recency_half_life": 5.0, "rating_power": 1.0}}


def noisy_checkerboard(seed: int = 0) -> Checkerboard:
    """The checkerboard's two blocks, but each user rates a random 4-8 items of their own block
    and 0-2 of the other, in random order, with ratings 1 to 5.

    On the exact checkerboard a user's unseen items take two values per component, so z-scores
    do not move when evidence is removed (raw gap and std shrink together): no deletion test
    can pass there. The noise gives every item its own score.
    """
    base = checkerboard()
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(base.interactions.n_users):
        own, other = base.block(base.group[u]), base.block(1 - base.group[u])
        items = np.r_[
            rng.choice(own, rng.integers(4, 9), replace=False),
            rng.choice(other, rng.integers(0, 3), replace=False),
        ]
        rows += [(u, int(i)) for i in rng.permutation(items)]
    users, items = np.array(rows).T
    interactions = Interactions(
        n_users=base.interactions.n_users,
        n_items=base.interactions.n_items,
        users=users.astype(np.int64),
        items=items.astype(np.int64),
        values=rng.integers(1, 6, len(rows)).astype(np.float32),
        timestamps=1_000_000 + 60 * np.arange(len(rows), dtype=np.int64),
    )
    return replace(base, interactions=interactions)


@pytest.fixture(scope="module")
def data() -> Checkerboard:
    return noisy_checkerboard()


@pytest.fixture(scope="module")
def hybrid(data: Checkerboard) -> Hybrid:
    config = HybridConfig(weights=WEIGHTS, hparams=HPARAMS)
    return Hybrid(config, builders=BUILDERS).fit(data.interactions, data.catalogue)


@pytest.fixture(scope="module")
def top10(hybrid: Hybrid) -> list[np.ndarray]:
    """Each user's ten best unseen items, best first."""
    return [hybrid.recommend(u, n=10)[0] for u in range(hybrid.n_users)]


def seen_mask(model: Hybrid, user: int) -> np.ndarray:
    mask = np.zeros(model.n_items, dtype=bool)
    mask[model.seen(user)] = True
    return mask


def ratings(model: Hybrid, user: int) -> np.ndarray:
    return model.models["text"].seen_values(user)  # type: ignore[attr-defined, no-any-return]


def test_shares_are_positive_best_first_and_cite_only_history_items(
    hybrid: Hybrid, top10: list[np.ndarray]
) -> None:
    users = np.arange(hybrid.n_users)
    evidence = hybrid.attribute(users, top10, k=3)
    assert [len(row) for row in evidence] == [len(items) for items in top10]
    cited = 0
    for user, row in zip(users, evidence, strict=True):
        for per_item in row:
            assert set(ROLES) <= set(per_item) <= set(ROLES) | {together(r) for r in ROLES}
            for pairs in per_item.values():
                shares = [share for _, share in pairs]
                assert len(pairs) <= 3 and all(s > 0 for s in shares)
                assert shares == sorted(shares, reverse=True)
                assert {h for h, _ in pairs} <= set(hybrid.seen(int(user)).tolist())
                cited += len(pairs)
    assert cited > 0


@pytest.mark.parametrize("role", ROLES)
def test_a_share_is_the_exact_drop_of_the_part_when_its_item_is_removed(
    hybrid: Hybrid, top10: list[np.ndarray], role: str
) -> None:
    checked = 0
    for user in (0, 5, 11, 18):
        history, values, seen = hybrid.seen(user), ratings(hybrid, user), seen_mask(hybrid, user)
        before = hybrid.components_from_history(history, seen, values)[role]
        evidence = hybrid.attribute(np.array([user]), [top10[user]], k=3)[0]
        for item, per_item in zip(top10[user], evidence, strict=True):
            for h, share in per_item[role]:
                keep = history != h
                after = hybrid.components_from_history(history[keep], seen, values[keep])[role]
                np.testing.assert_allclose(share, before[item] - after[item], atol=1e-5)
                checked += 1
    assert checked > 0


@pytest.mark.parametrize("role", ROLES)
def test_a_share_with_the_std_held_is_the_drop_of_the_centred_score_over_that_std(
    hybrid: Hybrid, top10: list[np.ndarray], role: str
) -> None:
    # hold_std: w * ((r_i - r^{-h}_i) - mean_U(r - r^{-h})) / std_U(r)
    model, weight = hybrid.models[role], hybrid.config.weight(role)
    checked = 0
    for user in (0, 5, 11, 18):
        history, values, unseen = hybrid.seen(user), ratings(hybrid, user), ~seen_mask(hybrid, user)
        raw = model.score_histories([history], [values])[0].astype(np.float64)  # type: ignore[attr-defined]
        std = raw[unseen].std()
        evidence = hybrid.attribute(np.array([user]), [top10[user]], k=3, hold_std=True)[0]
        for item, per_item in zip(top10[user], evidence, strict=True):
            for h, share in per_item[role]:
                keep = history != h
                without = model.score_histories([history[keep]], [values[keep]])[0]  # type: ignore[attr-defined]
                drop = (raw - without)[item] - (raw - without)[unseen].mean()
                np.testing.assert_allclose(share, weight * drop / std, rtol=1e-4, atol=1e-5)
                checked += 1
    assert checked > 0


def test_an_ease_share_with_the_std_held_is_its_row_of_b_centred_on_the_unseen_items(
    hybrid: Hybrid, top10: list[np.ndarray]
) -> None:
    ease = hybrid.models["collaborative"]
    assert isinstance(ease, EASE)
    user = 3
    unseen = ~seen_mask(hybrid, user)
    std = ease.score_users(np.array([user]))[0][unseen].astype(np.float64).std()
    weight = hybrid.config.weight("collaborative")
    evidence = hybrid.attribute(np.array([user]), [top10[user]], k=3, hold_std=True)[0]
    checked = 0
    for item, per_item in zip(top10[user], evidence, strict=True):
        for h, share in per_item["collaborative"]:
            row = ease.weights[h].astype(np.float64)
            expected = weight * (row[item] - row[unseen].mean()) / std
            np.testing.assert_allclose(share, expected, rtol=1e-5)
            checked += 1
    assert checked > 0


@pytest.mark.parametrize("role", ROLES)
def test_removing_the_cited_items_lowers_the_part_they_explain(
    hybrid: Hybrid, top10: list[np.ndarray], role: str
) -> None:
    # The deletion test: rescore without the cited items, the full history still masked as
    # seen, with the part's own normalisation (std included) and weight.
    users = np.arange(hybrid.n_users)
    evidence = hybrid.attribute(users, top10, k=3)
    lowered, cited = 0, 0
    for user in users:
        history, values, seen = hybrid.seen(user), ratings(hybrid, user), seen_mask(hybrid, user)
        before = hybrid.components_from_history(history, seen, values)[role]
        for item, per_item in zip(top10[user], evidence[user], strict=True):
            if not per_item[role]:
                continue
            keep = ~np.isin(history, [h for h, _ in per_item[role]])
            after = hybrid.components_from_history(history[keep], seen, values[keep])[role]
            lowered += int(after[item] < before[item])
            cited += 1
    assert cited >= 100
    assert lowered / cited >= 0.9, f"{role}: {lowered}/{cited} lowered"


def test_films_cited_together_lower_the_part_only_where_no_single_film_does(
    hybrid: Hybrid, top10: list[np.ndarray]
) -> None:
    users = np.arange(hybrid.n_users)
    evidence = hybrid.attribute(users, top10, k=3)
    key, found = together("sequential"), 0
    for user in users:
        history, values, seen = hybrid.seen(user), ratings(hybrid, user), seen_mask(hybrid, user)
        before = hybrid.components_from_history(history, seen, values)["sequential"]
        for item, per_item in zip(top10[user], evidence[user], strict=True):
            if key not in per_item:
                continue
            assert not per_item["sequential"]  # only where no single film lowers the part
            group = [h for h, _ in per_item[key]]
            assert 2 <= len(group) <= 3 and set(group) <= set(history.tolist())
            keep = ~np.isin(history, group)
            after = hybrid.components_from_history(history[keep], seen, values[keep])
            drop = before[item] - after["sequential"][item]
            assert drop > 0
            np.testing.assert_allclose([s for _, s in per_item[key]], drop, atol=1e-5)
            found += 1
    assert found > 0


def test_the_sequential_role_cites_only_the_newest_positions(
    hybrid: Hybrid, top10: list[np.ndarray]
) -> None:
    users = np.arange(hybrid.n_users)
    evidence = hybrid.attribute(users, top10, k=3, last=2)
    for user in users:
        newest = set(hybrid.seen(int(user))[-2:].tolist())
        for per_item in evidence[user]:
            assert {h for h, _ in per_item["sequential"]} <= newest


def test_a_role_with_zero_weight_cites_nothing(data: Checkerboard) -> None:
    config = HybridConfig(weights={"collaborative": 1.0, "sequential": 0.0, "text": 0.0})
    model = Hybrid(config, builders=BUILDERS).fit(data.interactions, data.catalogue)
    evidence = model.attribute(np.array([0, 1]), [np.arange(5), np.arange(5, 10)])
    assert all(not e["sequential"] and not e["text"] for row in evidence for e in row)
    assert any(e["collaborative"] for row in evidence for e in row)


def test_a_model_served_alone_is_attributed_under_its_name_in_raw_units(
    data: Checkerboard,
) -> None:
    ease = EASE(EASEConfig(l2=10.0)).fit(data.interactions, data.catalogue)
    user, items = 2, ease.recommend(2, n=5)[0]
    evidence = attribute(ease, np.array([user]), [items], k=2)[0]
    history = ease.seen(user)
    for item, per_item in zip(items, evidence, strict=True):
        assert set(per_item) == {"ease"}
        best = sorted(history, key=lambda h: -ease.weights[h, item])[:2]  # raw: r_i - r^{-h}_i
        expected = [
            (int(h), float(ease.weights[h, item])) for h in best if ease.weights[h, item] > 0
        ]
        assert [h for h, _ in per_item["ease"]] == [h for h, _ in expected]
        np.testing.assert_allclose([s for _, s in per_item["ease"]], [s for _, s in expected])
    raw = parts_from_history(ease, history, np.zeros(ease.n_items, bool))["ease"]
    np.testing.assert_allclose(raw, ease.score_users(np.array([user]))[0], atol=1e-6)


def test_models_without_evidence_get_empty_attributions(data: Checkerboard) -> None:
    model = MostPopular().fit(data.interactions, data.catalogue)
    evidence = attribute(model, np.array([0, 1]), [np.arange(3), np.arange(2)])
    assert evidence == [[{}, {}, {}], [{}, {}]]


def test_components_from_the_full_history_are_the_served_parts(hybrid: Hybrid) -> None:
    items = np.arange(hybrid.n_items)
    for user in (0, 7, 23):
        history, seen = hybrid.seen(user), seen_mask(hybrid, user)
        rescored = parts_from_history(hybrid, history, seen, ratings(hybrid, user))
        served = hybrid.score_components(user, items)
        for role in ROLES:
            np.testing.assert_allclose(rescored[role], served[role], atol=1e-5)


def test_attribution_refuses_rank_normalisation() -> None:
    model = Hybrid(HybridConfig(weights=WEIGHTS, normalisation="rank"), builders=BUILDERS)
    with pytest.raises(ValueError, match="zscore"):
        model.attribute(np.array([0]), [np.arange(3)])
