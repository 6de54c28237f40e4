"""Items ranked by a profile's statements, with everyone's rating counts as the prior.

A profile of two to four genre and decade statements splits the catalogue into films that
fit it and films that do not. Scored by that alone, the order inside each part is arbitrary,
and the film a person rates next is usually a popular one, so on ML-100K popularity ranks it
far better (held-out AUC 0.80 against 0.59). A profile of a few statements can correct a
prior that knows nothing of the person, but it cannot replace it. Each statement multiplies
the prior of the films it fits by its lift, which is how much more common such films are
among the person's films than among everyone's, as the writer measured it
(:mod:`explanations.taste`):

    score(item) = log(1 + ratings of item)
                  + like_weight  * sum of log lift over the "likes" statements it fits
                  - avoid_weight * sum of log lift over the "avoids" statements it fits

Nothing else about the person goes in: the statements' words, read back as the taste they
claim (a genre combination and/or a decade; :func:`explanations.taste.claimed`), each one's
lift, and the catalogue's rating counts. A statement that claims no such taste ("stories
about grief") moves nothing. ``python -m explanations.profile_eval`` picks the weights on
each user's validation item and reports the held-out item's AUC.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from explanations.matching import statement_facts
from explanations.profile import Polarity, Profile
from explanations.taste import BaseRates, Rated, claimed, measure

# a lift above this is a few films against a tiny base rate; one such statement would
# otherwise outweigh every count in the prior
MAX_LIFT = 10.0


@dataclass(frozen=True)
class StatementLift:
    """What one statement does to the prior: the films it fits and by how much."""

    polarity: Polarity
    fits: np.ndarray  # (n_items,) bool, aligned with the BaseRates' catalogue
    log_lift: float  # >= 0: a statement moves films in its own direction only


def statement_lifts(
    profile: Profile, history: Sequence[Rated], base: BaseRates
) -> list[StatementLift]:
    """Each statement's taste as its words claim it, with the lift measured on ``history``
    (the ratings the profile was written from). A lift below 1 (a statement the ratings do
    not bear out) counts as 1: it moves nothing rather than the other way."""
    out = []
    for s in profile.statements:
        t = claimed(statement_facts(s.text, base.vocabulary), s.polarity)
        if t is None:
            continue
        lift = measure(t.polarity, t.genres, t.decade, history, base).lift
        log_lift = math.log(min(max(lift, 1.0), MAX_LIFT))
        out.append(StatementLift(t.polarity, base.fits(t.genres, t.decade), log_lift))
    return out


def lifted_scores(
    popularity: np.ndarray,
    lifts: Sequence[StatementLift],
    like_weight: float = 1.0,
    avoid_weight: float = 1.0,
) -> np.ndarray:
    """(n_items,) log(1 + popularity) moved by each statement's log lift on the films it
    fits; with no statements (or both weights 0) the popularity order itself."""
    scores = np.log1p(np.asarray(popularity, np.float64))
    for s in lifts:
        step = like_weight if s.polarity == "likes" else -avoid_weight
        scores = scores + step * s.log_lift * s.fits
    return scores


__all__ = ["MAX_LIFT", "StatementLift", "lifted_scores", "statement_lifts"]
