"""Abuse resistance (#25): one reading of the client's address behind proxies for every
per-address limit, and password checks limited per address before any hashing."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import get_hasher
from django.test import Client
from django.urls import reverse
from rest_framework.request import Request
from rest_framework.test import APIClient

from webapp.api.throttles import AnonThrottle
from webapp.clientip import client_ip

PROXY = "10.0.0.1"  # the one proxy every request below arrives through
RIGHT = "correct horse battery"  # the alice fixture's password


def _behind_proxy(settings: Any, proxies: int) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": proxies}


def _request(**meta: str) -> Any:
    request = Client().get("/").wsgi_request  # any request object with META
    request.META.pop("HTTP_X_FORWARDED_FOR", None)
    request.META.update(meta)
    return request


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "6.6.6.6", PROXY),  # no proxy: the header is the client's own word
        (1, None, PROXY),  # no header: the connection's address
        (1, "6.6.6.6, 1.2.3.4", "1.2.3.4"),  # what our proxy appended
        (2, "6.6.6.6, 1.2.3.4, 10.0.0.9", "1.2.3.4"),  # two hops back
        (3, "1.2.3.4", "1.2.3.4"),  # fewer entries than proxies: the oldest, as DRF's
        (1, "1.2.3.4, ", PROXY),  # an empty entry names no one
    ],
)
def test_the_client_is_the_nth_address_from_the_right(
    settings: Any, proxies: int, forwarded: str | None, expected: str
) -> None:
    _behind_proxy(settings, proxies)
    meta = {"REMOTE_ADDR": PROXY} | ({"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {})
    request = _request(**meta)
    assert client_ip(request) == expected
    assert AnonThrottle().get_ident(Request(request)) == expected  # the API agrees


def test_sign_ups_from_two_clients_behind_one_proxy_count_apart(
    db: None, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _behind_proxy(settings, 1)
    monkeypatch.setattr("webapp.accounts.views.SIGNUP_RATE", "1/hour")
    body = {"password1": "a long unusual pass 42", "password2": "a long unusual pass 42"}
    first = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="1.1.1.1")
    assert first.post(reverse("signup"), {"username": "one", **body}).status_code == 302
    refused = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="1.1.1.1")
    assert refused.post(reverse("signup"), {"username": "two", **body}).status_code == 429
    other = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="8.8.8.8")
    assert other.post(reverse("signup"), {"username": "three", **body}).status_code == 302


def test_a_login_lockout_behind_a_proxy_locks_the_guesser_not_everyone(
    alice: Any, settings: Any
) -> None:
    _behind_proxy(settings, 1)
    settings.AXES_FAILURE_LIMIT = 2
    guesser = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="6.6.6.6")
    for _ in range(2):
        guesser.post(reverse("login"), {"username": "alice", "password": "guess"})
    assert AccessAttempt.objects.get().ip_address == "6.6.6.6"
    locked = guesser.post(reverse("login"), {"username": "alice", "password": RIGHT})
    assert locked.status_code == 429
    owner = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert owner.post(reverse("login"), {"username": "alice", "password": RIGHT}).status_code == 302


# -- password checks are limited before any hashing ------------------------------------------


@pytest.fixture
def hashes() -> Iterator[list[str]]:
    """Every hash computed (a password set, or one checked), by the hasher in use."""
    hasher = type(get_hasher())
    encode, verify = hasher.encode, hasher.verify
    seen: list[str] = []

    def counted_encode(self: Any, *args: Any, **kwargs: Any) -> str:
        seen.append("encode")
        return encode(self, *args, **kwargs)

    def counted_verify(self: Any, *args: Any, **kwargs: Any) -> bool:
        seen.append("verify")
        return verify(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hasher, "encode", counted_encode)
        patch.setattr(hasher, "verify", counted_verify)
        yield seen


def _login_form(alice: Any) -> Any:
    client = Client(REMOTE_ADDR="203.0.113.5")
    return lambda: client.post(reverse("login"), {"username": _random(), "password": _random()})


def _admin_login(alice: Any) -> Any:
    client = Client(REMOTE_ADDR="203.0.113.5")
    body = {"username": _random(), "password": _random(), "next": "/admin/"}
    return lambda: client.post(reverse("admin:login"), body)


def _api_token(alice: Any) -> Any:
    api = APIClient(REMOTE_ADDR="203.0.113.5")
    return lambda: api.post(reverse("api:token"), {"username": _random(), "password": _random()})


def _delete_account(alice: Any) -> Any:
    client = Client(REMOTE_ADDR="203.0.113.5")
    client.force_login(alice)
    return lambda: client.post(reverse("privacy:delete"), {"password": _random()})


def _random() -> str:
    return secrets.token_hex(8)


@pytest.mark.parametrize("attempt", [_login_form, _admin_login, _api_token, _delete_account])
def test_a_flood_of_password_attempts_is_refused_before_any_hashing(
    alice: Any, settings: Any, hashes: list[str], attempt: Any
) -> None:
    settings.LOGIN_ATTEMPT_RATE = "3/min"
    settings.AXES_FAILURE_LIMIT = 100  # random usernames never lock; this is the other limit
    post = attempt(alice)
    for _ in range(3):
        assert post().status_code in (200, 400)  # refused as a wrong password: hashed
    assert hashes, "the spy must see the hashing of a normal attempt"
    hashed = len(hashes)
    refused = post()
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "Too many password attempts" in refused.content.decode()
    assert len(hashes) == hashed  # no hash for the refused attempt
    assert get_user_model().objects.filter(pk=alice.pk).exists()


def test_the_refusal_is_per_address(alice: Any, settings: Any) -> None:
    settings.LOGIN_ATTEMPT_RATE = "1/min"
    body = {"username": "alice", "password": "guess"}
    assert Client(REMOTE_ADDR="1.1.1.1").post(reverse("login"), body).status_code == 200
    assert Client(REMOTE_ADDR="1.1.1.1").post(reverse("login"), body).status_code == 429
    assert Client(REMOTE_ADDR="2.2.2.2").post(reverse("login"), body).status_code == 200
    # reading the pages is not an attempt
    assert Client(REMOTE_ADDR="1.1.1.1").get(reverse("login")).status_code == 200


def test_guessing_the_password_to_delete_an_account_is_locked_out(
    alice: Any, settings: Any
) -> None:
    """Someone holding an open session gets LOGIN_FAILURE_LIMIT guesses, as at the login."""
    settings.AXES_FAILURE_LIMIT = 3
    client = Client(REMOTE_ADDR="203.0.113.9")
    client.force_login(alice)
    for _ in range(3):
        client.post(reverse("privacy:delete"), {"password": "guess"})
    refused = client.post(reverse("privacy:delete"), {"password": RIGHT})
    assert refused.status_code == 429
    assert "Too many wrong passwords" in refused.content.decode()
    assert get_user_model().objects.filter(pk=alice.pk).exists()
    # a wrong password there is a failed login for the account from that address
    login = Client(REMOTE_ADDR="203.0.113.9")
    assert login.post(reverse("login"), {"username": "alice", "password": RIGHT}).status_code == 429


def _random_login() -> Any:
    return Client().post(reverse("login"), {"username": _random(), "password": _random()})


def test_a_minutes_password_allowance_is_not_hashed_all_at_once(
    alice: Any, settings: Any, hashes: list[str]
) -> None:
    from webapp.accounts.middleware import PASSWORD_BURST

    settings.LOGIN_ATTEMPT_RATE = "20/min"
    settings.AXES_FAILURE_LIMIT = 100
    for _ in range(PASSWORD_BURST):
        assert _random_login().status_code == 200
    hashed = len(hashes)
    refused = _random_login()  # well within 20 a minute, but not all at once
    assert refused.status_code == 429 and len(hashes) == hashed


def test_a_flood_of_password_attempts_is_refused_without_a_page(alice: Any, settings: Any) -> None:
    from webapp.ratelimit import REFUSALS_SHOWN

    settings.LOGIN_ATTEMPT_RATE = "2/min"
    settings.AXES_FAILURE_LIMIT = 100
    answers = [_random_login() for _ in range(2 + REFUSALS_SHOWN + 1)]
    assert [a.status_code for a in answers[:2]] == [200, 200]
    for shown in answers[2:-1]:  # a person sees why, on the site's page
        assert shown.status_code == 429 and "Too many password attempts" in shown.content.decode()
    bare = answers[-1]  # a script gets a bare refusal: no template rendered for it
    assert bare.status_code == 429 and bare["Content-Type"].startswith("text/plain")
    assert int(bare["Retry-After"]) > 0 and b"<" not in bare.content


def test_a_flood_on_the_api_is_refused_in_the_apis_shape(alice: Any, settings: Any) -> None:
    from webapp.ratelimit import REFUSALS_SHOWN

    settings.LOGIN_ATTEMPT_RATE = "1/min"
    api = APIClient()
    body = {"username": _random(), "password": _random()}
    answers = [api.post("/api/v1/auth/token/", body) for _ in range(1 + REFUSALS_SHOWN + 2)]
    bare = answers[-1]  # past the refusals shown: still the JSON the schema promises
    assert bare.status_code == 429 and bare.json()["detail"] and int(bare["Retry-After"]) > 0
