"""``Server-Timing: app;dur=<ms>`` on every response: the time Django spent on it.

First in MIDDLEWARE, so the figure covers every other middleware, the view and the
template, but not the WSGI server's queueing or the network. Browsers show it in their
network panel, and ``bench/load_bench.py`` reads it to report server-side percentiles next
to the client's. ``SERVER_TIMING=false`` removes the middleware (and the header) entirely.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse


class ServerTimingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        if not settings.SERVER_TIMING:
            raise MiddlewareNotUsed  # Django drops it from the chain at start-up
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed_ms = (time.perf_counter() - started) * 1000
        # Appended, so a view's own Server-Timing metrics survive beside ours.
        previous = response.headers.get("Server-Timing")
        metric = f"app;dur={elapsed_ms:.2f}"
        response.headers["Server-Timing"] = f"{previous}, {metric}" if previous else metric
        return response
