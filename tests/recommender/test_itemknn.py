import numpy as np

from recommender.base import Ranker
from recommender.models.itemknn import ItemKNN, ItemKNNConfig
from tests.recommender.contract import RankerContract, checkerboard


class TestItemKNN(RankerContract):
    def make_model(self) -> Ranker:
        # k covers a whole block, so every held-out item is some seen item's neighbour
        return ItemKNN(ItemKNNConfig(k=10))


def test_each_item_keeps_k_neighbours_and_never_itself() -> None:
    data = checkerboard()
    model = ItemKNN(ItemKNNConfig(k=3)).fit(data.interactions, data.catalogue)
    sim = model.similarity.tocsr()
    assert (np.diff(sim.indptr) <= 3).all()
    assert (sim.diagonal() == 0).all()


def test_similarity_is_the_cosine_of_item_columns() -> None:
    data = checkerboard()
    k = data.interactions.n_items  # keep every neighbour, so nothing is cut
    model = ItemKNN(ItemKNNConfig(k=k)).fit(data.interactions, data.catalogue)
    x = data.interactions.to_csr().toarray()  # (n_users, n_items)
    unit = x / np.linalg.norm(x, axis=0, keepdims=True)
    expected = unit.T @ unit
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(model.similarity.toarray(), expected, atol=1e-6)
