"""Enqueue background work with a visible :class:`JobRun` row, and keep that row current."""

from __future__ import annotations

import traceback
from typing import Any

from celery import Task
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from webapp.jobs.models import JobRun


def job_enqueue(
    *,
    task: Task,
    arguments: dict[str, Any] | None = None,
    requested_by: AbstractBaseUser | None = None,
) -> JobRun:
    """Create the JobRun and send the task once the surrounding transaction commits.

    Sending inside an open transaction would let a fast worker look for rows that are not
    committed yet; ``delay_on_commit`` sends after COMMIT (or at once in autocommit mode).
    """
    arguments = arguments or {}
    job = JobRun.objects.create(
        task_name=task.name,
        arguments=arguments,
        requested_by=requested_by if requested_by and requested_by.is_authenticated else None,
    )
    task.delay_on_commit(job_id=job.pk, **arguments)
    return job


def job_run_again(*, job: JobRun, requested_by: AbstractBaseUser | None = None) -> JobRun:
    """Queue ``job``'s task again with the same arguments, as a new JobRun (the old row keeps
    its error for the record)."""
    from webapp.celery import app  # the project's Celery app knows every registered task

    task = app.tasks.get(job.task_name)
    if task is None:  # a process that has not imported every app's tasks module yet
        app.loader.import_default_modules()
        task = app.tasks.get(job.task_name)
    if task is None:
        raise ValueError(f"job #{job.pk}: no task named {job.task_name!r} is registered any more")
    return job_enqueue(task=task, arguments=job.arguments, requested_by=requested_by)


def _update(job_id: int | None, **fields: Any) -> None:
    if job_id is not None:
        JobRun.objects.filter(pk=job_id).update(**fields)


def job_mark_running(*, job_id: int | None, task_id: str, attempt: int) -> None:
    _update(
        job_id,
        state=JobRun.State.RUNNING,
        task_id=task_id,
        started_at=timezone.now(),
        attempts=attempt,
        error="",
    )


def job_progress(*, job_id: int | None, fraction: float, message: str = "") -> None:
    _update(job_id, progress=max(0.0, min(1.0, fraction)), message=message[:500])


def job_mark_succeeded(*, job_id: int | None, result: Any) -> None:
    _update(
        job_id,
        state=JobRun.State.SUCCEEDED,
        progress=1.0,
        result=result if isinstance(result, dict) else {"value": result},
        finished_at=timezone.now(),
    )


def job_mark_retrying(*, job_id: int | None, exc: BaseException) -> None:
    _update(job_id, state=JobRun.State.RETRYING, message=f"retrying after: {exc}"[:500])


def job_mark_failed(*, job_id: int | None, exc: BaseException, tb: str | None = None) -> None:
    text = tb or "".join(traceback.format_exception(exc))
    # The failure must be recorded even if the task's own transaction was rolled back.
    with transaction.atomic():
        _update(
            job_id,
            state=JobRun.State.FAILED,
            message=f"{type(exc).__name__}: {exc}"[:500],
            error=text,
            finished_at=timezone.now(),
        )
