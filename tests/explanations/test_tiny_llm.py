"""The real generation path (chat template, greedy decoding) on the tiny in-code Llama.

Its output is noise, which is the point: whatever an untrained model writes, evidence stays in
the history and explanations stay grounded.
"""

from __future__ import annotations

import numpy as np

from explanations.explain import collect_evidence, explain, grounding_problems
from explanations.generate import generate_profile
from explanations.llm_text import model_version
from explanations.taste import BaseRates
from recommender.data import Catalogue
from tests.explanations.conftest import GENRES, history_rows
from tests.recommender.tiny_llm import tiny_llm


def test_a_real_but_untrained_llm_cannot_break_grounding(catalogue: Catalogue, index) -> None:  # type: ignore[no-untyped-def]
    llm = tiny_llm()
    rows = history_rows(catalogue, [(0, 5.0), (1, 4.0), (2, 5.0), (3, 1.0), (4, 2.0), (5, 1.0)])
    base = BaseRates.of(catalogue.genres, catalogue.years)
    profile = generate_profile(llm, rows, base=base, vocabulary=GENRES)
    assert profile.statements
    assert all(set(s.evidence) <= {r[0] for r in rows} for s in profile.statements)
    ev = collect_evidence(
        catalogue,
        14,
        {"collaborative": 1.0},
        {"collaborative": [(0, 1.0)]},
        history=np.array([0, 1]),
    )
    result = explain(ev, llm, index)
    assert not grounding_problems(result.text, ev, index)
    assert model_version(llm).startswith(llm.model_id)
