from __future__ import annotations

import json

import pytest

from explanations.profile import (
    Filters,
    Profile,
    add_statement,
    delete_statement,
    diff,
    edit_text,
    flip_polarity,
    make_statement,
    remove_filter,
    set_pinned,
    set_weight,
)


def sample() -> Profile:
    p = Profile(filters=Filters(exclude_genres=("Horror",), year_min=1980))
    p = add_statement(
        p, make_statement("animated films", "likes", source="generated", evidence=(101, 102))
    )
    p = add_statement(p, make_statement("musicals", "avoids"))
    return p


def test_a_profile_round_trips_through_json_exactly() -> None:
    p = sample()
    again = Profile.from_dict(json.loads(json.dumps(p.to_dict())))
    assert again == p
    assert again.fingerprint == p.fingerprint


def test_edits_return_a_new_profile_and_leave_the_old_one_alone() -> None:
    p = sample()
    sid = p.statements[0].id
    edited = set_weight(flip_polarity(edit_text(p, sid, "Pixar films"), sid), sid, 2.0)
    assert p.statements[0].text == "animated films"
    s = edited.get(sid)
    assert (s.text, s.polarity, s.weight, s.source, s.evidence) == (
        "Pixar films",
        "avoids",
        2.0,
        "user",
        (),
    )
    assert set_pinned(p, sid).get(sid).pinned
    assert len(delete_statement(p, sid).statements) == 1
    with pytest.raises(KeyError):
        delete_statement(p, "nope")


def test_the_diff_lists_added_removed_and_changed_statements() -> None:
    before = sample()
    first, second = before.statements
    after = edit_text(delete_statement(before, second.id), first.id, "cartoons")
    after = add_statement(after, make_statement("slow-burn thrillers"))
    after = remove_filter(after, "exclude_genres", "Horror")
    d = diff(before, after)
    assert [s.text for s in d.added] == ["slow-burn thrillers"]
    assert [s.id for s in d.removed] == [second.id]
    assert d.changed[0].id == first.id and "text" in d.changed[0].fields
    assert d.filters_changed and d.filters_after.exclude_genres == ()
    assert json.dumps(d.to_dict())  # the history page stores and renders it
    assert diff(before, before).is_empty()


def test_reverting_restores_the_fingerprint() -> None:
    p = sample()
    original = p.statements[0].weight
    changed = set_weight(p, p.statements[0].id, 3.0)
    assert changed.fingerprint != p.fingerprint
    assert set_weight(changed, p.statements[0].id, original).fingerprint == p.fingerprint


def test_filters_describe_themselves_and_allow_items() -> None:
    f = Filters(include_genres=("Comedy",), year_min=1980, exclude_items=(7,))
    assert f.describe() == ["Only: Comedy", "From 1980 on", "Hidden items: 1"]
    assert f.allows(("Comedy",), 1990)
    assert not f.allows(("Comedy",), 1970)
    assert not f.allows(("Drama",), 1990)
    assert not f.allows(("Comedy",), 1990, item_id=7)
    assert f.allows(("Comedy",), -1)  # unknown year is kept


def test_bad_statements_are_refused() -> None:
    with pytest.raises(ValueError):
        make_statement("x", "loves")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        make_statement("   ")
    with pytest.raises(ValueError):
        make_statement("x", weight=10)


def test_a_profile_holds_at_most_max_statements() -> None:
    from explanations.profile import MAX_STATEMENTS

    profile = Profile()
    for k in range(MAX_STATEMENTS):
        profile = add_statement(profile, make_statement(f"wish {k}"))
    with pytest.raises(ValueError, match="at most"):
        add_statement(profile, make_statement("one more"))
