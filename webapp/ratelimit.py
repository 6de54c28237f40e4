"""Fixed-window request limits for the pages (each window opened by its first request),
counted in Django's cache: the same store the API's throttles use, so with ``CACHE_URL``
(Redis) every web process shares the counts; with the default local-memory cache each process
counts its own (the embedded default runs one). Limits per client address key on
``webapp.clientip.client_ip``, the one reading of the address that the API's throttles and
django-axes share. Imports no app, so every app may use it."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse

from webapp.clientip import RequestLike, client_ip

_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# what a page says when a per-user limit refuses a request
TOO_MANY = "Too many requests in a row: wait a minute and try again."


def parse_rate(rate: str) -> tuple[int, int]:
    """ "30/min" -> (30, 60): DRF's throttle format, so pages and API share one setting."""
    count, _, period = rate.partition("/")
    return int(count), _SECONDS[period.strip().lower()[0]]


def allow(key: str, rate: str, *, burst: int | None = None) -> bool:
    """Count one request under ``key``; False once over the rate. The window starts with the
    first request and lasts one period: windows aligned to the clock let a burst that
    straddles a boundary (an hour's 10 sign-ups at 4:59 and 10 more at 5:00) through twice.

    ``burst``: besides, at most this many per window of the rate's own pace (20/min with a
    burst of 3: 3 per 9 s). For costly work (a password hash, a re-rank): a client that
    sends a minute's allowance at once would hold every web process for seconds, and every
    other user's pages would wait behind it."""
    limit, period = parse_rate(rate)
    within = _count(f"ratelimit:{key}", period) <= limit
    if burst is None or burst >= limit:
        return within
    stretch = max(1, round(period * burst / limit))
    return _count(f"ratelimit:{key}:burst", stretch) <= burst and within


def _count(counter: str, seconds: int) -> int:
    """One more under ``counter``, in a window its first request opens; the count so far."""
    if cache.add(counter, 1, timeout=seconds):  # the first request opens the window
        return 1
    try:
        return int(cache.incr(counter))
    except ValueError:  # expired between add and incr: a new window
        cache.set(counter, 1, timeout=seconds)
        return 1


# Refusals a window answers with the page that says why (and keeps what was typed): a person
# who meets a limit stops after a few. Past them the client is a script, answered with a bare
# 429: thousands of refusals that each rendered a page would cost the server as much as the
# work the limit keeps out (a refused edit rendered the editor: ~0.2 s).
REFUSALS_SHOWN = 10


def flooding(key: str, rate: str) -> bool:
    """Whether ``key``, refused by :func:`allow`, is past its ``REFUSALS_SHOWN`` refusals in
    this window: then refuse it with :func:`too_many`, at no cost."""
    limit, _ = parse_rate(rate)
    return int(cache.get(f"ratelimit:{key}") or 0) > limit + REFUSALS_SHOWN


def too_many(rate: str, path: str = "") -> HttpResponse:
    """The bare refusal for a flood: nothing read or rendered; plain text, or under /api/ the
    API's JSON error shape (its schema promises one)."""
    response: HttpResponse
    if path.startswith("/api/"):
        response = JsonResponse({"detail": "Too many requests."}, status=429)
    else:
        response = HttpResponse(
            "Too many requests.\n", status=429, content_type="text/plain; charset=utf-8"
        )
    response["Retry-After"] = str(retry_after(rate))
    return response


def allow_client(request: RequestLike, scope: str, rate: str) -> bool:
    """``allow`` counted per client address (behind NUM_PROXIES proxies, the client's own)."""
    return allow(f"{scope}:{client_ip(request)}", rate)


def retry_after(rate: str) -> int:
    """Seconds a refused client should wait: at most one period (its window may be older)."""
    return parse_rate(rate)[1]


def flood_mark(request: HttpRequest, rate: str) -> None:
    """Remember for one of ``rate``'s periods that this session floods: FloodGateMiddleware
    then refuses its writes before the session or the user is even read."""
    session = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if session:
        cache.set(f"flood:{session}", rate, timeout=retry_after(rate))


class FloodGateMiddleware:
    """A write from a session marked by :func:`flood_mark` gets the bare 429 from one cache
    read, ahead of the session, CSRF and user lookups (~8 ms a request under a 150/s flood,
    most of what one client's refused writes cost). Reads still pass: a person, or a page,
    is never locked out of looking."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        if session and request.method == "POST":
            rate = cache.get(f"flood:{session}")
            if rate:
                return too_many(str(rate), request.path)
        return self.get_response(request)
