"""Critiques: feedback on an item or on the whole list, written back into the profile.

Every critique becomes visible profile content (a statement, a filter, a hidden item) so the
user can see what it did and remove it; there is no separate critique state that the ranking
reads. :func:`undo_critique` removes exactly what one critique added.

On an item:
- "more" (more like this) -> likes "films like <title> (<genres>)", source "critique";
- "less" (less like this) -> avoids the same text;
- "not_for_me" with a reason -> the item is hidden (``exclude_items``) and the reason is parsed
  into "avoids" statements ("too violent" -> avoids "violent"); a reason with a positive cue
  ("I prefer comedies") gives a "likes" statement.

On the list, free text: "less violent, more comedies", "nothing before 1980", "only comedies".
Hard cues on a recognised genre (no, nothing, never, without, only) become genre filters,
year phrases become year bounds, everything else becomes a weighted statement
(see :mod:`explanations.parsing` for the rules and the synonym table).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Literal

from explanations.parsing import parse_preferences, split_clauses
from explanations.profile import (
    Filters,
    ItemId,
    Profile,
    add_statement,
    delete_statement,
    make_statement,
)
from explanations.titles import natural_title
from explanations.understanding import clean
from recommender.data import Catalogue

ItemCritique = Literal["more", "less", "not_for_me"]


@dataclass(frozen=True)
class Critique:
    """What one critique changed: enough to show it and to undo it."""

    text: str
    added_statements: tuple[str, ...]  # statement ids
    filters_added: Filters  # the values this critique added (diff, not the whole filter set)
    # to restore a year bound the critique replaced
    filters_before: Filters = field(default_factory=Filters)


def _filters_delta(before: Filters, after: Filters) -> Filters:
    def new(name: str) -> tuple:  # type: ignore[type-arg]
        old = set(getattr(before, name))
        return tuple(v for v in getattr(after, name) if v not in old)

    return Filters(
        include_genres=new("include_genres"),
        exclude_genres=new("exclude_genres"),
        year_min=after.year_min if after.year_min != before.year_min else None,
        year_max=after.year_max if after.year_max != before.year_max else None,
        exclude_items=new("exclude_items"),
    )


def _apply(
    profile: Profile, text: str, statements: Sequence[tuple[str, str]], filters: Filters
) -> tuple[Profile, Critique]:
    added = []
    for topic, polarity in statements:
        st = make_statement(topic, polarity, source="critique")  # type: ignore[arg-type]
        profile = add_statement(profile, st)
        added.append(profile.statements[-1].id)
    merged = profile.filters.merge(filters)
    delta = _filters_delta(profile.filters, merged)
    critique = Critique(text, tuple(added), delta, profile.filters)
    return replace(profile, filters=merged), critique


def critique_item(
    profile: Profile,
    catalogue: Catalogue,
    item: int,
    kind: ItemCritique,
    reason: str = "",
) -> tuple[Profile, Critique]:
    """Apply a critique of catalogue item ``item`` (an index). Returns (new profile, record)."""
    title = natural_title(catalogue.titles[item])
    genres = ", ".join(catalogue.genres[item])
    about = f"films like {title}" + (f" ({genres})" if genres else "")
    if kind == "more":
        return _apply(profile, f"more like {title}", [(about, "likes")], Filters())
    if kind == "less":
        return _apply(profile, f"less like {title}", [(about, "avoids")], Filters())
    if kind != "not_for_me":
        raise ValueError(f"unknown item critique {kind!r}")
    hide = Filters(exclude_items=(catalogue.ids.external(item),))
    statements: list[tuple[str, str]] = []
    cleaned = re.sub(
        r"^\s*(?:because\s+)?(?:it's|it is|it was|its|this is|that's|way|far|much)\s+",
        "",
        reason.strip(),
        flags=re.IGNORECASE,
    )
    for clause in split_clauses(clean(cleaned)[0], catalogue.genre_vocabulary):
        topic = re.sub(r"^(?:too|a|an|the|so|very)\s+", "", clause.topic, flags=re.IGNORECASE)
        if not topic:
            continue
        # the reason says what is wrong with the item, so an uncued clause is a dislike
        polarity = clause.polarity if clause.explicit else "avoids"
        statements.append((topic, polarity))
    return _apply(
        profile, f"not for me: {title}" + (f" ({reason})" if reason else ""), statements, hide
    )


def critique_list(
    profile: Profile, text: str, vocabulary: Sequence[str]
) -> tuple[Profile, Critique]:
    """Apply a free-text critique of the whole list ("less violent, more comedies")."""
    words, excluded = clean(text)  # "no rom-coms from the nineties" as the rules read it
    parsed = parse_preferences(words, vocabulary, hard_genre_filters=True)
    statements = list(parsed.statements)
    statements += [(f"films from the {lo}s", "avoids") for lo, _ in excluded]
    filters = Filters(
        include_genres=tuple(parsed.include_genres),
        exclude_genres=tuple(parsed.exclude_genres),
        year_min=parsed.year_min,
        year_max=parsed.year_max,
    )
    return _apply(profile, text, statements, filters)


def undo_critique(profile: Profile, critique: Critique) -> Profile:
    """Remove what ``critique`` added: its statements (if still there) and its filter values.

    Only values the critique itself added are removed, so later edits by the user survive; a
    year bound is cleared only while it still has the value the critique set.
    """
    for sid in critique.added_statements:
        if any(s.id == sid for s in profile.statements):
            profile = delete_statement(profile, sid)
    f, added = profile.filters, critique.filters_added
    changes: dict[str, object] = {}
    for field_ in fields(Filters):
        name = field_.name
        current, mine = getattr(f, name), getattr(added, name)
        if isinstance(current, tuple):
            changes[name] = tuple(v for v in current if v not in set(mine))
        elif mine is not None and current == mine:
            changes[name] = getattr(critique.filters_before, name)
    return replace(profile, filters=replace(f, **changes))  # type: ignore[arg-type]


def hidden_items(profile: Profile) -> tuple[ItemId, ...]:
    return profile.filters.exclude_items
