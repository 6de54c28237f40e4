from __future__ import annotations

import re

from django.conf import settings
from django.db import models

# "ValueError: " at the start of a failed job's message
_CLASS_PREFIX = re.compile(
    r"^[A-Z]\w*(?:Error|Exception|Changed|Missing|Unavailable|Interrupt):\s*"
)


class JobRun(models.Model):
    """One background task run, so progress and failures are visible, never silently dropped."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        RETRYING = "retrying", "Retrying"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    task_name = models.CharField(max_length=200, db_index=True)
    task_id = models.CharField(max_length=64, blank=True, db_index=True)
    arguments = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    progress = models.FloatField(default=0.0, help_text="0..1")
    message = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    # deliveries claimed so far (retries and redeliveries after a crash alike), up to
    # JOB_MAX_ATTEMPTS; a slice handed over to the next message starts again from zero
    attempts = models.PositiveSmallIntegerField(default=0)
    # the token of the delivery that owns the job, new at each claim: every later write of
    # that delivery names it (UPDATE ... WHERE delivery = token), so a stale copy of the
    # message that still runs cannot overwrite what the newer one wrote
    delivery = models.CharField(max_length=32, blank=True, default="")
    result = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # "user:42" for work one user triggers: at most one such job waits in the queue per task
    # and key (a newer request finds it and rides on it: it reads the latest state when it
    # runs), so one user's clicks cannot flood the shared worker
    dedupe_key = models.CharField(max_length=100, blank=True, default="")
    # the worker node that claimed it ("celery@host"): when that node starts again, whatever
    # it was running died with it and is reaped (webapp.jobs.tasks.reap_on_start)
    worker = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "created_at"], name="jobrun_state_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["task_name", "dedupe_key"],
                condition=models.Q(state="queued") & ~models.Q(dedupe_key=""),
                name="jobrun_one_queued_per_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.task_name} #{self.pk} ({self.state})"

    @property
    def is_finished(self) -> bool:
        return self.state in (self.State.SUCCEEDED, self.State.FAILED)

    @property
    def public_message(self) -> str:
        """The message as a user reads it: without the exception's class name ("ValueError:
        rate a few more films" -> "rate a few more films")."""
        return _CLASS_PREFIX.sub("", self.message)
