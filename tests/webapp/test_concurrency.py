"""Two clients writing one profile at once (real threads, real connections: PostgreSQL in
CI's second pass, SQLite in the first): no 5xx, and no edit silently lost."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.test import APIClient

from tests.webapp.profiles_support import tastes_fixture  # noqa: F401 (a fixture)
from webapp.profiles import selectors
from webapp.profiles.models import ProfileVersion

EDITS = 50
V1 = "/api/v1"


@pytest.mark.django_db(transaction=True)
def test_two_clients_adding_statements_at_once_lose_nothing(settings: Any) -> None:
    # this is about races, not the per-user edit limit (EDIT_RATE): lift it for 2 x 50 edits
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "edit": "1000/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
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


# -- one user cannot flood the shared worker --------------------------------------------------


@pytest.mark.django_db
def test_200_regenerate_clicks_leave_one_queued_job_per_kind(
    tastes: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    from webapp.jobs.models import JobRun
    from webapp.profiles import tasks as profile_tasks
    from webapp.ranking import tasks as ranking_tasks

    sent: list[tuple[str, dict[str, Any]]] = []
    for task in (profile_tasks.profile_generate, ranking_tasks.explanations_refresh):
        # the broker is outside the project: record what would be sent, leave it queued
        monkeypatch.setattr(
            task, "apply_async", lambda *_, _name=task.name, **kw: sent.append((_name, kw))
        )
    fan, other = tastes["fans"]["comedy"][0], tastes["fans"]["horror"][0]
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(200):
            profile_tasks.profile_generate_enqueue(user=fan)
            ranking_tasks.explanations_enqueue(user=fan)
    queued = JobRun.objects.filter(state=JobRun.State.QUEUED)
    assert queued.filter(dedupe_key=f"user:{fan.pk}").count() == 2  # one of each kind
    assert sorted(name for name, _ in sent) == sorted(
        [profile_tasks.profile_generate.name, ranking_tasks.explanations_refresh.name]
    )
    # another user is not held up by them
    ranking_tasks.explanations_enqueue(user=other)
    assert queued.filter(dedupe_key=f"user:{other.pk}").count() == 1
    # once the queued one starts, a new request queues the next one (it reads newer data)
    first = queued.get(dedupe_key=f"user:{fan.pk}", task_name=profile_tasks.profile_generate.name)
    JobRun.objects.filter(pk=first.pk).update(state=JobRun.State.RUNNING)
    again = profile_tasks.profile_generate_enqueue(user=fan)
    assert again.pk != first.pk and again.state == JobRun.State.QUEUED


# -- the broker is down after the edit committed -----------------------------------------------


@pytest.mark.django_db
def test_an_edit_saved_while_the_broker_is_down_is_kept_and_its_job_fails_visibly(
    tastes: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    from kombu.exceptions import OperationalError

    from webapp.jobs.models import JobRun
    from webapp.profiles import tasks as profile_tasks

    def broker_down(*args: Any, **kwargs: Any) -> None:  # the broker is outside the project
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(profile_tasks.profile_generate, "apply_async", broker_down)
    fan = tastes["fans"]["comedy"][0]
    api = APIClient()
    api.force_authenticate(fan)
    with django_capture_on_commit_callbacks(execute=True):
        added = api.post(f"{V1}/me/profile/statements/", {"text": "more musicals"})
        asked = api.post(f"{V1}/me/profile/regenerate/")
    assert added.status_code == 201 and asked.status_code == 202  # the request itself is fine
    profile = selectors.current_profile(user=fan)
    assert profile is not None and "more musicals" in {s.text for s in profile.statements}
    job = JobRun.objects.get(pk=asked.json()["id"])
    assert job.state == JobRun.State.FAILED and "could not reach the task queue" in job.message
    shown = api.get(f"{V1}/me/jobs/{job.pk}/").json()
    assert shown["state"] == "failed" and "start it again" in shown["message"]
