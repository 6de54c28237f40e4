"""The learned genre reader with the packaged MiniLM (slow: loads real weights, once).

Words people use for a genre without naming it must read as that genre at the default
thresholds; words that name no genre (junk, an actor) must not be turned into one.
"""

from __future__ import annotations

import pytest

from explanations.understanding import GenreReader, GenreReading, understand

pytestmark = pytest.mark.integration

# MovieLens's 18 genres, as the chat's catalogue has them
VOCABULARY = (
    "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
    "War", "Western",
)  # fmt: skip
GENRE_WORDS = {"spooky": "Horror", "superhero": "Action", "tear-jerker": "Drama",
               "cowboy": "Western",
               # sub-genre names and their variants (plurals, hyphens, spelling)
               "space operas": "Sci-Fi", "cyberpunk": "Sci-Fi", "comic books": "Action",
               "martial-arts": "Action", "zombies": "Horror", "chick-flick": "Romance",
               "whodunit": "Mystery", "opera": "Musical"}  # fmt: skip
# words that must not become a genre (junk, an actor, talk, a piece of a sub-genre's name)
NO_GENRE = ("asdf", "tom hanks", "thanks", "oprah", "tonight", "book", "punk", "story")


@pytest.fixture(scope="module")
def reader() -> GenreReader:
    from recommender.encoders import get_encoder

    return GenreReader(get_encoder().encode, VOCABULARY)


@pytest.fixture(scope="module")
def readings(reader: GenreReader) -> dict[str, GenreReading]:
    # one batch for every phrase: the descriptions and the phrases each go through once
    phrases = [*GENRE_WORDS, *NO_GENRE]
    return {r.phrase: r for r in reader.read(phrases)}


@pytest.mark.parametrize(("phrase", "genre"), sorted(GENRE_WORDS.items()))
def test_a_word_for_a_genre_reads_as_that_genre(
    readings: dict[str, GenreReading], phrase: str, genre: str
) -> None:
    r = readings[phrase]
    assert (r.genre, r.strength) == (genre, "genre"), r


@pytest.mark.parametrize("phrase", NO_GENRE)
def test_a_word_that_names_no_genre_is_not_made_one(
    readings: dict[str, GenreReading], phrase: str
) -> None:
    assert readings[phrase].strength != "genre", readings[phrase]


def test_a_spooky_request_becomes_a_horror_constraint_in_the_chat_reading(
    reader: GenreReader,
) -> None:
    u = understand("something spooky for tonight", VOCABULARY, reader=reader)
    assert u.request.genre_groups == (("Horror",),)
    assert "horror films" in u.chips()
    unread = understand("something with tom hanks", VOCABULARY, reader=reader)
    assert not unread.request.genre_groups


@pytest.mark.parametrize(
    ("text", "genre"),
    [("I'm looking for a space opera", "Sci-Fi"), ("something cyberpunk please", "Sci-Fi"),
     ("no I love comic book movies", "Action"), ("any good zombie flicks?", "Horror")],
)  # fmt: skip
def test_a_sub_genre_named_in_a_request_becomes_its_genre(
    reader: GenreReader, text: str, genre: str
) -> None:
    u = understand(text, VOCABULARY, reader=reader)
    assert u.request.genre_groups == ((genre,),), (text, u.request, u.readings)
