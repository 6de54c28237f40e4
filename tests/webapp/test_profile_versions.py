"""Profile versions are compacted: a client editing without end keeps a bounded history."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from webapp.profiles import services
from webapp.profiles.models import ProfileVersion

pytestmark = pytest.mark.django_db


def _numbers(user: Any) -> list[int]:
    return list(
        ProfileVersion.objects.filter(user=user).order_by("number").values_list("number", flat=True)
    )


def _add(user: Any, text: str) -> ProfileVersion:
    return services.profile_edit(user=user, by=user, action="add", text=text)


def test_only_the_newest_versions_are_kept_and_numbers_never_change(
    client: Client, alice: Any, settings: Any
) -> None:
    settings.PROFILE_VERSIONS_KEPT = 5
    for n in range(12):
        _add(alice, f"films number {n}")
    assert _numbers(alice) == [8, 9, 10, 11, 12]
    assert _add(alice, "one more film").number == 13  # numbering goes on where it was
    assert _numbers(alice) == [9, 10, 11, 12, 13]

    # the API's list and the profile page's history read what is left
    client.force_login(alice)
    page = client.get(reverse("api:version-list")).json()
    assert page["count"] == 5
    assert [v["version"]["number"] for v in page["results"]] == [13, 12, 11, 10, 9]
    html = client.get(reverse("profile")).content.decode()
    assert 'data-version="13"' in html and 'data-version="9"' in html
    assert 'data-version="8"' not in html


def test_the_api_edit_loop_is_bounded_by_the_cap(client: Client, alice: Any, settings: Any) -> None:
    settings.PROFILE_VERSIONS_KEPT = 3
    client.force_login(alice)
    for n in range(8):
        response = client.post(
            reverse("api:statement-list"), {"text": f"films {n}"}, content_type="application/json"
        )
        assert response.status_code == 201, response.content
    assert _numbers(alice) == [6, 7, 8]


def test_a_version_reverted_to_and_an_undoable_critique_survive_compaction(
    alice: Any, make_item: Any, settings: Any
) -> None:
    make_item(title="Airplane!", genres=("Comedy",))
    make_item(title="Alien", genres=("Horror",))
    settings.PROFILE_VERSIONS_KEPT = 3
    _add(alice, "slow westerns")  # v1
    critique = services.critique_list_apply(user=alice, text="more comedies")  # v2
    _add(alice, "space operas")  # v3
    _add(alice, "heist films")  # v4
    reverted = services.profile_revert(user=alice, by=alice, number=3)  # v5, back to v3
    _add(alice, "courtroom dramas")  # v6
    _add(alice, "silent films")  # v7
    # the newest 3, the version v5 reverted to, and the critique that can still be undone
    assert (critique.number, reverted.reverted_from) == (2, 3)
    assert _numbers(alice) == [2, 3, 5, 6, 7]

    undo = services.critique_undo(user=alice, number=2)  # v8: undo still finds what it added
    assert undo.number == 8 and "comed" not in str(undo.profile).lower()
    assert _numbers(alice) == [2, 6, 7, 8]  # no kept version names v3 any more
    _add(alice, "road movies")  # v9
    assert _numbers(alice) == [7, 8, 9]  # once undone the critique is no longer needed


def test_no_more_than_three_times_the_cap_survives_a_flood_of_critiques_and_reverts(
    alice: Any, make_item: Any, settings: Any
) -> None:
    make_item(title="Airplane!", genres=("Comedy",))
    make_item(title="Alien", genres=("Horror",))
    settings.PROFILE_VERSIONS_KEPT = 4
    for n in range(10):
        services.critique_list_apply(user=alice, text="more comedies" if n % 2 else "less horror")
        _add(alice, f"films {n}")
        current = services.profile_revert(user=alice, by=alice, number=_numbers(alice)[-2])
        assert current.reverted_from is not None
    assert len(_numbers(alice)) <= 3 * 4
