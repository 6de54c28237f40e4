"""The one place that says which address a request came from.

Every per-address limit reads it: the sign-up limit, the login attempt limit, django-axes'
lockouts (``AXES_CLIENT_IP_CALLABLE``) and the API's throttles. Were each to read the address
its own way, a client behind the proxy could be one address to one limit and another to the
next, and pick a fresh bucket for each by sending X-Forwarded-For.

With ``NUM_PROXIES`` (N) proxies in front, each appends the address it saw to
X-Forwarded-For, so the N-th entry from the right is the last one a trusted proxy wrote; the
entries left of it are whatever the client sent. With none, only the connection's address is
trusted. This is DRF's ``BaseThrottle.get_ident`` rule, minus its ``None`` case (trust the
whole header), which the settings never give. Imports no app, so every app may use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from django.conf import settings


class RequestLike(Protocol):
    """Django's HttpRequest, or DRF's Request wrapping one (axes is handed either)."""

    @property
    def META(self) -> Mapping[str, Any]: ...


def num_proxies() -> int:
    """Read per call, so that a test's settings override reaches it."""
    return int(settings.REST_FRAMEWORK.get("NUM_PROXIES") or 0)


def client_ip(request: RequestLike) -> str:
    """The client's address: N proxies back in X-Forwarded-For, else the connection's."""
    remote = str(request.META.get("REMOTE_ADDR") or "")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    proxies = num_proxies()
    if proxies == 0 or not forwarded:
        return remote
    hops = str(forwarded).split(",")
    # fewer entries than proxies: a proxy is misconfigured; take the oldest, as DRF does
    return hops[-min(proxies, len(hops))].strip() or remote
