from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from webapp.jobs.models import JobRun
from webapp.jobs.services import job_enqueue, job_run_again


def changelist_url(model_admin: admin.ModelAdmin) -> str:
    opts = model_admin.model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")


def job_button(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    *,
    task: Any,
    message: str,
    arguments: dict[str, Any] | None = None,
) -> HttpResponse:
    """What every "run this in the background" admin button does: check the permission,
    queue the job, say so (``message`` may use ``{job}``), and go back to the list."""
    if not model_admin.has_change_permission(request):
        return HttpResponseRedirect(reverse("admin:index"))
    job = job_enqueue(task=task, arguments=arguments, requested_by=request.user)
    model_admin.message_user(request, message.format(job=f"job #{job.pk}"), messages.INFO)
    return HttpResponseRedirect(changelist_url(model_admin))


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "task_name",
        "state",
        "percent",
        "message",
        "attempts",
        "created_at",
        "finished_at",
    )
    list_filter = ("state", "task_name")
    search_fields = ("task_name", "task_id", "message")
    readonly_fields = [f.name for f in JobRun._meta.fields]
    actions = ("run_again",)

    @admin.display(description="progress")
    def percent(self, job: JobRun) -> str:
        return f"{job.progress:.0%}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Run the selected jobs again", permissions=["change"])
    def run_again(self, request: HttpRequest, queryset: QuerySet[JobRun]) -> None:
        queued = 0
        for job in queryset:
            try:
                job_run_again(job=job, requested_by=request.user)
                queued += 1
            except ValueError as exc:  # still running, or its task is gone
                self.message_user(request, str(exc), messages.WARNING)
        self.message_user(request, f"Queued {queued} job(s) again.", messages.SUCCESS)
