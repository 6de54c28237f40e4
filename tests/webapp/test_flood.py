"""One user flooding the product with model work, on real workers (one per queue, as
``make run`` starts them) and the real broker: the flood leaves at most one queued job of a
kind for that user, staff work on the other queue does not hold users up, and another user's
explanation job starts behind at most the flooder's queued ones."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.webapp.conftest import start_worker, stop_worker, wait_for
from tests.webapp.profiles_support import (  # noqa: F401 (fixtures)
    tastes_fixture,
    tiny_model_folders_fixture,
    tiny_models_fixture,
)
from webapp.jobs.models import JobRun
from webapp.jobs.services import job_enqueue
from webapp.ranking.tasks import explanations_refresh

V1 = "/api/v1"
FLOOD = 200


@pytest.fixture
def queue_workers(
    transactional_db: None, tiny_models: dict[str, Any], settings: Any
) -> Iterator[dict[str, Any]]:
    """A worker for each queue, both on the tiny real models, with LLM explanations on."""
    from webapp.celery import app

    settings.EXPLANATIONS_LLM = True
    env = {
        "EMBEDDING_MODEL": str(tiny_models["encoder"]),
        "LLM_MODEL": str(tiny_models["llm"]),
        "EXPLANATIONS_LLM": "true",
    }
    app.conf.task_always_eager = False
    app.control.purge()
    workers: dict[str, Any] = {}
    try:
        workers["user"] = start_worker("test-worker-user.log", queues="user", env=env)
        workers["staff"] = start_worker("test-worker-staff.log", queues="celery", env=env)
        yield workers
    finally:
        for proc in workers.values():
            stop_worker(proc)
        app.conf.task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER


@pytest.mark.worker
def test_a_flood_from_one_user_neither_piles_up_nor_holds_up_another_user(
    queue_workers: dict[str, Any], tastes: dict[str, Any], tmp_path: Any
) -> None:
    from tests.webapp.worker_tasks import waits_for_file

    flooder, other = tastes["fans"]["comedy"][0], tastes["fans"]["horror"][0]
    # staff work that holds its worker for the whole test (as a training run would)
    running = tmp_path / "training"
    running.write_text("")
    training = job_enqueue(task=waits_for_file, arguments={"path": str(running)})
    assert wait_for(lambda: JobRun.objects.get(pk=training.pk).state == JobRun.State.RUNNING)
    try:
        page, api = APIClient(), APIClient()
        page.force_login(flooder)
        api.force_authenticate(flooder)
        codes: Counter[int] = Counter()
        mine = JobRun.objects.filter(dedupe_key=f"user:{flooder.pk}")
        most_queued = 0
        for k in range(FLOOD // 2):
            codes[page.post("/profile/regenerate/").status_code] += 1
            added = api.post(f"{V1}/me/profile/statements/", {"text": f"wish {k}"}, format="json")
            codes[added.status_code] += 1
            queued = Counter(
                mine.filter(state=JobRun.State.QUEUED).values_list("task_name", flat=True)
            )
            most_queued = max(most_queued, *queued.values(), 0)
        assert set(codes) <= {201, 302, 400, 429}, codes  # never a 5xx
        assert most_queued <= 1, "more than one queued job of a kind for one user"
        started_before = set(mine.exclude(started_at=None).values_list("pk", flat=True))
        waiting_before = set(mine.filter(state=JobRun.State.QUEUED).values_list("pk", flat=True))

        # another user edits their profile: their explanations job starts promptly
        other_api = APIClient()
        other_api.force_authenticate(other)
        asked = time.monotonic()
        response = other_api.post(f"{V1}/me/profile/statements/", {"text": "more slashers"})
        assert response.status_code == 201
        theirs = JobRun.objects.filter(
            dedupe_key=f"user:{other.pk}", task_name=explanations_refresh.name
        )
        assert wait_for(lambda: theirs.exclude(started_at=None).exists(), timeout=120)
        waited = time.monotonic() - asked
        job = theirs.get()
        ahead = (
            set(mine.filter(started_at__lt=job.started_at).values_list("pk", flat=True))
            - started_before
        )
        # only the flooder's jobs that were already queued ran first: one per kind
        assert ahead <= waiting_before and len(ahead) <= 2, (ahead, waiting_before)
        assert wait_for(lambda: JobRun.objects.get(pk=job.pk).is_finished, timeout=120)
        job.refresh_from_db()
        assert job.state == JobRun.State.SUCCEEDED, job.error
        assert JobRun.objects.get(pk=training.pk).state == JobRun.State.RUNNING
        print(
            f"\nflood: {dict(codes)}; {mine.count()} jobs for {FLOOD} requests; the other "
            f"user's job started after {waited:.1f} s behind {len(ahead)} of the flooder's"
        )
    finally:
        running.unlink()
    assert wait_for(lambda: JobRun.objects.get(pk=training.pk).is_finished, timeout=60)
    assert settings.USER_QUEUE == "user"
