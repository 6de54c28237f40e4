"""The generative model over semantic IDs: tokenizer, trie, decoding, new items, contract."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest

from recommender.base import Ranker
from recommender.models.semantic import SemanticConfig, SemanticRec
from recommender.semantic_ids import CodeTrie, ResidualQuantizer, code_stats, with_collision_level
from tests.recommender.contract import Checkerboard, RankerContract
from tests.recommender.test_sasrec import shuffled_checkerboard

TINY = SemanticConfig(
    levels=2,
    codebook_size=8,
    kmeans_iters=20,
    max_len=12,
    dim=16,
    n_layers=1,
    n_heads=1,
    dropout=0.1,
    lr=1e-2,
    batch_size=8,
    epochs=25,
    beam=8,
    seed=0,
    threads=1,
)  # fmt: skip


def genre_embed(texts: Sequence[str]) -> np.ndarray:
    """A text vector that knows the genre (strongly) and the film number (weakly): what a
    sentence encoder gives these checkerboard titles, without loading one."""
    out = np.zeros((len(texts), 12))
    for row, text in enumerate(texts):
        out[row, 0 if "Comedy" in text else 1] = 1.0
        number = re.search(r"Film (\d+)", text)
        out[row, 2 + (int(number.group(1)) if number else 0) % 10] = 0.35
    return out / np.linalg.norm(out, axis=1, keepdims=True)


class TestSemanticRec(RankerContract):
    def make_model(self) -> Ranker:
        return SemanticRec(TINY, embed=genre_embed)

    def make_data(self) -> Checkerboard:
        return shuffled_checkerboard()


@pytest.fixture(scope="module")
def data() -> Checkerboard:
    return shuffled_checkerboard()


@pytest.fixture(scope="module")
def fitted(data: Checkerboard) -> SemanticRec:
    return SemanticRec(TINY, embed=genre_embed).fit(data.interactions, data.catalogue)


# -- the tokenizer ----------------------------------------------------------------------------


def test_residual_quantizer_recovers_known_codes_of_synthetic_clusters() -> None:
    """Points built as A[i] + B[j] + C[k] (scales 1, 0.1, 0.01) must come back as (i, j, k)
    up to a relabelling of each level's codes, with every code used and no collision."""
    rng = np.random.default_rng(1)
    d, k = 16, 4
    a, b, c = (rng.normal(size=(k, d)) * s for s in (1.0, 0.1, 0.01))
    truth = np.array([(i, j, m) for i in range(k) for j in range(k) for m in range(k)])
    x = a[truth[:, 0]] + b[truth[:, 1]] + c[truth[:, 2]]
    rq = ResidualQuantizer(levels=3, codebook_size=k, iters=50, seed=0).fit(x)
    codes = rq.encode(x)
    for level in range(3):
        pairs = set(zip(truth[:, level].tolist(), codes[:, level].tolist(), strict=True))
        assert len(pairs) == k, f"level {level}: codes are not a relabelling of the truth"
    np.testing.assert_allclose(rq.decode(codes), x, atol=1e-9)  # the round trip is exact
    stats = code_stats(with_collision_level(codes), k)
    assert stats["utilisation"] == [1.0, 1.0, 1.0]
    assert stats["collision_rate"] == 0.0


def test_no_codebook_collapse_on_one_dominant_cluster() -> None:
    """90% of the points in one tight blob: k-means++ plus re-seeding still uses every code."""
    rng = np.random.default_rng(2)
    x = np.r_[rng.normal(size=(900, 8)) * 0.01, rng.normal(size=(100, 8)) * 3]
    rq = ResidualQuantizer(levels=2, codebook_size=16, seed=0).fit(x)
    stats = code_stats(with_collision_level(rq.encode(x)), 16)
    assert stats["utilisation"] == [1.0, 1.0]


def test_the_collision_code_tells_equal_codes_apart_and_continues_after_import() -> None:
    codes = np.array([[1, 2], [1, 2], [0, 3], [1, 2]])
    ids = with_collision_level(codes)
    np.testing.assert_array_equal(ids[:, -1], [0, 1, 0, 2])
    more = with_collision_level(np.array([[1, 2], [5, 5]]), taken=map(tuple, ids.tolist()))
    np.testing.assert_array_equal(more, [[1, 2, 3], [5, 5, 0]])
    stats = code_stats(ids, 8)
    assert stats["collision_rate"] == 0.75 and stats["max_collision"] == 3


# -- the trie ---------------------------------------------------------------------------------


def test_the_trie_never_allows_an_invalid_or_retired_id_and_follows_a_restore() -> None:
    ids = np.array([[0, 0, 0], [0, 1, 0], [1, 0, 0], [1, 0, 1]])
    trie = CodeTrie(ids)
    assert trie.children_mask((), 3).tolist() == [True, True, False]  # code 2 names nothing
    assert trie.children_mask((0,), 3).tolist() == [True, True, False]
    assert not trie.allows((2,)) and not trie.allows((0, 2))
    assert trie.item_of((1, 0, 2)) is None  # a well-formed ID that is no item
    trie.retire(1)
    assert trie.children_mask((0,), 3).tolist() == [True, False, False]
    assert trie.item_of((0, 1, 0)) is None
    trie.retire(0)
    assert not trie.allows((0,))  # nothing active left under code 0
    trie.restore(1)
    assert trie.allows((0,)) and trie.item_of((0, 1, 0)) == 1
    new = trie.add((2, 2, 0))
    assert new == 4 and trie.children_mask((), 3).tolist() == [True, True, True]
    with pytest.raises(ValueError):
        trie.add((2, 2, 0))  # an ID names one item
    blocked = trie.prefix_counts([2, 3])  # both items under (1, 0)
    assert not trie.allows((1,), blocked) and trie.allows((1,))


# -- decoding ---------------------------------------------------------------------------------


def test_decoding_never_returns_history_or_retired_items(
    fitted: SemanticRec, data: Checkerboard
) -> None:
    for user in range(data.interactions.n_users):
        items, scores, counts = fitted.generate(user, n=20, beam=20)
        assert not set(items.tolist()) & set(fitted.seen(user).tolist())
        assert counts["valid"] == counts["new_to_user"] == counts["decoded"]  # 100% valid
        # beam scores are the exact likelihoods the harness ranks by
        np.testing.assert_allclose(scores, fitted.score(user, items), rtol=1e-5, atol=1e-5)
    retired = int(data.held_out[0])
    fitted.retire(retired)
    try:
        for user in range(data.interactions.n_users):
            assert retired not in fitted.generate(user, n=20, beam=20)[0]
    finally:
        fitted.restore(retired)
    assert retired in fitted.generate(0, n=20, beam=20)[0]  # back after the restore


def test_constrained_beam_agrees_with_the_exact_ranking(
    fitted: SemanticRec, data: Checkerboard
) -> None:
    """With a beam as wide as the catalogue, decoding is the exhaustive likelihood ranking
    (compared by score: items sharing content codes tie, up to rounding)."""
    for user in range(data.interactions.n_users):
        _, decoded, _ = fitted.generate(user, n=5, beam=64)
        _, exact = Ranker.recommend(fitted, user, n=5)
        np.testing.assert_allclose(decoded, exact, rtol=1e-5, atol=1e-5)


def test_unconstrained_decoding_reports_invalid_ids(data: Checkerboard) -> None:
    """An untrained network decodes freely into codes that name no item; the trie stops it."""
    model = SemanticRec(replace(TINY, epochs=0, codebook_size=16), embed=genre_embed)
    model.fit(data.interactions, data.catalogue)
    free = [model.generate(u, n=10, beam=20, constrained=False)[2] for u in range(6)]
    held = [model.generate(u, n=10, beam=20)[2] for u in range(6)]
    assert sum(c["valid"] for c in free) < sum(c["decoded"] for c in free)
    assert all(c["new_to_user"] == c["decoded"] for c in held)


# -- new items ---------------------------------------------------------------------------------


def test_a_new_item_is_recommendable_from_its_text_without_retraining(
    data: Checkerboard,
) -> None:
    model = SemanticRec(TINY, embed=genre_embed).fit(data.interactions, data.catalogue)
    before = {k: v.clone() for k, v in model.net.state_dict().items()}  # type: ignore[union-attr]
    n_items = model.n_items
    (new,) = model.add_items(["Comedy Film 11 (2000) Genres: Comedy. a light-hearted comedy film."])
    assert new == n_items and model.n_items == n_items + 1
    after = model.net.state_dict()  # type: ignore[union-attr]
    assert all(np.array_equal(before[k], after[k]) for k in before)  # nothing retrained
    comedy_fans = [u for u in range(data.interactions.n_users) if data.group[u] == 0]
    horror = data.block(1)
    for user in comedy_fans:
        scores = model.score(user, np.r_[new, horror])
        assert scores[0] > scores[1:].max()  # above every item of the other block
    # and the generative path returns it: the trie took the new ID
    assert any(new in model.generate(u, n=10)[0] for u in comedy_fans)
    assert model.trie is not None and model.trie.item_of(model.ids[new]) == new


def test_a_score_is_explained_by_exact_occlusion_of_the_newest_history_items(
    fitted: SemanticRec,
) -> None:
    """Served alone, each cited history item's share is exactly how much the item's ID
    log-likelihood drops when that item is taken out of the sequence."""
    from recommender.attribution import attribute

    user = 3
    items, _ = Ranker.recommend(fitted, user, n=4)
    evidence = attribute(fitted, np.array([user]), [items], k=2, last=5)[0]
    history = fitted.seen(user)
    assert any(e.get("semantic") for e in evidence)
    full = fitted.score_histories([history])[0]
    for item, per_item in zip(items.tolist(), evidence, strict=True):
        for cited, share in per_item.get("semantic", []):
            assert cited in history[-5:].tolist() and share > 0
            without = fitted.score_histories([history[history != cited]])[0]
            assert share == pytest.approx(float(full[item] - without[item]), abs=1e-4)
