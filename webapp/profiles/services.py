"""Writes: profile versions (generate, edit, revert, cold start, critique, chat). Every
change of a profile is a new :class:`ProfileVersion` with who and why, announced with the
:data:`~webapp.profiles.signals.profile_saved` signal (the ranking app refreshes its
explanations on it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from explanations import critique as crit
from explanations import profile as ops
from explanations.generate import (
    profile_from_text,
    regenerate_profile,
    repair_evidence,
    write_profile,
)
from explanations.profile import Profile
from explanations.taste import BaseRates
from webapp.catalogue.models import Item
from webapp.catalogue.selectors import history_rows
from webapp.catalogue.state import catalogue_state
from webapp.profiles import selectors
from webapp.profiles.models import ProfileVersion, Reason
from webapp.profiles.signals import profile_saved

# -- versions -------------------------------------------------------------------------------


class ProfileChanged(ValueError):
    """The profile moved on while slow work was computing from an older version."""


@contextlib.contextmanager
def profile_locked(user: Any) -> Iterator[None]:
    """One writer at a time per user's profile: a transaction holding the user's row lock.

    Every edit reads the current version, changes it and saves the next number; two clients
    doing that at once both read version n, so one got a duplicate-number 500 and the other
    silently undid the first one's edit. Under this lock the second waits and then reads
    the first one's result. (PostgreSQL: SELECT ... FOR UPDATE; SQLite takes its write lock
    at BEGIN, settings' transaction_mode IMMEDIATE, and ignores the row lock.)
    """
    with transaction.atomic():
        list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk"))
        yield


@contextlib.contextmanager
def profile_for_update(user: Any) -> Iterator[Profile]:
    """The user's current profile (empty if none), read under :func:`profile_locked`: what
    every edit changes and saves before another writer may read it."""
    with profile_locked(user):
        yield selectors.current_profile(user=user) or Profile()


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
    """Append a version (unless nothing changed) and announce it (``profile_saved``), so
    what was derived from the old profile is refreshed; ``refresh=False`` stays silent.
    Callers that read the profile first do both under :func:`profile_locked`."""
    with profile_locked(user):
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
        profile_compact(user=user, newest=number)
        if refresh:
            profile_saved.send(sender=ProfileVersion, user=user, by=by, version=version)
    return version


def profile_compact(*, user: Any, newest: int | None = None, keep: int | None = None) -> int:
    """Delete old versions beyond the newest ``keep`` (PROFILE_VERSIONS_KEPT); returns how
    many went. Kept besides: each version one of those reverted to (its "back to version k"
    still names a row) and the newest ``keep`` critiques not yet undone (undo reads what the
    critique added from its own row). So a profile holds at most three times ``keep`` rows
    however many edits a client sends. Numbers never change: the next version is still the
    highest number + 1, and a gap in the history is where versions were compacted.

    ``newest``: the number just saved; while it is within ``keep`` nothing can be over the
    cap (numbers are unique and start at 1), so the common case costs no query.
    """
    keep = settings.PROFILE_VERSIONS_KEPT if keep is None else keep
    if newest is not None and newest <= keep:
        return 0
    versions = ProfileVersion.objects.filter(user=user)
    window = list(versions.order_by("-number").values_list("number", "reverted_from")[:keep])
    if len(window) < keep:
        return 0
    reverted_to = {target for _, target in window if target is not None}
    undoable = versions.filter(reason=Reason.CRITIQUE, critique_undone=False).order_by("-number")
    protected = reverted_to | set(undoable.values_list("number", flat=True)[:keep])
    old = versions.filter(number__lt=window[-1][0]).exclude(number__in=protected)
    return int(old.delete()[0])


# what the history line says about who worded a generated profile
WRITTEN_BY = {
    "llm": "written by the language model from your measured tastes",
    "rules": "written from your measured tastes (the language model's sentence did not pass "
    "the checks, or no model ran)",
}


def profile_generate(*, user: Any, llm: Any, by: Any = None) -> ProfileVersion:
    """Write a profile from the user's history; pinned statements and filters survive."""
    rows = history_rows(user=user)
    if not rows:
        raise ValueError("there is no history to learn from yet; rate or like a few items")
    state = catalogue_state()
    catalogue = state.catalogue
    # everyone's films as the base rate: how often each catalogue item was rated
    counts = state.counts if len(state.counts) == len(catalogue) else None
    base = BaseRates.of(catalogue.genres, catalogue.years, counts)
    read = selectors.current_version(user=user)
    previous = Profile.from_dict(read.profile) if read is not None else None
    kwargs = {"base": base, "vocabulary": catalogue.genre_vocabulary}
    if previous is None:
        profile, writer = write_profile(llm, rows, **kwargs)
    else:
        # evidence must stay inside the history: a pinned statement may cite a rating since
        # deleted, and that citation goes, while the statement stays
        previous = repair_evidence(previous, [r[0] for r in rows])
        profile, writer = regenerate_profile(previous, llm, rows, **kwargs)
    if not any(s.source == "generated" for s in profile.statements):
        raise ValueError(
            "your ratings do not show a clear taste yet (it takes at least 3 liked or disliked "
            "films of a kind, clearly more than most people's): rate a few more films"
        )
    with profile_locked(user):
        now = selectors.current_version(user=user)
        if (now.number if now else 0) != (read.number if read else 0):
            # the LLM ran on the profile as it was; saving would undo the edit made since
            raise ProfileChanged(
                "your profile changed while it was being written from your ratings; "
                "nothing was replaced: start it again to include your latest edit"
            )
        return profile_save(
            user=user, profile=profile, reason=Reason.GENERATED, by=by, summary=WRITTEN_BY[writer]
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
    with profile_for_update(user) as before:
        after = EDITS[action](before, **arguments)
        return profile_save(user=user, profile=after, reason=Reason.EDIT, by=by, summary=action)


def statement_changed(
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
    with profile_for_update(user) as before:
        after = statement_changed(before, sid, **changes)
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
    with profile_for_update(user) as before:
        edited = before
        for entry in statements:
            if entry.get("id"):
                fields = {k: entry.get(k) for k in ("text", "polarity", "weight", "pinned")}
                edited = statement_changed(edited, entry["id"], **fields)
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
    vocabulary = catalogue_state().catalogue.genre_vocabulary
    profile = profile_from_text(text, vocabulary)
    if not profile.statements and profile.filters.is_empty():
        raise ValueError("we could not find a taste in that; try e.g. 'funny animated films'")
    with profile_for_update(user) as before:
        merged = before
        for s in profile.statements:
            merged = ops.add_statement(merged, s)
        merged = ops.set_filters(merged, merged.filters.merge(profile.filters))
        return profile_save(
            user=user, profile=merged, reason=Reason.COLD_START, by=user, summary=text
        )


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
    state = catalogue_state()
    index = state.position(item.pk)
    if index is None:
        raise ValueError("that item is not in the catalogue")
    with profile_for_update(user) as before:
        after, record = crit.critique_item(before, state.catalogue, index, kind, reason)  # type: ignore[arg-type]
        return profile_save(
            user=user, profile=after, reason=Reason.CRITIQUE, by=user, summary=record.text,
            critique=_critique_dict(record),
        )  # fmt: skip


def critique_list_apply(*, user: Any, text: str) -> ProfileVersion:
    vocabulary = catalogue_state().catalogue.genre_vocabulary
    with profile_for_update(user) as before:
        after, record = crit.critique_list(before, text, vocabulary)
        if after.fingerprint == before.fingerprint:
            raise ValueError(
                "we could not tell what to change; try e.g. 'less violent, more comedies'"
            )
        return profile_save(
            user=user, profile=after, reason=Reason.CRITIQUE, by=user, summary=record.text,
            critique=_critique_dict(record),
        )  # fmt: skip


def critique_undo(*, user: Any, number: int) -> ProfileVersion:
    """Remove what critique version ``number`` added, keeping every later edit."""
    with profile_locked(user):
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
