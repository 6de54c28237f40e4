"""Popularity moved by a profile's statements, on a catalogue whose answer is known."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from explanations.profile import Polarity, Profile, make_statement
from explanations.profile_eval import auc, choose_weights
from explanations.profile_lift import lifted_scores, statement_lifts
from explanations.taste import BaseRates, Rated

# ten films: five comedies, then five horror films, each kind from most to least rated
GENRES = [("Comedy",)] * 5 + [("Horror",)] * 5
POPULARITY = np.array([50, 40, 30, 20, 10, 45, 35, 25, 15, 5], dtype=np.float64)
BASE = BaseRates.of(GENRES, [1995] * 10, liked=POPULARITY, disliked=POPULARITY)
UNSEEN = np.array([1, 2, 3, 4, 6, 9])


def history(liked: Sequence[int], disliked: Sequence[int] = ()) -> list[Rated]:
    return [Rated(i, GENRES[i], 1995, 5.0) for i in liked] + [
        Rated(i, GENRES[i], 1995, 1.0) for i in disliked
    ]


HORROR_FAN = history([5, 7, 8, 0])  # 3 of 4 liked films horror, against 125 of 275 likes
COMEDY_FAN = history([0, 2, 3, 5])


def profile(*statements: tuple[str, Polarity]) -> Profile:
    return Profile(statements=tuple(make_statement(t, p) for t, p in statements))


def test_a_statement_lifts_the_films_it_fits_by_its_measured_lift() -> None:
    (horror,) = statement_lifts(profile(("horror films", "likes")), HORROR_FAN, BASE)
    assert horror.fits.tolist() == [False] * 5 + [True] * 5
    assert horror.log_lift == pytest.approx(math.log(0.75 / (125 / 275)))
    scores = lifted_scores(POPULARITY, [horror])
    assert scores[6] - math.log1p(35) == pytest.approx(horror.log_lift)
    assert scores[1] == pytest.approx(math.log1p(40))  # a comedy keeps its prior


def test_a_profile_that_names_a_genre_ranks_its_films_above_popularitys_order() -> None:
    held_out = 6  # a horror film, less rated than the comedy 1
    lifts = statement_lifts(profile(("horror films", "likes")), HORROR_FAN, BASE)
    own = lifted_scores(POPULARITY, lifts)
    assert POPULARITY[held_out] < POPULARITY[1] and own[held_out] > own[1]
    assert auc(own, held_out, UNSEEN) > auc(POPULARITY, held_out, UNSEEN)


def test_another_users_profile_does_not_lift_the_held_out_film() -> None:
    held_out = 6
    theirs = statement_lifts(profile(("comedies", "likes")), COMEDY_FAN, BASE)
    assert theirs and theirs[0].log_lift > 0
    other = lifted_scores(POPULARITY, theirs)
    own = lifted_scores(
        POPULARITY, statement_lifts(profile(("horror films", "likes")), HORROR_FAN, BASE)
    )
    assert auc(other, held_out, UNSEEN) < auc(POPULARITY, held_out, UNSEEN)
    assert auc(other, held_out, UNSEEN) < auc(own, held_out, UNSEEN)


def test_an_avoid_holds_its_films_down_only_with_an_avoid_weight() -> None:
    hater = history([0, 1], disliked=[5, 6, 7])
    lifts = statement_lifts(profile(("horror films", "avoids")), hater, BASE)
    held = lifted_scores(POPULARITY, lifts, avoid_weight=1.0)
    assert held[5] < math.log1p(45) and held[0] == pytest.approx(math.log1p(50))
    assert lifted_scores(POPULARITY, lifts, avoid_weight=0.0) == pytest.approx(np.log1p(POPULARITY))


def test_statements_the_ratings_do_not_bear_out_or_that_claim_no_genre_move_nothing() -> None:
    # "likes comedies" for the horror fan: 1 of 4 liked films against 150 of 275, lift < 1
    lifts = statement_lifts(
        profile(("comedies", "likes"), ("stories about grief", "likes")), HORROR_FAN, BASE
    )
    assert [s.log_lift for s in lifts] == [0.0]  # counted as 1, not turned against comedies
    assert lifted_scores(POPULARITY, lifts) == pytest.approx(np.log1p(POPULARITY))


def test_the_weights_are_chosen_where_the_profile_helps_the_validation_item() -> None:
    # a horror fan whose validation item is a horror film, and someone who avoids comedies
    # but went on to rate one: the like helps, the avoid hurts, so avoids weigh 0
    valid = {
        "cat": GENRES,
        "popularity": POPULARITY,
        "seen": {1: np.array([5, 7, 8]), 2: np.array([0, 2, 3, 5])},
        "target": {1: 6, 2: 1},
    }
    lifts = {
        1: statement_lifts(profile(("horror films", "likes")), history([5, 7, 8]), BASE),
        2: statement_lifts(profile(("comedies", "avoids")), history([5], [0, 2, 3]), BASE),
    }
    chosen = choose_weights(lifts, valid)
    like_weight, avoid_weight = chosen["weights"]
    assert like_weight > 0 and avoid_weight == 0
    assert chosen["valid_auc"] > chosen["valid_auc_popularity"] > chosen["valid_auc_weights_1_1"]
