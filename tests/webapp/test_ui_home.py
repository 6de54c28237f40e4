"""The home page ("For you") through the test client: cards, explanations that poll until
the worker has written them, the reranking status line, critiques with undo, empty states."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from tests.webapp.profiles_support import (  # noqa: F401 (fixtures)
    fan_fixture,
    tastes_fixture,
    tiny_model_folders_fixture,
    tiny_models_fixture,
)
from webapp import ml
from webapp.catalogue import services as catalogue_services
from webapp.jobs.models import JobRun
from webapp.profiles import selectors, services
from webapp.ranking import selectors as ranking_selectors
from webapp.ranking.models import Explanation
from webapp.recommendations import tasks as rec_tasks
from webapp.recommendations.models import RecommendationList

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("tiny_models")]
HTMX = {"HTTP_HX_REQUEST": "true"}
EXPLAIN = "webapp.ranking.tasks.explanations_refresh"


def card_titles(html: str) -> list[str]:
    return re.findall(r'data-testid="rec-title"><strong>(.*?)</strong>', html)


def first_card(html: str) -> str:
    return html.split('data-testid="rec-card"')[1].split('data-testid="rec-card"')[0]


def test_a_card_shows_the_item_its_explanation_evidence_and_critique_buttons(
    client: Client, fan: Any
) -> None:
    services.profile_edit(user=fan, by=fan, action="add", text="scary films", polarity="likes")
    statement = selectors.current_profile(user=fan).statements[0]  # type: ignore[union-attr]
    page = client.get(reverse("home")).content.decode()
    titles = card_titles(page)
    assert len(titles) == len(set(titles)) == 16 - 7  # every film the fan has not rated
    card = first_card(page)
    entry = ranking_selectors.ranking_for(user=fan, limit=1).entries[0]
    assert entry["item"].title in card and str(entry["item"].year) in card
    assert all(f'class="tag">{g.name}<' in card for g in entry["item"].genres.all())
    assert 'data-testid="explanation"' in card and escape(entry["explanation"]["text"]) in card
    assert 'data-testid="why"' in card and "<summary" in card
    for testid in ("critique-more", "critique-less", "critique-reason", "critique-not"):
        assert f'data-testid="{testid}"' in card
    # the statement that lifted a horror film is cited, linked to its row on the profile page
    horror = next(
        e
        for e in ranking_selectors.ranking_for(user=fan).entries
        if "Horror" in str([g.name for g in e["item"].genres.all()])
    )
    assert statement.id in [s["id"] for s in horror["evidence"]["statements"]]
    assert f'href="{reverse("profile")}#st-{statement.id}"' in page
    assert 'data-testid="critique-list-text"' in page


def test_pending_explanations_poll_until_the_worker_has_written_them(
    client: Client, fan: Any, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.EXPLANATIONS_LLM = True  # the LLM words explanations on a worker
    with django_capture_on_commit_callbacks() as sent:
        page = client.get(reverse("home")).content.decode()
    job = JobRun.objects.get(task_name=EXPLAIN, arguments__user_id=fan.pk)
    assert job.state == "queued" and len(sent) == 1  # the list came from training: none yet
    item = ranking_selectors.ranking_for(user=fan, limit=1).entries[0]["item"]
    poll = reverse("recommendation_explanation", args=[item.pk])
    assert f'hx-get="{poll}" hx-trigger="every 2s"' in page
    assert page.count('data-testid="explanation-pending"') == min(
        9, ranking_selectors.EXPLAIN_TOP_N
    )
    assert "Explanations are being written" in page
    assert client.get(poll).status_code == 204  # not yet: keep polling, keep the draft

    with django_capture_on_commit_callbacks():
        client.get(reverse("home"))  # a second visit while it runs queues nothing new
    assert JobRun.objects.filter(task_name=EXPLAIN).count() == 1

    sent[0]()  # the worker runs it (the tiny LLM, or the template when its text is refused)
    response = client.get(poll)
    fragment = response.content.decode()
    written = Explanation.objects.get(user=fan, item=item).explanation
    assert response.status_code == 200 and written["text"] in fragment
    assert "hx-trigger" not in fragment and 'id="explain-' in fragment
    page = client.get(reverse("home")).content.decode()
    assert 'data-testid="explanation-pending"' not in first_card(page)


def test_polling_stops_when_the_job_ended_without_writing(client: Client, fan: Any) -> None:
    JobRun.objects.create(
        task_name=EXPLAIN, arguments={"user_id": fan.pk}, state="failed", finished_at=timezone.now()
    )
    item = ranking_selectors.ranking_for(user=fan, limit=1).entries[0]["item"]
    response = client.get(reverse("recommendation_explanation", args=[item.pk]))
    assert response.status_code == 286  # htmx's "stop polling"
    # and a page view does not queue another run straight after a finished one
    page = client.get(reverse("home")).content.decode()
    assert JobRun.objects.filter(task_name=EXPLAIN).count() == 1
    assert 'hx-trigger="every 2s"' not in page


def test_the_status_line_says_whether_the_llm_reranking_has_run(
    client: Client, fan: Any, tastes: dict[str, Any]
) -> None:
    page = client.get(reverse("home")).content.decode()
    # the reranker is not served by default: nothing about it, and the model in plain words
    assert "rerank-status" not in page and "LLM #" not in page.split("</h1>")[1]
    assert "Ordered by what people with taste like yours enjoyed" in page
    job = JobRun.objects.create(
        task_name=rec_tasks.lists_rerank.name, state="running", progress=0.5
    )
    assert "is reordering the top of the list (50%)" in client.get(reverse("home")).content.decode()
    job.delete()
    stored = RecommendationList.objects.get(user=fan)
    head = [e["item"] for e in stored.entries[:3]][::-1]  # the LLM reversed the top 3
    RecommendationList.objects.filter(pk=stored.pk).update(
        reranked=head, reranked_by="/models/smollm2-135m@abc123", reranked_at=timezone.now()
    )
    page = client.get(reverse("home")).content.decode()
    assert "A language model reordered the top 3" in page and "(smollm2-135m)" in page
    assert page.count('class="badge"') == 3
    card = page.split(f'data-item-id="{head[0]}"')[1].split('data-testid="rec-card"')[0]
    assert "LLM #1" in card


def test_a_critique_from_a_card_can_be_undone_on_the_spot(
    client: Client, fan: Any, tastes: dict[str, Any]
) -> None:
    target = tastes["horrors"][2]
    assert target.title in card_titles(client.get(reverse("home")).content.decode())
    fragment = client.post(
        reverse("profile_critique_item", args=[target.pk]), {"kind": "not_for_me"}, **HTMX
    ).content.decode()
    assert target.title not in card_titles(fragment)
    undo = re.search(r'hx-post="([^"]+/undo/)"', fragment)
    assert undo and 'data-testid="critique-undo"' in fragment
    fragment = client.post(undo.group(1), {"next": "home"}, **HTMX).content.decode()
    assert fragment.lstrip().startswith('<div id="recs"')
    assert target.title in card_titles(fragment)
    # without JavaScript the same buttons post and come back to the page
    response = client.post(reverse("profile_critique_item", args=[target.pk]), {"kind": "less"})
    assert response.status_code == 302 and response["Location"] == reverse("home")


def test_a_critique_that_cannot_be_read_says_so_in_the_list(client: Client, fan: Any) -> None:
    item = ranking_selectors.ranking_for(user=fan, limit=1).entries[0]["item"]
    fragment = client.post(
        reverse("profile_critique_item", args=[item.pk]), {"kind": "meh"}, **HTMX
    ).content.decode()
    assert 'id="recs"' in fragment and "Pick more like this" in fragment
    fragment = client.post(
        reverse("profile_critique_list"), {"text": "more"}, **HTMX
    ).content.decode()
    assert 'value="more"' in fragment and "could not tell what to change" in fragment


def test_a_user_whose_profile_is_being_written_sees_its_progress(
    client: Client, tastes: dict[str, Any], django_user_model: Any
) -> None:
    newcomer = django_user_model.objects.create_user("newcomer")
    client.force_login(newcomer)
    page = client.get(reverse("home")).content.decode()
    assert "No recommendations for you yet" in page and "describe your taste" in page
    assert 'data-testid="start-rate"' in page and "hx-trigger" not in page
    JobRun.objects.create(
        task_name="webapp.profiles.tasks.profile_generate",
        requested_by=newcomer,
        state="running",
        progress=0.3,
        message="writing your profile",
    )
    fragment = client.get(reverse("home"), **HTMX).content.decode()
    assert 'hx-trigger="every 3s"' in fragment and "writing your profile" in fragment
    assert 'data-testid="job-progress"' in fragment and "<html" not in fragment
    catalogue_services.item_vectors_compute(encoder=ml.encoder())
    services.profile_cold_start(user=newcomer, text="scary films")
    response = client.get(reverse("home"), **HTMX)
    assert response["HX-Refresh"] == "true"  # the list exists: the page reloads itself


def test_filters_that_remove_everything_are_named_as_the_reason(client: Client, fan: Any) -> None:
    services.critique_list_apply(user=fan, text="no horror")
    services.critique_list_apply(user=fan, text="no comedies")
    page = client.get(reverse("home")).content.decode()
    assert not card_titles(page) and "filters on your profile remove every candidate" in page


def test_no_template_comment_leaks_onto_a_page(client: Client, fan: Any) -> None:
    # a {# #} comment must fit on one line; a longer one is printed as text
    for name in ("home", "profile", "profile_chat", "item_list"):
        page = client.get(reverse(name)).content.decode()
        assert "{#" not in page and "#}" not in page, name


def test_the_list_comes_in_rows_headed_by_a_reason_said_once(client: Client, fan: Any) -> None:
    services.profile_edit(user=fan, by=fan, action="add", text="scary films", polarity="likes")
    page = client.get(reverse("home")).content.decode()
    headings = re.findall(r'data-testid="reason-heading">(.*?)</h2>', page)
    assert headings and len(set(headings)) == len(headings)
    assert headings[0] == "Because you like “scary films”"
    ranks = [int(r) for r in re.findall(r'data-rank="(\d+)"', page)]
    assert sorted(ranks) == list(range(1, len(ranks) + 1))  # every card once
