"""The lift test behind every generated statement, on histories whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from explanations.taste import MIN_LIFT, BaseRates, Rated, Taste, contradicts, measure, tastes

# a catalogue of 20 films: 10 comedies (2 of them romances), 5 horror, 5 dramas from the 1970s
GENRES = [("Comedy",)] * 8 + [("Comedy", "Romance")] * 2 + [("Horror",)] * 5 + [("Drama",)] * 5
YEARS = [1995] * 15 + [1975] * 5
BASE = BaseRates.of(GENRES, YEARS)


def rated(items_ratings: list[tuple[int, float]]) -> list[Rated]:
    return [Rated(i, GENRES[i], YEARS[i], r) for i, r in items_ratings]


def test_a_taste_holds_when_its_share_is_well_above_everyones() -> None:
    # liked: 3 horror of 5 liked films (60%) against 25% of the catalogue: lift 2.4
    history = rated([(10, 5), (11, 5), (12, 4), (0, 4), (1, 4), (15, 2)])
    horror = measure("likes", ("Horror",), None, history, BASE)
    assert (len(horror.films), horror.share, horror.base) == (3, 0.6, 0.25)
    assert horror.lift == pytest.approx(2.4) and horror.evidence == (10, 11, 12)
    comedy = measure("likes", ("Comedy",), None, history, BASE)
    assert comedy.lift < MIN_LIFT  # 40% against 50%: no taste, though 2 liked comedies
    found = {t.text for t in tastes(history, BASE)}
    assert "horror films" in found and "comedies" not in found


def test_a_combination_needs_every_genre_and_enough_films() -> None:
    two = rated([(8, 5), (9, 5), (0, 5), (1, 5)])  # 2 romantic comedies: too few
    assert "romantic comedies" not in {t.text for t in tastes(two, BASE)}
    weighted = BaseRates.of(GENRES, YEARS, liked=np.r_[np.full(8, 10.0), np.ones(12)])
    # with everyone's likes weighing plain comedies, 3 romantic comedies of 4 stand out
    four = [Rated(i, ("Comedy", "Romance"), 1995, 5.0) for i in (8, 9, 20)] + rated([(0, 5)])
    romcom = measure("likes", ("Comedy", "Romance"), None, four, weighted)
    assert romcom.lift > MIN_LIFT and len(romcom.films) == 3


def test_a_decade_is_a_taste_too() -> None:
    history = rated([(15, 5), (16, 5), (17, 4), (0, 4), (1, 2)])
    found = {t.text: t for t in tastes(history, BASE)}
    assert "films from the 1970s" in found or "dramas" in found  # the same films: one is said
    assert not ("films from the 1970s" in found and "dramas" in found)


def test_likes_and_avoids_never_contradict() -> None:
    like = Taste("likes", ("Comedy", "Romance"), None, (1, 2, 3), 0.5, 0.1)
    assert contradicts(like, Taste("avoids", ("Comedy",), None, (4, 5, 6), 0.5, 0.1))
    assert not contradicts(
        Taste("likes", ("Comedy",), None, (1, 2, 3), 0.5, 0.1),
        Taste("avoids", ("Comedy", "Romance"), None, (4, 5, 6), 0.5, 0.1),
    )  # "likes comedies, but not romantic ones" is a taste, not a contradiction
    eighties = Taste("avoids", (), 1980, (7, 8, 9), 0.5, 0.1)
    assert contradicts(Taste("likes", (), 1980, (1, 2, 3), 0.5, 0.1), eighties)
    assert not contradicts(like, eighties)
    # someone who rates many comedies high and many low: only the stronger side is said
    history = rated([(i, 5.0) for i in range(5)] + [(i, 1.0) for i in range(5, 10)] + [(10, 4)])
    kept = tastes(history, BASE)
    sides = {t.polarity for t in kept if t.genres == ("Comedy",)}
    assert len(sides) <= 1
