"""Background work for profiles: ids and JSON in, idempotent, progress on the JobRun."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.contrib.auth import get_user_model
from django.db import OperationalError

from webapp import ml
from webapp.jobs.services import job_progress
from webapp.jobs.tasks import JobTask
from webapp.profiles import selectors, services

RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 3}


@shared_task(base=JobTask, bind=True, **RETRY)
def profile_generate(
    self: JobTask, job_id: int | None = None, user_id: int = 0, requested_by_id: int | None = None
) -> dict[str, Any]:
    """(Re)generate a user's profile from their history with the LLM; pinned ones survive."""
    users = get_user_model().objects
    user = users.get(pk=user_id)
    by = users.filter(pk=requested_by_id).first() if requested_by_id else None
    job_progress(job_id=job_id, fraction=0.1, message="reading your history")
    encoder = ml.encoder()
    job_progress(job_id=job_id, fraction=0.3, message="writing your profile")
    version = services.profile_generate(user=user, llm=ml.llm(), encoder=encoder, by=by)
    job_progress(job_id=job_id, fraction=0.9, message="saved")
    return {"version": version.number, "statements": len(version.profile["statements"])}


@shared_task(base=JobTask, bind=True, **RETRY)
def item_vectors_refresh(self: JobTask, job_id: int | None = None) -> dict[str, Any]:
    def report(fraction: float, message: str) -> None:
        job_progress(job_id=job_id, fraction=fraction, message=message)

    row = services.item_vectors_compute(encoder=ml.encoder(), progress=report)
    return {"item_vectors": row.pk, "n_items": row.n_items}


@shared_task(base=JobTask, bind=True, **RETRY)
def explanations_refresh(
    self: JobTask,
    job_id: int | None = None,
    user_id: int = 0,
    limit: int = services.EXPLAIN_TOP_N,
) -> dict[str, Any]:
    """Item vectors first (a no-op when current), then the user's top explanations.

    Idempotent: explanations already cached under today's key are skipped, so a burst of
    edits costs one real refresh for the profile the user ends up with.
    """
    user = get_user_model().objects.get(pk=user_id)
    state = selectors.catalogue_state()
    if selectors.item_vectors_row(texts_hash=state.texts_hash) is None:
        job_progress(job_id=job_id, fraction=0.05, message="embedding the catalogue")
        services.item_vectors_compute(encoder=ml.encoder())
    job_progress(job_id=job_id, fraction=0.3, message="explaining your top picks")
    written = services.explanations_refresh(user=user, llm_loader=ml.llm, limit=limit)
    return {"explanations": written}
