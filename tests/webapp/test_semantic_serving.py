"""The semantic-ID model served by the site: trained like any model, and a newly imported item
is in people's lists at once, without retraining (its ID comes from its text)."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.contrib.auth import get_user_model

from recommender.models import semantic
from webapp.catalogue.importing import catalogue_import
from webapp.catalogue.models import Interaction, Item
from webapp.catalogue.services import items_set_active
from webapp.jobs.models import JobRun
from webapp.recommendations import services, tasks
from webapp.recommendations.models import ModelVersion, RecommendationList

# the packaged MiniLM gives the items their text vectors (what places a new film)
pytestmark = [pytest.mark.django_db, pytest.mark.integration]

SMALL = replace(
    semantic.SemanticConfig(),
    levels=2, codebook_size=8, max_len=10, dim=16, n_layers=1, n_heads=1, dropout=0.1,
    lr=1e-2, batch_size=8, epochs=30, threads=1,
)  # fmt: skip


@pytest.fixture
def shuffled_tastes(make_item: Any) -> dict[str, Any]:
    """Ten comedy fans and ten horror fans, each rating 7 of the 8 films of their genre in an
    order of their own: a sequence model learns tastes here, not one fixed order."""
    rng = np.random.default_rng(0)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    rows, users = [], {"comedy": [], "horror": []}
    for group in ("comedy", "horror"):
        block = [make_item(title=f"{group.title()} {i}", genres=(group.title(),)) for i in range(8)]
        for u in range(10):
            user = get_user_model().objects.create_user(f"{group}{u}")
            users[group].append(user)
            order = [k for k in rng.permutation(8).tolist() if k != u % 8]
            rows += [
                Interaction(user=user, item=block[k], kind="rating", value=4,
                            created_at=t0 + timedelta(minutes=n))
                for n, k in enumerate(order)
            ]  # fmt: skip
    Interaction.objects.bulk_create(rows)
    return {"users": users}


def top(user: Any, n: int = 3) -> list[int]:
    return [e["item"] for e in RecommendationList.objects.get(user=user).entries[:n]]


def test_an_imported_item_is_recommended_from_its_text_without_retraining(
    shuffled_tastes: dict[str, Any],
    tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    first = services.model_train(name="semantic", hparams=asdict(SMALL))
    services.recommendations_refresh(model_version=first)
    weights = Path(first.path).read_bytes()
    # each card's score is explained by the history items whose removal lowers it most
    fan = shuffled_tastes["users"]["comedy"][0]
    head = RecommendationList.objects.get(user=fan).entries[:5]
    rated = set(Interaction.objects.filter(user=fan).values_list("item_id", flat=True))
    assert head[0]["score"] > 0  # log-lift over a uniform pick: a reason, not a penalty
    cited = [pk for e in head for pk, share in e["evidence"].get("semantic", []) if share > 0]
    assert cited and set(cited) <= rated

    csv = tmp_path / "new.csv"
    csv.write_text("external_id,title,year,genres\nnew1,Comedy 9,,Comedy\n")
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
    comedy, horror = shuffled_tastes["users"]["comedy"], shuffled_tastes["users"]["horror"]
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


def test_the_dashboard_trains_the_semantic_model_with_progress_and_serves_it(
    client: Any,
    staff: Any,
    shuffled_tastes: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from tests.webapp.test_dashboard import _start

    monkeypatch.setattr(semantic, "DEFAULTS", replace(SMALL, epochs=6, patience=2))
    client.force_login(staff)
    page = _start(client, "train", {"train-name": "semantic"}, django_capture_on_commit_callbacks)
    job = JobRun.objects.get(task_name=tasks.model_train.name)
    assert job.state == JobRun.State.SUCCEEDED, job.error
    assert job.progress == 1.0 and job.result["lists"] == 20
    serving = ModelVersion.objects.get(is_active=True)
    assert serving.name == "semantic" and 1 <= serving.hparams["epochs"] <= 6
    assert f"Training semantic (job #{job.pk})." in page.content.decode()


def test_an_item_added_in_the_admin_reaches_the_lists_of_the_semantic_model(
    admin_client: Any,
    shuffled_tastes: dict[str, Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    from django.urls import reverse

    from webapp.catalogue.models import Genre

    first = services.model_train(name="semantic", hparams=asdict(SMALL))
    comedy_genre = Genre.objects.get(name="Comedy")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:catalogue_item_add"),
            {
                "title": "Comedy 9", "year": "", "genres": [comedy_genre.pk], "is_active": "on",
                "description": "", "facts": "{}", "source": "test", "external_id": "admin-1",
            },
        )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:1500]
    new = Item.objects.get(external_id="admin-1")
    job = JobRun.objects.get(task_name=tasks.items_add.name)
    assert job.state == JobRun.State.SUCCEEDED, job.error
    serving = ModelVersion.objects.get(is_active=True)
    assert serving.hparams["added_to"] == first.version
    assert sum(new.pk in top(u) for u in shuffled_tastes["users"]["comedy"]) >= 8

    # the next item-add serves a copy of that copy: the one it replaced is pruned, rows and
    # files (the trained version stays: a copy can be made again from it)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse("admin:catalogue_item_add"),
            {
                "title": "Comedy 10", "year": "", "genres": [comedy_genre.pk], "is_active": "on",
                "description": "", "facts": "{}", "source": "test", "external_id": "admin-2",
            },
        )  # fmt: skip
    again = ModelVersion.objects.get(is_active=True)
    assert again.hparams["added_to"] == serving.version and again.n_items == serving.n_items + 1
    assert set(ModelVersion.objects.values_list("pk", flat=True)) == {first.pk, again.pk}
    assert not Path(serving.path).exists() and Path(first.path).exists()
