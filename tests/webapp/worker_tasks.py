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


@shared_task(base=JobTask, bind=True, name="tests.kills_its_worker")
def kills_its_worker(self: JobTask, job_id: int | None = None, how: str = "exit") -> None:
    """Dies as a worker killed mid-task does, before any hook records anything: in the test
    process by SystemExit (Celery re-raises it past every hook), in a prefork worker's child
    by SIGKILL (the pool gives the message back to be delivered again)."""
    if how == "kill":
        import os
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
    raise SystemExit(137)


@shared_task(base=JobTask, bind=True, name="tests.overtaken")
def overtaken(self: JobTask, job_id: int | None = None) -> str:
    """While it runs, its message is delivered again (a Redis visibility timeout, a worker
    wrongly thought lost) and that newer delivery claims the job: what this one writes after
    that is stale and must change nothing."""
    from webapp.jobs.services import job_claim, job_progress

    job_claim(job_id=job_id, task_id=self.request.id, worker="newer@host")
    job_progress(job_id=job_id, fraction=0.9, message="stale progress")
    return "stale result"
