"""Every password check is rate-limited per client address before its view runs.

Hashing a password is slow on purpose (~0.1 s of CPU), and Django hashes even for a username
that does not exist (so that timing does not tell which do). django-axes stops guessing one
account, but not a flood of attempts on made-up usernames: that would keep every web process
busy hashing. This counts every attempt from an address, whatever the username, and refuses
the excess with a 429 before any view (and so any hash) is reached.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from webapp.clientip import client_ip
from webapp.ratelimit import allow, flooding, parse_rate, retry_after, too_many

# The views that check a password on POST (URL names, so no app is imported): the site's
# login, the admin's login and password change, the API's token, deleting an account.
PASSWORD_VIEWS = frozenset(
    {"login", "admin:login", "admin:password_change", "api:token", "privacy:delete"}
)
TOO_MANY = "Too many password attempts from your address."
# Attempts at once: a minute's allowance sent together would hash for seconds in every web
# process (a hash is ~0.3 s of a core, ~1 s on a busy one) while other users' pages wait.
# A quarter of the rate's allowance, never under this (5 of the default 20 a minute).
PASSWORD_BURST = 5


class PasswordAttemptLimitMiddleware:
    """LOGIN_ATTEMPT_RATE attempts per client address, across all the views above."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        match = request.resolver_match
        if request.method != "POST" or match is None or match.view_name not in PASSWORD_VIEWS:
            return None
        rate = str(settings.LOGIN_ATTEMPT_RATE)  # read per request: tests override it
        key = f"password:{client_ip(request)}"
        # a script, not a person: refused at no cost (one cache read, nothing counted or
        # rendered), from the first refusal past those shown
        if flooding(key, rate):
            return too_many(rate, request.path)
        if allow(key, rate, burst=max(PASSWORD_BURST, parse_rate(rate)[0] // 4)):
            return None
        if flooding(key, rate):
            return too_many(rate, request.path)
        return _refused(request, retry_after(rate))


def _refused(request: HttpRequest, seconds: int) -> HttpResponse:
    """JSON in DRF's shape under /api/, the site's page elsewhere; both say when to retry."""
    response: HttpResponse
    if request.path.startswith("/api/"):
        detail = f"{TOO_MANY} Try again in {seconds} seconds."
        response = JsonResponse({"detail": detail}, status=429)
    else:
        context = {"message": TOO_MANY, "retry_after": seconds}
        response = render(request, "registration/attempts.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response
