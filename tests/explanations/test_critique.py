from __future__ import annotations

import numpy as np

from explanations.critique import critique_item, critique_list, undo_critique
from explanations.generate import profile_from_text
from explanations.scoring import embed_statements, profile_rerank
from recommender.data import Catalogue
from tests.explanations.conftest import GENRES


def ranked(catalogue, item_vectors, encode, profile) -> list[int]:  # type: ignore[no-untyped-def]
    candidates = np.arange(len(catalogue))
    scores = np.linspace(1.0, 0.0, len(catalogue))
    vectors = embed_statements(profile.statements, encode)
    return profile_rerank(
        candidates, scores, {"collaborative": scores}, item_vectors, vectors, profile, catalogue
    ).items.tolist()


def test_a_critique_appears_in_the_profile_and_undo_restores_the_list(
    catalogue, item_vectors, encode
) -> None:  # type: ignore[no-untyped-def]
    profile = profile_from_text("slow-burn thrillers")
    before = ranked(catalogue, item_vectors, encode, profile)
    for text in ("less violent, more comedies", "nothing before 1980", "no horror"):
        critiqued, record = critique_list(profile, text, GENRES)
        assert critiqued != profile  # visible in the profile: statements or filters
        assert ranked(catalogue, item_vectors, encode, critiqued) != before
        undone = undo_critique(critiqued, record)
        assert undone == profile
        assert ranked(catalogue, item_vectors, encode, undone) == before


def test_list_critiques_become_statements_and_filters(catalogue: Catalogue) -> None:
    profile = profile_from_text("")
    p, _ = critique_list(profile, "less violent, more comedies", GENRES)
    assert [(s.text, s.polarity, s.source) for s in p.statements] == [
        ("violent", "avoids", "critique"),
        ("comedies", "likes", "critique"),
    ]
    p, _ = critique_list(profile, "nothing before 1980, no horror, only comedies", GENRES)
    assert (p.filters.year_min, p.filters.exclude_genres, p.filters.include_genres) == (
        1980,
        ("Horror",),
        ("Comedy",),
    )


def test_item_critiques(catalogue, item_vectors, encode) -> None:  # type: ignore[no-untyped-def]
    profile = profile_from_text("")
    more, _ = critique_item(profile, catalogue, 0, "more")
    assert more.statements[0].polarity == "likes" and "Toy Story" in more.statements[0].text
    less, _ = critique_item(profile, catalogue, 0, "less")
    assert less.statements[0].polarity == "avoids"
    hidden, record = critique_item(profile, catalogue, 7, "not_for_me", "too violent")
    assert hidden.filters.exclude_items == (108,)
    assert [(s.text, s.polarity) for s in hidden.statements] == [("violent", "avoids")]
    assert 7 not in ranked(catalogue, item_vectors, encode, hidden)
    assert undo_critique(hidden, record) == profile


def test_undo_keeps_later_user_edits(catalogue: Catalogue) -> None:
    p1, first = critique_list(profile_from_text("comedies"), "nothing before 1980", GENRES)
    p2, _ = critique_list(p1, "no horror", GENRES)
    undone = undo_critique(p2, first)
    assert undone.filters.year_min is None and undone.filters.exclude_genres == ("Horror",)


def test_a_critique_in_real_words_is_read_by_the_understanding_layer() -> None:
    from explanations.critique import critique_list
    from explanations.matching import statement_facts
    from explanations.profile import Profile
    from tests.explanations.conftest import GENRES

    profile, _ = critique_list(Profile(), "no rom-coms, nothing from the seventies", GENRES)
    # a compound cannot be a genre filter: hiding every comedy would hide far more
    assert profile.filters.exclude_genres == ()
    read = {s.text: (s.polarity, statement_facts(s.text, GENRES)) for s in profile.statements}
    romcoms = next(f for p, f in read.values() if p == "avoids" and f.genres)
    assert set(romcoms.genre_groups) == {("Romance",), ("Comedy",)}
    assert any(p == "avoids" and (f.year_min, f.year_max) == (1970, 1979) for p, f in read.values())
