from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_every_response_says_how_long_django_spent_on_it(client: Client) -> None:
    response = client.get("/healthz")
    assert re.fullmatch(r"app;dur=\d+\.\d\d", response.headers["Server-Timing"])
    assert "Server-Timing" in client.get("/no-such-page/").headers  # errors are timed too


def test_server_timing_can_be_switched_off(settings: Any) -> None:
    settings.SERVER_TIMING = False
    assert "Server-Timing" not in Client().get("/healthz").headers
