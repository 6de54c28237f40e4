"""The profile page: statements edited in place, a live preview of the top 10 before saving
(nothing saved), one-version saves, history with revert, onboarding."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.webapp.profiles_support import (  # noqa: F401 (fixtures)
    tastes_fixture,
    tiny_model_folders_fixture,
    tiny_models_fixture,
)
from webapp import ml
from webapp.catalogue import services as catalogue_services
from webapp.catalogue.models import Interaction, Item
from webapp.jobs.models import JobRun
from webapp.profiles import selectors, services
from webapp.profiles.models import ProfileVersion
from webapp.ranking import selectors as ranking_selectors
from webapp.ranking import services as ranking_services

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("tiny_models")]
HTMX = {"HTTP_HX_REQUEST": "true"}


def preview_titles(html: str) -> list[str]:
    section = html.split('data-testid="preview"')[1].split("</section>")[0]
    return re.findall(r'<a class="t" href="[^"]+">(.*?)</a>', section)


@pytest.fixture
def fan(client: Client, tastes: dict[str, Any]) -> Any:
    user = tastes["fans"]["comedy"][0]
    catalogue_services.item_vectors_compute(encoder=ml.encoder())
    services.profile_edit(user=user, by=user, action="add", text="funny films", polarity="likes")
    client.force_login(user)
    return user


def _sid(user: Any) -> str:
    return selectors.current_profile(user=user).statements[0].id  # type: ignore[union-attr]


def test_the_preview_shows_the_top_10_an_edit_would_give_without_saving_it(
    client: Client, fan: Any
) -> None:
    sid = _sid(fan)
    before = preview_titles(client.get(reverse("profile")).content.decode())
    fragment = client.post(
        reverse("profile_preview"),
        {"sid": sid, "text": "scary films", "polarity": "likes", "weight": "3", "pinned": "on"},
        **HTMX,
    ).content.decode()
    assert fragment.lstrip().startswith('<section id="preview"') and "<html" not in fragment
    assert "with this change" in fragment and "Not saved yet" in fragment
    previewed = preview_titles(fragment)
    assert previewed != before and ProfileVersion.objects.filter(user=fan).count() == 1
    assert "▲" in fragment or 'class="move new"' in fragment  # the moves are marked
    # the known answer: saving that edit gives exactly the previewed list
    client.post(
        reverse("profile_statement_update", args=[sid]),
        {
            "action": "save",
            "text": "scary films",
            "polarity": "likes",
            "weight": "3",
            "pinned": "on",
        },
    )
    assert preview_titles(client.get(reverse("profile")).content.decode()) == previewed


def test_the_preview_says_what_the_weight_does_in_the_words_of_the_list(
    client: Client, fan: Any
) -> None:
    """A comedy fan asks for horror: the preview counts the horror films of its top 10, and
    a higher weight never shows fewer (this fixture's pool is 9 films, so the count cannot
    grow here; `python -m explanations.evaluate` measures the growth on MovieLens)."""
    sid = _sid(fan)
    found = []
    for weight in ("0", "1", "3"):
        fragment = client.post(
            reverse("profile_preview"),
            {"sid": sid, "text": "horror films", "polarity": "likes", "weight": weight},
            **HTMX,
        ).content.decode()
        m = re.search(r"at weight ([\d.]+): (\d+) of your top (\d+) fit it", fragment)
        assert m, fragment
        titles = preview_titles(fragment)
        horror = {i.display_title for i in Item.objects.filter(genres__name="Horror")}
        assert int(m.group(2)) == sum(t in horror for t in titles)  # true of the list
        found.append(int(m.group(2)))
    assert found == sorted(found), found


def test_a_new_statement_can_be_previewed_before_it_is_added(client: Client, fan: Any) -> None:
    fragment = client.post(
        reverse("profile_preview"), {"text": "scary films", "polarity": "avoids"}, **HTMX
    ).content.decode()
    expected = ranking_services.profile_preview(user=fan, text="scary films", polarity="avoids")
    assert preview_titles(fragment) == [r["item"].display_title for r in expected.rows]
    assert ProfileVersion.objects.filter(user=fan).count() == 1
    # an empty box previews nothing and shows the saved list
    fragment = client.post(reverse("profile_preview"), {"text": "  "}, **HTMX).content.decode()
    assert "Your list with this profile" in fragment and 'class="error"' not in fragment


def test_a_bad_preview_says_why_and_keeps_the_saved_list(client: Client, fan: Any) -> None:
    saved = preview_titles(client.get(reverse("profile")).content.decode())
    fragment = client.post(
        reverse("profile_preview"), {"sid": _sid(fan), "text": "x" * 250}, **HTMX
    ).content.decode()
    assert "at most 200 characters" in fragment and preview_titles(fragment) == saved
    fragment = client.post(
        reverse("profile_preview"), {"sid": "s-gone", "text": "comedies"}, **HTMX
    ).content.decode()
    assert "no longer in your profile" in fragment


def test_without_javascript_the_preview_button_renders_the_page_with_the_edit_kept(
    client: Client, fan: Any
) -> None:
    response = client.post(
        reverse("profile_preview"),
        {"sid": _sid(fan), "text": "scary films", "polarity": "avoids", "weight": "2",
         "action": "preview"},
    )  # fmt: skip
    page = response.content.decode()
    assert response.status_code == 200 and "<html" in page
    assert 'value="scary films"' in page and "with this change" in page
    assert '<option value="avoids" selected>' in page.split('data-testid="statement"')[1]
    assert selectors.current_profile(user=fan).statements[0].text == "funny films"  # type: ignore[union-attr]


def test_save_applies_every_field_of_a_row_as_one_version(client: Client, fan: Any) -> None:
    sid = _sid(fan)
    fragment = client.post(
        reverse("profile_statement_update", args=[sid]),
        {"action": "save", "text": "slapstick comedies", "polarity": "avoids", "weight": "2.5",
         "pinned": "on"},
        **HTMX,
    ).content.decode()  # fmt: skip
    assert fragment.lstrip().startswith('<div id="editor"')
    s = selectors.current_profile(user=fan).statements[0]  # type: ignore[union-attr]
    assert (s.id, s.text, s.polarity, s.weight, s.pinned) == (
        sid, "slapstick comedies", "avoids", 2.5, True,
    )  # fmt: skip
    assert ProfileVersion.objects.filter(user=fan).count() == 2
    # unticking the box unpins; an unchanged row saves no new version
    data = {"action": "save", "text": "slapstick comedies", "polarity": "avoids", "weight": "2.5"}
    client.post(reverse("profile_statement_update", args=[sid]), data)
    client.post(reverse("profile_statement_update", args=[sid]), data)
    assert not selectors.current_profile(user=fan).statements[0].pinned  # type: ignore[union-attr]
    assert ProfileVersion.objects.filter(user=fan).count() == 3


def test_a_failed_save_keeps_everything_typed_in_the_row(client: Client, fan: Any) -> None:
    sid = _sid(fan)
    response = client.post(
        reverse("profile_statement_update", args=[sid]),
        {"action": "save", "text": "gritty westerns", "polarity": "avoids", "weight": "9"},
    )
    page = response.content.decode()
    row = page.split('data-testid="statement"')[1].split("</li>")[0]
    assert response.status_code == 422 and "less than or equal to 3" in row
    assert 'value="gritty westerns"' in row and 'value="9"' in row
    assert '<option value="avoids" selected>' in row and 'aria-invalid="true"' in row
    assert ProfileVersion.objects.filter(user=fan).count() == 1


def test_the_page_carries_the_hooks_a_browser_test_uses(client: Client, fan: Any) -> None:
    client.post(reverse("profile_statement_add"), {"text": "scary films", "polarity": "avoids"})
    page = client.get(reverse("profile")).content.decode()
    for testid in ("statement", "statement-text", "statement-polarity", "statement-weight",
                   "statement-pin", "statement-save", "statement-delete", "statement-preview",
                   "add-text", "add-polarity", "add-submit", "preview", "preview-row", "version",
                   "revert", "regenerate"):  # fmt: skip
        assert f'data-testid="{testid}"' in page, testid
    assert page.count('data-testid="statement"') == 2 and page.count('data-testid="version"') == 2
    assert page.count('data-testid="revert"') == 1  # not on the current version
    assert 'hx-trigger="input changed delay:400ms"' in page
    versions = page.split('data-testid="version"')
    assert re.match(r'\s*data-version="2" class="current">\s*<strong>v2</strong>', versions[1])
    assert '<div class="added">+ Avoids: scary films</div>' in versions[1]


def test_revert_from_the_history_returns_the_editor_with_the_old_statements(
    client: Client, fan: Any
) -> None:
    client.post(reverse("profile_statement_update", args=[_sid(fan)]), {"action": "delete"})
    fragment = client.post(reverse("profile_revert", args=[1]), **HTMX).content.decode()
    assert fragment.lstrip().startswith('<div id="editor"')
    assert 'value="funny films"' in fragment
    assert selectors.current_version(user=fan).reverted_from == 1  # type: ignore[union-attr]


def test_regenerating_without_any_history_says_so_instead_of_queueing(
    client: Client, tastes: dict[str, Any], django_user_model: Any
) -> None:
    newcomer = django_user_model.objects.create_user("newcomer")
    client.force_login(newcomer)
    fragment = client.post(reverse("profile_regenerate"), **HTMX).content.decode()
    assert "rate or like a few films first" in fragment.lower()
    assert not JobRun.objects.filter(task_name="webapp.profiles.tasks.profile_generate").exists()


def test_onboarding_offers_a_sentence_or_ratings_of_well_known_films(
    client: Client, tastes: dict[str, Any], django_user_model: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:  # fmt: skip
    newcomer = django_user_model.objects.create_user("newcomer")
    client.force_login(newcomer)
    page = client.get(reverse("profile_start")).content.decode()
    for testid in ("onboarding-form", "onboarding-text", "onboarding-submit", "onboarding-done"):
        assert f'data-testid="{testid}"' in page
    assert page.count('data-testid="item-card"') == 12  # the most rated films
    # nothing rated yet: said next to the button, nothing queued
    response = client.post(reverse("profile_start"), {"action": "ratings"})
    assert (
        response.status_code == 422
        and "rate or like a few films first" in response.content.decode().lower()
    )
    item = tastes["comedies"][0]
    card = client.post(
        reverse("item_rate", args=[item.pk]), {"value": "5", "fragment": "card"}, **HTMX
    ).content.decode()
    assert card.lstrip().startswith(f'<article class="card item item-card" id="card-{item.pk}"')
    assert card.count("star on") == 5
    with django_capture_on_commit_callbacks() as sent:
        response = client.post(reverse("profile_start"), {"action": "ratings"})
    assert response.status_code == 302 and response["Location"] == reverse("home")
    job = JobRun.objects.get(task_name="webapp.profiles.tasks.profile_generate")
    assert job.requested_by == newcomer and len(sent) == 1
    assert "Writing your taste profile" in client.get(reverse("home")).content.decode()


def test_onboarding_keeps_the_sentence_when_it_cannot_be_read(
    client: Client, tastes: dict[str, Any], django_user_model: Any
) -> None:
    client.force_login(django_user_model.objects.create_user("newcomer"))
    response = client.post(reverse("profile_start"), {"text": "I like"})
    page = response.content.decode()
    assert response.status_code == 422 and "could not find a taste" in page
    assert "\nI like</textarea>" in page  # what was typed stays
    assert not Interaction.objects.filter(user__username="newcomer").exists()


def test_removing_a_hidden_item_with_a_strange_digit_is_no_500(client: Client, fan: Any) -> None:
    response = client.post(
        reverse("profile_filter_remove"), {"name": "exclude_items", "value": "²"}
    )
    assert response.status_code < 500


def test_a_job_that_outlived_its_worker_stops_the_polling_and_says_so(
    client: Client, fan: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from webapp.profiles import tasks as profile_tasks

    long_ago = timezone.now() - timedelta(hours=2)
    job = JobRun.objects.create(
        task_name=profile_tasks.profile_generate.name, requested_by=fan, state="running",
        started_at=long_ago,
    )  # fmt: skip
    fragment = client.get(reverse("profile_job", args=[job.pk]), **HTMX).content.decode()
    assert 'hx-trigger="every' not in fragment  # no more polling
    assert "Regenerating failed" in fragment and "start it again" in fragment
    job.refresh_from_db()
    assert job.state == JobRun.State.FAILED


def test_regenerate_and_chat_pages_are_held_to_the_api_rate(
    client: Client, fan: Any, settings: Any
) -> None:
    from django.core.cache import cache

    cache.clear()
    rest = dict(settings.REST_FRAMEWORK)
    rest["DEFAULT_THROTTLE_RATES"] = {**rest["DEFAULT_THROTTLE_RATES"], "llm": "3/min"}
    settings.REST_FRAMEWORK = rest
    codes = [client.post(reverse("profile_regenerate"), **HTMX).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429], codes
    typed = "a western from the 90s"
    page = client.post(reverse("profile_chat"), {"message": typed}, **HTMX)
    assert page.status_code == 429 and typed in page.content.decode()  # what was typed stays
    cache.clear()


def test_sign_ups_from_one_address_are_limited(client: Client, db: Any) -> None:
    from django.core.cache import cache

    cache.clear()
    for k in range(10):
        client.post(
            reverse("signup"),
            {"username": f"new{k}", "password1": "a long passphrase 42", "password2": "a long passphrase 42"},
        )  # fmt: skip
        client.logout()
    blocked = client.post(
        reverse("signup"),
        {"username": "new10", "password1": "a long passphrase 42", "password2": "a long passphrase 42"},
    )  # fmt: skip
    assert blocked.status_code == 429 and "Too many new accounts" in blocked.content.decode()
    cache.clear()


def test_every_statement_says_what_it_does_to_the_list(client: Client, fan: Any) -> None:
    # the tiny catalogue holds comedies and horror films only, all from 1975
    services.profile_edit(user=fan, by=fan, action="add", text="westerns", polarity="likes")
    services.profile_edit(user=fan, by=fan, action="add", text="horror films", polarity="likes")
    horror = selectors.current_profile(user=fan).statements[-1].id  # type: ignore[union-attr]
    services.profile_edit(user=fan, by=fan, action="weight", sid=horror, weight=0.05)
    page = client.get(reverse("profile")).content.decode()
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r'value="([^"]+)" aria-label="Statement text"(.*?)</li>', page, re.S)
    }
    assert "No film in the catalogue fits this." in rows["westerns"]
    # every film this fan has not rated is in their top 10 (9 of them)
    assert "8 of your top 9 fit this." in rows["horror films"]
    assert "1 of your top 9 fit this." in rows["funny films"]  # the one comedy left
    assert all('data-testid="statement-effect"' in row for row in rows.values())
    # at a twentieth of the weight horror does not beat that comedy for the top 1
    ranking = ranking_selectors.ranking_for(user=fan, limit=10)
    notes = ranking_selectors.statement_notes(ranking, top=1)
    assert notes[horror] == ("None of your top 1 fits this yet.", True)
    westerns = next(k for k, (text, _) in notes.items() if text.startswith("No film"))
    assert westerns != horror
