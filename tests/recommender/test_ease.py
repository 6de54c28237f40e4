import numpy as np

from recommender.base import Ranker
from recommender.models.ease import EASE, EASEConfig
from tests.recommender.contract import RankerContract, checkerboard


class TestEASE(RankerContract):
    def make_model(self) -> Ranker:
        return EASE(EASEConfig(l2=10.0))


def test_weights_solve_the_constrained_ridge_regression() -> None:
    # Steck's closed form against a direct computation: B = I - P diag(1/diag(P)), P = G^-1
    data = checkerboard(users_per_group=5, items_per_block=4)
    l2 = 3.0
    model = EASE(EASEConfig(l2=l2)).fit(data.interactions, data.catalogue)
    x = data.interactions.to_csr().toarray().astype(np.float64)
    p = np.linalg.inv(x.T @ x + l2 * np.eye(x.shape[1]))
    expected = np.eye(x.shape[1]) - p / np.diag(p)
    np.testing.assert_allclose(model.weights, expected, atol=1e-5)
    assert (np.diag(model.weights) == 0).all()


def test_scoring_a_fitted_users_history_reproduces_their_scores() -> None:
    data = checkerboard()
    model = EASE(EASEConfig(l2=10.0)).fit(data.interactions, data.catalogue)
    users = np.arange(data.interactions.n_users)
    histories = [np.r_[model.seen(u), model.seen(u)[:1]] for u in users]  # a repeat counts once
    np.testing.assert_allclose(
        model.score_histories(histories), model.score_users(users), rtol=1e-6, atol=1e-6
    )


def test_any_history_scores_as_the_sum_of_its_items_rows_of_b() -> None:
    data = checkerboard()
    model = EASE(EASEConfig(l2=10.0)).fit(data.interactions, data.catalogue)
    history = np.array([0, 13, 5])  # items from both blocks: not any user's history
    np.testing.assert_allclose(
        model.score_histories([history])[0], model.weights[history].sum(0), atol=1e-6
    )
    assert not model.score_histories([np.zeros(0, np.int64)]).any()
