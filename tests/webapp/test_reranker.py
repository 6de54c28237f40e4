from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.recommender.tiny_llm import save_tiny_llm
from tests.webapp.profiles_support import winning_adapter
from webapp.catalogue import selectors as catalogue_selectors
from webapp.jobs.models import JobRun
from webapp.recommendations import selectors, services
from webapp.recommendations.models import Adapter, RecommendationList

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiny_llm_folder(tmp_path: Path) -> Path:
    return save_tiny_llm(tmp_path / "tiny-llm")


def test_fine_tuning_registers_an_adapter_that_serving_picks(
    two_tastes: Any, tiny_llm_folder: Path, settings: Any
) -> None:
    settings.ARTIFACT_DIR = tiny_llm_folder.parent / "artifacts"
    steps: list[int] = []
    adapter = services.adapter_train(
        steps=2,
        llm_spec=str(tiny_llm_folder),
        on_step=lambda s, total, loss: steps.append(s),
        # the synthetic catalogue has 16 items: 4 candidates per prompt instead of 20
        overrides={"k": 4, "hard_negatives": 2, "history": 3, "eval_every": 2, "eval_users": 8},
    )
    assert steps == [1, 2]
    assert adapter.valid_ndcg is not None and adapter.split_hash and adapter.steps == 2
    # what the serving decision reads was measured by the run and stored with it
    assert adapter.retriever_valid_ndcg is not None and adapter.valid_gain_low is not None
    assert adapter.valid_gain_low <= adapter.valid_ndcg - adapter.retriever_valid_ndcg
    assert (Path(adapter.path) / "adapter_config.json").exists()
    assert adapter.config["llm"] == str(tiny_llm_folder)
    assert selectors.best_adapter() == adapter
    worse = Adapter.objects.create(
        version="older", base_model="x", path="/nowhere", valid_ndcg=adapter.valid_ndcg - 0.1
    )
    assert selectors.best_adapter() == adapter != worse


def test_reranking_stores_a_permutation_of_each_lists_head(
    two_tastes: Any, tiny_llm_folder: Path, settings: Any
) -> None:
    settings.ARTIFACT_DIR = tiny_llm_folder.parent / "artifacts"
    mv = services.model_train(name="ease")
    services.recommendations_refresh(model_version=mv)
    winning_adapter(tiny_llm_folder, served="ease", k=6)
    assert services.lists_rerank() == 20
    for stored in RecommendationList.objects.all():
        head = [e["item"] for e in stored.entries][:6]
        assert sorted(stored.reranked) == sorted(head), "the LLM can only reorder real candidates"
        assert stored.reranked_by.startswith(str(tiny_llm_folder)) and stored.reranked_at


def test_serving_reranks_only_when_validation_on_the_served_models_lists_says_so(
    two_tastes: Any, tiny_llm_folder: Path, settings: Any, staff: Any, client: Client
) -> None:
    from django.contrib.auth.models import Permission

    settings.ARTIFACT_DIR = tiny_llm_folder.parent / "artifacts"
    mv = services.model_train(name="ease")
    services.recommendations_refresh(model_version=mv)
    staff.user_permissions.add(Permission.objects.get(codename="view_jobrun"))
    client.force_login(staff)

    def dashboard() -> str:
        return client.get(reverse("dashboard:overview")).content.decode()

    # no adapter: the zero-shot LLM is never served unmeasured
    assert services.lists_rerank() == 0
    assert "not serving" in dashboard() and "No validated reranker" in dashboard()
    adapter = winning_adapter(tiny_llm_folder, served="ease")
    assert services.lists_rerank() == 20 and RecommendationList.objects.exclude(reranked=None)
    assert "serving" in dashboard() and "0.5000 against the ease&#x27;s 0.4000" in dashboard()
    # a mean gain whose interval includes zero is noise: not served
    Adapter.objects.filter(pk=adapter.pk).update(valid_gain_low=-0.01)
    assert services.lists_rerank() == 0
    assert "does not clear zero" in dashboard()
    Adapter.objects.filter(pk=adapter.pk).update(valid_gain_low=0.02)
    # validation says no gain: the stored LLM orders go, so pages show the model's order
    Adapter.objects.filter(pk=adapter.pk).update(valid_ndcg=0.39)
    assert services.lists_rerank() == 0
    assert not RecommendationList.objects.exclude(reranked=None).exists()
    assert "no gain, so the ease order is served" in dashboard()
    # a reranker validated on another model's candidates says nothing about these lists
    Adapter.objects.filter(pk=adapter.pk).update(
        valid_ndcg=0.5, config=adapter.config | {"retriever": "hybrid"}
    )
    assert services.lists_rerank() == 0
    assert "validated on hybrid candidates" in dashboard()


def test_staff_start_fine_tuning_from_the_admin_and_bad_input_is_refused(
    client: Client, staff: Any
) -> None:
    client.force_login(staff)
    response = client.post(reverse("admin:recommendations_adapter_train"), {"steps": "lots"})
    assert response.status_code == 302 and not JobRun.objects.exists()
    Adapter.objects.create(version="v1", base_model="x", path="/x", config={"cowatch_top": 3})
    listing = client.get(reverse("admin:recommendations_adapter_changelist"))
    assert listing.status_code == 200
    assert "titles + co-watch hint (top 3)" in listing.content.decode()


def test_an_adapter_trained_on_co_watch_hints_is_served_with_them(
    two_tastes: Any, tiny_llm_folder: Path, settings: Any
) -> None:
    import numpy as np

    from recommender.cowatch import CoWatch
    from recommender.finetune import load_tuned
    from recommender.rerank import RerankConfig, llm_rerank, prompt_title
    from webapp.catalogue.models import Interaction, Item

    settings.ARTIFACT_DIR = tiny_llm_folder.parent / "artifacts"
    adapter = services.adapter_train(
        steps=2,
        llm_spec=str(tiny_llm_folder),
        overrides={"k": 4, "history": 3, "eval_every": 2, "eval_users": 8, "cowatch_top": 2},
    )
    assert adapter.config["cowatch_top"] == 2, "the prompt form ships with the adapter"
    # the decision's input: this adapter's validation beat the served model (see winning_adapter)
    Adapter.objects.filter(pk=adapter.pk).update(
        valid_ndcg=0.5, retriever_valid_ndcg=0.4, valid_gain_low=0.02
    )
    mv = services.model_train(name="ease")
    services.recommendations_refresh(model_version=mv)
    assert services.lists_rerank() == 20

    # The stored order is the one the offline reranker gives with today's co-watch digits.
    stored = RecommendationList.objects.order_by("user_id").first()
    assert stored is not None
    config = RerankConfig(
        k=4, history=3, title_chars=32, blend=adapter.config["blend"], cowatch_top=2
    )
    dataset = selectors.dataset_from_db()
    ids = dataset.catalogue.ids
    head = [e["item"] for e in stored.entries][:4]
    recent = list(
        Interaction.objects.filter(catalogue_selectors.POSITIVE, user_id=stored.user_id)
        .order_by("-created_at", "-id")
        .values_list("item_id", flat=True)[:3]
    )[::-1]
    items = {i.pk: i for i in Item.objects.filter(pk__in=head + recent)}
    title = {pk: prompt_title(i.title, i.year, 32, False) for pk, i in items.items()}
    affinity = CoWatch.from_interactions(dataset.interactions).affinity(
        ids.indices(recent), ids.indices(head)
    )
    handle = load_tuned(Path(adapter.path), adapter.config["llm"])
    scores = np.array([e["score"] for e in stored.entries][:4], dtype=np.float32)
    expected = llm_rerank(
        handle, [title[pk] for pk in recent], [title[pk] for pk in head], config, scores, affinity
    )
    assert stored.reranked == [head[int(i)] for i in expected.order]
    # Each reranked item's LLM part is stored: the head's scores handed out in the LLM's
    # order, so the parts move items without changing the head's total.
    assert [p["item"] for p in stored.reranked_parts] == stored.reranked
    given = {p["item"]: p["llm"] for p in stored.reranked_parts}
    new_scores = sorted((e["score"] + given[e["item"]] for e in stored.entries[:4]), reverse=True)
    assert new_scores == pytest.approx(sorted(scores.tolist(), reverse=True), abs=1e-4)
    assert {p["with"] for p in stored.reranked_parts} <= set(recent) | {None}
    with pytest.raises(ValueError, match="co-watch"):
        llm_rerank(handle, [title[pk] for pk in recent], [title[pk] for pk in head], config, scores)
