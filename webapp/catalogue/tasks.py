from __future__ import annotations

import time
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from webapp import ml
from webapp.catalogue import services
from webapp.catalogue.models import Item
from webapp.jobs.models import JobRun
from webapp.jobs.services import job_enqueue, job_hand_over, job_progress
from webapp.jobs.tasks import RETRY, JobTask


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


@shared_task(
    base=JobTask,
    bind=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def catalogue_enrich(
    self: JobTask,
    job_id: int | None = None,
    batch: int = 8,
    slice_seconds: float = 120.0,
    limit: int = 0,
    done: int = 0,
) -> dict[str, Any]:
    """Let the LLM describe items that have no text, a time slice at a time.

    Each run works for about ``slice_seconds`` and then re-enqueues itself with the same job,
    so a long catalogue never blocks the worker for hours and a restart resumes where the
    database says it stopped (the selection is "not attempted yet"). ``limit`` caps the total.
    """
    llm = ml.llm()
    started = time.monotonic()
    described = unusable = 0
    while True:  # at least one batch per run, so every run makes progress
        size = batch if not limit else min(batch, limit - done - described - unusable)
        if size <= 0:
            break
        d, u = services.catalogue_enrich_batch(llm=llm, limit=size)
        if d + u == 0:
            break
        described, unusable = described + d, unusable + u
        remaining = services.items_to_enrich().count()
        total_done = done + described + unusable
        target = limit or (total_done + remaining)
        job_progress(
            job_id=job_id,
            fraction=total_done / max(target, 1),
            message=f"{total_done:,} of {target:,} items described",
        )
        if time.monotonic() - started >= slice_seconds:
            break
    total_done = done + described + unusable
    more = services.items_to_enrich().exists() and (not limit or total_done < limit)
    if more:
        job_hand_over(job_id=job_id)  # the next slice's delivery claims the same row
        catalogue_enrich.delay_on_commit(
            job_id=job_id, batch=batch, slice_seconds=slice_seconds, limit=limit, done=total_done
        )
    elif described and settings.EMBED_GENERATED_TEXT:
        # Item texts changed: re-embed them (the encoder's cache recomputes only changed texts).
        item_vectors_enqueue()
    return {
        "continued": more,
        "described": described,
        "unusable": unusable,
        "total": total_done,
        "with_generated_text": Item.objects.exclude(generated_description="").count(),
    }


@shared_task(base=JobTask, bind=True, **RETRY)
def item_vectors_refresh(self: JobTask, job_id: int | None = None) -> dict[str, Any]:
    """Embed the catalogue's texts (a no-op when the stored vectors match them)."""

    def report(fraction: float, message: str) -> None:
        job_progress(job_id=job_id, fraction=fraction, message=message)

    row = services.item_vectors_compute(encoder=ml.encoder(), progress=report)
    return {"item_vectors": row.pk, "n_items": row.n_items}


def item_vectors_enqueue() -> JobRun:
    return job_enqueue(task=item_vectors_refresh)
