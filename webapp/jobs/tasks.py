"""Base class that ties a Celery task's life cycle to its :class:`JobRun` row."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery.contrib.django.task import DjangoTask
from celery.signals import celeryd_after_setup
from django.conf import settings
from django.db import OperationalError, close_old_connections

from webapp.jobs import services

# The retry policy every job shares: only transient database errors (a lock timeout, a dropped
# connection) are retried, with backoff, at most three times; anything else fails visibly.
RETRY: dict[str, Any] = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "max_retries": 3,
}


def celery_rate(rate: str) -> str:
    """A validated ``N/period`` rate (webapp.env.env_rate: s, min, hour, day...) in the form
    Celery reads (N per s, m or h; a day is 24 hours)."""
    count, _, period = rate.partition("/")
    if period.startswith("d"):
        return f"{int(count) / 24:g}/h"
    return f"{count}/{period[0]}"


# Work one user triggers (a profile, explanations) takes seconds to a few minutes; the 6 h
# limit is for training. A stuck one is stopped in minutes, not hours, and frees the worker.
# It runs on the user queue, at most USER_TASK_RATE_LIMIT starts per worker and task kind.
USER_WORK: dict[str, Any] = {
    "time_limit": 15 * 60,
    "soft_time_limit": 14 * 60,
    "user_work": True,  # read by route() below
    "rate_limit": celery_rate(settings.USER_TASK_RATE_LIMIT),
}


def route(
    name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **_: Any
) -> dict[str, str] | None:
    """The task router (CELERY_TASK_ROUTES): user work to the user queue, the rest to the
    default queue."""
    return {"queue": settings.USER_QUEUE} if getattr(task, "user_work", False) else None


USER_WORK_DEAD_AFTER = timedelta(minutes=20)  # running longer than its limit: worker lost

SKIPPED = "skipped"  # the key of what a skipped delivery returns


@celeryd_after_setup.connect
def reap_on_start(sender: str, **kwargs: Any) -> None:
    """A worker node that starts reaps what its previous run left running (it died with
    it): marked failed, queued again (services.job_reap)."""
    try:
        services.job_reap(worker=str(sender))
    finally:
        close_old_connections()  # the worker's own connection handling starts after this


class JobTask(DjangoTask):
    """Tasks called with a ``job_id`` keyword keep that JobRun's state in step.

    Celery calls these hooks in the worker (and in eager mode), so task bodies only report
    progress; success, retries and final failure are recorded here in one place.
    """

    def before_start(self, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        # the delivery token this run writes under (None: not this delivery's to run)
        self.request.job_delivery = services.job_claim(
            job_id=kwargs.get("job_id"), task_id=task_id, worker=self.request.hostname or ""
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        delivery = getattr(self.request, "job_delivery", "")
        if delivery is None:
            # a late or duplicate delivery of a job that finished, was given up, runs
            # elsewhere or ran out of attempts: do nothing, and leave its row alone
            return {SKIPPED: f"job #{kwargs.get('job_id')} is not this delivery's to run"}
        with services.job_delivery(job_id=kwargs.get("job_id"), delivery=delivery):
            return super().__call__(*args, **kwargs)

    def _delivery(self) -> str | None:
        """The token this run claimed its job with: the hooks below write only under it."""
        return getattr(self.request, "job_delivery", None)

    def on_success(
        self, retval: Any, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        # A batch task that re-enqueued itself ("continued") is not finished yet; a skipped
        # delivery never touches the row it did not claim.
        if isinstance(retval, dict) and (retval.get("continued") or retval.get(SKIPPED)):
            return
        services.job_mark_succeeded(
            job_id=kwargs.get("job_id"), result=retval, delivery=self._delivery()
        )

    def on_retry(
        self,
        exc: BaseException,
        task_id: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        einfo: Any,
    ) -> None:
        services.job_mark_retrying(job_id=kwargs.get("job_id"), exc=exc, delivery=self._delivery())

    def on_failure(
        self,
        exc: BaseException,
        task_id: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        einfo: Any,
    ) -> None:
        services.job_mark_failed(
            job_id=kwargs.get("job_id"), exc=exc, tb=str(einfo), delivery=self._delivery()
        )
