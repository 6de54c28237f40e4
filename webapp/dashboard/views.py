"""Staff dashboard: statistics, models, buttons that queue background work, live job progress.

Every button is a plain POST form (CSRF, redirect back with a message), so the page works
with scripts off; htmx only adds polling of the job table and swapping the chart period.
Being staff is not enough: the pages need the permission to view jobs (they show every
user's), each button the permission its work touches (JobForm.permission), shown only to
those who have it, and "run again" the permission to change jobs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from webapp.dashboard import selectors
from webapp.dashboard.charts import bar_chart
from webapp.dashboard.forms import ACTIONS, JobForm, action_forms
from webapp.jobs.models import JobRun
from webapp.jobs.services import job_alive, job_enqueue, job_run_again

TEMPLATE = "dashboard/overview.html"
VIEW_JOBS, RUN_AGAIN = "jobs.view_jobrun", "jobs.change_jobrun"


def staff_with(permission: str) -> Any:
    """Staff only (others go to the login page), and of those only ones with
    ``permission`` (the others get a 403)."""

    def decorate(view: Any) -> Any:
        return staff_member_required(permission_required(permission, raise_exception=True)(view))

    return decorate


def _period(request: HttpRequest) -> selectors.Period:
    return "week" if request.GET.get("period") == "week" else "day"


def _chart_context(period: selectors.Period) -> dict[str, Any]:
    series = selectors.interactions_over_time(period=period)
    points = [(d.strftime("%d %b %y"), n) for d, n in series]
    return {"period": period, "chart": bar_chart(points)}


def _jobs_context(user: Any) -> dict[str, Any]:
    jobs = selectors.recent_jobs()
    # one running past the longest time limit lost its worker: shown failed, polling ends
    dead_after = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 600)
    for job in jobs:
        job_alive(job, running_for=dead_after)
    return {
        "jobs": jobs,
        "failures": selectors.recent_failures(),
        "polling": any(not j.is_finished for j in jobs),
        "can_run_again": user.has_perm(RUN_AGAIN),
    }


def _page(
    request: HttpRequest, bound: dict[str, JobForm] | None = None, status: int = 200
) -> HttpResponse:
    versions, (adapters, best, decision) = selectors.model_versions(), selectors.adapters()
    context = {
        "counts": selectors.catalogue_counts(),
        "versions": versions,
        "adapters": adapters,
        "best_adapter": best,
        "reranker_decision": decision,
        "actions": action_forms(request.user, bound),
        **_chart_context(_period(request)),
        **_jobs_context(request.user),
    }
    return render(request, TEMPLATE, context, status=status)


@staff_with(VIEW_JOBS)
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    return _page(request)


@staff_with(VIEW_JOBS)
@require_GET
def chart(request: HttpRequest) -> HttpResponse:
    """The chart alone, for htmx's period switch (the links' hrefs reload the whole page)."""
    return render(request, f"{TEMPLATE}#chart", _chart_context(_period(request)))


@staff_with(VIEW_JOBS)
@require_GET
def jobs(request: HttpRequest) -> HttpResponse:
    """The job and failure tables; they poll this view while a job is unfinished."""
    if not request.htmx:
        return redirect("dashboard:overview")
    return render(request, f"{TEMPLATE}#jobs", _jobs_context(request.user))


@staff_with(VIEW_JOBS)
@require_POST
def start(request: HttpRequest, action: str) -> HttpResponse:
    form_class = ACTIONS.get(action)
    if form_class is None:
        raise Http404(f"no dashboard action {action!r}")
    if not request.user.has_perm(form_class.permission):
        raise PermissionDenied(f"{form_class.title} needs the {form_class.permission} permission")
    form = form_class(request.POST, prefix=action)
    if not form.is_valid():
        fields = ", ".join(form[f].label.lower() for f in form.errors if f in form.fields)
        messages.error(request, f"{form.title}: check {fields or 'the form'} below.")
        return _page(request, bound={action: form}, status=400)
    arguments = form.arguments()
    job = job_enqueue(task=form.task, arguments=arguments, requested_by=request.user)
    messages.success(request, form.message.format(job=f"job #{job.pk}", **arguments))
    return redirect("dashboard:overview")


@staff_with(RUN_AGAIN)
@require_POST
def run_again(request: HttpRequest, pk: int) -> HttpResponse:
    failed = get_object_or_404(JobRun, pk=pk)
    try:
        job = job_run_again(job=failed, requested_by=request.user)
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, f"Job #{failed.pk} ({failed.task_name}) queued again as #{job.pk}."
        )
    return redirect("dashboard:overview")
