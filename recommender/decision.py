"""Whether the LLM reranker reorders the lists the product serves: validation decides.

The reranker is worth its cost only where it beats the order it reranks, measured on
validation (never test) on candidates from the model the product actually serves. An adapter
validated on another retriever's candidates (EASE, say) says nothing about the served lists:
the hybrid's top 20 is a different, stronger set. So serving reranks only when the adapter's
own validation run used the served model as its retriever and its reranked NDCG@10 (on the
validation users whose item is among the candidates) is above that retriever's on the same
users, with the 95% paired-bootstrap interval of the gain above zero, each user's blend
weight chosen on the other users (:func:`recommender.rerank.crossfit_blend_ndcg`). A mean
alone is not enough: on the hybrid's ML-100K lists the zero-shot LLM's blend gained +0.0031
on validation, its interval starting at +0.0001 when the weight was chosen on the same users,
and it lost 0.0016 on test (README, *LLM layer*).
This module is numpy-free and torch-free, so the web app's pages can call it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServingDecision:
    rerank: bool  # True: the worker reorders each list's head with the reranker
    reason: str  # one sentence for the dashboard: which order is served, and why


def serving_decision(
    served_model: str | None,
    retriever: str | None,
    reranked_valid: float | None,
    retriever_valid: float | None,
    gain_low: float | None = None,
) -> ServingDecision:
    """Rerank only when validation on the served model's own candidates says it gains.

    ``served_model``: registry name of the active model version (None: none trained yet);
    ``retriever``: the model whose candidates the reranker was trained and validated on;
    ``reranked_valid`` / ``retriever_valid``: validation NDCG@10 of the served (blended)
    reranker and of that retriever's own order, over the same users (None: not measured);
    ``gain_low``: the lower end of the 95% CI of their per-user difference (None: none).
    """
    if served_model is None:
        return ServingDecision(False, "No model version is active, so there are no lists.")
    if reranked_valid is None:
        return ServingDecision(
            False,
            f"No validated reranker: lists are served in the {served_model} order "
            "(the zero-shot LLM is never served unmeasured).",
        )
    if retriever != served_model:
        return ServingDecision(
            False,
            f"The best reranker was validated on {retriever or 'unknown'} candidates, but the "
            f"product serves {served_model} lists, where it is unmeasured: the "
            f"{served_model} order is served.",
        )
    if retriever_valid is None:
        return ServingDecision(
            False,
            f"The reranker's run did not record the {served_model}'s own validation score, "
            f"so no gain is shown: the {served_model} order is served.",
        )
    gain = reranked_valid - retriever_valid
    if gain <= 0:
        return ServingDecision(
            False,
            f"On validation the reranker scored NDCG@10 {reranked_valid:.4f} against the "
            f"{served_model}'s {retriever_valid:.4f} ({gain:+.4f}): no gain, so the "
            f"{served_model} order is served.",
        )
    measured = (
        f"On validation the reranker scored NDCG@10 {reranked_valid:.4f} against the "
        f"{served_model}'s {retriever_valid:.4f} ({gain:+.4f})"
    )
    if gain_low is None or gain_low <= 0:
        interval = "no interval was recorded" if gain_low is None else f"from {gain_low:+.4f}"
        return ServingDecision(
            False,
            f"{measured}, but the gain's 95% interval does not clear zero ({interval}): "
            f"the {served_model} order is served.",
        )
    return ServingDecision(
        True,
        f"{measured}, 95% interval from {gain_low:+.4f}, so it reorders each list's head.",
    )
