"""The home page ("For you"), the fragments its cards poll, and the item page (which says
why the item is, or is not, on the list)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseClientRefresh, HttpResponseStopPolling

from webapp.catalogue import selectors as catalogue_selectors
from webapp.catalogue.models import Item
from webapp.jobs.models import JobRun
from webapp.jobs.services import job_alive
from webapp.jobs.tasks import USER_WORK_DEAD_AFTER
from webapp.profiles import tasks as profile_tasks
from webapp.ranking import selectors
from webapp.ranking.tasks import explanations_ensure
from webapp.recommendations import tasks as rec_tasks


def _waiting_on(user: Any) -> dict[str, JobRun | None]:
    """The jobs a user without a list waits for: their profile being written, or training."""
    # a job that outlived its time limit lost its worker: marked failed, so the page stops
    # polling and says so instead of waiting for ever
    profile_job = JobRun.objects.filter(
        task_name=profile_tasks.profile_generate.name, requested_by=user
    ).first()
    training = JobRun.objects.filter(task_name=rec_tasks.model_train.name).first()
    return {
        "profile_job": job_alive(profile_job, running_for=USER_WORK_DEAD_AFTER),
        "training": job_alive(
            training, running_for=timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 600)
        ),
    }


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Recommendations for a signed-in user; visitors browse the catalogue."""
    if not request.user.is_authenticated:
        return redirect("item_list")
    context = selectors.for_you(user=request.user)
    if request.htmx:
        # the empty state polls itself; once the list exists the whole page is worth reloading
        if context["recommendations"]:
            return HttpResponseClientRefresh()
        return render(request, "recommendations/home.html#status", _waiting_on(request.user))
    if context["recommendations"]:
        job = explanations_ensure(
            user=request.user, entries=context["recommendations"], job=context["explain_job"]
        )
        context |= {"explain_job": job, "explaining": job is not None and not job.is_finished}
    else:
        context |= _waiting_on(request.user)
    return render(request, "recommendations/home.html", context)


@login_required
@require_GET
def explanation(request: HttpRequest, pk: int) -> HttpResponse:
    """A card's explanation while the worker writes it: 204 (keep polling, keep the draft)
    until the text is there, then the finished block; 286 stops polling when the job ended
    without writing it (the draft stays)."""
    item = get_object_or_404(Item, pk=pk)
    found = selectors.cached_explanation(user=request.user, item=item)
    if found is None:
        job = selectors.explanations_job(user=request.user)
        if job is not None and not job.is_finished:
            return HttpResponse(status=204)
        return HttpResponseStopPolling()
    rec = {"item": item, **found}
    return render(request, "recommendations/home.html#explanation", {"rec": rec})


@require_GET
def item_detail(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(Item.objects.prefetch_related("genres"), pk=pk)
    context = {
        "item": item,
        "state": catalogue_selectors.item_state_for_user(user=request.user, item=item),
        "similar": selectors.similar_items(item=item),
        "verdict": selectors.item_verdict(user=request.user, item=item),
    }
    return render(request, "catalogue/item_detail.html", context)
