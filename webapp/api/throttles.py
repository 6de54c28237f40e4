"""DRF's throttles, reading their rates per request instead of once at import.

DRF binds ``THROTTLE_RATES`` when its module is imported, so a changed ``REST_FRAMEWORK``
setting (a test's override) would never reach it; reading ``api_settings`` each time does.
Each names its client by ``webapp.clientip.client_ip``, as every other per-address limit does.
"""

from __future__ import annotations

from typing import Any

from rest_framework import throttling
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.settings import api_settings

from webapp.clientip import client_ip


class _LiveRates:
    """Rates read per request; clients named the way every per-address limit names them."""

    @property
    def THROTTLE_RATES(self) -> dict[str, Any]:  # DRF reads this name
        return api_settings.DEFAULT_THROTTLE_RATES

    def get_ident(self, request: Request) -> str:  # anonymous clients' key, in every throttle
        return client_ip(request)


class AnonThrottle(_LiveRates, throttling.AnonRateThrottle):
    """Visitors without a session or token, by IP address (``API_ANON_THROTTLE``)."""


class UserThrottle(_LiveRates, throttling.UserRateThrottle):
    """Each signed-in user across all endpoints (``API_USER_THROTTLE``)."""


class ScopedThrottle(_LiveRates, throttling.ScopedRateThrottle):
    """Views that name a ``throttle_scope`` ("llm": ``API_LLM_THROTTLE``, "edit":
    ``EDIT_RATE``), per user. Only writes count: a scope names costly work (a model's, a new
    version's), and reading the profile it is on costs neither."""

    def allow_request(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return bool(super().allow_request(request, view))
