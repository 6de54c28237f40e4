"""The recommendations request path stays cheap and exact: a bounded number of queries that
does not grow with the cards, a cached ranking that every change replaces at once, and an
explanation job whose message was lost is given up and queued again."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.webapp.profiles_support import (  # noqa: F401 (fixtures)
    fan_fixture,
    tastes_fixture,
    tiny_model_folders_fixture,
    tiny_models_fixture,
    winning_adapter,
)
from webapp.catalogue import services as catalogue_services
from webapp.catalogue import state as catalogue_state
from webapp.catalogue.models import Item
from webapp.jobs.models import JobRun
from webapp.profiles import services
from webapp.ranking import selectors as ranking_selectors
from webapp.ranking import services as ranking_services
from webapp.recommendations import services as rec_services

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("tiny_models")]
EXPLAIN = "webapp.ranking.tasks.explanations_refresh"
HOME_QUERIES = 12  # session, user, catalogue signature, profile, list, item vectors,
# interactions, explanations, the rerank and explanation jobs; +2 (cards and genres) uncached


def queries(client: Client, url: str) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries), response.content.decode()


def shown(ranking: ranking_selectors.Ranking) -> list[tuple[Any, ...]]:
    """What a card shows, in order: item, title, score parts and explanation."""
    return [
        (
            e["item"].pk,
            e["item"].title,
            e["item"].interaction_count,
            round(e["score"], 9),
            sorted((r, round(v, 9)) for r, v in e["components"].items()),
            (e["explanation"] or {}).get("text"),
            (e["explanation"] or {}).get("pending"),
        )
        for e in ranking.entries
    ]


def uncached(user: Any) -> list[tuple[Any, ...]]:
    cache.clear()
    return shown(ranking_selectors.ranking_for(user=user))


# -- query count ------------------------------------------------------------------------------


def test_the_home_page_reads_a_bounded_number_of_queries_whatever_the_number_of_cards(
    client: Client, fan: Any, tastes: dict[str, Any]
) -> None:
    client.get(reverse("home"))  # the first visit queues the explanation job (one INSERT)
    cache.clear()
    cold, page = queries(client, reverse("home"))
    warm, _ = queries(client, reverse("home"))
    assert page.count('data-testid="rec-card"') == 9  # every film the fan has not rated
    # retire most of the candidates: fewer cards, the same queries
    horrors = [i.pk for i in tastes["horrors"]]
    catalogue_services.items_set_active(item_ids=horrors[:6], active=False)
    catalogue_state.catalogue_state()  # rebuilt once per process per catalogue change (3 queries)
    fewer_cold, fewer = queries(client, reverse("home"))
    fewer_warm, _ = queries(client, reverse("home"))
    assert fewer.count('data-testid="rec-card"') < 9
    assert (fewer_cold, fewer_warm) == (cold, warm)
    # a repeat visit reads no item rows and not the stored list's entries
    assert warm == cold - 3 <= HOME_QUERIES


def test_the_recommendations_api_reads_the_same_queries_for_3_or_9_entries(
    client: Client, fan: Any
) -> None:
    url = reverse("api:recommendations")
    counts = {}
    for limit in (3, 9):
        cache.clear()  # both lengths are cut from one cached ranking: start each one cold
        cold, body = queries(client, f"{url}?limit={limit}")
        warm, _ = queries(client, f"{url}?limit={limit}")
        assert body.count('"rank":') == limit
        counts[limit] = (cold, warm)
    assert counts[3] == counts[9]
    assert counts[9][1] < counts[9][0]


# -- the cached ranking: reused, and replaced by every change ---------------------------------


def test_a_repeat_visit_reuses_the_ranking_and_reads_no_item_rows(fan: Any) -> None:
    first = shown(ranking_selectors.ranking_for(user=fan))
    with CaptureQueriesContext(connection) as captured:
        again = ranking_selectors.ranking_for(user=fan)
    assert shown(again) == first
    assert not any('"catalogue_item"."title"' in q["sql"] for q in captured.captured_queries)
    assert all(e["item"].genres.all() for e in again.entries)  # prefetched, no query


def test_a_profile_edit_shows_at_once(fan: Any) -> None:
    before = shown(ranking_selectors.ranking_for(user=fan))
    services.profile_edit(user=fan, by=fan, action="add", text="scary films", polarity="likes")
    after = shown(ranking_selectors.ranking_for(user=fan))
    assert after != before
    assert after == uncached(fan)


def test_a_critique_shows_at_once(fan: Any) -> None:
    top = ranking_selectors.ranking_for(user=fan).entries[0]["item"]
    services.critique_item_apply(user=fan, item=top, kind="not_for_me")
    after = ranking_selectors.ranking_for(user=fan)
    assert top.pk not in [e["item"].pk for e in after.entries]
    assert shown(after) == uncached(fan)


def test_a_new_list_shows_at_once(fan: Any, tastes: dict[str, Any]) -> None:
    before = ranking_selectors.ranking_for(user=fan)
    assert before.model_version == tastes["model_version"].version
    catalogue_services.interaction_rate(user=fan, item=tastes["horrors"][0], value=5)
    mv = rec_services.model_train(name="ease")
    rec_services.recommendations_refresh(model_version=mv, user_ids=[fan.pk])
    after = ranking_selectors.ranking_for(user=fan)
    assert after.model_version == mv.version != before.model_version
    assert shown(after) == uncached(fan)


def test_the_llm_reranking_of_a_list_shows_at_once(
    fan: Any, tiny_models: dict[str, Path], settings: Any, tmp_path: Path
) -> None:
    settings.ARTIFACT_DIR = tmp_path / "artifacts"
    winning_adapter(tiny_models["llm"], served="ease")
    before = ranking_selectors.ranking_for(user=fan)
    assert not any("llm" in e["components"] for e in before.entries)
    assert rec_services.lists_rerank(user_ids=[fan.pk]) == 1
    after = ranking_selectors.ranking_for(user=fan)
    assert any("llm" in e["components"] for e in after.entries)
    assert shown(after) == uncached(fan)


def test_a_rating_changes_the_cited_history_at_once(fan: Any, tastes: dict[str, Any]) -> None:
    ranking_selectors.ranking_for(user=fan)
    catalogue_services.interaction_rate(user=fan, item=tastes["horrors"][1], value=5)
    assert shown(ranking_selectors.ranking_for(user=fan)) == uncached(fan)


def test_a_catalogue_edit_shows_at_once(client: Client, fan: Any) -> None:
    entries = ranking_selectors.ranking_for(user=fan).entries
    first, second = entries[0]["item"], entries[1]["item"]
    catalogue_services.items_set_active(item_ids=[first.pk], active=False)
    after = ranking_selectors.ranking_for(user=fan)
    assert first.pk not in [e["item"].pk for e in after.entries]
    # an admin renaming a card's film (a plain save) is shown by the page and the API
    item = Item.objects.get(pk=second.pk)
    item.title = "Renamed Comedy"
    item.save()
    assert after.entries[0]["item"].title != "Renamed Comedy"
    assert "Renamed Comedy" in client.get(reverse("home")).content.decode()
    assert "Renamed Comedy" in client.get(reverse("api:recommendations")).content.decode()
    assert shown(ranking_selectors.ranking_for(user=fan)) == uncached(fan)


def test_recomputed_item_statistics_show_at_once(fan: Any) -> None:
    counts = [e["item"].interaction_count for e in ranking_selectors.ranking_for(user=fan).entries]
    assert set(counts) == {0}  # never computed yet
    catalogue_services.catalogue_stats_recompute()
    after = [e["item"].interaction_count for e in ranking_selectors.ranking_for(user=fan).entries]
    assert all(n > 0 for n in after)


def test_a_newly_written_explanation_shows_at_once(fan: Any, settings: Any) -> None:
    settings.EXPLANATIONS_LLM = True  # the LLM words explanations on a worker
    before = ranking_selectors.ranking_for(user=fan)
    assert all(e["explanation"]["pending"] for e in before.entries)
    written = ranking_services.explanations_refresh(user=fan, llm_loader=lambda: None, limit=3)
    assert written == 3
    after = ranking_selectors.ranking_for(user=fan)
    assert [bool(e["explanation"].get("pending")) for e in after.entries[:4]] == [
        False,
        False,
        False,
        True,
    ]
    assert shown(after) == uncached(fan)


def test_a_preview_with_an_edited_profile_is_never_cached(fan: Any) -> None:
    from explanations.profile import Profile, make_statement

    saved = shown(ranking_selectors.ranking_for(user=fan))
    edited = Profile(statements=(make_statement("scary films", "likes"),))
    preview = shown(ranking_selectors.ranking_for(user=fan, profile=edited))
    assert preview != saved
    assert shown(ranking_selectors.ranking_for(user=fan)) == saved


# -- a lost explanation job -----------------------------------------------------------------


def _explain_jobs(user: Any) -> list[JobRun]:
    return list(JobRun.objects.filter(task_name=EXPLAIN, arguments__user_id=user.pk))


def test_a_queued_explanation_job_whose_message_was_lost_is_replaced(
    client: Client, fan: Any, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.EXPLANATIONS_LLM = True  # the LLM words explanations on a worker
    client.get(reverse("home"))  # queues the refresh; its message never reaches a worker
    (lost,) = _explain_jobs(fan)
    JobRun.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks() as sent:
        page = client.get(reverse("home")).content.decode()
    lost.refresh_from_db()
    assert lost.state == JobRun.State.FAILED and lost.finished_at is not None
    assert "stale" in lost.error and "queued again" in lost.error
    new = _explain_jobs(fan)[0]
    assert new.pk != lost.pk and new.state == JobRun.State.QUEUED and len(sent) == 1
    assert 'data-testid="explain-status"' in page  # the page waits on the new one


def test_a_recent_or_running_explanation_job_is_waited_for(
    client: Client, fan: Any, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.EXPLANATIONS_LLM = True  # the LLM words explanations on a worker
    client.get(reverse("home"))
    (job,) = _explain_jobs(fan)
    # queued a minute ago, or running for five: still in flight, nothing new is queued
    JobRun.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=1))
    for fields in ({}, {"state": JobRun.State.RUNNING, "started_at": timezone.now()}):
        JobRun.objects.filter(pk=job.pk).update(**fields)
        with django_capture_on_commit_callbacks() as sent:
            client.get(reverse("home"))
        assert [j.pk for j in _explain_jobs(fan)] == [job.pk] and not sent
    # running for an hour without finishing: its worker died
    JobRun.objects.filter(pk=job.pk).update(started_at=timezone.now() - timedelta(hours=1))
    client.get(reverse("home"))
    job.refresh_from_db()
    assert job.state == JobRun.State.FAILED and "running since it started" in job.error
    assert len(_explain_jobs(fan)) == 2
