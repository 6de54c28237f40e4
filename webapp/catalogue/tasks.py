from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import OperationalError

from webapp.catalogue import services
from webapp.jobs.services import job_progress
from webapp.jobs.tasks import JobTask


@shared_task(
    base=JobTask,
    bind=True,
    # Only transient database trouble (a locked SQLite file, a dropped connection) is retried.
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=3,
)
def catalogue_stats_recompute(self: JobTask, job_id: int | None = None) -> dict[str, Any]:
    """Recount interactions per item and snapshot catalogue statistics for the admin."""

    def report(fraction: float, message: str) -> None:
        job_progress(job_id=job_id, fraction=fraction, message=message)

    stats = services.catalogue_stats_recompute(progress=report)
    return {"stats_id": stats.pk, "n_items": stats.n_items, "n_interactions": stats.n_interactions}
