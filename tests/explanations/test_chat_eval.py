from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from explanations.chat_eval import ChatRequest, card_failures, chat_requests, evaluate_chat
from explanations.conversation import ChatContext
from explanations.titles import TitleIndex
from recommender.data import Catalogue

SCARY = ChatRequest("genre", ("something scary",), (("Horror",),))
HEAT, FARGO, SEVEN, TOY_STORY, SCREAM, ALIEN = 7, 8, 13, 0, 4, 5


@pytest.fixture
def ctx(catalogue, index, item_vectors, encode) -> ChatContext:  # type: ignore[no-untyped-def]
    return ChatContext(
        catalogue, index, item_vectors, encode, base_scores=np.linspace(1, 0, len(catalogue))
    )


def test_the_checker_accepts_a_right_card_and_names_what_a_wrong_one_misses(
    catalogue: Catalogue,
) -> None:
    assert card_failures(SCARY, catalogue, SCREAM) == []
    assert card_failures(SCARY, catalogue, HEAT) == ["genre: Horror"]
    nineties = ChatRequest(
        "genre+decade", ("horror films from the 90s",), (("Horror",),), 1990, 1999
    )
    assert card_failures(nineties, catalogue, SCREAM) == []
    assert card_failures(nineties, catalogue, ALIEN) == ["year: 1979 not in 1990-1999"]
    violent = ChatRequest("combination", ("a violent film",), (("Action", "Crime", "War"),))
    assert card_failures(violent, catalogue, FARGO) == []  # one of the phrase's genres will do


def test_an_item_of_unknown_year_meets_no_year_bound(catalogue: Catalogue) -> None:
    years = catalogue.years.copy()
    years[SCREAM] = 0
    unknown = replace(catalogue, years=years)
    after = ChatRequest("range", ("horror films after 1990",), (("Horror",),), 1991, None)
    assert card_failures(after, unknown, SCREAM) == ["year: unknown"]
    assert card_failures(SCARY, unknown, SCREAM) == []  # no bound asked, nothing to fail


def test_the_checker_knows_what_like_x_but_newer_asks(catalogue: Catalogue) -> None:
    newer = ChatRequest("like+newer", ("something like Heat but newer",), anchor=HEAT, newer=True)
    assert card_failures(newer, catalogue, FARGO) == []
    assert card_failures(newer, catalogue, HEAT) == [
        "anchor: is the film itself",
        "anchor: 1995 not newer than 1995",
    ]
    assert card_failures(newer, catalogue, SEVEN) == ["anchor: 1995 not newer than 1995"]
    assert "anchor: shares no genre" in card_failures(newer, catalogue, TOY_STORY)


def test_the_report_counts_cards_that_miss_their_request(ctx: ChatContext) -> None:
    right = evaluate_chat([SCARY], ctx)
    assert right["cards_checked"] and right["cards_meeting_request"] == 1.0
    assert right["failures"] == [] and right["passing_examples"]
    # the same words checked against another genre: every card fails, and says why
    wrong = ChatRequest("genre", ("something scary",), (("Comedy",),))
    report = evaluate_chat([wrong], ctx)
    assert report["cards_meeting_request"] == 0.0 and not report["meets_target"]
    assert report["failures"][0]["failed"] == ["genre: Comedy"]


def test_requests_nothing_can_meet_are_recognised_and_answered_with_nothing(
    catalogue: Catalogue, index: TitleIndex, ctx: ChatContext
) -> None:
    counts = np.arange(len(catalogue))[::-1]
    requests = chat_requests(catalogue, index, counts, np.random.default_rng(0))
    impossible = [r for r in requests if r.kind == "impossible"]
    assert impossible and all(r.expect_nothing for r in impossible)
    assert all(r.expect_question for r in requests if r.kind == "vague")
    assert all(r.anchor is not None for r in requests if r.kind.startswith("like"))
    report = evaluate_chat(requests, ctx)
    nothing = sum(r.expect_nothing for r in requests)
    assert report["impossible_handled"] == f"{nothing}/{nothing}"
    assert report["vague_clarified"] == "10/10"
    assert report["cards_meeting_request"] >= 0.95 and report["grounded_replies"] == 1.0
    expected_keys = {"by_kind", "feasible_answered", "seconds_per_reply", "cards_with_reason"}
    assert expected_keys <= set(report)


def test_a_request_the_chat_answers_with_cards_fails_when_nothing_was_expected(
    ctx: ChatContext,
) -> None:
    claimed = ChatRequest("impossible", ("something scary",), (("Horror",),), expect_nothing=True)
    report = evaluate_chat([claimed], ctx)
    assert report["impossible_handled"] == "0/1"
    assert report["failures"][0]["failed"] == ["expected nothing"]
