"""Fixed-window request limits for the pages, counted in Django's cache: the same store the
API's throttles use, so with ``CACHE_URL`` (Redis) every web process shares the counts; with
the default local-memory cache each process counts its own (the embedded default runs one).
Limits per client address key on ``webapp.clientip.client_ip``, the one reading of the address
that the API's throttles and django-axes share. Imports no app, so every app may use it."""

from __future__ import annotations

import time

from django.core.cache import cache

from webapp.clientip import RequestLike, client_ip

_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """ "30/min" -> (30, 60): DRF's throttle format, so pages and API share one setting."""
    count, _, period = rate.partition("/")
    return int(count), _SECONDS[period.strip().lower()[0]]


def allow(key: str, rate: str) -> bool:
    """Count one request under ``key`` in the current window; False once over the rate."""
    limit, period = parse_rate(rate)
    window = f"ratelimit:{key}:{int(time.time() // period)}"
    cache.add(window, 0, timeout=period + 1)
    try:
        count = cache.incr(window)
    except ValueError:  # evicted between add and incr: count afresh
        cache.set(window, 1, timeout=period + 1)
        count = 1
    return count <= limit


def allow_client(request: RequestLike, scope: str, rate: str) -> bool:
    """``allow`` counted per client address (behind NUM_PROXIES proxies, the client's own)."""
    return allow(f"{scope}:{client_ip(request)}", rate)


def retry_after(rate: str) -> int:
    """Seconds until the current window of ``rate`` ends: a 429's Retry-After."""
    _, period = parse_rate(rate)
    return max(1, period - int(time.time()) % period)
