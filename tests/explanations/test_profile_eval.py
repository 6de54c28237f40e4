"""The profile evaluation's measures, on cases whose answer is known."""

from __future__ import annotations

import numpy as np

from explanations.profile import Profile, make_statement
from explanations.profile_eval import auc, bootstrap, contradictions, passes, statement_taste
from explanations.taste import BaseRates, Rated
from tests.explanations.conftest import GENRES


def test_auc_counts_ties_half_and_excludes_the_target_itself() -> None:
    scores = np.array([3.0, 1.0, 2.0, 2.0, 0.0])
    assert auc(scores, 0, np.arange(5)) == 1.0  # above all four others
    assert auc(scores, 4, np.arange(5)) == 0.0
    assert auc(scores, 2, np.arange(5)) == 0.625  # above 2 of 4, below 1, tied with 1: 2.5 / 4


def test_the_interval_of_a_clear_difference_excludes_zero() -> None:
    lo, hi = bootstrap(np.full(50, 0.1) + np.linspace(-0.01, 0.01, 50))
    assert 0 < lo < 0.1 < hi


def test_a_statement_is_tested_as_the_taste_its_words_claim() -> None:
    crime_dramas = statement_taste("crime dramas", "likes", GENRES)
    assert crime_dramas is not None and set(crime_dramas.genres) == {"Crime", "Drama"}
    assert statement_taste("violent films", "likes", GENRES) is None  # several genres, any
    assert statement_taste("stories about grief", "likes", GENRES) is None
    base = BaseRates.of([("Horror",), ("Comedy",)] * 10, [1990] * 20)
    fan = [Rated(i, ("Horror",), 1990, 5.0) for i in range(4)] + [Rated(9, ("Comedy",), 1990, 5.0)]
    assert passes("horror films", "likes", fan, base, GENRES)
    assert not passes("comedies", "likes", fan, base, GENRES)


def test_contradictions_are_avoids_that_cover_a_like() -> None:
    both = Profile(
        statements=(make_statement("romantic comedies"), make_statement("comedies", "avoids"))
    )
    fine = Profile(
        statements=(make_statement("comedies"), make_statement("romantic comedies", "avoids"))
    )
    assert contradictions(both, GENRES) == 1 and contradictions(fine, GENRES) == 0
