"""The semantic-ID model served by the site: trained like any model, and a newly imported item
is in people's lists at once, without retraining (its ID comes from its text)."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recommender.models import semantic
from webapp.catalogue.importing import catalogue_import
from webapp.catalogue.models import Item
from webapp.catalogue.services import items_set_active
from webapp.jobs.models import JobRun
from webapp.recommendations import services, tasks
from webapp.recommendations.models import ModelVersion, RecommendationList

pytestmark = pytest.mark.django_db

SMALL = replace(
    semantic.SemanticConfig(),
    levels=2, codebook_size=8, max_len=10, dim=16, n_layers=1, n_heads=1, dropout=0.1,
    lr=1e-2, batch_size=8, epochs=30, threads=1,
)  # fmt: skip


def top(user: Any, n: int = 3) -> list[int]:
    return [e["item"] for e in RecommendationList.objects.get(user=user).entries[:n]]


def test_an_imported_item_is_recommended_from_its_text_without_retraining(
    two_tastes: dict[str, Any],
    tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # 30 epochs as they are (the validation items of this toy all sit at the end of one fixed
    # order, so early stopping would judge the order, not the tastes)
    first = services.model_train(name="semantic", hparams=asdict(SMALL))
    services.recommendations_refresh(model_version=first)
    weights = Path(first.path).read_bytes()

    csv = tmp_path / "new.csv"
    csv.write_text("external_id,title,year,genres\nnew1,Comedy 8,,Comedy\n")
    with django_capture_on_commit_callbacks(execute=True):
        catalogue_import(path=csv, source="test")  # the items_added signal queues the job
    new = Item.objects.get(external_id="new1")

    job = JobRun.objects.get(task_name=tasks.items_add.name)
    assert job.state == JobRun.State.SUCCEEDED, job.error
    serving = ModelVersion.objects.get(is_active=True)
    assert serving.pk != first.pk and serving.hparams["added_items"] == 1
    assert serving.n_items == first.n_items + 1
    assert Path(first.path).read_bytes() == weights  # the trained version is left as it was

    # every comedy fan gets the new comedy near the top; no horror fan does
    comedy, horror = two_tastes["users"]["comedy"], two_tastes["users"]["horror"]
    assert sum(new.pk in top(u) for u in comedy) >= 8
    assert not any(new.pk in top(u) for u in horror)
    # the network is the trained one: same weights, one more row in the ID table
    trained = semantic.SemanticRec.load(Path(first.path))
    extended = semantic.SemanticRec.load(Path(serving.path))
    assert extended.n_items == trained.n_items + 1
    for name, tensor in trained.net.state_dict().items():  # type: ignore[union-attr]
        assert np.array_equal(tensor, extended.net.state_dict()[name])  # type: ignore[union-attr]

    # retired, it leaves the lists and the model's trie; nothing else is new to add
    items_set_active(item_ids=[new.pk], active=False)
    services.recommendations_refresh(model_version=serving)
    assert not any(new.pk in top(u, 100) for u in comedy)
    model, _, item_ids = services.load_model_version(serving.version, serving.path, serving.name)
    assert model.trie.item_of(model.ids[item_ids.index(new.pk)]) is None  # type: ignore[attr-defined]
    assert services.items_add_to_model() is None


def test_models_that_cannot_place_new_items_queue_nothing(
    two_tastes: dict[str, Any], tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    services.model_train(name="ease")
    csv = tmp_path / "new.csv"
    csv.write_text("external_id,title,year,genres\nnew1,Comedy 8,,Comedy\n")
    with django_capture_on_commit_callbacks(execute=True):
        catalogue_import(path=csv, source="test")
    assert not JobRun.objects.filter(task_name=tasks.items_add.name).exists()
    assert services.items_add_to_model() is None  # EASE has no ID for an unseen item
