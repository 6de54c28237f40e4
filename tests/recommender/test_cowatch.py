"""Co-watch affinity (the reranker's collaborative hint): exact cosines, the letters it names,
the prompt form."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.cowatch import CoWatch
from recommender.rerank import (
    HINT_NOTE,
    RerankConfig,
    build_prompt,
    cowatch_letters,
    llm_rerank,
    prompt_messages,
)
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
    np.testing.assert_allclose(rows, [[2 / np.sqrt(6), 0.5], [2 / np.sqrt(6), 2 / np.sqrt(6)]])


def test_the_hint_names_the_best_candidates_and_never_an_unwatched_one() -> None:
    assert cowatch_letters([0.1, 0.5, 0.0, 0.5, 0.2], 3) == ["B", "D", "E"]  # ties: earlier first
    assert cowatch_letters([0.0, 0.3, 0.0], 3) == ["B"]
    assert cowatch_letters([0.0, 0.0], 3) == []


def test_cowatch_top_is_bounded_by_k() -> None:
    with pytest.raises(ValueError, match="cowatch_top"):
        RerankConfig(k=4, cowatch_top=5)


def test_a_hinted_prompt_adds_one_line_that_names_letters() -> None:
    titles = tiny_titles()[:5]
    plain = prompt_messages(titles[:1], titles[1:])
    hinted = prompt_messages(titles[:1], titles[1:], [0.0, 0.4, 0.1, 0.0], cowatch_top=3)
    assert "Often watched together:\nB,C\n\nWhich candidate" in hinted[1]["content"]
    assert (
        hinted[1]["content"].replace("\n\nOften watched together:\nB,C", "") == plain[1]["content"]
    )
    assert "Often watched together" in hinted[0]["content"]  # the system prompt says what it is
    assert "Often" not in plain[0]["content"]
    nobody = prompt_messages(titles[:1], titles[1:], [0.0] * 4)
    assert "Often watched together:\n-" in nobody[1]["content"]
    with pytest.raises(ValueError, match="co-watch"):
        prompt_messages(titles[:1], titles[1:], [1.0])


@pytest.mark.integration
def test_the_hint_costs_a_few_tokens_and_reaches_smollm2() -> None:
    from recommender.llm import get_llm

    tok = get_llm().tokenizer
    titles = [f"Movie number {i}" for i in range(20)]
    affinity = np.linspace(0, 1, 20)
    extra = len(build_prompt(tok, titles[:6], titles, affinity)) - len(
        build_prompt(tok, titles[:6], titles)
    )
    note = len(tok.encode(HINT_NOTE, add_special_tokens=False))
    assert extra <= note + 13  # the (cached) system-prompt note and one short line
    config = RerankConfig(cowatch_top=3)
    up = llm_rerank(get_llm(), titles[:6], titles, config, cowatch=affinity)
    down = llm_rerank(get_llm(), titles[:6], titles, config, cowatch=affinity[::-1])
    assert not np.allclose(up.llm_scores, down.llm_scores)


def test_a_hinted_reranker_needs_the_affinities_and_returns_a_permutation() -> None:
    llm = tiny_llm()
    config = RerankConfig(k=6, cowatch_top=3)
    titles = tiny_titles()
    with pytest.raises(ValueError, match="co-watch"):
        llm_rerank(llm, titles[:3], titles[3:9], config)
    result = llm_rerank(llm, titles[:3], titles[3:9], config, cowatch=np.linspace(0, 1, 6))
    assert sorted(result.order.tolist()) == list(range(6))


def test_neighbours_are_the_most_co_watched_items_best_first_never_itself() -> None:
    cw = _cowatch()
    index, sims = cw.neighbours(k=2, chunk=2)  # chunks smaller than the catalogue
    full = cw.similarity(np.arange(4), np.arange(4))
    for item in range(3):
        expected = sorted((j for j in range(4) if j != item and full[item, j] > 0),
                          key=lambda j: (-full[item, j], j))[:2]  # fmt: skip
        got = [int(j) for j, s in zip(index[item], sims[item], strict=True) if s > 0]
        assert got == expected and item not in got
        np.testing.assert_allclose(sims[item][: len(got)], full[item, got], rtol=1e-6)
    assert not sims[3].any()  # nobody watched item 3: no neighbours
