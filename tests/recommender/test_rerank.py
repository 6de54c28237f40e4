"""The LLM reranker: permutations out, exact scoring under padding, blending, the pipeline ranker."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recommender.base import Ranker
from recommender.data import Catalogue, Interactions
from recommender.rerank import (
    LABELS,
    RerankConfig,
    RerankedRanker,
    build_prompt,
    choose_blend,
    crossfit_blend_ndcg,
    label_logits,
    label_token_ids,
    llm_rerank,
    ndcg_in_candidates,
    pad_left,
    permutations,
    position_bias,
    rank_in_candidates,
)
from tests.recommender.tiny_llm import tiny_catalogue, tiny_interactions, tiny_llm, tiny_titles


def test_each_label_is_one_distinct_token() -> None:
    ids = label_token_ids(tiny_llm().tokenizer, 20)
    assert len(ids) == len(set(ids)) == 20


def test_it_refuses_labels_that_are_not_single_tokens() -> None:
    class Splitting:
        def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
            return [1, 2]

    with pytest.raises(ValueError, match="single token"):
        label_token_ids(Splitting(), 3)


@pytest.mark.parametrize("n_permutations", [1, 3])
def test_the_reranker_returns_a_permutation_of_its_candidates(n_permutations: int) -> None:
    candidates = tiny_titles()[:20]
    result = llm_rerank(
        tiny_llm(), tiny_titles()[20:25], candidates, RerankConfig(permutations=n_permutations)
    )
    assert sorted(result.order.tolist()) == list(range(20))
    assert result.scores.shape == result.llm_scores.shape == (20,)


def test_every_permutation_is_a_permutation_and_slots_spread() -> None:
    orders = permutations(20, 4)
    assert orders.shape == (4, 20)
    assert all(sorted(o.tolist()) == list(range(20)) for o in orders)
    assert (orders[0] == np.arange(20)).all()  # the retriever's order is always scored
    slots = np.argsort(orders, axis=1)  # (P, K) slot of each candidate per order
    assert all(len(set(slots[:, c])) == 4 for c in range(20))  # never the same slot twice


def test_left_padding_does_not_change_a_prompts_scores() -> None:
    llm = tiny_llm()
    label_ids = label_token_ids(llm.tokenizer, 5)
    short = build_prompt(llm.tokenizer, [], tiny_titles()[:5])
    long = build_prompt(llm.tokenizer, tiny_titles()[5:12], tiny_titles()[:5])
    ids, mask = pad_left([short, long], llm.tokenizer.pad_token_id)
    with torch.no_grad():
        batched = label_logits(llm.model, ids, mask, label_ids)  # (2, 5)
        alone_ids, alone_mask = pad_left([short], llm.tokenizer.pad_token_id)
        alone = label_logits(llm.model, alone_ids, alone_mask, label_ids)
    torch.testing.assert_close(batched[0], alone[0], rtol=1e-4, atol=1e-5)


def test_blend_weight_follows_the_signal_on_validation() -> None:
    rng = np.random.default_rng(0)
    target = rng.integers(0, 20, size=200)
    retriever = rng.normal(size=(200, 20))
    retriever[np.arange(200), target] += 5  # the retriever knows the answer
    noise = rng.normal(size=(200, 20))  # the LLM does not
    weight, trials = choose_blend(noise, retriever, target)
    assert weight == 1.0 and len(trials) == 21
    weight, _ = choose_blend(retriever, noise, target)
    assert weight == 0.0


def test_a_missed_target_scores_zero_in_candidate_metrics() -> None:
    scores = np.array([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    assert rank_in_candidates(scores, np.array([0, -1])).tolist() == [0, -1]
    assert ndcg_in_candidates(scores, np.array([0, -1])).tolist() == [1.0, 0.0]


def test_position_bias_is_a_rate() -> None:
    out = position_bias(tiny_llm(), [([], tiny_titles()[:20])] * 3)
    assert 0.0 <= out["top_is_slot_A"] <= 1.0 and out["uniform"] == pytest.approx(0.05)


class _ByIndex(Ranker):
    """Scores item i as -i: the retriever's list is 0, 1, 2, ... minus the seen items."""

    def fit(self, interactions: Interactions, catalogue: Catalogue) -> _ByIndex:
        self._remember(interactions)
        return self

    def score(self, user: int, item_ids: np.ndarray) -> np.ndarray:
        return -np.asarray(item_ids, dtype=np.float32)


def test_the_pipeline_reorders_only_the_retrievers_top_k() -> None:
    model = RerankedRanker(_ByIndex(), tiny_llm(), RerankConfig(k=8)).fit(
        tiny_interactions(), tiny_catalogue()
    )
    retrieved, _ = model.retriever.recommend(0, 8)
    top, _ = model.recommend(0, 12)
    assert sorted(top[:8].tolist()) == sorted(retrieved.tolist())
    assert not set(top.tolist()) & set(model.seen(0).tolist())
    following, _ = model.retriever.recommend(0, 12)
    assert top[8:].tolist() == following[8:].tolist()


def test_labels_cover_the_default_k() -> None:
    assert len(LABELS) >= RerankConfig().k


@pytest.mark.integration
def test_the_packaged_model_reranks_into_a_permutation() -> None:
    from recommender.llm import get_llm

    llm = get_llm()
    titles = [f"Movie number {i} (1995)" for i in range(20)]
    result = llm_rerank(
        llm, ["Toy Story (1995)", "Heat (1995)"], titles, RerankConfig(permutations=2)
    )
    assert sorted(result.order.tolist()) == list(range(20))


def _full_prompt_logits(
    llm: object, history: list[str], candidates: list[str], hints: list[int] | None = None
) -> torch.Tensor:
    tok = llm.tokenizer  # type: ignore[attr-defined]
    ids, mask = pad_left([build_prompt(tok, history, candidates, hints)], tok.pad_token_id)
    with torch.no_grad():
        return label_logits(llm.model, ids, mask, label_token_ids(tok, len(candidates)))  # type: ignore[attr-defined]


def _check_prefix_cache_matches_the_full_prompt(
    llm: object, titles: list[str], atol: float, hinted: bool = False
) -> None:
    from recommender import rerank as module

    history, candidates = titles[:4], titles[4:24]
    hints = [j % 10 for j in range(len(candidates))] if hinted else None
    full = torch.log_softmax(_full_prompt_logits(llm, history, candidates, hints), -1)[0].numpy()
    for _ in range(2):  # the second call reuses the cached prefix: it must not have grown
        cached = module.llm_scores(llm, history, candidates, 1, hints)  # type: ignore[arg-type]
        np.testing.assert_allclose(cached, full, rtol=0, atol=atol)
    assert llm.model in module._PREFIX  # type: ignore[attr-defined]
    prefix, _ = module._PREFIX[llm.model][hinted]  # type: ignore[attr-defined]
    full_ids = build_prompt(llm.tokenizer, history, candidates, hints)  # type: ignore[attr-defined]
    assert 5 < len(prefix) < len(full_ids)
    assert full_ids[: len(prefix)] == prefix


@pytest.mark.parametrize("hinted", [False, True])
def test_the_cached_prompt_prefix_gives_the_full_prompts_scores(hinted: bool) -> None:
    _check_prefix_cache_matches_the_full_prompt(tiny_llm(), tiny_titles(), 1e-4, hinted)


@pytest.mark.integration
def test_the_cached_prompt_prefix_gives_the_full_prompts_scores_on_smollm2() -> None:
    from recommender.llm import get_llm

    titles = [f"{t} {i}" for i, t in enumerate(["Heat", "Toy Story", "Alien", "Fargo"] * 6)]
    # bf16 logits near 30 are spaced 0.125 apart: the full prompt itself moves by ~0.11 when
    # it is merely left-padded in a batch, so that is the noise floor to compare with.
    _check_prefix_cache_matches_the_full_prompt(get_llm(), titles, atol=0.15)


def test_label_logits_equal_the_full_vocabulary_logits_at_the_labels() -> None:
    llm = tiny_llm()
    tok = llm.tokenizer
    prompts = [
        build_prompt(tok, tiny_titles()[:2], tiny_titles()[2:8]),
        build_prompt(tok, [], tiny_titles()[:6]),
    ]
    ids, mask = pad_left(prompts, tok.pad_token_id)
    labels = label_token_ids(tok, 6)
    with torch.no_grad():
        fast = label_logits(llm.model, ids, mask, labels)
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        full = llm.model(input_ids=ids, attention_mask=mask, position_ids=position_ids).logits
    torch.testing.assert_close(fast, full[:, -1, labels].float(), rtol=1e-5, atol=1e-5)


def test_a_blend_chosen_on_the_same_users_never_loses_but_cross_fitting_can() -> None:
    """The in-sample blend search includes the retriever alone (blend 1), so its gain is >= 0
    by construction; the cross-fitted gain is what a new user would see."""
    rng = np.random.default_rng(0)
    users, k = 400, 20
    pos = rng.integers(0, k, size=users)
    retriever = rng.normal(size=(users, k))
    retriever[np.arange(users), pos] += 1.0  # informative
    noise = rng.normal(size=(users, k))  # an LLM that knows nothing
    base = ndcg_in_candidates(retriever, pos)
    _, trials = choose_blend(noise, retriever, pos)
    assert max(t["valid_ndcg"] for t in trials) >= base.mean()  # "gains" on its own users
    assert crossfit_blend_ndcg(noise, retriever, pos).mean() < base.mean()
    oracle = np.zeros((users, k))
    oracle[np.arange(users), pos] = 1.0  # an LLM that always knows: the gain survives
    assert crossfit_blend_ndcg(oracle, retriever, pos).mean() > base.mean() + 0.2
