"""The synthetic catalogue is seeded, long-tailed and has tastes a model can learn."""

import numpy as np

from recommender import synthetic
from recommender.models.ease import EASE, EASEConfig


def test_the_same_seed_gives_the_same_data_and_popularity_is_long_tailed() -> None:
    config = synthetic.SyntheticConfig(n_items=500, n_users=300, per_user=20)
    cat, factors, log_pop = synthetic.catalogue(config)
    data = synthetic.interactions(config, factors, log_pop)
    again = synthetic.interactions(config, *synthetic.catalogue(config)[1:])
    np.testing.assert_array_equal(data.items, again.items)
    assert len(cat) == 500 and data.n_users == 300 and cat.descriptions[0].startswith("A ")
    assert all(1 <= len(g) <= 2 for g in cat.genres)
    counts = np.sort(np.bincount(data.items, minlength=500))[::-1]
    # the top 10% of items hold far more than 10% of the interactions
    assert counts[:50].sum() > 0.3 * counts.sum()
    # no user rates an item twice
    pairs = data.users * 500 + data.items
    assert len(np.unique(pairs)) == len(pairs)


def test_tastes_are_learnable_ease_beats_popularity_on_held_out_items() -> None:
    config = synthetic.SyntheticConfig(n_items=300, n_users=600, per_user=25, seed=3)
    cat, factors, log_pop = synthetic.catalogue(config)
    data = synthetic.interactions(config, factors, log_pop)
    last = np.zeros(len(data), dtype=bool)  # hold out one item per user
    _, first_row = np.unique(data.users, return_index=True)
    last[first_row] = True
    model = EASE(EASEConfig(l2=50.0)).fit(data.subset(~last), cat)
    popular = np.bincount(data.items[~last], minlength=300)
    hits_ease = hits_pop = 0
    for u, target in zip(data.users[last], data.items[last], strict=True):
        top, _ = model.recommend(int(u), n=20)
        seen = model.seen(int(u))
        pop = [i for i in np.argsort(-popular) if i not in set(seen.tolist())][:20]
        hits_ease += int(target in top)
        hits_pop += int(target in pop)
    assert hits_ease > 1.5 * hits_pop, (hits_ease, hits_pop)
