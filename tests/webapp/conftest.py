from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection

from webapp.catalogue.models import Genre, Interaction, Item

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    """Django's cache outlives a test's rolled-back rows: cached rankings and API throttle
    counts from one test must not leak into the next."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_item(db: None) -> Any:
    def make(
        title: str = "Toy Story",
        year: int | None = 1995,
        genres: tuple[str, ...] = ("Comedy",),
        **kw: Any,
    ) -> Item:
        kw.setdefault("source", "test")
        kw.setdefault("external_id", f"{title}-{year}")
        item = Item.objects.create(title=title, year=year, **kw)
        item.genres.set([Genre.objects.get_or_create(name=g)[0] for g in genres])
        return item

    return make


@pytest.fixture
def alice(db: None) -> Any:
    return get_user_model().objects.create_user("alice", password="correct horse battery")


@pytest.fixture
def staff(db: None) -> Any:
    return get_user_model().objects.create_user(
        "sam", password="staff pass 123", is_staff=True, is_superuser=True
    )


def _database_url_for_worker() -> str:
    """Point the worker at the database the tests are using right now (the test database)."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or ""
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{s['NAME']}"


def start_worker(
    log_name: str = "test-worker.log",
    *,
    queues: str = "celery,user",
    name: str = "",
    env: dict[str, str] | None = None,
    pool: str = "solo",
) -> subprocess.Popen[str]:
    """A real ``celery worker`` (solo pool) on the configured broker and the test database,
    started and ready (its log under VAR_DIR); by default it serves both queues, as one
    worker of a small install may. ``name``: its node name (a worker that reaps its earlier
    run must come back under the same one); ``env``: settings for it alone; ``pool``:
    "prefork" runs tasks in one child process, which the worker outlives when it dies."""
    env = {
        **os.environ,
        "DATABASE_URL": _database_url_for_worker(),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        **(env or {}),
    }
    log = Path(settings.VAR_DIR) / log_name
    out = log.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "webapp", "worker", f"--pool={pool}", "-c", "1",
         "--loglevel=INFO", "-I", "tests.webapp.worker_tasks", "--without-gossip", "--without-mingle", "--without-heartbeat",
         "-Q", queues, *(["-n", name] if name else [])],
        cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    out.close()  # the child keeps its own handle
    deadline = time.monotonic() + 60
    while "ready." not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_worker(proc)
            raise RuntimeError(f"celery worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    return proc


def stop_worker(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=20)


@pytest.fixture
def celery_worker_process(transactional_db: None) -> Iterator[subprocess.Popen[str]]:
    """A real ``celery worker`` process on the configured broker, sharing the test database.

    The test process stops running tasks eagerly so that messages really travel through the
    broker; the worker picks them up and writes to the same (committed) test database.
    """
    from webapp.celery import app

    app.conf.task_always_eager = False
    app.control.purge()  # leftovers of an earlier, interrupted run
    proc = start_worker()
    try:
        yield proc
    finally:
        stop_worker(proc)
        app.conf.task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER


def wait_for(predicate: Any, timeout: float = 60.0, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def two_tastes(make_item: Any) -> dict[str, Any]:
    """Two groups of users, each rating most items of its own block (a checkerboard)."""
    comedies = [make_item(title=f"Comedy {i}", genres=("Comedy",)) for i in range(8)]
    horrors = [make_item(title=f"Horror {i}", genres=("Horror",)) for i in range(8)]
    rows = []
    users = {"comedy": [], "horror": []}
    for group, block in (("comedy", comedies), ("horror", horrors)):
        for u in range(10):
            user = get_user_model().objects.create_user(f"{group}{u}")
            users[group].append(user)
            # each user skips a different item of their block, so there is something to find
            for k, item in enumerate(block):
                if k != u % len(block):
                    rows.append(
                        Interaction(
                            user=user,
                            item=item,
                            kind="rating",
                            value=4,
                            created_at=T0 + timedelta(minutes=k),
                        )
                    )
    Interaction.objects.bulk_create(rows)
    return {"comedies": comedies, "horrors": horrors, "users": users}
