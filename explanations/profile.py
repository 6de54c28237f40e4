"""A scrutable natural-language profile: short statements plus visible hard filters.

A :class:`Profile` is what the user sees, edits and can revert: an ordered list of
:class:`Statement` (text, polarity, weight, evidence, source, pinned) and one :class:`Filters`
(genre include/exclude, year range, excluded items). Nothing that changes a ranking lives
anywhere else, so there is no hidden state: a critique is written back here as a statement or
a filter, and undoing it is deleting that statement or filter.

Item ids (evidence, excluded items) are the catalogue's *external* ids
(``Catalogue.ids.external(i)``: item primary keys in the web app, MovieLens ids offline),
because profiles are stored as JSON and must survive a model refit that re-numbers indices.

Everything here is pure: edit operations return a new profile and never mutate their input,
and :meth:`Profile.to_dict` / :meth:`Profile.from_dict` round-trip exactly, so the web app can
store every version as JSON and :func:`diff` two of them for the history page.

A statement's ``text`` holds the *topic* only ("slow-burn thrillers"); the polarity carries
the sign. That is deliberate: an embedding of "avoids horror" sits as close to horror films as
one of "loves horror", so the sign must not depend on the encoder understanding negation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

Polarity = Literal["likes", "avoids"]
Source = Literal["generated", "user", "critique", "conversation"]
ItemId = Hashable  # an external catalogue id; JSON-serialisable in practice (int or str)

POLARITIES: tuple[str, ...] = ("likes", "avoids")
SOURCES: tuple[str, ...] = ("generated", "user", "critique", "conversation")
# Generated statements are guesses from ratings and mostly restate what the collaborative
# model already knows, so they weigh less than what the user states. 0.3 had the best
# validation NDCG@10 on ML-100K among 0, 0.1, 0.2, 0.3, 0.5, 1 (python -m explanations.evaluate).
DEFAULT_WEIGHT = {"generated": 0.3, "user": 1.0, "critique": 1.0, "conversation": 1.0}
MAX_WEIGHT = 3.0  # the UI slider's top; scoring caps the total effect anyway
# Every saved version stores the whole profile, so its size is what each edit costs: 600
# statements made a 1.5 MB page and a 2 s first ranking. A hundred say any taste.
MAX_STATEMENTS = 100


def statement_id(text: str, polarity: str, salt: str = "") -> str:
    """A short, deterministic id: the same statement made twice gets the same id."""
    digest = hashlib.sha1(f"{polarity}|{text.strip().lower()}|{salt}".encode()).hexdigest()
    return "s" + digest[:10]


@dataclass(frozen=True)
class Statement:
    """One line of the profile. ``evidence``: history item ids that support it (may be empty
    for statements the user wrote); ``weight`` in [0, MAX_WEIGHT]."""

    id: str
    text: str
    polarity: Polarity = "likes"
    weight: float = 1.0
    evidence: tuple[ItemId, ...] = ()
    source: Source = "user"
    pinned: bool = False

    def __post_init__(self) -> None:
        if self.polarity not in POLARITIES:
            raise ValueError(f"polarity must be one of {POLARITIES}, not {self.polarity!r}")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {self.source!r}")
        if not self.text.strip():
            raise ValueError("a statement needs text")
        if not 0.0 <= self.weight <= MAX_WEIGHT:
            raise ValueError(f"weight must be in [0, {MAX_WEIGHT}]")

    @property
    def sign(self) -> float:
        return 1.0 if self.polarity == "likes" else -1.0

    def display(self) -> str:
        """What the profile page shows: "Likes: slow-burn thrillers"."""
        return f"{self.polarity.capitalize()}: {self.text}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "polarity": self.polarity,
            "weight": self.weight,
            "evidence": list(self.evidence),
            "source": self.source,
            "pinned": self.pinned,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Statement:
        return cls(
            id=str(data["id"]),
            text=str(data["text"]),
            polarity=data.get("polarity", "likes"),
            weight=float(data.get("weight", 1.0)),
            evidence=tuple(data.get("evidence", ())),
            source=data.get("source", "user"),
            pinned=bool(data.get("pinned", False)),
        )


def make_statement(
    text: str,
    polarity: Polarity = "likes",
    *,
    source: Source = "user",
    weight: float | None = None,
    evidence: Iterable[ItemId] = (),
    pinned: bool = False,
) -> Statement:
    text = " ".join(text.split())
    return Statement(
        id=statement_id(text, polarity, source),
        text=text,
        polarity=polarity,
        weight=DEFAULT_WEIGHT[source] if weight is None else float(weight),
        evidence=tuple(dict.fromkeys(evidence)),
        source=source,
        pinned=pinned,
    )


@dataclass(frozen=True)
class Filters:
    """Hard constraints: an item failing one is removed from the list, whatever its score.

    ``include_genres``: keep only items with at least one of these (empty = no constraint).
    ``year_min`` / ``year_max``: inclusive bounds; items of unknown year are kept (we cannot
    tell, and dropping them silently would hide them for a reason the user never gave).
    """

    include_genres: tuple[str, ...] = ()
    exclude_genres: tuple[str, ...] = ()
    year_min: int | None = None
    year_max: int | None = None
    exclude_items: tuple[ItemId, ...] = ()

    def is_empty(self) -> bool:
        return self == Filters()

    def allows(self, genres: Sequence[str], year: int, item_id: ItemId | None = None) -> bool:
        if item_id is not None and item_id in self.exclude_items:
            return False
        if self.include_genres and not set(genres) & set(self.include_genres):
            return False
        if set(genres) & set(self.exclude_genres):
            return False
        if year > 0 and self.year_min is not None and year < self.year_min:
            return False
        return not (year > 0 and self.year_max is not None and year > self.year_max)

    def describe(self) -> list[str]:
        """One human-readable line per active filter (each removable on the profile page)."""
        out = []
        if self.include_genres:
            out.append("Only: " + ", ".join(self.include_genres))
        if self.exclude_genres:
            out.append("Never: " + ", ".join(self.exclude_genres))
        if self.year_min is not None:
            out.append(f"From {self.year_min} on")
        if self.year_max is not None:
            out.append(f"Up to {self.year_max}")
        if self.exclude_items:
            out.append(f"Hidden items: {len(self.exclude_items)}")
        return out

    def merge(self, other: Filters) -> Filters:
        """Both sets of constraints at once (a later year bound replaces an earlier one)."""
        return Filters(
            include_genres=tuple(dict.fromkeys((*self.include_genres, *other.include_genres))),
            exclude_genres=tuple(dict.fromkeys((*self.exclude_genres, *other.exclude_genres))),
            year_min=other.year_min if other.year_min is not None else self.year_min,
            year_max=other.year_max if other.year_max is not None else self.year_max,
            exclude_items=tuple(dict.fromkeys((*self.exclude_items, *other.exclude_items))),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "include_genres": list(self.include_genres),
            "exclude_genres": list(self.exclude_genres),
            "year_min": self.year_min,
            "year_max": self.year_max,
            "exclude_items": list(self.exclude_items),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Filters:
        return cls(
            include_genres=tuple(data.get("include_genres", ())),
            exclude_genres=tuple(data.get("exclude_genres", ())),
            year_min=data.get("year_min"),
            year_max=data.get("year_max"),
            exclude_items=tuple(data.get("exclude_items", ())),
        )


@dataclass(frozen=True)
class Profile:
    statements: tuple[Statement, ...] = ()
    filters: Filters = field(default_factory=Filters)

    def __post_init__(self) -> None:
        ids = [s.id for s in self.statements]
        if len(set(ids)) != len(ids):
            raise ValueError("statement ids must be unique within a profile")

    def get(self, sid: str) -> Statement:
        for s in self.statements:
            if s.id == sid:
                return s
        raise KeyError(sid)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "profile/1",
            "statements": [s.to_dict() for s in self.statements],
            "filters": self.filters.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        return cls(
            statements=tuple(Statement.from_dict(s) for s in data.get("statements", ())),
            filters=Filters.from_dict(data.get("filters", {})),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @property
    def fingerprint(self) -> str:
        """sha256 of the canonical JSON: equal iff the profiles rank identically.

        A content hash rather than a counter, so a revert to an earlier version yields the
        earlier fingerprint and its cached explanations become valid again.
        """
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]


# -- edit operations: pure, each returns a new Profile -------------------------------------


def _with_statement(profile: Profile, sid: str, **changes: Any) -> Profile:
    profile.get(sid)  # KeyError for an unknown id, before anything else
    statements = tuple(replace(s, **changes) if s.id == sid else s for s in profile.statements)
    return replace(profile, statements=statements)


def _unique_id(profile: Profile, statement: Statement) -> Statement:
    taken = {s.id for s in profile.statements}
    sid, n = statement.id, 1
    while sid in taken:
        sid, n = statement_id(statement.text, statement.polarity, f"{statement.source}#{n}"), n + 1
    return replace(statement, id=sid)


def add_statement(profile: Profile, statement: Statement, position: int | None = None) -> Profile:
    """Insert (at the end by default); an id clash gets a fresh deterministic id. ValueError
    when the profile already holds ``MAX_STATEMENTS``."""
    if len(profile.statements) >= MAX_STATEMENTS:
        raise ValueError(
            f"a profile holds at most {MAX_STATEMENTS} statements; delete or merge some first"
        )
    statement = _unique_id(profile, statement)
    items = list(profile.statements)
    items.insert(len(items) if position is None else position, statement)
    return replace(profile, statements=tuple(items))


def delete_statement(profile: Profile, sid: str) -> Profile:
    profile.get(sid)
    return replace(profile, statements=tuple(s for s in profile.statements if s.id != sid))


def edit_text(profile: Profile, sid: str, text: str) -> Profile:
    """New wording, same id (so the diff shows "changed"); it is now the user's statement, and
    the evidence of the old wording no longer vouches for it."""
    text = " ".join(text.split())
    if not text:
        raise ValueError("a statement needs text")
    return _with_statement(profile, sid, text=text, source="user", evidence=())


def flip_polarity(profile: Profile, sid: str) -> Profile:
    current = profile.get(sid).polarity
    return _with_statement(profile, sid, polarity="avoids" if current == "likes" else "likes")


def set_weight(profile: Profile, sid: str, weight: float) -> Profile:
    return _with_statement(profile, sid, weight=float(weight))


def set_pinned(profile: Profile, sid: str, pinned: bool = True) -> Profile:
    return _with_statement(profile, sid, pinned=pinned)


def move_statement(profile: Profile, sid: str, position: int) -> Profile:
    statement = profile.get(sid)
    rest = [s for s in profile.statements if s.id != sid]
    rest.insert(position, statement)
    return replace(profile, statements=tuple(rest))


def set_filters(profile: Profile, filters: Filters) -> Profile:
    return replace(profile, filters=filters)


def remove_filter(profile: Profile, name: str, value: Any = None) -> Profile:
    """Remove one filter: a year bound by name, or one value from a tuple-valued filter
    (``value=None`` clears that filter entirely)."""
    f = profile.filters
    current = getattr(f, name)  # AttributeError for an unknown filter name
    if isinstance(current, tuple) and value is not None:
        new: Any = tuple(v for v in current if v != value)
    else:
        new = () if isinstance(current, tuple) else None
    return replace(profile, filters=replace(f, **{name: new}))


# -- version diff ------------------------------------------------------------------------


@dataclass(frozen=True)
class StatementChange:
    id: str
    fields: tuple[str, ...]  # which fields differ, e.g. ("text", "weight")
    before: Statement
    after: Statement


@dataclass(frozen=True)
class ProfileDiff:
    added: tuple[Statement, ...]
    removed: tuple[Statement, ...]
    changed: tuple[StatementChange, ...]
    filters_before: Filters
    filters_after: Filters
    reordered: bool

    @property
    def filters_changed(self) -> bool:
        return self.filters_before != self.filters_after

    def is_empty(self) -> bool:
        return not (
            self.added or self.removed or self.changed or self.filters_changed or self.reordered
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": [s.to_dict() for s in self.added],
            "removed": [s.to_dict() for s in self.removed],
            "changed": [
                {
                    "id": c.id,
                    "fields": list(c.fields),
                    "before": c.before.to_dict(),
                    "after": c.after.to_dict(),
                }
                for c in self.changed
            ],
            "filters": {
                "before": self.filters_before.to_dict(),
                "after": self.filters_after.to_dict(),
            }
            if self.filters_changed
            else None,
            "reordered": self.reordered,
        }


_COMPARED = ("text", "polarity", "weight", "evidence", "source", "pinned")


def diff(before: Profile, after: Profile) -> ProfileDiff:
    """Statements matched by id: added, removed, changed (with the fields that differ)."""
    old = {s.id: s for s in before.statements}
    new = {s.id: s for s in after.statements}
    changed = []
    for sid in new.keys() & old.keys():
        fields = tuple(f for f in _COMPARED if getattr(old[sid], f) != getattr(new[sid], f))
        if fields:
            changed.append(StatementChange(sid, fields, old[sid], new[sid]))
    order = [s.id for s in after.statements]
    changed.sort(key=lambda c: order.index(c.id))
    common_before = [s.id for s in before.statements if s.id in new]
    common_after = [s.id for s in after.statements if s.id in old]
    return ProfileDiff(
        added=tuple(s for s in after.statements if s.id not in old),
        removed=tuple(s for s in before.statements if s.id not in new),
        changed=tuple(changed),
        filters_before=before.filters,
        filters_after=after.filters,
        reordered=common_before != common_after,
    )
