import numpy as np
import pytest

from recommender.attribution import together
from recommender.models.ease import EASE, EASEConfig
from recommender.models.hybrid import Hybrid, HybridConfig
from recommender.serving import top_n
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


def test_top_n_lists_unseen_items_best_first_with_parts_that_sum_to_the_score(
    hybrid: Hybrid,
) -> None:
    users = np.arange(hybrid.n_users)
    for ul in top_n(hybrid, users, 5, batch=7):
        assert len(ul.items) == 5 and not set(ul.items) & set(hybrid.seen(ul.user).tolist())
        assert (np.diff(ul.scores) <= 0).all()
        np.testing.assert_allclose(sum(ul.components.values()), ul.scores, atol=1e-5)
        assert ul.attributions == []  # not asked for


def test_top_n_with_attribute_k_cites_history_items_aligned_with_the_list(hybrid: Hybrid) -> None:
    users = np.arange(hybrid.n_users)
    lists = list(top_n(hybrid, users, 6, batch=7, attribute_k=2))
    cited = 0
    for ul in lists:
        history = set(hybrid.seen(ul.user).tolist())
        assert len(ul.attributions) == len(ul.items)
        for evidence in ul.attributions:
            joint = {together(r) for r in ul.components}  # films that lower a part only together
            assert set(ul.components) <= set(evidence) <= set(ul.components) | joint
            for role, pairs in evidence.items():
                assert len(pairs) <= (3 if role in joint else 2)
                assert all(h in history and share > 0 for h, share in pairs)
                cited += len(pairs)
    assert cited > 0
    # chunking changes nothing: one user alone gets the same evidence
    alone = next(top_n(hybrid, np.array([lists[9].user]), 6, attribute_k=2))
    for one, batched in zip(alone.attributions, lists[9].attributions, strict=True):
        for role, pairs in one.items():
            assert [h for h, _ in pairs] == [h for h, _ in batched[role]]
            np.testing.assert_allclose(
                [s for _, s in pairs], [s for _, s in batched[role]], atol=1e-6
            )


def test_a_model_served_alone_is_attributed_under_its_own_name(data: Checkerboard) -> None:
    ease = EASE(EASEConfig(l2=10.0)).fit(data.interactions, data.catalogue)
    ul = next(top_n(ease, np.array([4]), 3, attribute_k=1))
    assert [set(e) for e in ul.attributions] == [{"ease"}] * 3
