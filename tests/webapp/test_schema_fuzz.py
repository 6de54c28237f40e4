"""Schemathesis over the whole OpenAPI schema, as a signed-in user with a real profile and
list: no 5xx, every status code and body the schema's, bounded in examples to fit CI."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import positive_data_acceptance

from tests.webapp.profiles_support import (  # noqa: F401 (fixtures)
    fan_fixture,
    tastes_fixture,
    tiny_model_folders_fixture,
    tiny_models_fixture,
)
from webapp.profiles import services as profile_services

EXAMPLES = 25  # per operation: ~26 operations x 25 cases

# Bodies that name stored things (an item id, a statement id, credentials): valid by the
# schema, yet rightly refused when no such thing exists, so "a valid request is accepted"
# cannot be asked of random ones. Every other check still runs on them.
NAMES_STORED_THINGS = {
    ("POST", "/api/v1/auth/token/"),
    ("POST", "/api/v1/me/critiques/items/"),
    ("POST", "/api/v1/me/interactions/"),
    ("PUT", "/api/v1/me/profile/"),
    ("PUT", "/api/v1/me/profile/filters/"),
}


def _schema() -> Any:
    """The schema the API serves at /api/schema/, built at collection (no database needed),
    so each operation is a test of its own; calls go to the WSGI app itself."""
    from drf_spectacular.generators import SchemaGenerator

    from webapp.wsgi import application

    loaded = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(public=True))
    loaded.app = application
    return loaded


schema = _schema()


@pytest.fixture(autouse=True)
def connection_kept() -> Iterator[None]:
    """As Django's test client does: a request must not close the test's connection (its
    transaction holds the fixtures' rows)."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def token(tiny_models: Any, fan: Any) -> str:
    """The fan's API token; their profile has a statement and a critique to act on."""
    profile_services.profile_edit(user=fan, by=fan, action="add", text="I love comedies")
    return Token.objects.get_or_create(user=fan)[0].key


@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same cases every run: a CI failure reproduces here
)
@pytest.mark.django_db
def test_the_api_matches_its_schema(case: Any, token: str) -> None:
    excluded = []
    if (case.method, case.operation.path) in NAMES_STORED_THINGS:
        excluded.append(positive_data_acceptance)
    case.call_and_validate(headers={"Authorization": f"Token {token}"}, excluded_checks=excluded)
