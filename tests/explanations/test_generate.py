from __future__ import annotations

from explanations.generate import (
    PROFILE_SYSTEM,
    generate_profile,
    profile_from_text,
    profile_prompt,
    regenerate_profile,
    repair_evidence,
    write_profile,
)
from explanations.matching import statement_facts
from explanations.profile import Filters, add_statement, make_statement, set_pinned
from explanations.taste import BaseRates
from recommender.data import Catalogue
from tests.explanations.conftest import GENRES, history_rows

# loves the cartoons (indices 0-2, 14), hates the horror (3-5)
RATINGS = [(0, 5.0), (3, 1.0), (1, 5.0), (4, 1.0), (2, 4.0), (5, 2.0), (14, 4.0), (8, 3.0)]


def base(catalogue: Catalogue) -> BaseRates:
    return BaseRates.of(catalogue.genres, catalogue.years)


def test_rules_state_the_measured_tastes_with_films_that_fully_match(catalogue: Catalogue) -> None:
    rows = history_rows(catalogue, RATINGS)
    profile, writer = write_profile(None, rows, base=base(catalogue), vocabulary=GENRES)
    statements = {(s.text, s.polarity): s for s in profile.statements}
    assert writer == "rules"
    # the cartoons are all family films, and so is Babe: one taste, said once
    assert ("family films", "likes") in statements
    assert ("animated films", "likes") not in statements
    assert ("horror films", "avoids") in statements
    assert set(statements[("family films", "likes")].evidence) <= {101, 102, 103, 115}
    assert set(statements[("horror films", "avoids")].evidence) <= {104, 105, 106}
    for s in profile.statements:  # every cited film is all the statement says
        facts = statement_facts(s.text, GENRES)
        for pk in s.evidence:
            i = catalogue.ids.index(pk)
            assert facts.fits(catalogue.genres[i], int(catalogue.years[i])), (s.text, pk)


def test_the_llm_only_words_measured_tastes(catalogue: Catalogue) -> None:
    rows = history_rows(catalogue, RATINGS)
    history_ids = {r[0] for r in rows}
    rules, _ = write_profile(None, rows, base=base(catalogue), vocabulary=GENRES)

    def chatty_llm(messages: list[dict[str, str]]) -> str:
        # names genres the ratings do not show, a film, and a mood word
        return (
            "Loves westerns, war films and Grease, light-hearted cartoons, but hates scary films."
        )

    profile, writer = write_profile(chatty_llm, rows, base=base(catalogue), vocabulary=GENRES)
    texts = {(s.text, s.polarity) for s in profile.statements}
    assert writer == "llm"
    assert ("scary films", "avoids") in texts  # its words for a measured taste
    assert ("family films", "likes") in texts  # "light-hearted" cannot be checked: dropped
    assert not {t for t, _ in texts} & {"westerns", "war films", "Grease"}
    # the same tastes whoever worded them
    assert len(profile.statements) == len(rules.statements)
    assert all(set(s.evidence) <= history_ids and s.evidence for s in profile.statements)


def test_the_prompt_carries_this_persons_tastes_and_no_example(catalogue: Catalogue) -> None:
    rows = history_rows(catalogue, RATINGS)
    seen: list[list[dict[str, str]]] = []

    def model(messages: list[dict[str, str]]) -> str:
        seen.append(messages)
        return ""

    write_profile(model, rows, base=base(catalogue), vocabulary=GENRES)
    (messages,) = seen
    assert [m["role"] for m in messages] == ["system", "user"]  # no worked example to copy
    assert messages[0]["content"] == PROFILE_SYSTEM
    assert "Likes: family films" in messages[1]["content"]
    assert "Avoids: horror films" in messages[1]["content"]
    assert profile_prompt([])[1]["content"] == "Likes: nothing clear\nAvoids: nothing"


def test_pinned_statements_survive_regeneration_unchanged(catalogue: Catalogue) -> None:
    rows = history_rows(catalogue, RATINGS)
    first = generate_profile(None, rows, base=base(catalogue), vocabulary=GENRES)
    pinned = set_pinned(first, first.statements[-1].id)
    mine = make_statement("slow-burn thrillers", pinned=True)
    pinned = add_statement(pinned, mine)
    pinned = pinned.__class__(pinned.statements, Filters(year_min=1980))
    for llm in (None, lambda m: "Enjoys crime thrillers and dramas."):
        again, _ = regenerate_profile(pinned, llm, rows, base=base(catalogue), vocabulary=GENRES)
        kept = [s for s in pinned.statements if s.pinned]
        assert list(again.statements[: len(kept)]) == kept
        assert again.filters == pinned.filters


def test_a_taste_against_a_pinned_statement_is_not_generated(catalogue: Catalogue) -> None:
    rows = history_rows(catalogue, RATINGS)
    pinned = [make_statement("horror films", "likes", pinned=True)]
    profile = generate_profile(None, rows, pinned, base=base(catalogue), vocabulary=GENRES)
    assert ("horror films", "avoids") not in {(s.text, s.polarity) for s in profile.statements}


def test_unusable_llm_output_falls_back_to_rules(catalogue: Catalogue) -> None:
    rows = history_rows(catalogue, RATINGS)

    def broken(messages: list[dict[str, str]]) -> str:
        raise RuntimeError("out of memory")

    rules = write_profile(None, rows, base=base(catalogue), vocabulary=GENRES)
    for llm in (broken, lambda m: "", lambda m: "Toy Story: 5 stars"):
        assert write_profile(llm, rows, base=base(catalogue), vocabulary=GENRES) == rules


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
    profile = generate_profile(None, rows, base=base(catalogue), vocabulary=GENRES)
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
