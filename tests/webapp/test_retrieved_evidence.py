"""Cards of films a statement brought in from outside the stored list: the request path has
no attributions for them, so it drafts them without a history reason and the worker
attributes them with the model (issue 27: no card says "films you watched" naming none)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.webapp.profiles_support import (  # noqa: F401 (fixtures)
    T0,
    tastes_fixture,
    tiny_model_folders_fixture,
    tiny_models_fixture,
)
from webapp import ml
from webapp.catalogue import services as catalogue_services
from webapp.catalogue.models import Interaction
from webapp.profiles import services
from webapp.ranking import selectors as ranking_selectors
from webapp.ranking import services as ranking_services
from webapp.recommendations import services as rec_services

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("tiny_models")]


def test_a_retrieved_films_card_cites_the_films_the_model_credits(
    tastes: dict[str, Any], django_user_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # someone who watched comedies and three horror films: EASE ranks the other horror
    # films up for them, from those three
    both = django_user_model.objects.create_user("both")
    watched = [*tastes["comedies"][:4], *tastes["horrors"][:3]]
    Interaction.objects.bulk_create(
        Interaction(user=both, item=item, kind="rating", value=5, created_at=T0 + timedelta(k))
        for k, item in enumerate(watched)
    )
    mv = rec_services.model_train(name="ease")
    monkeypatch.setattr(rec_services, "LIST_LENGTH", 1)  # so the statement must retrieve
    rec_services.recommendations_refresh(model_version=mv, user_ids=[both.pk])
    stored = {e["item"] for e in both.recommendation_list.entries}
    catalogue_services.item_vectors_compute(encoder=ml.encoder())
    services.profile_edit(user=both, by=both, action="add", text="horror films")

    entries = ranking_selectors.ranking_for(user=both, limit=5).entries
    retrieved = [e for e in entries if e["item"].pk not in stored]
    credited = [e for e in retrieved if e["components"]["ease"] > 0.1 * e["score"]]
    assert credited, "the statement brought in horror films the model ranks up"
    for e in credited:
        # the draft names no history film (none is known yet) and waits for the worker
        assert e["evidence"]["history"] == [] and e["explanation"]["pending"], e
        assert "you watched" not in e["explanation"]["text"]

    assert ranking_services.explanations_refresh(user=both, llm_loader=lambda: None, limit=5)
    horrors = {i.pk for i in tastes["horrors"][:3]}
    for e in ranking_selectors.ranking_for(user=both, limit=5).entries:
        if e["item"].pk in {c["item"].pk for c in credited}:
            cited = {h["item_id"] for h in e["evidence"]["history"]}
            # the films EASE credits: the horror films watched, never a comedy
            assert cited and cited <= horrors, e["evidence"]
            assert not e["explanation"].get("pending")
            text = e["explanation"]["text"]
            assert any(h["title"] in text for h in e["evidence"]["history"]), text
