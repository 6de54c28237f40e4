"""The LLM-as-reader measurement: its validator and its comparison, with a model stand-in (the
packaged LLM's own accuracy is the measurement itself, in docs/understanding.md)."""

from __future__ import annotations

from explanations.corpus import RealRequest
from explanations.llm_reading import Reading, compare, parse_answer, score
from tests.explanations.conftest import GENRES

SPAN = (1900, 1998)


def test_the_validator_keeps_only_what_the_catalogue_can_check() -> None:
    answer = "genres: Horror, space opera, comedy\nnot: Romance, Horror\nyears: 1990-1999"
    read = parse_answer(answer, GENRES, SPAN)
    # an invented genre is dropped, one asked for is never also ruled out, and a range past
    # the catalogue's newest year is no range
    assert read == Reading(frozenset({"Horror", "Comedy"}), frozenset({"Romance"}), (None, None))
    assert parse_answer("genres: none\nnot: none\nyears: 1980-1989", GENRES, SPAN).years == (
        1980,
        1989,
    )
    assert parse_answer("I think you would like Alien!", GENRES, SPAN) == Reading(
        frozenset(), frozenset(), (None, None)
    )


def test_scores_count_exact_readings_and_invented_genres() -> None:
    truth = Reading(frozenset({"Horror"}), frozenset(), (None, None))
    wrong = Reading(frozenset({"Horror", "Comedy"}), frozenset(), (None, None))
    s = score([truth, wrong], [truth, truth])
    assert s["genres_exact"] == 0.5 and s["all_exact"] == 0.5 and s["invented_genre"] == 0.5


def test_compare_reads_every_actionable_request_with_both_readers() -> None:
    def request(
        text: str, genres: tuple[tuple[str, ...], ...], actionable: bool = True
    ) -> RealRequest:
        return RealRequest(
            "x", "test", text, actionable, genres, (), None, None, None, False, (), (), ()
        )

    requests = [request("some horror films", (("Horror",),)), request("hi", (), False)]
    calls: list[str] = []

    def model(messages: list[dict[str, str]]) -> str:
        calls.append(messages[-1]["content"])
        return "genres: Comedy\nnot: none\nyears: none"

    out = compare(requests, model, {"vocabulary": GENRES, "newest_year": 1998})
    assert calls == ["some horror films"]  # chit-chat is not sent to the model
    assert out["requests"] == 1
    assert out["rules"]["genres_exact"] == 1.0 and out["llm"]["genres_exact"] == 0.0
    assert out["llm"]["invented_genre"] == 1.0
