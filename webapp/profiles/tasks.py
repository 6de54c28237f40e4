"""Background work for profiles: ids and JSON in, idempotent, progress on the JobRun.

Enqueue helpers sit beside their tasks, so services never import tasks.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.contrib.auth import get_user_model

from webapp import ml
from webapp.catalogue.selectors import history_rows
from webapp.jobs.models import JobRun
from webapp.jobs.services import job_enqueue, job_progress
from webapp.jobs.tasks import RETRY, USER_WORK, JobTask
from webapp.profiles import services


@shared_task(base=JobTask, bind=True, **RETRY, **USER_WORK)
def profile_generate(
    self: JobTask, job_id: int | None = None, user_id: int = 0, requested_by_id: int | None = None
) -> dict[str, Any]:
    """(Re)generate a user's profile from their history with the LLM; pinned ones survive."""
    users = get_user_model().objects
    user = users.get(pk=user_id)
    by = users.filter(pk=requested_by_id).first() if requested_by_id else None
    job_progress(job_id=job_id, fraction=0.1, message="measuring your tastes")
    llm = ml.llm()
    job_progress(job_id=job_id, fraction=0.3, message="writing your profile")
    version = services.profile_generate(user=user, llm=llm, by=by)
    job_progress(job_id=job_id, fraction=0.9, message="saved")
    return {"version": version.number, "statements": len(version.profile["statements"])}


def profile_generate_enqueue(*, user: Any) -> JobRun:
    """Write the profile from the user's ratings in the background (the LLM runs on a
    worker); raises ValueError at once when there is nothing to learn from."""
    if not history_rows(user=user):
        raise ValueError("rate or like a few films first; the profile is written from them")
    return job_enqueue(
        task=profile_generate,
        arguments={"user_id": user.pk, "requested_by_id": user.pk},
        requested_by=user,
        dedupe_key=f"user:{user.pk}",
    )
