"""Writes of the ranking app: explanations (worker side) and the edit preview.

Explanations are written by the worker from the same evidence the request path drafts from;
the preview ranks with an edited profile and saves nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np

from explanations.explain import collect_evidence, explain
from explanations.profile import Profile
from recommender.models.ease import EASE
from webapp.catalogue.selectors import history_indices
from webapp.catalogue.state import catalogue_state, item_vectors
from webapp.profiles.selectors import current_profile
from webapp.profiles.services import EDITS, statement_changed
from webapp.ranking import selectors
from webapp.ranking.models import Explanation
from webapp.ranking.selectors import EXPLAIN_TOP_N
from webapp.recommendations.models import ModelVersion
from webapp.recommendations.services import load_model_version


def _ease_weights(version: str, n_items_pks: tuple[Any, ...]) -> np.ndarray | None:
    """EASE's B aligned with the current catalogue, when the active model has one.

    Only EASE gives an exact per-history-item share of a score; other models are explained
    from text similarity and the profile alone.
    """
    mv = ModelVersion.objects.filter(version=version).first()
    if mv is None:
        return None
    model, _, item_ids = load_model_version(mv.version, mv.path, mv.name)  # worker-side cache
    ease = getattr(model, "models", {}).get("collaborative", model)
    if not isinstance(ease, EASE):
        return None
    if list(item_ids) == list(n_items_pks):
        return ease.weights
    where = {pk: j for j, pk in enumerate(item_ids)}
    pos = np.array([where.get(pk, -1) for pk in n_items_pks])
    aligned = np.zeros((len(pos), len(pos)), dtype=np.float32)
    ok = np.flatnonzero(pos >= 0)
    aligned[np.ix_(ok, ok)] = ease.weights[np.ix_(pos[ok], pos[ok])]
    return aligned


def explanations_refresh(
    *, user: Any, llm_loader: Callable[[], Any], limit: int = EXPLAIN_TOP_N
) -> int:
    """Explain the user's top ``limit`` re-ranked items (LLM, grounded, else template) and
    cache them under today's key. Items already explained under that key are skipped, and
    the LLM (``llm_loader()``; None means template only) is loaded only if one is missing."""
    ranking = selectors.ranking_for(user=user, limit=limit, explain=False, in_request=False)
    if ranking.reranked is None:
        return 0
    state = catalogue_state()
    vectors = item_vectors(state)
    history = history_indices(user=user, catalogue=state.catalogue)
    weights, llm, loaded = None, None, False
    written = 0
    for row, entry in enumerate(ranking.entries):
        if entry["explanation"] is not None:  # explain=False: only a row under today's key
            continue
        i = int(ranking.reranked.items[row])
        key = selectors.explanation_key_for(state, i, ranking.fingerprint, ranking.model_version)
        if weights is None and ranking.model_version != selectors.PROFILE_ONLY:
            weights = _ease_weights(ranking.model_version, state.catalogue.ids.ids)
        evidence = collect_evidence(
            state.catalogue, i, history, entry["components"],
            ease_weights=weights, item_vectors=vectors,
            profile=ranking.profile, statement_contributions=ranking.reranked.contribution(i),
        )  # fmt: skip
        if not loaded:
            llm, loaded = llm_loader(), True
        result = explain(evidence, llm, state.index)
        Explanation.objects.update_or_create(
            user=user,
            item=entry["item"],
            key=key,
            defaults={"explanation": result.to_dict(), "evidence": evidence.to_dict()},
        )
        written += 1
    return written


# -- what the pages start and preview ---------------------------------------------------------

EXPLAIN_RETRY_AFTER = timedelta(minutes=10)  # a finished refresh that left gaps is not rerun
# on every page view (a failing LLM would otherwise be retried once per visit)
EXPLAIN_STALE_AFTER = timedelta(minutes=15)  # ten LLM explanations take under a minute on
# two cores; a refresh still queued or running after this lost its message or its worker


@dataclass(frozen=True)
class Preview:
    """The top of the list with an edit applied, next to the saved one. ``rows``: the edited
    top (item, rank, was: rank before or None when new, move: places up); ``dropped``: items
    the edit pushes out of the top (item, was)."""

    rows: list[dict[str, Any]]
    dropped: list[dict[str, Any]]
    changed: bool  # False when the edit leaves the profile as it is


def profile_preview(
    *, user: Any, sid: str | None = None, limit: int = 10, **changes: Any
) -> Preview:
    """How the top ``limit`` would look if statement ``sid`` were changed (text, polarity,
    weight, pinned), or a statement added (no ``sid``: text, polarity), saving nothing.

    The same request-path ranking as the home page (arithmetic, plus embedding the one new
    wording). Raises ValueError (bad value) or KeyError (no such statement), like an edit.
    """
    before = current_profile(user=user) or Profile()
    if sid:
        after = statement_changed(before, sid, **changes)
    else:
        after = EDITS["add"](
            before, text=changes["text"], polarity=changes.get("polarity") or "likes"
        )
    now = selectors.ranking_for(user=user, limit=limit, explain=False)
    then = selectors.ranking_for(user=user, limit=limit, explain=False, profile=after)
    was = {e["item"].pk: rank for rank, e in enumerate(now.entries, start=1)}
    rows = []
    for rank, entry in enumerate(then.entries, start=1):
        old = was.get(entry["item"].pk)
        rows.append(
            {
                "item": entry["item"],
                "rank": rank,
                "was": old,
                "move": None if old is None else old - rank,
            }
        )
    kept = {e["item"].pk for e in then.entries}
    dropped = [
        {"item": e["item"], "was": was[e["item"].pk]}
        for e in now.entries
        if e["item"].pk not in kept
    ]
    return Preview(rows, dropped, after.fingerprint != before.fingerprint)
