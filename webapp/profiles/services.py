"""Writes: profile versions (generate, edit, revert, cold start, critique, chat), item
vectors and explanations. Every change of a profile is a new :class:`ProfileVersion` with
who and why, and enqueues the slow explanation refresh after COMMIT.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from explanations import critique as crit
from explanations import profile as ops
from explanations.conversation import ChatContext, ConversationState, promote, respond
from explanations.explain import collect_evidence, explain
from explanations.generate import (
    generate_profile,
    profile_from_text,
    regenerate_profile,
    repair_evidence,
)
from explanations.profile import Profile
from recommender.encoders import TextEncoder, text_sha
from recommender.models.ease import EASE
from webapp import ml
from webapp.catalogue.models import Item
from webapp.jobs.models import JobRun
from webapp.jobs.services import job_enqueue, job_fail_if_stale
from webapp.profiles import selectors
from webapp.profiles.models import (
    Conversation,
    Explanation,
    ItemVectors,
    ProfileVersion,
    Reason,
)
from webapp.recommendations.models import ModelVersion

Progress = Callable[[float, str], None]
EXPLAIN_TOP_N = 10  # explanations the refresh writes per user: the first screen of the list


def _quiet(fraction: float, message: str) -> None:
    return None


# -- versions -------------------------------------------------------------------------------


def profile_save(
    *,
    user: Any,
    profile: Profile,
    reason: str,
    by: Any = None,
    summary: str = "",
    critique: dict[str, Any] | None = None,
    reverted_from: int | None = None,
    refresh: bool = True,
) -> ProfileVersion:
    """Append a version (unless nothing changed) and refresh explanations after COMMIT."""
    with transaction.atomic():
        current = selectors.current_version(user=user)
        if current is not None and current.fingerprint == profile.fingerprint:
            return current  # an edit that changes nothing is not a version
        number = (current.number if current else 0) + 1
        version = ProfileVersion.objects.create(
            user=user,
            number=number,
            profile=profile.to_dict(),
            fingerprint=profile.fingerprint,
            created_by=by if by is not None and by.is_authenticated else None,
            reason=reason,
            summary=summary[:300],
            critique=critique,
            reverted_from=reverted_from,
        )
        if refresh:
            explanations_enqueue(user=user, by=by)
    return version


def explanations_enqueue(*, user: Any, by: Any = None) -> JobRun:
    from webapp.profiles import tasks  # tasks import services: import here, not at the top

    return job_enqueue(
        task=tasks.explanations_refresh, arguments={"user_id": user.pk}, requested_by=by
    )


def profile_generate(
    *, user: Any, llm: Any, encoder: TextEncoder | None = None, by: Any = None
) -> ProfileVersion:
    """Write a profile from the user's history; pinned statements and filters survive."""
    rows = selectors.history_rows(user=user)
    if not rows:
        raise ValueError("there is no history to learn from yet; rate or like a few items")
    encode = encoder.encode if encoder is not None else None
    vocabulary = selectors.catalogue_state().catalogue.genre_vocabulary
    previous = selectors.current_profile(user=user)
    if previous is None:
        profile = generate_profile(llm, rows, encode=encode, vocabulary=vocabulary)
    else:
        # evidence must stay inside the history: a pinned statement may cite a rating since
        # deleted, and that citation goes, while the statement stays
        previous = repair_evidence(previous, [r[0] for r in rows])
        profile = regenerate_profile(previous, llm, rows, encode=encode, vocabulary=vocabulary)
    return profile_save(
        user=user, profile=profile, reason=Reason.GENERATED, by=by, summary="from your history"
    )


EDITS: dict[str, Callable[..., Profile]] = {
    "add": lambda p, text, polarity="likes": ops.add_statement(
        p, ops.make_statement(text, polarity, source="user")
    ),
    "delete": lambda p, sid: ops.delete_statement(p, sid),
    "text": lambda p, sid, text: ops.edit_text(p, sid, text),
    "flip": lambda p, sid: ops.flip_polarity(p, sid),
    "weight": lambda p, sid, weight: ops.set_weight(p, sid, weight),
    "pin": lambda p, sid, pinned: ops.set_pinned(p, sid, pinned),
    "move": lambda p, sid, position: ops.move_statement(p, sid, position),
    "remove_filter": lambda p, name, value=None: ops.remove_filter(p, name, value),
    "set_filters": lambda p, filters: ops.set_filters(p, filters),
}


def profile_edit(*, user: Any, by: Any, action: str, **arguments: Any) -> ProfileVersion:
    """One edit from the profile page. Raises ValueError (bad value) or KeyError (no such
    statement), which the view shows next to what the user typed."""
    if action not in EDITS:
        raise ValueError(f"unknown edit {action!r}")
    before = selectors.current_profile(user=user) or Profile()
    after = EDITS[action](before, **arguments)
    return profile_save(user=user, profile=after, reason=Reason.EDIT, by=by, summary=action)


def _statement_changed(
    profile: Profile,
    sid: str,
    *,
    text: str | None = None,
    polarity: str | None = None,
    weight: float | None = None,
    pinned: bool | None = None,
) -> Profile:
    """Several changes to one statement through the page's own edit operations, so a new
    wording still makes it the user's statement (and drops the old evidence)."""
    current = profile.get(sid)  # KeyError: not in this profile
    if text is not None and " ".join(text.split()) != current.text:
        profile = ops.edit_text(profile, sid, text)
    if polarity is not None and polarity != current.polarity:
        if polarity not in ops.POLARITIES:
            raise ValueError(f"polarity must be one of {ops.POLARITIES}, not {polarity!r}")
        profile = ops.flip_polarity(profile, sid)
    if weight is not None and weight != current.weight:
        profile = ops.set_weight(profile, sid, weight)
    if pinned is not None and pinned != current.pinned:
        profile = ops.set_pinned(profile, sid, pinned)
    return profile


def statement_update(*, user: Any, by: Any, sid: str, **changes: Any) -> ProfileVersion:
    """Change text / polarity / weight / pin of one statement at once: one version."""
    before = selectors.current_profile(user=user) or Profile()
    after = _statement_changed(before, sid, **changes)
    # Name only what really changed: a form posts every field, changed or not.
    try:
        old, new = before.get(sid), after.get(sid)
        named = ", ".join(k for k in changes if getattr(old, k) != getattr(new, k))
    except KeyError:  # the edit replaced the statement under a new id
        named = ", ".join(k for k, v in changes.items() if v is not None)
    return profile_save(
        user=user, profile=after, reason=Reason.EDIT, by=by, summary=named or "no change"
    )


def profile_replace(*, user: Any, by: Any, statements: list[dict[str, Any]]) -> ProfileVersion:
    """The whole statement list at once, in the given order; filters stay as they are.

    An entry with the ``id`` of a current statement updates that statement (so the diff
    shows a change and an untouched one keeps its evidence); one without is a new statement
    of the user's; current statements not named are deleted.
    """
    before = selectors.current_profile(user=user) or Profile()
    edited = before
    for entry in statements:
        if entry.get("id"):
            fields = {k: entry.get(k) for k in ("text", "polarity", "weight", "pinned")}
            edited = _statement_changed(edited, entry["id"], **fields)
    after = replace(before, statements=())
    for entry in statements:
        statement = (
            edited.get(entry["id"])
            if entry.get("id")
            else ops.make_statement(
                entry["text"],
                entry.get("polarity") or "likes",
                weight=entry.get("weight"),
                pinned=bool(entry.get("pinned")),
            )
        )
        after = ops.add_statement(after, statement)
    return profile_save(
        user=user, profile=after, reason=Reason.EDIT, by=by, summary="replaced the statements"
    )


def profile_revert(*, user: Any, by: Any, number: int) -> ProfileVersion:
    """A new version identical to version ``number``: same fingerprint, so the same ranking
    and the same cached explanations as back then."""
    old = ProfileVersion.objects.get(user=user, number=number)
    return profile_save(
        user=user,
        profile=Profile.from_dict(old.profile),
        reason=Reason.REVERT,
        by=by,
        summary=f"back to version {number}",
        reverted_from=number,
    )


def profile_cold_start(*, user: Any, text: str) -> ProfileVersion:
    """A new user's own words -> statements (no evidence) and year filters."""
    vocabulary = selectors.catalogue_state().catalogue.genre_vocabulary
    profile = profile_from_text(text, vocabulary)
    if not profile.statements and profile.filters.is_empty():
        raise ValueError("we could not find a taste in that; try e.g. 'funny animated films'")
    before = selectors.current_profile(user=user) or Profile()
    merged = before
    for s in profile.statements:
        merged = ops.add_statement(merged, s)
    merged = ops.set_filters(merged, merged.filters.merge(profile.filters))
    return profile_save(user=user, profile=merged, reason=Reason.COLD_START, by=user, summary=text)


# -- critiques ------------------------------------------------------------------------------


def _critique_dict(c: crit.Critique) -> dict[str, Any]:
    return {
        "text": c.text,
        "added_statements": list(c.added_statements),
        "filters_added": c.filters_added.to_dict(),
        "filters_before": c.filters_before.to_dict(),
    }


def _critique_from(data: dict[str, Any]) -> crit.Critique:
    return crit.Critique(
        text=data["text"],
        added_statements=tuple(data["added_statements"]),
        filters_added=ops.Filters.from_dict(data["filters_added"]),
        filters_before=ops.Filters.from_dict(data["filters_before"]),
    )


def critique_item_apply(*, user: Any, item: Item, kind: str, reason: str = "") -> ProfileVersion:
    state = selectors.catalogue_state()
    index = state.position(item.pk)
    if index is None:
        raise ValueError("that item is not in the catalogue")
    before = selectors.current_profile(user=user) or Profile()
    after, record = crit.critique_item(before, state.catalogue, index, kind, reason)  # type: ignore[arg-type]
    return profile_save(
        user=user, profile=after, reason=Reason.CRITIQUE, by=user, summary=record.text,
        critique=_critique_dict(record),
    )  # fmt: skip


def critique_list_apply(*, user: Any, text: str) -> ProfileVersion:
    vocabulary = selectors.catalogue_state().catalogue.genre_vocabulary
    before = selectors.current_profile(user=user) or Profile()
    after, record = crit.critique_list(before, text, vocabulary)
    if after.fingerprint == before.fingerprint:
        raise ValueError("we could not tell what to change; try e.g. 'less violent, more comedies'")
    return profile_save(
        user=user, profile=after, reason=Reason.CRITIQUE, by=user, summary=record.text,
        critique=_critique_dict(record),
    )  # fmt: skip


def critique_undo(*, user: Any, number: int) -> ProfileVersion:
    """Remove what critique version ``number`` added, keeping every later edit."""
    with transaction.atomic():
        version = ProfileVersion.objects.select_for_update().get(
            user=user, number=number, reason=Reason.CRITIQUE
        )
        if version.critique_undone:
            raise ValueError("that critique was already undone")
        record = _critique_from(version.critique or {})
        current = selectors.current_profile(user=user) or Profile()
        new = profile_save(
            user=user,
            profile=crit.undo_critique(current, record),
            reason=Reason.UNDO,
            by=user,
            summary=f"undid: {record.text}",
        )
        version.critique_undone = True
        version.save(update_fields=["critique_undone"])
    return new


# -- conversation ---------------------------------------------------------------------------


def _chat_context(user: Any) -> ChatContext:
    state = selectors.catalogue_state()
    vectors = selectors.item_vectors(state)
    if vectors is None:
        raise ValueError("the chat is getting ready (item vectors are being computed)")
    ranking = selectors.ranking_for(user=user, limit=100, explain=False)
    base = np.zeros(len(state.catalogue))
    if ranking.reranked is not None and len(ranking.reranked.items):
        base[:] = float(ranking.reranked.scores.min())
        base[ranking.reranked.items] = ranking.reranked.scores
    retired = Item.objects.filter(is_active=False).values_list("pk", flat=True)
    seen = [r[0] for r in selectors.history_rows(user=user)] + list(retired)
    return ChatContext(
        catalogue=state.catalogue,
        index=state.index,
        item_vectors=vectors,
        encode=ml.encoder().encode,
        base_scores=base,
        seen=np.array([i for pk in seen if (i := state.position(pk)) is not None], np.int64),
        profile=ranking.profile,
    )


def conversation_respond(*, user: Any, message: str) -> Conversation:
    """One chat turn; the reply is composed from catalogue facts (no text generation)."""
    chat, _ = Conversation.objects.get_or_create(user=user)
    context = _chat_context(user)
    reply = respond(ConversationState.from_dict(chat.state), message, context)
    chat.state = reply.state.to_dict()
    chat.turns = [
        *chat.turns[-38:],
        {"who": "you", "text": message, "items": []},
        {"who": "bot", "text": reply.text, "items": [int(i) for i in reply.item_ids]},  # type: ignore[call-overload]
    ]
    chat.save()
    return chat


def conversation_promote(*, user: Any) -> ProfileVersion:
    chat = Conversation.objects.get(user=user)
    state = ConversationState.from_dict(chat.state)
    if state.is_empty():
        raise ValueError("the chat has nothing to keep yet")
    before = selectors.current_profile(user=user) or Profile()
    version = profile_save(
        user=user, profile=promote(state, before), reason=Reason.CONVERSATION, by=user,
        summary="kept from the chat",
    )  # fmt: skip
    chat.state, chat.turns = {}, []
    chat.save()
    return version


def conversation_reset(*, user: Any) -> None:
    Conversation.objects.filter(user=user).update(state={}, turns=[])


# -- worker side: item vectors and explanations ---------------------------------------------


def item_vectors_compute(*, encoder: TextEncoder, progress: Progress = _quiet) -> ItemVectors:
    """Embed every item's text (the encoder's cache skips unchanged texts) and store the
    matrix as an artifact keyed by (encoder, texts hash). Idempotent."""
    state = selectors.catalogue_state()
    existing = ItemVectors.objects.filter(
        encoder_key=encoder.key, texts_hash=state.texts_hash
    ).first()
    if existing is not None and Path(existing.path).exists():
        return existing
    started = time.perf_counter()
    progress(0.1, f"embedding {len(state.texts):,} item texts")
    vectors = encoder.encode(list(state.texts))  # (n_items, d)
    folder = Path(settings.ARTIFACT_DIR) / "item_vectors"
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{text_sha(encoder.key)[:12]}-{state.texts_hash[:16]}"
    path = folder / f"{stem}.npy"
    np.save(folder / f"{stem}.ids.npy", np.asarray(state.catalogue.ids.ids, dtype=np.int64))
    np.save(path, vectors.astype(np.float32))
    row, _ = ItemVectors.objects.update_or_create(
        encoder_key=encoder.key,
        texts_hash=state.texts_hash,
        defaults={
            "path": str(path),
            "n_items": len(vectors),
            "dim": int(vectors.shape[1]),
            "seconds": round(time.perf_counter() - started, 2),
        },
    )
    return row


def _ease_weights(version: str, n_items_pks: tuple[Any, ...]) -> np.ndarray | None:
    """EASE's B aligned with the current catalogue, when the active model has one.

    Only EASE gives an exact per-history-item share of a score; other models are explained
    from text similarity and the profile alone.
    """
    from webapp.recommendations import services as rec_services

    mv = ModelVersion.objects.filter(version=version).first()
    if mv is None:
        return None
    model, _, item_ids = rec_services.load_model_version(
        mv.version, mv.path, mv.name
    )  # worker-side cache
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
    state = selectors.catalogue_state()
    vectors = selectors.item_vectors(state)
    history = selectors.history_indices(user=user, state=state)
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
    before = selectors.current_profile(user=user) or Profile()
    if sid:
        after = _statement_changed(before, sid, **changes)
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


def explanations_ensure(
    *, user: Any, entries: list[dict[str, Any]], job: JobRun | None
) -> JobRun | None:
    """The refresh writing the first screen's explanations: the run in flight, else a new
    one when some of them are still templates (a user whose list came from training has
    none yet); None when nothing is missing or a recent run already tried.

    ``job``: the user's latest refresh (``selectors.explanations_job``), which the page has
    read already. One queued or running for longer than EXPLAIN_STALE_AFTER is marked
    failed and replaced: its message was lost, and waiting on it would leave the drafts
    for ever.
    """
    pending = any((e["explanation"] or {}).get("pending") for e in entries[:EXPLAIN_TOP_N])
    if not pending:
        return None
    if job is not None and not job.is_finished:
        if job_fail_if_stale(job=job, after=EXPLAIN_STALE_AFTER):
            return explanations_enqueue(user=user)
        return job
    if (
        job is not None
        and timezone.now() - (job.finished_at or job.created_at) < EXPLAIN_RETRY_AFTER
    ):
        return None
    return explanations_enqueue(user=user)


def profile_generate_enqueue(*, user: Any) -> JobRun:
    """Write the profile from the user's ratings in the background (the LLM runs on a
    worker); raises ValueError at once when there is nothing to learn from."""
    from webapp.profiles import tasks

    if not selectors.history_rows(user=user):
        raise ValueError("rate or like a few films first; the profile is written from them")
    return job_enqueue(
        task=tasks.profile_generate,
        arguments={"user_id": user.pk, "requested_by_id": user.pk},
        requested_by=user,
    )
