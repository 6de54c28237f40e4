"""Background work of the ranking app: explanations. Ids and JSON in, idempotent, progress
on the JobRun; the enqueue helpers sit beside their tasks."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.contrib.auth import get_user_model
from django.utils import timezone

from webapp import ml
from webapp.catalogue import services as catalogue_services
from webapp.catalogue.state import catalogue_state, item_vectors_row
from webapp.jobs.models import JobRun
from webapp.jobs.services import job_enqueue, job_fail_if_stale, job_progress
from webapp.jobs.tasks import RETRY, USER_WORK, JobTask
from webapp.ranking import services
from webapp.ranking.selectors import EXPLAIN_TOP_N
from webapp.ranking.services import EXPLAIN_RETRY_AFTER, EXPLAIN_STALE_AFTER


@shared_task(base=JobTask, bind=True, **RETRY, **USER_WORK)
def explanations_refresh(
    self: JobTask,
    job_id: int | None = None,
    user_id: int = 0,
    limit: int = EXPLAIN_TOP_N,
) -> dict[str, Any]:
    """Item vectors first (a no-op when current), then the user's top explanations.

    Idempotent: explanations already cached under today's key are skipped, so a burst of
    edits costs one real refresh for the profile the user ends up with.
    """
    user = get_user_model().objects.get(pk=user_id)
    state = catalogue_state()
    if item_vectors_row(texts_hash=state.texts_hash) is None:
        job_progress(job_id=job_id, fraction=0.05, message="embedding the catalogue")
        catalogue_services.item_vectors_compute(encoder=ml.encoder())
    job_progress(job_id=job_id, fraction=0.3, message="explaining your top picks")
    written = services.explanations_refresh(user=user, llm_loader=ml.llm, limit=limit)
    return {"explanations": written}


def explanations_enqueue(*, user: Any, by: Any = None) -> JobRun:
    return job_enqueue(
        task=explanations_refresh,
        arguments={"user_id": user.pk},
        requested_by=by,
        dedupe_key=f"user:{user.pk}",
    )


def explanations_ensure(
    *, user: Any, entries: list[dict[str, Any]], job: JobRun | None
) -> JobRun | None:
    """The refresh writing the first screen's explanations: the run in flight, else a new
    one when some of them are still templates (a user whose list came from training has
    none yet); None when nothing is missing or a recent run already tried.

    ``job``: the user's latest refresh (``selectors.explanations_job``), which the page has
    read already. One queued or running for longer than EXPLAIN_STALE_AFTER is marked
    failed and replaced: its message was lost, and waiting on it would leave the drafts
    for ever.
    """
    pending = any((e["explanation"] or {}).get("pending") for e in entries[:EXPLAIN_TOP_N])
    if not pending:
        return None
    if job is not None and not job.is_finished:
        if job_fail_if_stale(job=job, after=EXPLAIN_STALE_AFTER):
            return explanations_enqueue(user=user)
        return job
    if (
        job is not None
        and timezone.now() - (job.finished_at or job.created_at) < EXPLAIN_RETRY_AFTER
    ):
        return None
    return explanations_enqueue(user=user)
