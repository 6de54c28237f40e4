"""Writes of the ranking app: explanations (worker side) and the edit preview.

Explanations are written by the worker from the same evidence the request path drafts from;
the preview ranks with an edited profile and saves nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from django.core.cache import cache

from explanations.explain import explain
from explanations.profile import Profile
from recommender.attribution import attribute
from webapp.catalogue.state import CatalogueState, catalogue_state
from webapp.profiles.selectors import current_profile
from webapp.profiles.services import EDITS, statement_changed
from webapp.ranking import selectors
from webapp.ranking.models import Explanation
from webapp.ranking.selectors import EXPLAIN_TOP_N
from webapp.recommendations.models import RecommendationList
from webapp.recommendations.services import EVIDENCE_PER_ROLE, load_model_version


def explanations_refresh(
    *, user: Any, llm_loader: Callable[[], Any], limit: int = EXPLAIN_TOP_N
) -> int:
    """Word the user's top ``limit`` re-ranked items with the LLM where every claim of its
    text checks out (else the template) and cache them under today's key. Items already
    explained under that key are skipped, and the LLM (``llm_loader()``; None means template
    only) is loaded only if one is missing. The evidence is the request path's, exactly."""
    ranking = selectors.ranking_for(user=user, limit=limit, explain=False, in_request=False)
    if ranking.reranked is None:
        return 0
    state = catalogue_state()
    attributions = selectors.stored_attributions(state, ranking.stored)
    attributions |= model_attributions(
        state, ranking.stored, [e["item"].pk for e in ranking.entries], attributions
    )
    profile = ranking.profile if ranking.vectors_ready else None
    llm, loaded, written = None, False, 0
    listed = selectors.cards_evidence(
        state, ranking.reranked, len(ranking.entries), attributions, ranking.history, profile
    )  # as the request path chooses them: each card knowing what the ones above cite
    for row, entry in enumerate(ranking.entries):
        if entry["explanation"] is not None:  # explain=False: only a row under today's key
            continue
        evidence = listed[row]
        key = selectors.explanation_key_for(
            state, evidence.item, ranking.fingerprint, ranking.model_version
        )
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


def model_attributions(
    state: CatalogueState,
    stored: RecommendationList | None,
    pks: Sequence[Any],
    known: Mapping[int, selectors.Attributions],
) -> dict[int, selectors.Attributions]:
    """item index -> role -> [(history item index, share)] for the items among ``pks`` the
    stored list holds no attributions for: items a statement brought in from the whole
    catalogue. Computed here, in the worker, with the model version that wrote the list
    (:func:`recommender.attribution.attribute`, as the refresh computes the stored ones), so
    their cards cite films too; the request path only drafts them without the history roles
    (``Evidence.unattributed``). One user, a few items: the sequence model's occluded passes
    over the newest 50 positions and EASE's rows of B: 27 ms p50, 84 ms p95 per user on
    ML-100K (docs/explanations-eval.md)."""
    wanted = [(pk, i) for pk in pks if (i := state.position(pk)) is not None and i not in known]
    if stored is None or not wanted:
        return {}  # a cold start's parts (popularity, fans) cite no history
    mv = stored.model_version
    model, users, items = load_model_version(mv.version, mv.path, mv.name)
    column = {pk: j for j, pk in enumerate(items)}
    wanted = [(pk, i) for pk, i in wanted if pk in column]
    if not wanted or stored.user_id not in users:
        return {}
    user = np.array([users.index(stored.user_id)], dtype=np.int64)
    cols = np.array([column[pk] for pk, _ in wanted], dtype=np.int64)
    found = attribute(model, user, [cols], k=EVIDENCE_PER_ROLE)[0]  # per item: role -> pairs
    out: dict[int, selectors.Attributions] = {}
    for (_, i), roles in zip(wanted, found, strict=True):
        out[i] = {
            role: cited
            for role, pairs in roles.items()
            if (cited := [(h, s) for j, s in pairs if (h := state.position(items[j])) is not None])
        }
    return out


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
    # what the weight does, in the words of the list: how many of the top fit the edited
    # statement before and after the edit ({"statement", "weight", "before", "after", "of"})
    effect: dict[str, Any] | None = None


def _fitting(entries: list[dict[str, Any]], reranked: Any, sid: str, position: Any) -> int:
    """How many of ``entries`` truly fit statement ``sid`` (catalogue facts, or the
    calibrated similarity), read off a ranking whose profile holds it."""
    if reranked is None or sid not in reranked.statement_ids:
        return 0
    column = reranked.statement_ids.index(sid)
    where = {int(i): row for row, i in enumerate(reranked.items.tolist())}
    rows = [where.get(position(e["item"].pk)) for e in entries]
    return sum(bool(reranked.matches[r, column]) for r in rows if r is not None)


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
    target = sid or after.statements[-1].id
    statement = after.get(target)
    position = catalogue_state().position
    effect = {
        "statement": statement.display(),
        "weight": statement.weight,
        # both lists judged by the edited statement: what the edit changes is the list
        "before": _fitting(now.entries, then.reranked, target, position),
        "after": _fitting(then.entries, then.reranked, target, position),
        "of": len(then.entries),
    }
    return Preview(rows, dropped, after.fingerprint != before.fingerprint, effect)


def ranking_forget(*, user_id: int) -> None:
    """Drop a deleted account's cached rankings (their keys hold its ranked items, scores
    and drafts until they expire otherwise): every list length a page or the API asks for."""
    cache.delete_many(
        [
            selectors.ranking_cache_key(user_id, limit, explain)
            for limit in selectors.CACHED_LIMITS
            for explain in (False, True)
        ]
    )
