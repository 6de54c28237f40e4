import numpy as np

from recommender.base import Ranker
from recommender.models.mf import ALS, BPR, ALSConfig, BPRConfig
from tests.recommender.contract import RankerContract, checkerboard


class TestALS(RankerContract):
    def make_model(self) -> Ranker:
        # enough L2 that 8 factors do not fit noise on a rank-2 problem
        return ALS(ALSConfig(factors=8, regularization=1.0, iterations=6, eval_every=3))


class TestBPR(RankerContract):
    def make_model(self) -> Ranker:
        return BPR(BPRConfig(factors=8, learning_rate=0.05, iterations=60, random_state=1))


def test_training_in_chunks_reproduces_the_run_early_stopping_watched() -> None:
    # tuning reads scores at each chunk; a refit with the chosen epoch count must land on
    # exactly those factors, or the chosen hyperparameters would describe another model
    data = checkerboard()
    watched = BPR(BPRConfig(factors=8, iterations=40, eval_every=10, random_state=3))
    snapshots = {
        epochs: watched.item_factors.copy()
        for epochs in watched.train_chunks(data.interactions, data.catalogue)
    }
    assert list(snapshots) == [10, 20, 30, 40]
    refit = BPR(BPRConfig(factors=8, iterations=20, eval_every=10, random_state=3))
    refit.fit(data.interactions, data.catalogue)
    np.testing.assert_array_equal(refit.item_factors, snapshots[20])


def test_a_different_seed_gives_a_different_model() -> None:
    data = checkerboard()
    a = ALS(ALSConfig(factors=8, iterations=3, random_state=0)).fit(
        data.interactions, data.catalogue
    )
    b = ALS(ALSConfig(factors=8, iterations=3, random_state=1)).fit(
        data.interactions, data.catalogue
    )
    assert not np.array_equal(a.item_factors, b.item_factors)


def test_an_unknown_user_scores_zero_instead_of_failing() -> None:
    data = checkerboard()
    model = ALS(ALSConfig(factors=4, iterations=3)).fit(data.interactions, data.catalogue)
    assert (model.score(data.interactions.n_users + 5, np.arange(3)) == 0).all()
