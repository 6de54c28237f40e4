"""Two clients writing one profile at once (real threads, real connections: PostgreSQL in
CI's second pass, SQLite in the first): no 5xx, and no edit silently lost."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.test import APIClient

from tests.webapp.profiles_support import (  # noqa: F401 (fixtures)
    tastes_fixture,
    tiny_model_folders_fixture,
    tiny_models_fixture,
)
from webapp.profiles import selectors
from webapp.profiles.models import ProfileVersion

EDITS = 50
MESSAGES = 8  # per tab: 2 x 8 turns and their answers fit the 40 a chat keeps
V1 = "/api/v1"


def _at_once(names: list[str], work: Callable[[str], None]) -> None:
    """``work(name)`` in one thread per name, started together, each on its own database
    connection; raises what any of them raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(len(names))

    def client(name: str) -> None:
        try:
            start.wait()
            work(name)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=client, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors


def _lift_rate(settings: Any, scope: str) -> None:
    """These tests are about races, not the per-user limits: lift ``scope``'s for them."""
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], scope: "1000/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


@pytest.mark.django_db(transaction=True)
def test_two_clients_adding_statements_at_once_lose_nothing(settings: Any) -> None:
    _lift_rate(settings, "edit")  # 2 x 50 edits
    user = get_user_model().objects.create_user("busy")
    statuses: dict[str, list[int]] = {"a": [], "b": []}

    def edits(name: str) -> None:
        api = APIClient()
        api.force_authenticate(user)
        for k in range(EDITS):
            response = api.post(
                f"{V1}/me/profile/statements/", {"text": f"{name} wish {k}"}, format="json"
            )
            statuses[name].append(response.status_code)

    _at_once(list(statuses), edits)
    codes = statuses["a"] + statuses["b"]
    assert len(codes) == 2 * EDITS and set(codes) == {201}, sorted(set(codes))
    profile = selectors.current_profile(user=user)
    assert profile is not None
    texts = {s.text for s in profile.statements}
    missing = {f"{n} wish {k}" for n in statuses for k in range(EDITS)} - texts
    assert not missing, f"{len(missing)} edits lost, e.g. {sorted(missing)[:3]}"
    numbers = list(ProfileVersion.objects.filter(user=user).values_list("number", flat=True))
    assert sorted(numbers) == list(range(1, 2 * EDITS + 1))  # one version per edit, no gaps


@pytest.mark.django_db(transaction=True)
def test_two_tabs_chatting_at_once_lose_no_turn(
    settings: Any, tastes: dict[str, Any], tiny_models: Any
) -> None:
    """Each turn reads the chat, answers and writes it back: without the row lock the later
    of two tabs saved over the other's turn."""
    from webapp import ml
    from webapp.catalogue import services as catalogue_services
    from webapp.steering.models import Conversation

    _lift_rate(settings, "llm")
    catalogue_services.item_vectors_compute(encoder=ml.encoder())
    user = tastes["fans"]["comedy"][0]
    statuses: dict[str, list[int]] = {"a": [], "b": []}

    def chat(name: str) -> None:
        api = APIClient()
        api.force_authenticate(user)
        for k in range(MESSAGES):
            response = api.post(
                f"{V1}/me/conversation/messages/", {"message": f"{name} says {k}"}, format="json"
            )
            statuses[name].append(response.status_code)

    _at_once(list(statuses), chat)
    assert statuses == {"a": [201] * MESSAGES, "b": [201] * MESSAGES}
    turns = Conversation.objects.get(user=user).turns
    said = [t["text"] for t in turns if t["who"] == "you"]
    sent = {f"{n} says {k}" for n in statuses for k in range(MESSAGES)}
    assert set(said) == sent, f"{len(sent - set(said))} turns lost"
    assert [t["who"] for t in turns] == ["you", "bot"] * len(sent)  # each answer after its turn


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
