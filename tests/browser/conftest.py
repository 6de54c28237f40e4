"""Browser tests: Debian's Chromium driven by Playwright against pytest-django's live server.

Playwright is never allowed to download a browser: the tests launch the system Chromium
(``CHROMIUM``, default ``/usr/bin/chromium``). Without it they skip with the reason, except
in CI (``CI`` set), where a missing browser fails the run instead of hiding the tests.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API keeps an asyncio loop running in this thread, and Django refuses ORM
# calls from a thread with a running loop. The loop only drives the browser; our ORM calls
# (seeding, assertions) stay synchronous, so the check is a false alarm here, and only here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = ROOT / "reports" / "screenshots"
BENCH = ROOT / "reports" / "bench"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # nothing outside the live server is reachable (or wanted) from the test machine
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000  # a loaded 2-core machine: the first page that embeds text loads MiniLM


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        reason = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
        if _in_ci():
            pytest.fail(f"{reason}; CI must run the browser tests", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    """A fresh browser context (own cookies) whose relative URLs go to the live server."""
    context = browser.new_context(
        base_url=live_server.url, accept_downloads=True, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def screenshot(page: Any) -> Any:
    """``screenshot("home")`` writes reports/screenshots/home.png (made by every run)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def movielens_100k(transactional_db: None) -> dict[str, Any]:
    """The packaged MovieLens 100K catalogue and its item vectors (the packaged MiniLM).

    This is what the worker has done on a fresh install before anyone signs up: import
    (about 7 s) and embed 1,682 item texts (about 40 s cold on 2 busy cores; the encoder's
    disk cache under ``var/test/models`` makes later runs take a second or two).
    """
    from webapp import ml
    from webapp.catalogue import services
    from webapp.catalogue.importing import movielens_import

    report = movielens_import(variant="100k")
    vectors = services.item_vectors_compute(encoder=ml.encoder())
    return {"import": report, "item_vectors": vectors}


@pytest.fixture
def queued_tasks() -> Iterator[None]:
    """Tasks go to the broker instead of running inside the request, as with a real deploy.

    Eager mode (the unit tests' default) would run the LLM explanation refresh inside each
    profile edit's request and make every click wait for it. The browser journey checks
    what a user sees before the worker has caught up; the worker tests cover the rest.
    """
    from django.conf import settings

    from webapp.celery import app

    app.conf.task_always_eager = False
    try:
        yield
    finally:
        app.control.purge()  # nothing this journey queued is left for a later worker test
        app.conf.task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Show the browser-measured edit -> list time at the end of any run that measured it."""
    result = BENCH / "browser_edit_to_list.json"
    started = getattr(terminalreporter, "_sessionstarttime", None)
    if not result.exists() or (started is not None and result.stat().st_mtime < started):
        return
    data = json.loads(result.read_text())
    terminalreporter.write_line(
        f"browser edit -> list: median {data['median_ms']} ms, max {data['max_ms']} ms "
        f"over {data['edits']} edits ({result.relative_to(ROOT)})"
    )
