from __future__ import annotations

from explanations.generate import (
    fallback_statements,
    generate_profile,
    profile_from_text,
    regenerate_profile,
    repair_evidence,
)
from explanations.profile import Filters, make_statement, set_pinned
from recommender.data import Catalogue
from tests.explanations.conftest import GENRES, KeywordEncoder, history_rows

# loves the cartoons (indices 0-2, 14), hates the horror (3-5)
RATINGS = [(0, 5.0), (3, 1.0), (1, 5.0), (4, 1.0), (2, 4.0), (5, 2.0), (14, 4.0), (8, 3.0)]


def test_the_fallback_likes_animation_and_avoids_horror_with_evidence(catalogue: Catalogue) -> None:
    rows = history_rows(catalogue, RATINGS)
    statements = {(s.text, s.polarity): s for s in fallback_statements(rows)}
    assert ("animated films", "likes") in statements
    assert ("horror films", "avoids") in statements
    assert set(statements[("animated films", "likes")].evidence) <= {101, 102, 103}
    assert set(statements[("horror films", "avoids")].evidence) <= {104, 105, 106}


def test_evidence_always_belongs_to_the_users_history(catalogue: Catalogue) -> None:
    rows = history_rows(catalogue, RATINGS)
    history_ids = {r[0] for r in rows}

    def chatty_llm(messages: list[dict[str, str]]) -> str:
        # names genres the user never watched and a film they never rated
        return "Loves westerns, war films and Grease, animated comedies, but hates scary films."

    for llm in (None, chatty_llm):
        for encode in (None, KeywordEncoder()):
            profile = generate_profile(llm, rows, encode=encode, vocabulary=GENRES)
            assert profile.statements
            for s in profile.statements:
                assert s.evidence, s
                assert set(s.evidence) <= history_ids, s
    texts = [s.text for s in generate_profile(chatty_llm, rows, vocabulary=GENRES).statements]
    assert "westerns" not in texts and "war films" not in texts  # nothing in history backs them
    assert "animated comedies" in texts and "scary films" in texts


def test_pinned_statements_survive_regeneration_unchanged(catalogue: Catalogue) -> None:
    rows = history_rows(catalogue, RATINGS)
    first = generate_profile(None, rows, vocabulary=GENRES)
    pinned = set_pinned(first, first.statements[-1].id)
    mine = make_statement("slow-burn thrillers", pinned=True)
    from explanations.profile import add_statement

    pinned = add_statement(pinned, mine)
    pinned = pinned.__class__(pinned.statements, Filters(year_min=1980))
    for llm in (None, lambda m: "Enjoys crime thrillers and dramas."):
        again = regenerate_profile(pinned, llm, rows, vocabulary=GENRES)
        kept = [s for s in pinned.statements if s.pinned]
        assert list(again.statements[: len(kept)]) == kept
        assert again.filters == pinned.filters


def test_unusable_llm_output_falls_back_to_rules(catalogue: Catalogue) -> None:
    rows = history_rows(catalogue, RATINGS)

    def broken(messages: list[dict[str, str]]) -> str:
        raise RuntimeError("out of memory")

    for llm in (broken, lambda m: "", lambda m: "Toy Story: 5 stars"):
        profile = generate_profile(llm, rows, vocabulary=GENRES)
        assert profile == generate_profile(None, rows, vocabulary=GENRES)


def test_a_typed_sentence_becomes_statements_without_evidence() -> None:
    p = profile_from_text("slow-burn thrillers, nothing with musicals, nothing before 1980")
    assert [(s.text, s.polarity, s.source, s.evidence) for s in p.statements] == [
        ("slow-burn thrillers", "likes", "user", ()),
        ("musicals", "avoids", "user", ()),
    ]
    assert p.filters.year_min == 1980
    negations = profile_from_text("no horror; I hate gore, avoid war films and less romance")
    assert {s.polarity for s in negations.statements} == {"avoids"}


def test_repair_drops_evidence_no_longer_in_the_history(catalogue: Catalogue) -> None:
    rows = history_rows(catalogue, RATINGS)
    profile = generate_profile(None, rows, vocabulary=GENRES)
    repaired = repair_evidence(profile, {101})
    assert all(set(s.evidence) <= {101} for s in repaired.statements)


def test_onboarding_in_real_words_keeps_each_wish_whole() -> None:
    from explanations.generate import MOVIELENS_GENRES, profile_from_text
    from explanations.matching import statement_facts

    def read(text: str) -> list[tuple[str, tuple[tuple[str, ...], ...], int | None, int | None]]:
        return [
            (s.polarity, (f := statement_facts(s.text, MOVIELENS_GENRES)).genre_groups,
             f.year_min, f.year_max)
            for s in profile_from_text(text).statements
        ]  # fmt: skip

    # one statement: seventies thrillers, not thrillers plus any film of the seventies
    assert read("I love thrillers from the seventies") == [("likes", (("Thriller",),), 1970, 1979)]
    assert read("I don't really like horror, but sci fi is great") == [
        ("avoids", (("Horror",),), None, None),
        ("likes", (("Sci-Fi",),), None, None),
    ]
    assert read("westerns are boring") == [("avoids", (("Western",),), None, None)]
    assert ("avoids", (), 1990, 1999) in read("horror, but not from the nineties")
