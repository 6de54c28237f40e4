from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from recommender.evaluate import apply_overrides
from recommender.models import sasrec


@pytest.fixture(autouse=True)
def restore_defaults() -> Iterator[None]:
    saved = sasrec.DEFAULTS
    yield
    sasrec.DEFAULTS = saved


def test_it_changes_a_models_defaults_with_the_fields_type() -> None:
    applied = apply_overrides(["sasrec.max_len=50", "sasrec.epochs=20"])
    assert applied == {"sasrec": {"max_len": 50, "epochs": 20}}
    assert (sasrec.DEFAULTS.max_len, sasrec.DEFAULTS.epochs) == (50, 20)
    assert sasrec.config_from({}, seed=0).max_len == 50  # what tuning and refits build from


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("sasrec.max_len", "expected MODEL.FIELD=VALUE"),
        ("sasrec.nope=1", "has no setting 'nope'"),
        ("ease.lam=1", "has no DEFAULTS config"),
        ("sasrec.max_len=many", "invalid literal"),
    ],
)
def test_a_bad_override_fails_before_any_work(text: str, problem: str) -> None:
    before = dataclasses.asdict(sasrec.DEFAULTS)
    with pytest.raises(ValueError, match=problem):
        apply_overrides([text])
    assert dataclasses.asdict(sasrec.DEFAULTS) == before
