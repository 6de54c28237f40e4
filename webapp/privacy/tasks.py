"""Background work of the privacy app: the retention sweep (services.data_prune)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from webapp.jobs.services import job_enqueue
from webapp.jobs.tasks import RETRY, JobTask
from webapp.privacy import services


@shared_task(base=JobTask, bind=True, **RETRY)
def data_prune(self: JobTask, job_id: int | None = None) -> dict[str, Any]:
    """Delete what is past its retention. Celery beat (CELERY_BEAT_SCHEDULE) sends it
    without a job: it then queues itself as a job, so every run is on the dashboard, and a
    failure is shown there rather than only in a log."""
    if job_id is None:
        return {"queued": job_enqueue(task=data_prune, dedupe_key="retention").pk}
    return services.data_prune()
