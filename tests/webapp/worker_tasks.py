"""Tasks that exist only for tests; the test worker imports this module with ``-I``."""

from __future__ import annotations

from celery import shared_task

from webapp.jobs.tasks import JobTask


@shared_task(base=JobTask, bind=True, name="tests.always_fails")
def always_fails(self: JobTask, job_id: int | None = None, reason: str = "") -> None:
    raise ValueError(reason)


@shared_task(base=JobTask, bind=True, name="tests.waits_for_file")
def waits_for_file(self: JobTask, job_id: int | None = None, path: str = "") -> str:
    """Runs while ``path`` exists (at most a minute): a task a test can kill mid-run."""
    import time
    from pathlib import Path

    deadline = time.monotonic() + 60
    while Path(path).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return "done"
