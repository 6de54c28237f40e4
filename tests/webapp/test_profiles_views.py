"""The profile pages through the test client: htmx fragments, plain forms, permissions."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

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
from webapp.profiles.models import ProfileVersion
from webapp.ranking import selectors as ranking_selectors
from webapp.ranking import services as ranking_services

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("tiny_models")]
HTMX = {"HTTP_HX_REQUEST": "true"}


def _card_titles(html: str) -> list[str]:
    """The titles of the recommendation cards, in order (their ``rec-title`` links)."""
    parts = html.split('data-testid="rec-title"><strong>')[1:]
    return [p.split("</strong>")[0] for p in parts]


def _home_order(client: Client) -> list[str]:
    return _card_titles(client.get(reverse("home")).content.decode())


def test_a_revert_restores_the_exact_earlier_ranking(client: Client, fan: Any) -> None:
    client.post(reverse("profile_statement_add"), {"text": "scary films", "polarity": "likes"})
    before = _home_order(client)
    scores_before = [
        e["score"] for e in ranking_selectors.ranking_for(user=fan, explain=False).entries
    ]
    client.post(reverse("profile_critique_list"), {"text": "no horror"})
    client.post(reverse("profile_statement_add"), {"text": "comedies", "polarity": "avoids"})
    assert _home_order(client) != before
    response = client.post(reverse("profile_revert", args=[1]))
    assert response.status_code == 302
    assert _home_order(client) == before
    scores = [e["score"] for e in ranking_selectors.ranking_for(user=fan, explain=False).entries]
    assert scores == scores_before
    latest = selectors.current_version(user=fan)
    assert latest.reason == "revert" and latest.number == 4  # type: ignore[union-attr]
    assert latest.fingerprint == ProfileVersion.objects.get(user=fan, number=1).fingerprint  # type: ignore[union-attr]


def test_a_critique_appears_in_the_profile_and_can_be_undone(
    client: Client, fan: Any, tastes: dict[str, Any]
) -> None:
    target = tastes["horrors"][2]  # Scream
    assert "Scream" in _home_order(client)
    fragment = client.post(
        reverse("profile_critique_item", args=[target.pk]),
        {"kind": "not_for_me", "reason": "too gory"},
        **HTMX,
    ).content.decode()
    assert 'id="recs"' in fragment and "<html" not in fragment
    assert "Scream" not in _card_titles(fragment) and "Noted" in fragment  # with an undo
    page = client.get(reverse("profile")).content.decode()
    assert "Avoids:" in page or "avoids" in page
    assert 'value="gory"' in page and "Hidden: Scream" in page
    critique = ProfileVersion.objects.get(user=fan, reason="critique")
    assert critique.critique["filters_added"]["exclude_items"] == [target.pk]
    client.post(reverse("profile_critique_undo", args=[critique.number]))
    assert "Scream" in _home_order(client)
    profile = selectors.current_profile(user=fan)
    assert profile is not None and not profile.statements and profile.filters.is_empty()
    assert "Undo this critique" not in client.get(reverse("profile")).content.decode()


def test_an_edit_returns_the_editor_fragment_with_the_reranked_list(
    client: Client, fan: Any
) -> None:
    fragment = client.post(
        reverse("profile_statement_add"), {"text": "slapstick", "polarity": "likes"}, **HTMX
    ).content.decode()
    assert fragment.strip().startswith('<div id="editor"') and "<html" not in fragment
    assert 'value="slapstick"' in fragment and "Your list with this profile" in fragment
    sid = selectors.current_profile(user=fan).statements[0].id  # type: ignore[union-attr]
    client.post(reverse("profile_statement_update", args=[sid]), {"action": "flip"}, **HTMX)
    client.post(reverse("profile_statement_update", args=[sid]), {"action": "pin"}, **HTMX)
    client.post(
        reverse("profile_statement_update", args=[sid]), {"action": "weight", "weight": "2.5"}
    )
    s = selectors.current_profile(user=fan).statements[0]  # type: ignore[union-attr]
    assert (s.polarity, s.pinned, s.weight) == ("avoids", True, 2.5)
    versions = ProfileVersion.objects.filter(user=fan)
    assert versions.count() == 4 and {v.created_by for v in versions} == {fan}


def test_bad_input_keeps_what_the_user_typed_and_says_what_is_wrong(
    client: Client, fan: Any
) -> None:
    client.post(reverse("profile_statement_add"), {"text": "slapstick"})
    sid = selectors.current_profile(user=fan).statements[0].id  # type: ignore[union-attr]
    long = "x" * 250
    response = client.post(
        reverse("profile_statement_update", args=[sid]), {"action": "text", "text": long}
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert f'value="{long}"' in page and "at most 200 characters" in page
    response = client.post(
        reverse("profile_statement_update", args=[sid]), {"action": "weight", "weight": "9"}
    )
    assert response.status_code == 422 and "less than or equal to 3" in response.content.decode()
    response = client.post(reverse("profile_critique_list"), {"text": "more"}, **HTMX)
    assert response.status_code == 200
    assert 'value="more"' in response.content.decode()
    assert "could not tell what to change" in response.content.decode()
    assert ProfileVersion.objects.filter(user=fan).count() == 1


def test_a_user_never_sees_or_edits_another_users_profile(
    client: Client, fan: Any, tastes: dict[str, Any]
) -> None:
    other = tastes["fans"]["horror"][0]
    services.profile_edit(user=other, by=other, action="add", text="secret taste")
    services.profile_edit(user=other, by=other, action="add", text="another one")
    page = client.get(reverse("profile")).content.decode()
    assert "secret taste" not in page
    assert client.post(reverse("profile_revert", args=[1])).status_code == 404
    their_sid = selectors.current_profile(user=other).statements[0].id  # type: ignore[union-attr]
    response = client.post(
        reverse("profile_statement_update", args=[their_sid]), {"action": "delete"}
    )
    assert response.status_code == 422  # not in *my* profile
    assert len(selectors.current_profile(user=other).statements) == 2  # type: ignore[union-attr]
    job = JobRun.objects.create(
        task_name="webapp.profiles.tasks.profile_generate", requested_by=other
    )
    assert client.get(reverse("profile_job", args=[job.pk])).status_code == 404
    client.logout()
    assert client.get(reverse("profile")).status_code == 302


def test_regenerating_returns_a_polling_progress_fragment(
    client: Client, fan: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as sent:
        fragment = client.post(reverse("profile_regenerate"), **HTMX).content.decode()
    job = JobRun.objects.get(task_name="webapp.profiles.tasks.profile_generate")
    assert job.requested_by == fan and len(sent) == 1
    assert f'hx-get="{reverse("profile_job", args=[job.pk])}"' in fragment
    assert 'hx-trigger="every 2s"' in fragment and "<html" not in fragment
    sent[0]()  # the worker runs it
    done = client.get(reverse("profile_job", args=[job.pk]), **HTMX).content.decode()
    assert "hx-trigger" not in done and "ready" in done
    version = selectors.current_version(user=fan)
    assert version is not None and version.reason == "generated" and version.created_by == fan


def test_a_new_user_describes_their_taste_and_gets_a_list(
    client: Client, tastes: dict[str, Any], django_user_model: Any
) -> None:
    catalogue_services.item_vectors_compute(encoder=ml.encoder())
    newcomer = django_user_model.objects.create_user("newcomer")
    client.force_login(newcomer)
    assert "describe your taste" in client.get(reverse("home")).content.decode()
    bad = client.post(reverse("profile_start"), {"text": ""})
    assert bad.status_code == 422 and "required" in bad.content.decode()
    response = client.post(reverse("profile_start"), {"text": "scary films, nothing before 1980"})
    assert response.status_code == 302 and response["Location"] == reverse("home")
    titles = _home_order(client)
    assert titles and len(titles) == 6  # the films from 1980 on, of both genres


def test_the_chat_answers_from_the_catalogue_and_can_be_kept(client: Client, fan: Any) -> None:
    fragment = client.post(
        reverse("profile_chat"), {"message": "tell me about Alien"}, **HTMX
    ).content.decode()
    assert 'id="thread"' in fragment and "Alien (1975) is a Horror film" in fragment
    client.post(reverse("profile_chat"), {"message": "something scary from the 80s"})
    page = client.get(reverse("profile_chat")).content.decode()
    assert "Keep these wishes" in page
    assert client.post(reverse("profile_chat_promote")).status_code == 302
    version = selectors.current_version(user=fan)
    assert version is not None and version.reason == "conversation"
    assert version.profile["filters"]["year_min"] == 1980


def test_home_cards_carry_an_explanation_and_critique_buttons(client: Client, fan: Any) -> None:
    page = client.get(reverse("home")).content.decode()
    first = page.split('<ol class="recs">')[1].split("</li>")[0]
    assert 'class="small why"' in first and "Airplane! (1975), a comedy" in first
    assert 'value="not_for_me"' in first and 'name="reason"' in first
    assert reverse("profile_critique_list") in page and reverse("profile") in page


@pytest.mark.integration
def test_the_packaged_models_write_a_grounded_profile_and_explanations(
    tastes: dict[str, Any], settings: Any, tiny_model_folders: Any
) -> None:
    from webapp import settings as defaults

    settings.EMBEDDING_MODEL, settings.LLM_MODEL = defaults.EMBEDDING_MODEL, defaults.LLM_MODEL
    fan = tastes["fans"]["comedy"][1]
    catalogue_services.item_vectors_compute(encoder=ml.encoder())
    version = services.profile_generate(user=fan, llm=ml.llm())
    assert version.profile["statements"]
    assert ranking_services.explanations_refresh(user=fan, llm_loader=ml.llm, limit=2) == 2
