"""Base class that ties a Celery task's life cycle to its :class:`JobRun` row."""

from __future__ import annotations

from typing import Any

from celery.contrib.django.task import DjangoTask
from django.db import OperationalError

from webapp.jobs import services

# The retry policy every job shares: only transient database errors (a lock timeout, a dropped
# connection) are retried, with backoff, at most three times; anything else fails visibly.
RETRY: dict[str, Any] = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "max_retries": 3,
}


class JobTask(DjangoTask):
    """Tasks called with a ``job_id`` keyword keep that JobRun's state in step.

    Celery calls these hooks in the worker (and in eager mode), so task bodies only report
    progress; success, retries and final failure are recorded here in one place.
    """

    def before_start(self, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        services.job_mark_running(
            job_id=kwargs.get("job_id"), task_id=task_id, attempt=self.request.retries + 1
        )

    def on_success(
        self, retval: Any, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        # A batch task that re-enqueued itself ("continued") is not finished yet.
        if isinstance(retval, dict) and retval.get("continued"):
            return
        services.job_mark_succeeded(job_id=kwargs.get("job_id"), result=retval)

    def on_retry(
        self,
        exc: BaseException,
        task_id: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        einfo: Any,
    ) -> None:
        services.job_mark_retrying(job_id=kwargs.get("job_id"), exc=exc)

    def on_failure(
        self,
        exc: BaseException,
        task_id: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        einfo: Any,
    ) -> None:
        services.job_mark_failed(job_id=kwargs.get("job_id"), exc=exc, tb=str(einfo))
