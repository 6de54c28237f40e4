"""Co-watch affinity (the reranker's collaborative hint): exact cosines, digits, prompt form."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.cowatch import CoWatch, decile_edges
from recommender.rerank import HINT_NOTE, RerankConfig, build_prompt, prompt_messages, rerank
from tests.recommender.tiny_llm import tiny_llm, tiny_titles

# users x items:   item 0 1 2 3
#   user 0           1 1 0 0
#   user 1           1 1 1 0
#   user 2           0 1 1 0      item 3: nobody
PAIRS = [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (2, 1), (2, 2), (2, 2)]  # a repeat counts once


def _cowatch() -> CoWatch:
    users, items = (np.array(c) for c in zip(*PAIRS, strict=True))
    return CoWatch(users, items, n_users=3, n_items=4)


def test_similarity_is_the_cosine_of_who_watched_what() -> None:
    sim = _cowatch().similarity(np.array([0, 2, 3]), np.array([1, 0]))
    # |U0|=2, |U1|=3, |U2|=2: cos(0,1)=2/sqrt(6), cos(2,1)=2/sqrt(6), cos(2,0)=1/2, unseen -> 0
    expected = np.array(
        [[2 / np.sqrt(6), 1.0], [2 / np.sqrt(6), 0.5], [0.0, 0.0]],
    )
    np.testing.assert_allclose(sim, expected)


def test_affinity_averages_over_the_shown_history_and_is_zero_without_one() -> None:
    cw = _cowatch()
    np.testing.assert_allclose(
        cw.affinity(np.array([0, 1]), np.array([2, 3])), [(0.5 + 2 / np.sqrt(6)) / 2, 0.0]
    )
    assert cw.affinity(np.array([], dtype=np.int64), np.array([2, 3])).tolist() == [0.0, 0.0]
    rows = cw.affinities([np.array([0]), np.array([1])], np.array([[1, 2], [0, 2]]))
    assert rows.shape == (2, 2)


def test_deciles_make_ten_equal_digits() -> None:
    values = np.arange(1000) / 1000
    config = RerankConfig(hint_edges=decile_edges(values))
    digits = config.hint_digits(values)
    assert np.bincount(digits).tolist() == [100] * 10
    assert config.hint_digits(np.array([-1.0, 5.0])).tolist() == [0, 9]


def test_edges_must_be_nine_ascending_cut_points() -> None:
    with pytest.raises(ValueError, match="nine"):
        RerankConfig(hint_edges=(0.1, 0.2))
    with pytest.raises(ValueError, match="nine"):
        RerankConfig(hint_edges=tuple(np.linspace(1, 0, 9)))


def test_a_hinted_prompt_puts_the_digit_in_place_of_the_full_stop() -> None:
    titles = tiny_titles()[:4]
    plain = prompt_messages(titles[:1], titles[1:])
    hinted = prompt_messages(titles[:1], titles[1:], [7, 0, 9])
    listed = hinted[1]["content"]
    assert f"A7 {titles[1]}" in listed and f"C9 {titles[3]}" in listed and "A. " not in listed
    assert (
        plain[1]["content"].replace("A. ", "A7 ").replace("B. ", "B0 ").replace("C. ", "C9 ")
        == listed
    )
    assert "digit" in hinted[0]["content"] and "digit" not in plain[0]["content"]
    with pytest.raises(ValueError, match="hints"):
        prompt_messages(titles[:1], titles[1:], [1])


@pytest.mark.integration
def test_hints_cost_no_token_per_candidate_in_smollm2() -> None:
    from recommender.llm import get_llm

    tok = get_llm().tokenizer
    titles = [f"Movie number {i}" for i in range(20)]
    extra = len(build_prompt(tok, titles[:6], titles, [j % 10 for j in range(20)])) - len(
        build_prompt(tok, titles[:6], titles)
    )
    note = len(tok.encode(HINT_NOTE, add_special_tokens=False))
    assert extra <= note + 1  # only the (cached) system-prompt note, nothing per line
    # and the digits reach the model: reversed affinities, other scores
    config = RerankConfig(hint_edges=decile_edges(np.linspace(0, 1, 50)))
    up = rerank(get_llm(), titles[:6], titles, config, cowatch=np.linspace(0, 1, 20))
    down = rerank(get_llm(), titles[:6], titles, config, cowatch=np.linspace(1, 0, 20))
    assert not np.allclose(up.llm_scores, down.llm_scores)


def test_a_hinted_reranker_needs_the_affinities_and_returns_a_permutation() -> None:
    llm = tiny_llm()
    config = RerankConfig(k=6, hint_edges=decile_edges(np.linspace(0, 1, 50)))
    titles = tiny_titles()
    with pytest.raises(ValueError, match="co-watch"):
        rerank(llm, titles[:3], titles[3:9], config)
    result = rerank(llm, titles[:3], titles[3:9], config, cowatch=np.linspace(0, 1, 6))
    assert sorted(result.order.tolist()) == list(range(6))
