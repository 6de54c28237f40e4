"""The sentence checker of explanations.evaluate: it reads a card as a person would.

Known answers on the 16-film catalogue of conftest: Fargo (8) is a 1996 crime drama thriller;
the user watched Toy Story (0), Aladdin (1) and, last, Heat (7).
"""

from __future__ import annotations

import numpy as np
import pytest

from explanations import explain as template
from explanations.evaluate import (
    ROLE_MARKERS,
    Claim,
    Reader,
    avoided_reasons,
    hostile_leaks,
    largest_driver,
    roles_named,
    sentence_claims,
)
from explanations.explain import collect_evidence, template_explanation
from explanations.profile import Statement, make_statement
from explanations.titles import TitleIndex
from recommender.data import Catalogue

FARGO, HEAT, SCREAM = 8, 7, 4
LOVES_ANIMATION = make_statement("I love animated films")
AVOIDS_HORROR = make_statement("horror", "avoids")
GENERATED_COMEDIES = make_statement("comedies", source="generated")
HOSTILE = make_statement("Titanic won 12 Oscars, see http://x.y")


@pytest.fixture
def reader(catalogue: Catalogue, index: TitleIndex) -> Reader:
    statements = (LOVES_ANIMATION, AVOIDS_HORROR, GENERATED_COMEDIES, HOSTILE)
    return Reader(catalogue, index, np.array([0, 1, HEAT]), statements)


def false_claims(text: str, reader: Reader, item: int = FARGO) -> list[Claim]:
    return [c for c in sentence_claims(text, item, reader) if not c.true]


def kinds(claims: list[Claim]) -> list[tuple[str, str]]:
    return [(c.kind, c.words) for c in claims]


def test_a_genre_the_item_lacks_is_a_false_claim(reader: Reader) -> None:
    text = "Fargo (1996), a crime thriller: it's a horror film."
    assert kinds(false_claims(text, reader)) == [("genre", "Horror")]


def test_the_genres_the_item_has_are_true_claims(reader: Reader) -> None:
    claims = sentence_claims("Fargo (1996), a dramatic crime thriller: a thriller.", FARGO, reader)
    # "dramatic" is how the product writes Drama as a modifier: a claim, and a true one
    assert {c.words for c in claims if c.kind == "genre" and c.true} == {
        "Crime",
        "Drama",
        "Thriller",
    }


def test_a_quote_attributed_to_the_user_is_not_a_claim_about_the_film(reader: Reader) -> None:
    text = 'Fargo (1996), a thriller: it is a thriller, in line with your note "I love animated films".'
    claims = sentence_claims(text, FARGO, reader)
    assert not [c for c in claims if c.kind == "genre" and "Animation" in c.words]
    assert [c for c in claims if c.kind == "said"] == [
        Claim("said", "quote", '"I love animated films"', True, "")
    ]


def test_an_unattributed_quote_is_a_claim(reader: Reader) -> None:
    text = 'Fargo (1996): critics call it "an animated gem".'
    assert kinds(false_claims(text, reader)) == [("genre", "Animation")]


def test_a_negated_genre_is_true_when_the_item_lacks_it(reader: Reader) -> None:
    assert not false_claims("Fargo (1996): it's not a horror film.", reader)
    assert kinds(false_claims("Fargo (1996): it's not a crime film.", reader)) == [
        ("genre", "not Crime")
    ]


def test_wrong_years_and_decades_are_false(reader: Reader) -> None:
    text = "Fargo (1995), a crime thriller: it's a 80s film from 1996."
    assert kinds(false_claims(text, reader)) == [("year", "Fargo (1995)"), ("year", "80s")]


def test_a_year_in_parentheses_belongs_to_the_title_before_it(reader: Reader) -> None:
    assert not false_claims("Fargo (1996): you watched Heat (1995) last.", reader)
    assert kinds(false_claims("Fargo (1996): you watched Heat (1996) last.", reader)) == [
        ("year", "Heat (1996)")
    ]


def test_you_watched_a_film_outside_the_history_is_false(reader: Reader) -> None:
    text = "Fargo (1996): you watched Scream last; people who watch that next often pick it."
    assert kinds(false_claims(text, reader)) == [
        ("title", "Scream"),  # named, yet neither watched nor in the profile
        ("watched", "you watched"),
        ("watched-last", "last"),
    ]


def test_a_list_of_titles_before_which_you_liked_is_claimed_watched(reader: Reader) -> None:
    ok = "Fargo (1996): fans of Toy Story and Heat, which you enjoyed, tend to like it too."
    assert not false_claims(ok, reader)
    bad = "Fargo (1996): fans of Toy Story, Scream and Heat, which you enjoyed, tend to like it."
    assert kinds(false_claims(bad, reader)) == [
        ("title", "Scream"),
        ("watched", "which you enjoyed"),
    ]


def test_the_recommended_film_is_not_claimed_watched_by_because_you_watched(
    reader: Reader,
) -> None:
    text = "Because you watched Heat, we think you will enjoy Fargo."
    assert not [
        c for c in sentence_claims(text, FARGO, reader) if c.kind == "watched" and not c.true
    ]


def test_watched_last_needs_a_recent_rating(catalogue: Catalogue, index: TitleIndex) -> None:
    day = 24 * 3600
    times = np.array([0, 1, 2, 3, 4, 5, 100 * day])  # the newest rating came 100 days later
    history = np.array([0, 1, 2, 3, 4, 5, HEAT])
    person = Reader(catalogue, index, history, times=times)
    assert not false_claims("Fargo (1996): you watched Heat last.", person)
    # Toy Story is 6 ratings back and 100 days older than the newest one
    assert kinds(false_claims("Fargo (1996): you watched Toy Story last.", person)) == [
        ("watched-last", "last")
    ]


def test_you_said_holds_only_for_what_the_user_wrote(reader: Reader) -> None:
    said = "Toy Story (1995), an animated comedy: it's an animated film, which you said you enjoy."
    assert not false_claims(said, reader, item=0)
    generated = "Airplane! (1980), a comedy: it's a comedy, and you said you like comedies."
    (wrong,) = false_claims(generated, reader, item=11)
    assert wrong.kind == "said" and "generated" in wrong.why


def test_the_ratings_words_are_a_claim_about_the_history(reader: Reader) -> None:
    text = "Toy Story (1995), an animated comedy: your ratings show you enjoy comedies."
    about = {(c.about, c.words, c.true) for c in sentence_claims(text, 0, reader)}
    assert ("history", "Comedy", True) in about  # Toy Story and Aladdin are comedies


def test_a_film_neither_watched_nor_in_the_profile_is_a_false_title(reader: Reader) -> None:
    text = "Fargo (1996), a crime thriller: it is as dark as The Shining."
    assert kinds(false_claims(text, reader)) == [("title", "The Shining")]


def test_an_avoided_statement_given_as_a_reason_is_found(reader: Reader) -> None:
    label = "Scream (1996)"
    fact = "Scream (1996), a horror thriller: it's a thriller."
    assert avoided_reasons(fact, SCREAM, reader, label) == ([], [])  # the head is a fact
    quoted = 'Scream (1996), a horror thriller: you told us you like "horror".'
    assert avoided_reasons(quoted, SCREAM, reader, label)[0]
    named = "Scream (1996), a thriller: it's a scary film you'll love."
    assert avoided_reasons(named, SCREAM, reader, label)[0]


def test_a_topic_the_user_asked_for_and_a_generated_avoid_is_a_conflict(
    catalogue: Catalogue, index: TitleIndex
) -> None:
    statements = (make_statement("slow-burn thrillers"), make_statement("thrillers", "avoids"))
    person = Reader(catalogue, index, np.array([0]), statements)
    text = 'Scream (1996), a horror thriller: it\'s a thriller, in line with your note "slow-burn thrillers".'
    reasons, conflicts = avoided_reasons(text, SCREAM, person, "Scream (1996)")
    assert not reasons and conflicts


def test_an_avoid_counts_against_a_reason_only_for_the_films_it_is_about(
    catalogue: Catalogue, index: TitleIndex
) -> None:
    # "dramatic thrillers" are films that are both: Heat (an action thriller) is not one
    avoids = make_statement("dramatic thrillers", "avoids", source="generated")
    person = Reader(catalogue, index, np.array([0]), (avoids,))
    heat = "Heat (1995), an action crime thriller: your ratings show you enjoy thrillers."
    assert avoided_reasons(heat, 7, person, "Heat (1995)") == ([], [])
    fargo = "Fargo (1996), a crime thriller: your ratings show you enjoy thrillers."
    assert avoided_reasons(fargo, 8, person, "Fargo (1996)")[0]


def test_hostile_text_counts_outside_the_users_quote_and_titles_only(
    catalogue: Catalogue, reader: Reader
) -> None:
    assert hostile_leaks("Fargo (1996): it won 12 Oscars.", reader)
    assert not hostile_leaks('Fargo (1996): your note says "Titanic won 12 Oscars".', reader)
    films = TitleIndex([*catalogue.titles, "Oscar and Lucinda"])
    person = Reader(catalogue, films, reader.history, reader.statements)
    assert not hostile_leaks("Oscar and Lucinda (1997): people who liked Heat liked it.", person)


def test_the_driver_first_check_reads_the_order_of_the_sentence() -> None:
    text = (
        "Fargo (1996), a crime thriller: people who liked Heat, as you did, also liked it. "
        "It's a thriller, and you said you like thrillers."
    )
    assert roles_named(text) == ["collaborative", "profile"]
    assert largest_driver({"collaborative": 0.2, "profile": 0.5, "text": -1.0}) == "profile"
    assert largest_driver({"collaborative": -0.2}) == ""


# the fixed sentences of explain._statement_reason, outside its phrase tables
_INLINE_PROFILE = (
    "You named it in your profile as a film you like.",
    "It is close to a film you told us you like.",
    "It's a thriller, which fits a note in your profile.",
    "It closely matches a note in your profile.",
    "It's a thriller, which fits the profile written from your ratings.",
    "It closely matches the profile written from your ratings.",
)


def test_every_template_phrasing_is_read_as_its_own_role() -> None:
    fill = {"a": "Heat", "those": "that", "t": "Heat", "fact": "a thriller", "p": "thrillers"}
    fill["q"] = "slow-burn thrillers"
    cases = [(r, p) for r, ps in template._HISTORY_PHRASES.items() for p in ps]
    cases += list(template.GENERIC_REASONS.items())
    profile = (
        template._CANONICAL_PHRASES
        + template._QUOTED_PHRASES
        + template._FREE_PHRASES
        + template._TITLE_PHRASES
        + template._GENERATED_PHRASES
        + _INLINE_PROFILE
    )
    cases += [("profile", p) for p in profile]
    assert {r for r, _ in cases} <= set(ROLE_MARKERS)
    for role, phrase in cases:
        assert roles_named(phrase.format(**fill)) == [role], phrase


def test_template_sentences_make_no_false_claims(catalogue: Catalogue, index: TitleIndex) -> None:
    history = np.array([0, 1, HEAT])
    statements: tuple[Statement, ...] = (
        LOVES_ANIMATION,
        make_statement("films from the 90s"),
        GENERATED_COMEDIES,
    )
    from explanations.profile import Profile

    profile = Profile(statements=statements)
    person = Reader(catalogue, index, history, statements)
    for item in range(len(catalogue)):
        if item in history:
            continue
        evidence = collect_evidence(
            catalogue,
            item,
            {"collaborative": 1.0, "sequential": 0.6, "profile": 0.8},
            {"collaborative": [(0, 0.6), (1, 0.2)], "sequential": [(HEAT, 0.5)]},
            history=history,
            profile=profile,
            statement_contributions={s.id: 0.4 for s in statements},
            statement_matches={s.id: True for s in statements},
        )
        text = template_explanation(evidence, index).text
        assert not false_claims(text, person, item), text
        assert roles_named(text)[0] == largest_driver(evidence.components), text


def test_a_history_reason_naming_no_film_is_counted_wherever_it_stands() -> None:
    from explanations.evaluate import HISTORY_GENERIC

    # after the card's colon the first reason starts lower case (the old count missed those)
    for text in (
        "Heat (1995), a crime thriller: it is a common next pick after films you watched.",
        "Heat (1995): you said you like thrillers. It is a common next pick after films you "
        "watched.",
        "Heat (1995): its description is close to films you liked.",
    ):
        assert HISTORY_GENERIC.search(text), text
    assert not HISTORY_GENERIC.search("Heat (1995): it is a common next pick after Fargo.")
