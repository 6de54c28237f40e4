"""A "films like X" statement on the request path, with the item vectors' nearest-neighbour
index (recommender.ann) instead of a cosine with every item: the same top 10 (issue 26)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache

from recommender import ann
from tests.webapp.profiles_support import (  # noqa: F401 (fixtures)
    tastes_fixture,
    tiny_model_folders_fixture,
    tiny_models_fixture,
)
from webapp import ml
from webapp.catalogue import services as catalogue_services
from webapp.catalogue import state
from webapp.profiles import services
from webapp.ranking import selectors as ranking_selectors

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("tiny_models")]


def top_10(user: Any) -> list[int]:
    cache.clear()  # the stored ranking would answer without re-ranking
    state._title_search.cache_clear()
    return [e["item"].pk for e in ranking_selectors.ranking_for(user=user, limit=10).entries]


def test_a_title_statement_ranks_the_same_top_10_from_the_index(
    tastes: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fan = tastes["fans"]["comedy"][0]
    monkeypatch.setattr(ann, "EXACT_BELOW", 0)  # index even this tiny catalogue
    row = catalogue_services.item_vectors_compute(encoder=ml.encoder())
    assert state.ann_index_path(row.path).is_file()  # the worker wrote it beside the vectors
    liked = tastes["horrors"][2]
    services.profile_edit(user=fan, by=fan, action="add", text=f"films like {liked.title}")

    from_index = top_10(fan)
    search = state.title_search(state.catalogue_state(), row)
    assert search is not None and isinstance(search.index, ann.HnswIndex)
    assert set(from_index) & {h.pk for h in tastes["horrors"]}  # the statement steered

    monkeypatch.setattr(ann, "EXACT_BELOW", 10**9)  # every item's cosine, as before
    assert top_10(fan) == from_index
    assert state.title_search(state.catalogue_state(), row) is None
