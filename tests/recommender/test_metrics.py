import math

import numpy as np
import pytest
from scipy.stats import percentileofscore

from recommender import metrics

RANKS = np.array([0, 1, 9, 10, 100])  # 0-based positions of each user's held-out item


def test_ndcg_is_one_over_log2_of_position_plus_one_inside_the_cutoff() -> None:
    expected = [1.0, 1 / math.log2(3), 1 / math.log2(11), 0.0, 0.0]
    np.testing.assert_allclose(metrics.ndcg_at_k(RANKS, 10), expected)


def test_recall_counts_hits_inside_the_cutoff() -> None:
    np.testing.assert_array_equal(metrics.recall_at_k(RANKS, 10), [1, 1, 1, 0, 0])
    np.testing.assert_array_equal(metrics.recall_at_k(RANKS, 1), [1, 0, 0, 0, 0])


def test_mrr_is_the_reciprocal_position_cut_at_k() -> None:
    np.testing.assert_allclose(metrics.mrr_at_k(RANKS, 10), [1.0, 0.5, 0.1, 0.0, 0.0])


def test_coverage_is_the_share_of_the_catalogue_recommended_to_anyone() -> None:
    top = np.array([[0, 1], [1, 2]])
    assert metrics.catalogue_coverage(top, n_items=10) == pytest.approx(0.3)


def test_novelty_is_the_mean_self_information_of_the_list() -> None:
    counts = np.array([4, 2, 1, 0])  # users per item, out of 4 users
    # -log2(4/4)=0, -log2(2/4)=1, -log2(1/4)=2, unseen item counted as seen once: 2
    top = np.array([[0, 1], [2, 3]])
    np.testing.assert_allclose(metrics.novelty(top, counts, n_users=4), [0.5, 2.0])


def test_intra_list_diversity_is_the_mean_pairwise_jaccard_distance_of_genres() -> None:
    genres = np.array(
        [
            [1, 0, 0],  # item 0: {a}
            [1, 1, 0],  # item 1: {a, b}
            [0, 0, 1],  # item 2: {c}
            [0, 0, 0],  # item 3: no genres
        ]
    )
    top = np.array([[0, 1, 2], [0, 0, 3]])
    # list 1: d(0,1)=1-1/2, d(0,2)=1, d(1,2)=1 -> 2.5/3; list 2: d(0,0)=0, d(0,3)=1 twice -> 2/3
    np.testing.assert_allclose(metrics.intra_list_diversity(top, genres), [2.5 / 3, 2 / 3])
    assert metrics.intra_list_diversity(np.array([[3, 3]]), genres)[0] == 0.0


def test_popularity_percentile_matches_scipys_mean_percentile_rank() -> None:
    counts = np.array([0, 5, 5, 10, 3])
    expected = [percentileofscore(counts, c, kind="mean") for c in counts]
    np.testing.assert_allclose(metrics.popularity_percentile(counts), expected)
    top = np.array([[3, 0]])  # by hand: item 3 is at (4 + 5) / 10 = 90%, item 0 at 10%
    np.testing.assert_allclose(metrics.mean_popularity_percentile(top, counts), [50.0])


def test_paired_bootstrap_of_a_constant_difference_is_that_constant() -> None:
    b = np.linspace(0, 1, 50)
    ci = metrics.paired_bootstrap_ci(b + 0.1, b, resamples=200, seed=1)
    assert ci.mean == pytest.approx(0.1)
    assert ci.low == pytest.approx(0.1) and ci.high == pytest.approx(0.1)
    assert ci.excludes_zero


def test_paired_bootstrap_is_seeded_and_brackets_the_mean() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.random(300), rng.random(300)
    first = metrics.paired_bootstrap_ci(a, b, seed=7)
    assert first == metrics.paired_bootstrap_ci(a, b, seed=7)
    assert first != metrics.paired_bootstrap_ci(a, b, seed=8)
    assert first.low < first.mean < first.high
    # the standard error of a mean difference of two U(0,1) samples of 300: sqrt(2/12/300)
    half_width = (first.high - first.low) / 2
    assert half_width == pytest.approx(1.96 * math.sqrt(2 / 12 / 300), rel=0.15)
    assert not first.excludes_zero


def test_paired_bootstrap_refuses_misaligned_inputs() -> None:
    with pytest.raises(ValueError):
        metrics.paired_bootstrap_ci(np.ones(3), np.ones(4))
