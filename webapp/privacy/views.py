"""Your data: see it, download it, delete it."""

from __future__ import annotations

from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from webapp.privacy.forms import AccountDeleteForm
from webapp.privacy.services import (
    personal_data_counts,
    personal_data_delete,
    personal_data_json,
    personal_data_page,
)

DELETED_KEY = "privacy_deleted"  # session key: what the confirmation page reports


@never_cache
@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    """The page shows the export itself, so what you see is what you download: each list
    with its count and its newest rows (a long history is in the download only)."""
    data = personal_data_page(user=request.user)
    context = {"data": data, "counts": personal_data_counts(user=request.user)}
    return render(request, "privacy/overview.html", context)


@never_cache
@login_required
@require_GET
def export(request: HttpRequest) -> StreamingHttpResponse:
    """Streamed a row at a time: a long history never sits in the web process's memory."""
    response = StreamingHttpResponse(
        personal_data_json(user=request.user), content_type="application/json; charset=utf-8"
    )
    name = f"my-data-{request.user.get_username()}-{timezone.now():%Y%m%d}.json"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def delete(request: HttpRequest) -> HttpResponse:
    data = request.POST if request.method == "POST" else None  # an empty POST is still one
    form = AccountDeleteForm(data, request=request)
    if request.method == "POST" and form.is_valid():
        try:
            deleted = personal_data_delete(user=request.user)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            logout(request)  # a fresh session: the old one belonged to the deleted account
            request.session[DELETED_KEY] = deleted
            return redirect("privacy:deleted")
    counts = personal_data_counts(user=request.user)
    status = 429 if form.locked_out else 400 if form.errors else 200
    return render(request, "privacy/delete.html", {"form": form, "counts": counts}, status=status)


@require_GET
def deleted(request: HttpRequest) -> HttpResponse:
    rows = request.session.pop(DELETED_KEY, None)
    if rows is None:
        return redirect("home")
    return render(request, "privacy/deleted.html", {"rows": sorted(rows.items())})
