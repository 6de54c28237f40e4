"""Enqueue background work with a visible :class:`JobRun` row, and keep that row current."""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from functools import partial
from typing import Any

from celery import Task
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import KombuError

from webapp.celery import app  # the project's Celery app knows every registered task
from webapp.jobs.models import JobRun

# How long work reports how far it got: (fraction done in [0, 1], what it is doing). Services
# take one so they can run from a task (which writes it to the JobRun) or from a command.
Progress = Callable[[float, str], None]


def quiet(fraction: float, message: str) -> None:
    """A :data:`Progress` that reports nothing (services called outside a job)."""
    return None


QUEUED_STALE_AFTER = timedelta(minutes=30)  # a queued job this old lost its message
# a request waits at most ~2 s for an unreachable broker before its job is marked failed
SEND_RETRY = {"max_retries": 2, "interval_start": 0.5, "interval_step": 0.5}
logger = logging.getLogger(__name__)


def job_alive(job: JobRun | None, *, running_for: timedelta) -> JobRun | None:
    """``job`` as a page should show it: one that has been running for longer than its task
    may run (``running_for``: its time limit plus a margin) lost its worker, so it is marked
    failed with a clear message and the page stops polling it. A queued job may wait behind
    a long one on a busy worker: it is left alone."""
    if job is not None and job.state in (JobRun.State.RUNNING, JobRun.State.RETRYING):
        job_fail_if_stale(job=job, after=running_for, requeued=False)
    return job


def job_enqueue(
    *,
    task: Task,
    arguments: dict[str, Any] | None = None,
    requested_by: AbstractBaseUser | None = None,
    dedupe_key: str = "",
    attempts: int = 0,
) -> JobRun:
    """Create the JobRun and send the task once the surrounding transaction commits.

    Sending inside an open transaction would let a fast worker look for rows that are not
    committed yet; it is sent after COMMIT (or at once in autocommit mode), by ``_send``.

    With ``dedupe_key`` ("user:42"), a job of the same task and key still waiting in the
    queue is returned instead of a new one (a partial unique index makes that hold under
    concurrent requests too): 200 clicks leave one queued job, which reads the newest state
    when it runs. One queued longer than ``QUEUED_STALE_AFTER`` lost its message: it is
    marked failed and a new one is queued. ``attempts``: deliveries already spent on this
    work (a job the reaper queues again keeps counting towards JOB_MAX_ATTEMPTS).
    """
    arguments = arguments or {}
    by = requested_by if requested_by and requested_by.is_authenticated else None
    for _ in range(2):
        try:
            with transaction.atomic():
                job = JobRun.objects.create(
                    task_name=task.name,
                    arguments=arguments,
                    requested_by=by,
                    dedupe_key=dedupe_key,
                    attempts=attempts,
                )
        except IntegrityError:
            waiting = JobRun.objects.filter(
                task_name=task.name, dedupe_key=dedupe_key, state=JobRun.State.QUEUED
            ).first()
            if waiting is not None and not job_fail_if_stale(job=waiting, after=QUEUED_STALE_AFTER):
                return waiting
            continue  # it just started, finished or went stale: queue a new one
        transaction.on_commit(partial(_send, task, job.pk, arguments))
        return job
    raise RuntimeError(f"could not queue {task.name} for {dedupe_key}")


def _send(task: Task, job_id: int, arguments: dict[str, Any]) -> None:
    """Send the task (after COMMIT). The broker being down must not turn the request that
    committed its work (a saved edit) into a 500, nor leave the job "queued" for ever: the
    job is marked failed saying why, where the pages and the dashboard show it."""
    try:
        task.apply_async(kwargs={"job_id": job_id, **arguments}, retry_policy=SEND_RETRY)
    except (KombuError, OSError) as exc:
        logger.exception("could not send %s (job #%s) to the broker", task.name, job_id)
        message = (
            "could not reach the task queue (the broker is down?): nothing ran; "
            f"start it again once the broker is back ({type(exc).__name__}: {exc})"
        )
        JobRun.objects.filter(pk=job_id, state=JobRun.State.QUEUED).update(
            state=JobRun.State.FAILED,
            message=message[:500],
            error=message,
            finished_at=timezone.now(),
        )


def job_run_again(
    *, job: JobRun, requested_by: AbstractBaseUser | None = None, attempts: int = 0
) -> JobRun:
    """Queue ``job``'s task again with the same arguments, as a new JobRun (the old row keeps
    its error for the record). Only a finished job: running a 6-hour training twice at once
    would double its cost and race its own checkpoint. ``attempts``: see :func:`job_enqueue`
    (a person's "Run again" starts from zero)."""
    if not job.is_finished:
        raise ValueError(
            f"job #{job.pk} is still {job.state}: it can run again once it has finished"
        )
    task = app.tasks.get(job.task_name)
    if task is None:  # a process that has not imported every app's tasks module yet
        app.loader.import_default_modules()
        task = app.tasks.get(job.task_name)
    if task is None:
        raise ValueError(f"job #{job.pk}: no task named {job.task_name!r} is registered any more")
    return job_enqueue(
        task=task, arguments=job.arguments, requested_by=requested_by, attempts=attempts
    )


def job_fail_if_stale(*, job: JobRun, after: timedelta, requeued: bool = True) -> bool:
    """Mark ``job`` failed when it has been queued (or running) for longer than ``after``,
    and say so in its error; returns whether it did.

    A JobRun is written before its message is sent, so a message lost by the broker (a
    purge, a restart without persistence) or a worker killed mid-run leaves the row
    "queued" or "running" for ever, and whoever waits on it waits for ever. Callers that
    re-enqueue on such a row treat a stale one as gone. One conditional UPDATE: a worker
    that has just picked the job up (a new state or start time) wins, and nothing changes.
    """
    since = job.started_at or job.created_at
    if job.is_finished or timezone.now() - since <= after:
        return False
    waited = "queued" if job.state == JobRun.State.QUEUED else f"{job.state} since it started"
    minutes = round(after.total_seconds() / 60)
    message = (
        f"stale: still {waited} after more than {minutes} min; its task message was "
        "probably lost or its worker stopped, so it was given up"
        + (" and queued again" if requeued else "; start it again")
    )
    fields = {
        "state": JobRun.State.FAILED,
        "message": message[:500],
        "error": message,
        "finished_at": timezone.now(),
        "delivery": uuid.uuid4().hex,  # a delivery still running somewhere owns it no more
    }
    marked = JobRun.objects.filter(pk=job.pk, state=job.state, started_at=job.started_at).update(
        **fields
    )
    if marked:
        for name, value in fields.items():
            setattr(job, name, value)
    return bool(marked)


# The delivery that owns the job whose task body runs in this context (webapp.jobs.tasks
# sets it around the body): progress a body writes names it without passing it along.
_running: ContextVar[tuple[int, str] | None] = ContextVar("job_delivery", default=None)


@contextmanager
def job_delivery(*, job_id: int | None, delivery: str) -> Iterator[None]:
    """Writes inside (:func:`job_progress`, :func:`job_hand_over`) are ``delivery``'s."""
    token = _running.set((job_id, delivery) if job_id is not None and delivery else None)
    try:
        yield
    finally:
        _running.reset(token)


def _update(job_id: int | None, delivery: str | None = None, **fields: Any) -> bool:
    """One UPDATE of the row, only while ``delivery`` still owns it (the claim's token; by
    default the delivery whose body runs here): a stale delivery (a message redelivered while
    its first copy still ran, a retry that a newer one overtook) changes nothing. Without a
    known delivery (a command, a test) the write is unconditional. Returns whether it wrote."""
    if job_id is None:
        return False
    if delivery is None:
        running = _running.get()
        delivery = running[1] if running is not None and running[0] == job_id else ""
    rows = JobRun.objects.filter(pk=job_id)
    if delivery:
        rows = rows.filter(delivery=delivery)
    return bool(rows.update(**fields))


def _gave_up(attempts: int) -> str:
    return (
        f"gave up after {attempts} attempts: it never finished (its worker stopped while it "
        "ran, killed or out of memory, or it kept meeting a passing error), so it is not run "
        "again by itself; start it again once the cause is fixed"
    )


def job_claim(*, job_id: int | None, task_id: str, worker: str = "") -> str | None:
    """queued/retrying -> running, in one conditional UPDATE that counts the attempt and
    records a new delivery token; returns that token ("" with no row to keep), or None
    when the job is not this delivery's to run: already finished, given up as stale (and
    queued again as another job), running under another task id, or out of attempts. Such a
    late or duplicate delivery must exit at once, or an hour-old message re-activates an old
    model over a newer one. The same message redelivered after its worker died (same task
    id) may run again, up to JOB_MAX_ATTEMPTS deliveries in all (retries included): a job
    that kills its worker every time (out of memory) is then marked failed, not run for ever.
    """
    if job_id is None:
        return ""
    waiting = Q(state__in=[JobRun.State.QUEUED, JobRun.State.RETRYING])
    redelivered = Q(state=JobRun.State.RUNNING, task_id=task_id)
    claimable = Q(pk=job_id) & (waiting | redelivered)
    delivery = uuid.uuid4().hex
    limit = settings.JOB_MAX_ATTEMPTS
    if JobRun.objects.filter(claimable & Q(attempts__lt=limit)).update(
        state=JobRun.State.RUNNING,
        task_id=task_id,
        started_at=timezone.now(),
        attempts=F("attempts") + 1,
        error="",
        worker=worker[:200],
        delivery=delivery,
    ):
        return delivery
    message = _gave_up(limit)
    JobRun.objects.filter(claimable & Q(attempts__gte=limit)).update(
        state=JobRun.State.FAILED,
        message=message[:500],
        error=message,
        finished_at=timezone.now(),
        delivery=delivery,
    )
    return None if JobRun.objects.filter(pk=job_id).exists() else ""  # a row deleted meanwhile


def job_hand_over(*, job_id: int | None) -> None:
    """A task that continues its job in another message (the next slice) gives the row back
    to the queue first, so the next delivery can claim it (:func:`job_claim`). That slice
    finished, so the next one starts with its attempts counted from zero."""
    _update(job_id, state=JobRun.State.QUEUED, attempts=0)


def job_reap(*, worker: str) -> list[JobRun]:
    """Jobs that node ``worker`` was running when it stopped (a kill, a crash, a restart):
    each is marked failed with a clear message and queued again as a new job. Called as the
    node starts; the embedded filesystem broker cannot redeliver a message whose worker
    died, and Redis would only after its visibility timeout (hours). Returns the new jobs."""
    again = []
    orphans = JobRun.objects.filter(
        worker=worker, state__in=[JobRun.State.RUNNING, JobRun.State.RETRYING]
    )
    for job in orphans:
        marked = JobRun.objects.filter(pk=job.pk, delivery=job.delivery, state=job.state).update(
            state=JobRun.State.FAILED, finished_at=timezone.now(), delivery=uuid.uuid4().hex
        )
        if not marked:
            continue  # it moved on meanwhile
        stopped = f"its worker ({worker}) stopped while it ran (killed or restarted)"
        if job.attempts >= settings.JOB_MAX_ATTEMPTS:
            # the new job would count on from here and be given up at its claim: say so now
            message = f"{stopped}; {_gave_up(job.attempts)}"
        else:
            job.state = JobRun.State.FAILED  # as just written: a finished job may run again
            new = job_run_again(job=job, requested_by=job.requested_by, attempts=job.attempts)
            message = f"{stopped}; queued again as job #{new.pk}"
            again.append(new)
        JobRun.objects.filter(pk=job.pk).update(message=message[:500], error=message)
    return again


def job_progress(*, job_id: int | None, fraction: float, message: str = "") -> None:
    _update(job_id, progress=max(0.0, min(1.0, fraction)), message=message[:500])


def job_mark_succeeded(*, job_id: int | None, result: Any, delivery: str | None = None) -> None:
    _update(
        job_id,
        delivery,
        state=JobRun.State.SUCCEEDED,
        progress=1.0,
        result=result if isinstance(result, dict) else {"value": result},
        finished_at=timezone.now(),
    )


def job_mark_retrying(
    *, job_id: int | None, exc: BaseException, delivery: str | None = None
) -> None:
    _update(job_id, delivery, state=JobRun.State.RETRYING, message=f"retrying after: {exc}"[:500])


def failure_message(exc: BaseException) -> str:
    """What a failed job says to whoever waits on it. A ValueError is raised on purpose with
    words for them ("rate a few more films"); any other exception's text is an internal
    detail (a path, a query, an address) that stays in the job's error for the admins."""
    if isinstance(exc, ValueError):
        return f"{type(exc).__name__}: {exc}"
    return f"{type(exc).__name__}: the job stopped on an internal error (details in its record)"


def job_mark_failed(
    *,
    job_id: int | None,
    exc: BaseException,
    tb: str | None = None,
    delivery: str | None = None,
) -> None:
    text = tb or "".join(traceback.format_exception(exc))
    # The failure must be recorded even if the task's own transaction was rolled back.
    with transaction.atomic():
        _update(
            job_id,
            delivery,
            state=JobRun.State.FAILED,
            message=failure_message(exc)[:500],
            error=text,
            finished_at=timezone.now(),
        )
