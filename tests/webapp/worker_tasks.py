"""Tasks that exist only for tests; the test worker imports this module with ``-I``."""

from __future__ import annotations

from celery import shared_task

from webapp.jobs.tasks import JobTask


@shared_task(base=JobTask, bind=True, name="tests.always_fails")
def always_fails(self: JobTask, job_id: int | None = None, reason: str = "") -> None:
    raise ValueError(reason)
