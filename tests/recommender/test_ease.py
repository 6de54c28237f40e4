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
