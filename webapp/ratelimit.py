"""Fixed-window request limits for the pages (each window opened by its first request),
counted in Django's cache: the same store the API's throttles use, so with ``CACHE_URL``
(Redis) every web process shares the counts; with the default local-memory cache each process
counts its own (the embedded default runs one). Limits per client address key on
``webapp.clientip.client_ip``, the one reading of the address that the API's throttles and
django-axes share. Imports no app, so every app may use it."""

from __future__ import annotations

from django.core.cache import cache

from webapp.clientip import RequestLike, client_ip

_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# what a page says when a per-user limit refuses a request
TOO_MANY = "Too many requests in a row: wait a minute and try again."


def parse_rate(rate: str) -> tuple[int, int]:
    """ "30/min" -> (30, 60): DRF's throttle format, so pages and API share one setting."""
    count, _, period = rate.partition("/")
    return int(count), _SECONDS[period.strip().lower()[0]]


def allow(key: str, rate: str) -> bool:
    """Count one request under ``key``; False once over the rate. The window starts with the
    first request and lasts one period: windows aligned to the clock let a burst that
    straddles a boundary (an hour's 10 sign-ups at 4:59 and 10 more at 5:00) through twice."""
    limit, period = parse_rate(rate)
    counter = f"ratelimit:{key}"
    if cache.add(counter, 1, timeout=period):  # the first request opens the window
        return limit >= 1
    try:
        count = cache.incr(counter)
    except ValueError:  # expired between add and incr: a new window
        cache.set(counter, 1, timeout=period)
        count = 1
    return count <= limit


def allow_client(request: RequestLike, scope: str, rate: str) -> bool:
    """``allow`` counted per client address (behind NUM_PROXIES proxies, the client's own)."""
    return allow(f"{scope}:{client_ip(request)}", rate)


def retry_after(rate: str) -> int:
    """Seconds a refused client should wait: at most one period (its window may be older)."""
    return parse_rate(rate)[1]
