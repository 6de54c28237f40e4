"""Every API error is JSON in DRF's shapes: ``{"field": ["message"]}`` for bad input,
``{"detail": "..."}`` otherwise, unknown URLs under /api/v1/ included."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.views import csrf, defaults
from rest_framework import exceptions


def field_error(field: str, problem: str | Exception) -> exceptions.ValidationError:
    """A service's refusal (its ValueError), shown next to the field it is about, as the
    pages show it next to what the user typed."""
    return exceptions.ValidationError({field: [str(problem)]})


def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Unknown paths under /api/v1/ answer in JSON too, not with the site's HTML 404 page
    (and, since this catch-all stops APPEND_SLASH's redirect, say when a slash is missing)."""
    detail = f"No API endpoint at {request.path}."
    try:
        if resolve(request.path_info + "/").func is not not_found:
            detail += f" Did you mean {request.path}/ ?"
    except Resolver404:
        pass
    return JsonResponse({"detail": detail}, status=404)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """settings.CSRF_FAILURE_VIEW: under /api/ a refused CSRF check is DRF's JSON 403 (an
    unknown path's catch-all is a plain view, so the middleware checks it first); the pages
    keep Django's own explanation."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": f"CSRF Failed: {reason}"}, status=403)
    return csrf.csrf_failure(request, reason=reason)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler400: a request Django refuses before any view (too many form fields, a body
    over the upload limit) answers JSON under /api/, naming the problem."""
    if request.path.startswith("/api/"):
        problem = str(exception or "") or "malformed request"
        return JsonResponse({"detail": f"Bad request: {problem[:200]}"}, status=400)
    return defaults.bad_request(request, exception)  # type: ignore[arg-type]


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: JSON under /api/ (the details are in the server's log, never here)."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error; it has been logged."}, status=500)
    return defaults.server_error(request)


class Conflict(exceptions.APIException):
    """The request is fine but the current state refuses it (e.g. a critique undone twice)."""

    status_code = 409
    default_detail = "That conflicts with the current state."
    default_code = "conflict"


class NotReady(exceptions.APIException):
    """Background work this needs has not finished yet; try again shortly."""

    status_code = 503
    default_detail = "Not ready yet; try again in a minute."
    default_code = "not_ready"
