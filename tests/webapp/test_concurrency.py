"""Two clients writing one profile at once (real threads, real connections: PostgreSQL in
CI's second pass, SQLite in the first): no 5xx, and no edit silently lost."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.test import APIClient

from webapp.profiles import selectors
from webapp.profiles.models import ProfileVersion

EDITS = 50
V1 = "/api/v1"


@pytest.mark.django_db(transaction=True)
def test_two_clients_adding_statements_at_once_lose_nothing() -> None:
    user = get_user_model().objects.create_user("busy")
    statuses: dict[str, list[int]] = {"a": [], "b": []}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def client(name: str) -> None:
        try:
            api = APIClient()
            api.force_authenticate(user)
            start.wait()
            for k in range(EDITS):
                response = api.post(
                    f"{V1}/me/profile/statements/", {"text": f"{name} wish {k}"}, format="json"
                )
                statuses[name].append(response.status_code)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=client, args=(n,)) for n in statuses]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    codes = statuses["a"] + statuses["b"]
    assert len(codes) == 2 * EDITS and set(codes) == {201}, sorted(set(codes))
    profile = selectors.current_profile(user=user)
    assert profile is not None
    texts = {s.text for s in profile.statements}
    missing = {f"{n} wish {k}" for n in statuses for k in range(EDITS)} - texts
    assert not missing, f"{len(missing)} edits lost, e.g. {sorted(missing)[:3]}"
    numbers = list(ProfileVersion.objects.filter(user=user).values_list("number", flat=True))
    assert sorted(numbers) == list(range(1, 2 * EDITS + 1))  # one version per edit, no gaps
