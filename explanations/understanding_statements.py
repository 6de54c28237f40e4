"""The corpus requests written as profile statements: does the top 10 follow them?

A person types "thrillers from the 70s" into their profile (``PUT /me/profile/``). The
statement is scored by :func:`explanations.scoring.profile_rerank` over the user's base list
(EASE on their whole history here: seconds to fit, and the same arithmetic the web app runs
over the hybrid's parts) and the share of the new top 10 that meets the request's annotated
genres, exclusions and years is counted. Only requests with genre or year constraints that
the catalogue can meet are used (an actor's name cannot be checked against our facts).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from explanations.conversation import ChatContext
from explanations.corpus import RealRequest
from explanations.profile import Profile, add_statement, make_statement
from explanations.scoring import CatalogueScores, embed_statements, profile_rerank
from recommender.data import Dataset

TOP = 10


def _base_scores(dataset: Dataset, users: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """(U, n_items) EASE scores z-scored per user over the unseen items, as the hybrid
    normalises each part it serves (raw EASE has a heavy tail: a few items sit many spreads
    above the rest, which no served list has), with each user's history at -inf; and the
    histories."""
    from recommender.models.ease import EASE
    from recommender.models.hybrid import normalise

    model = EASE().fit(dataset.interactions, dataset.catalogue)
    raw = np.asarray(model.score_users(users), dtype=np.float64)
    inter = dataset.interactions
    seen = [inter.items[inter.users == u] for u in users]
    mask = np.zeros(raw.shape, dtype=bool)
    for row, items in enumerate(seen):
        mask[row, items] = True
    scores = normalise(raw, mask, "zscore")
    scores[mask] = -np.inf
    return scores, seen


def evaluate_statements(
    requests: Sequence[RealRequest], ctx: ChatContext, dataset: Dataset, users: int = 20
) -> dict[str, Any]:
    from explanations.understanding_eval import Constraints, _lookup

    cat = ctx.catalogue
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(dataset.interactions.n_users, size=users, replace=False))
    scores, _ = _base_scores(dataset, rows)
    find = _lookup(ctx)
    cache: dict[str, np.ndarray] = {}
    shares, worst = [], []
    used = 0
    for r in requests:
        c = Constraints.of(r, find, ctx.newest_year or 0)
        if not r.actionable or not (c.groups or c.year_min or c.year_max or c.not_years):
            continue
        meets = c.meets(cat)
        if meets.sum() < TOP:
            continue
        used += 1
        profile = add_statement(Profile(), make_statement(r.text[:300], "likes", source="user"))
        svec = embed_statements(profile.statements, ctx.encode, cache)
        fit = []
        for row in range(len(rows)):
            total = scores[row]
            eligible = np.isfinite(total)
            candidates = np.argsort(-np.where(eligible, total, -np.inf))[:100]
            base = np.where(eligible, total, np.nanmin(total[eligible]))
            whole = CatalogueScores({"collaborative": base}, eligible)
            out = profile_rerank(
                candidates, base[candidates], {"collaborative": base[candidates]},
                ctx.item_vectors, svec, profile, cat, index=ctx.index, catalogue_scores=whole,
                reader=ctx.reader,
            )  # fmt: skip
            fit.append(float(meets[out.items[:TOP]].mean()))
        shares.append(float(np.mean(fit)))
        worst.append((float(np.mean(fit)), r.id, r.text[:120]))
    worst.sort()
    return {
        "statements": used,
        "users": len(rows),
        "fit_top10": float(np.mean(shares)) if shares else 0.0,
        "share_at_least_80": float(np.mean([s >= 0.8 for s in shares])) if shares else 0.0,
        "worst": [{"fit": f, "id": i, "text": t} for f, i, t in worst[:8]],
        "all": [{"fit": f, "id": i, "text": t} for f, i, t in worst],
    }
