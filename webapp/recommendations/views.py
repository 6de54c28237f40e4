from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from webapp.jobs.models import JobRun
from webapp.profiles.selectors import ranking_for
from webapp.recommendations import tasks


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Recommendations for a signed-in user; visitors browse the catalogue."""
    if not request.user.is_authenticated:
        return redirect("item_list")
    # the stored list re-ranked by the user's profile (profile-only for a cold start), each
    # entry with its cached or template explanation
    recommendations = ranking_for(user=request.user, limit=20).entries
    training = JobRun.objects.filter(task_name=tasks.model_train.name).first()
    context = {"recommendations": recommendations, "training": training}
    # While the first model trains, the status fragment polls itself until lists exist.
    template = "recommendations/home.html#status" if request.htmx else "recommendations/home.html"
    return render(request, template, context)
