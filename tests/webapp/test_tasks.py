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


# -- attempts on redelivery, and which delivery owns the job -----------------------------------


def test_a_job_that_kills_its_worker_every_time_is_given_up_after_job_max_attempts(
    db: Any, settings: Any
) -> None:
    """acks_late + reject_on_worker_lost give a killed worker's message back, so a job that
    runs the worker out of memory would be delivered for ever: each delivery counts, and
    the one past JOB_MAX_ATTEMPTS marks it failed, saying why, instead of running it."""
    from .worker_tasks import kills_its_worker

    settings.JOB_MAX_ATTEMPTS = 3
    job = JobRun.objects.create(task_name=kills_its_worker.name)
    for attempt in (1, 2, 3):  # the same message each time, as the broker redelivers it
        with pytest.raises(SystemExit):
            kills_its_worker.apply(kwargs={"job_id": job.pk}, task_id="message-1")
        job.refresh_from_db()
        assert (job.state, job.attempts) == (JobRun.State.RUNNING, attempt)
    again = kills_its_worker.apply(kwargs={"job_id": job.pk}, task_id="message-1")
    assert "not this delivery's" in again.result["skipped"]  # it did not run a fourth time
    job.refresh_from_db()
    assert job.state == JobRun.State.FAILED and job.finished_at is not None
    assert job.public_message.startswith("gave up after 3 attempts")
    assert "start it again" in job.public_message


def test_the_reaper_counts_on_and_stops_queueing_a_job_out_of_attempts(
    db: Any, settings: Any
) -> None:
    from webapp.jobs.services import job_reap

    settings.JOB_MAX_ATTEMPTS = 3
    running = {"task_name": always_fails.name, "state": JobRun.State.RUNNING}
    young = JobRun.objects.create(**running, worker="w@1", attempts=1)
    (new,) = job_reap(worker="w@1")
    assert new.attempts == 1  # the work's deliveries so far go with it
    spent = JobRun.objects.create(**running, worker="w@2", attempts=3)
    assert job_reap(worker="w@2") == []
    spent.refresh_from_db()
    assert spent.state == JobRun.State.FAILED and "gave up after 3 attempts" in spent.message
    assert JobRun.objects.count() == 3  # young, its new job, spent: nothing else queued
    young.refresh_from_db()
    assert f"queued again as job #{new.pk}" in young.message


def test_a_slice_handed_over_starts_its_attempts_from_zero(db: Any) -> None:
    from webapp.jobs.services import job_claim, job_delivery, job_hand_over

    job = JobRun.objects.create(task_name=always_fails.name)
    for n in range(10):  # a long batch: ten slices, each one message
        delivery = job_claim(job_id=job.pk, task_id=f"slice-{n}")
        assert delivery
        with job_delivery(job_id=job.pk, delivery=delivery):
            job_hand_over(job_id=job.pk)
    job.refresh_from_db()
    assert (job.state, job.attempts) == (JobRun.State.QUEUED, 0)


def test_a_stale_delivery_cannot_overwrite_what_the_newer_one_wrote(db: Any) -> None:
    """The same message delivered again while its first copy still runs: the newer delivery
    owns the job from its claim on; the first copy's progress and result change nothing."""
    from .worker_tasks import overtaken

    job = JobRun.objects.create(task_name=overtaken.name)
    result = overtaken.apply(kwargs={"job_id": job.pk}, task_id="message-1")
    assert result.result == "stale result"
    job.refresh_from_db()
    assert job.state == JobRun.State.RUNNING and job.worker == "newer@host"
    assert (job.progress, job.message, job.result) == (0.0, "", {})


def test_only_the_delivery_that_owns_a_job_writes_its_end(db: Any) -> None:
    from webapp.jobs import services

    job = JobRun.objects.create(task_name=always_fails.name)
    old = services.job_claim(job_id=job.pk, task_id="message-1")
    new = services.job_claim(job_id=job.pk, task_id="message-1")  # redelivered meanwhile
    assert old and new and old != new
    services.job_mark_succeeded(job_id=job.pk, result={"from": "new"}, delivery=new)
    services.job_mark_failed(job_id=job.pk, exc=RuntimeError("old one"), delivery=old)
    services.job_mark_retrying(job_id=job.pk, exc=RuntimeError("old one"), delivery=old)
    job.refresh_from_db()
    assert job.state == JobRun.State.SUCCEEDED and job.result == {"from": "new"}
    assert job.attempts == 2


@pytest.mark.worker
def test_a_real_worker_whose_child_is_killed_by_its_job_gives_it_up_after_the_limit(
    transactional_db: Any,
) -> None:
    """SIGKILL of the pool's child mid-task, every time: the worker gives the message back
    (reject_on_worker_lost) and it is delivered again, until JOB_MAX_ATTEMPTS."""
    from webapp.celery import app

    from .conftest import start_worker, stop_worker
    from .worker_tasks import kills_its_worker

    app.conf.task_always_eager = False
    app.control.purge()
    worker = start_worker("test-worker-prefork.log", pool="prefork", env={"JOB_MAX_ATTEMPTS": "2"})
    try:
        job = job_enqueue(task=kills_its_worker, arguments={"how": "kill"})
        assert wait_for(lambda: JobRun.objects.get(pk=job.pk).is_finished, timeout=90)
        job.refresh_from_db()
        assert job.state == JobRun.State.FAILED and job.attempts == 2
        assert job.public_message.startswith("gave up after 2 attempts")
    finally:
        stop_worker(worker)
        app.conf.task_always_eager = True
