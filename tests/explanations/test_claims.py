from __future__ import annotations

from explanations.claims import claim_problems, stem
from explanations.explain import Evidence, HistoryEvidence, StatementEvidence
from explanations.matching import StatementFacts
from explanations.titles import TitleIndex

BABE = Evidence(
    item=14,
    item_id=115,
    title="Babe",
    year=1995,
    genres=("Children's", "Comedy", "Drama"),
    description="A pig raised by sheepdogs learns to herd sheep.",
    components={"collaborative": 0.6, "profile": 0.4},
    history=(
        HistoryEvidence(0, 101, "Toy Story", "collaborative", 0.6, 1995),
        HistoryEvidence(1, 102, "Aladdin", "collaborative", 0.4, 1992),
    ),
    statements=(
        StatementEvidence(
            "s1",
            "light-hearted films from the 90s",
            "likes",
            0.4,
            "1990s",
            StatementFacts(year_min=1990, year_max=1999),
        ),
    ),
)


def kinds(text: str, index: TitleIndex) -> set[str]:
    return {p.split(":", 1)[0] for p in claim_problems(text, BABE, index)}


def test_a_backed_answer_passes(index: TitleIndex) -> None:
    for text in (
        "Because you watched Toy Story and Aladdin, we think you will enjoy Babe: it fits "
        "your taste for light-hearted films.",
        "Fans of Toy Story (1995) often enjoy Babe (1995), a family comedy from the 90s.",
        "Babe, about a pig who learns to herd sheep, should charm you.",  # the description
    ):
        assert claim_problems(text, BABE, index) == [], text


def test_words_of_the_users_note_are_backed_only_when_attributed_to_the_user(
    index: TitleIndex,
) -> None:
    assert "unsupported" not in kinds("You said you like light-hearted films: try Babe.", index)
    assert claim_problems("Babe is light-hearted and fun to watch.", BABE, index) == [
        "unsupported:light,hearted,fun"
    ]


def test_years_and_decades_must_be_in_the_evidence(index: TitleIndex) -> None:
    assert claim_problems("Babe is a 1998 hit with 80s charm.", BABE, index)[:2] == [
        "wrong-year:1998",
        "wrong-year:80s",
    ]
    assert "wrong-year" not in kinds("Babe, a 1990s family film, like Aladdin (1992).", index)


def test_a_watched_claim_needs_a_history_item(index: TitleIndex) -> None:
    assert "unbacked-history:Heat" in claim_problems("You watched Heat, so try Babe.", BABE, index)
    assert "unbacked-history" not in kinds("You watched Aladdin, so try Babe.", index)


def test_each_film_is_named_once(index: TitleIndex) -> None:
    problems = claim_problems("You liked Aladdin and Aladdin, so Babe it is.", BABE, index)
    assert "repeats-film:Aladdin" in problems


def test_plot_summaries_are_refused_even_when_the_words_are_in_the_evidence(
    index: TitleIndex,
) -> None:
    assert "plot" in kinds("Babe tells the story of a pig who learns to herd sheep.", index)


def test_suffixes_are_stripped_the_same_way_on_both_sides() -> None:
    assert stem("watched") == stem("watches") == stem("watching") == "watch"
    assert stem("comedies") == stem("comedy")
    assert stem("you'll") == "you"


def test_a_watched_claim_about_the_recommended_film_itself_is_refused(index: TitleIndex) -> None:
    assert "unbacked-history:Babe" in claim_problems(
        "You watched Babe, a family film.", BABE, index
    )


def test_a_fan_of_clause_attributes_words_to_the_user(index: TitleIndex) -> None:
    text = "Babe should charm you: you're a fan of light-hearted films."
    assert claim_problems(text, BABE, index) == []


def test_a_year_left_in_a_title_is_not_another_name_for_the_film() -> None:
    from explanations.titles import TitleIndex, aliases

    title = "Land Before Time III: The Time of the Great Giving (1995)"
    assert "1995" not in aliases(title)
    index = TitleIndex([title, "Heat"], [-1, 1995])
    assert not index.mentions("It is from 1995, in line with your note.")
