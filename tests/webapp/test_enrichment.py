from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from tests.recommender.tiny_llm import save_tiny_llm, tiny_llm
from webapp.catalogue import services, tasks
from webapp.catalogue.models import Item
from webapp.jobs.models import JobRun
from webapp.jobs.services import job_enqueue

pytestmark = pytest.mark.django_db


def test_enrichment_skips_curated_items_and_records_every_attempt(make_item: Any) -> None:
    curated = make_item(title="Alien", description="An admin wrote this.")
    bare = make_item(title="Aliens", year=1986)
    retired = make_item(title="Gone", is_active=False)
    described, unusable = services.catalogue_enrich_batch(llm=tiny_llm(), limit=10)
    assert described + unusable == 1  # only the active item without text was tried
    curated.refresh_from_db(), bare.refresh_from_db(), retired.refresh_from_db()
    assert curated.description == "An admin wrote this." and curated.generated_by == ""
    assert bare.generated_by.startswith("tiny-llama@seed-0") and bare.generated_at is not None
    assert retired.generated_by == ""


def test_enrichment_is_idempotent(make_item: Any) -> None:
    make_item(title="Aliens")
    services.catalogue_enrich_batch(llm=tiny_llm(), limit=10)
    before = list(Item.objects.values_list("generated_description", "generated_by", "generated_at"))
    assert services.catalogue_enrich_batch(llm=tiny_llm(), limit=10) == (0, 0)
    assert (
        list(Item.objects.values_list("generated_description", "generated_by", "generated_at"))
        == before
    )


def test_the_enrichment_task_continues_in_slices_until_done(
    make_item: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    for n in range(5):
        make_item(title=f"Film {n}")
    folder = save_tiny_llm(tmp_path / "tiny")
    with override_settings(LLM_MODEL=str(folder)), django_capture_on_commit_callbacks(execute=True):
        # a zero-length slice does one batch per run, so 5 items take 3 runs of 2
        job = job_enqueue(task=tasks.catalogue_enrich, arguments={"batch": 2, "slice_seconds": 0.0})
    job.refresh_from_db()
    assert job.state == JobRun.State.SUCCEEDED, job.error
    assert job.result["total"] == 5 and job.progress == 1.0
    assert not services.items_to_enrich().exists()


@pytest.mark.integration
def test_the_packaged_llm_writes_descriptions_and_keywords(make_item: Any, settings: Any) -> None:
    from webapp import ml

    make_item(title="Toy Story", year=1995, genres=("Animation", "Children's", "Comedy"))
    make_item(title="Alien", year=1979, genres=("Horror", "Sci-Fi"))
    described, unusable = services.catalogue_enrich_batch(llm=ml.llm(), limit=5)
    assert (described, unusable) == (2, 0)
    for item in Item.objects.all():
        assert 10 < len(item.generated_description) <= 300
        assert 3 <= len(item.generated_keywords) <= 6
        assert item.generated_by.startswith(settings.LLM_MODEL)
        assert item.description == ""  # generated text lives in its own field


@pytest.mark.django_db
def test_generated_text_feeds_embeddings_only_when_enabled(make_item: Any, settings: Any) -> None:
    from webapp.catalogue.selectors import catalogue_from_db

    make_item(title="Alien", generated_description="A crew meets a creature.")
    make_item(title="Heat", description="Curated: a heist in LA.", generated_description="LLM")
    settings.EMBED_GENERATED_TEXT = False  # the default: measured to hurt dense retrieval
    assert catalogue_from_db().descriptions == ("", "Curated: a heist in LA.")
    settings.EMBED_GENERATED_TEXT = True
    assert catalogue_from_db().descriptions == (
        "A crew meets a creature.",
        "Curated: a heist in LA.",
    )
