from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from webapp.catalogue import tasks
from webapp.catalogue.models import CatalogueStats, Interaction
from webapp.jobs.models import JobRun
from webapp.jobs.services import job_enqueue

from .conftest import wait_for
from .worker_tasks import always_fails


@pytest.mark.django_db
def test_the_statistics_task_counts_interactions_per_item(
    alice: Any, make_item: Any, django_capture_on_commit_callbacks: Any
) -> None:
    a, b = make_item(title="A"), make_item(title="B")
    Interaction.objects.create(
        user=alice, item=a, kind="rating", value=5, created_at="2024-01-01T00:00Z"
    )
    Interaction.objects.create(user=alice, item=a, kind="view", created_at="2024-01-01T00:00Z")
    with django_capture_on_commit_callbacks(execute=True):
        job = job_enqueue(task=tasks.catalogue_stats_recompute)
    job.refresh_from_db()
    assert job.state == JobRun.State.SUCCEEDED and job.progress == 1.0
    a.refresh_from_db(), b.refresh_from_db()
    assert (a.interaction_count, a.mean_rating, b.interaction_count) == (2, 5.0, 0)
    stats = CatalogueStats.objects.get()
    assert stats.kind_counts == {"rating": 1, "view": 1} and stats.n_items == 2


@pytest.mark.django_db
def test_a_failing_task_is_marked_failed_with_its_error(
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        job_enqueue(task=always_fails, arguments={"reason": "the disk is full"})
    job = JobRun.objects.get()
    assert job.state == JobRun.State.FAILED
    assert "the disk is full" in job.message and "ValueError" in job.error


@pytest.mark.worker
def test_a_task_enqueued_in_a_transaction_runs_after_commit_on_the_real_worker(
    celery_worker_process: Any, alice: Any, make_item: Any
) -> None:
    item = make_item()
    with transaction.atomic():
        Interaction.objects.create(
            user=alice, item=item, kind="like", created_at="2024-01-01T00:00Z"
        )
        job = job_enqueue(task=tasks.catalogue_stats_recompute)
        # Nothing is sent before COMMIT: the worker cannot see this job yet.
        assert not wait_for(lambda: JobRun.objects.get(pk=job.pk).state != "queued", timeout=2)
    assert wait_for(lambda: JobRun.objects.get(pk=job.pk).is_finished, timeout=60)
    job.refresh_from_db()
    assert job.state == JobRun.State.SUCCEEDED, job.error
    assert job.task_id  # set by the worker
    item.refresh_from_db()
    assert item.interaction_count == 1


@pytest.mark.worker
def test_the_real_worker_marks_a_failed_task_visibly(celery_worker_process: Any) -> None:
    job = job_enqueue(task=always_fails, arguments={"reason": "boom"})
    assert wait_for(lambda: JobRun.objects.get(pk=job.pk).is_finished, timeout=60)
    job.refresh_from_db()
    assert job.state == JobRun.State.FAILED and "boom" in job.message
