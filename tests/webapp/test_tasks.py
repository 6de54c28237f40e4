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


@pytest.mark.worker
def test_a_job_whose_worker_is_killed_is_reaped_and_done_when_a_worker_is_back(
    celery_worker_process: Any, tmp_path: Any
) -> None:
    """SIGKILL mid-task: the embedded broker cannot redeliver (and Redis only after its
    visibility timeout), so the node reaps what it was running when it starts again: the
    job is marked failed with a clear message and done as a new job, once."""
    from tests.webapp.conftest import start_worker, stop_worker
    from tests.webapp.worker_tasks import waits_for_file

    running = tmp_path / "running"
    running.write_text("")
    job = job_enqueue(task=waits_for_file, arguments={"path": str(running)})
    assert wait_for(lambda: JobRun.objects.get(pk=job.pk).state == JobRun.State.RUNNING)
    celery_worker_process.kill()  # SIGKILL: no chance to clean up
    celery_worker_process.wait(timeout=20)
    running.unlink()  # the re-run finishes at once
    back = start_worker("test-worker-2.log")
    try:
        assert wait_for(lambda: JobRun.objects.get(pk=job.pk).is_finished, timeout=60)
        job.refresh_from_db()
        assert job.state == JobRun.State.FAILED and "stopped while it ran" in job.message
        again = JobRun.objects.exclude(pk=job.pk).get(task_name=waits_for_file.name)
        assert wait_for(lambda: JobRun.objects.get(pk=again.pk).is_finished, timeout=60)
        again.refresh_from_db()
        assert again.state == JobRun.State.SUCCEEDED, again.error
        assert again.arguments == job.arguments
    finally:
        stop_worker(back)


def test_a_late_delivery_of_a_finished_or_given_up_job_does_nothing(db: Any) -> None:
    """An hour-old message of a job that was given up (and queued again as another job)
    must not run: it exits at once and leaves the row as it was."""
    for state in (JobRun.State.FAILED, JobRun.State.SUCCEEDED):
        job = JobRun.objects.create(task_name=always_fails.name, state=state, message="as was")
        result = always_fails.apply(kwargs={"job_id": job.pk, "reason": "must not run"})
        assert result.successful() and "not this delivery's" in result.result["skipped"]
        job.refresh_from_db()
        assert job.state == state and job.message == "as was"
    # running under another task id: a duplicate delivery; the same id: a redelivery
    job = JobRun.objects.create(task_name=always_fails.name, state="running", task_id="other")
    assert "skipped" in always_fails.apply(kwargs={"job_id": job.pk}).result
    job.refresh_from_db()
    assert job.state == JobRun.State.RUNNING
