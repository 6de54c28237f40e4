from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    """What we store about the signed-in user (the privacy work fills this in)."""
    return render(request, "privacy/overview.html", {})
