"""Access control, table-driven over the URL configuration.

Every route the resolver knows has a rule in ``RULES``; a new route without one fails
``test_every_route_has_an_access_rule``. The rules say who may use a route:

* ``Public``: anyone (the catalogue, sign-up, the API docs);
* ``Own``: signed-in users, on their own data, with no id in the URL (``/me/...``);
* ``Owned``: the URL carries the id of one user's object (a profile version, a statement,
  an interaction, a job, a critique, an explanation): another user sending the owner's ids
  gets a refusal (404, or the route's documented "nothing for you"), never the owner's data,
  and changes nothing of the owner's; the owner gets through (so the URLs are right);
* ``Shared``: the URL carries the id of a shared catalogue item, and the request acts on the
  requester's own data only (like, rate, critique this item);
* ``Staff``: the staff dashboard, refused to visitors, to ordinary users, and to staff
  without permissions;
* ``AdminArea``: Django's admin (its patterns are Django's), checked on a few URLs and on
  every registered model's list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from tests.webapp.profiles_support import tastes_fixture  # noqa: F401 (fixtures)
from webapp.catalogue import services as catalogue_services
from webapp.catalogue.models import Interaction, Item
from webapp.dashboard.forms import ACTIONS
from webapp.jobs.models import JobRun
from webapp.profiles import selectors as profile_selectors
from webapp.profiles import services as profile_services
from webapp.profiles.models import ProfileVersion
from webapp.profiles.tasks import profile_generate
from webapp.ranking import services as ranking_services
from webapp.ranking.models import Explanation
from webapp.recommendations.models import ModelVersion
from webapp.steering.models import Conversation

pytestmark = pytest.mark.django_db

MARK = "victim-secret-wish-7f3a"  # in the victim's statement, chat, job and explanation
VICTIM = "vic-user-5b1e"  # the victim's username
EMAIL = "vic-5b1e@example.com"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
HX = {"HTTP_HX_REQUEST": "true"}
SKIPPED_PREFIXES = ("static/", "media/", "__debug__/", "__reload__/")


# -- the victim and what they own ----------------------------------------------------------


@dataclass
class Victim:
    user: Any
    sid: str  # the id of the statement carrying MARK
    critiques: list[int]  # two critique versions, each undoable once
    interaction: Interaction
    liked: Item  # an item the victim liked (and the attacker never touched)
    job: JobRun
    explained: Item  # an item with the victim's cached explanation (carrying MARK)


@pytest.fixture
def victim(tastes: dict[str, Any]) -> Victim:
    user = tastes["fans"]["comedy"][0]
    user.username, user.email = VICTIM, EMAIL
    user.save()
    profile_services.profile_edit(user=user, by=user, action="add", text=MARK)
    sid = profile_selectors.current_profile(user=user).statements[0].id  # type: ignore[union-attr]
    profile_services.profile_edit(user=user, by=user, action="add", text="slapstick comedies")
    first = profile_services.critique_list_apply(user=user, text="no horror")
    second = profile_services.critique_item_apply(
        user=user, item=tastes["comedies"][2], kind="less"
    )
    liked = tastes["horrors"][0]
    catalogue_services.interaction_toggle(user=user, item=liked, kind=Interaction.Kind.LIKE)
    job = JobRun.objects.create(
        task_name=profile_generate.name,
        requested_by=user,
        state=JobRun.State.SUCCEEDED,
        message=f"{MARK} job",
        arguments={"user_id": user.pk},
    )
    Conversation.objects.create(
        user=user, turns=[{"who": "you", "text": f"{MARK} in the chat", "items": []}]
    )
    # what the worker's refresh writes (template text: no LLM), under the key of now
    assert ranking_services.explanations_refresh(user=user, llm_loader=lambda: None, limit=1)
    row = Explanation.objects.get(user=user)
    row.explanation = {**row.explanation, "text": f"{MARK} because you said so"}
    row.save()
    return Victim(
        user=user,
        sid=sid,
        critiques=[first.number, second.number],
        interaction=Interaction.objects.filter(user=user, kind="rating").first(),  # type: ignore[arg-type]
        liked=liked,
        job=job,
        explained=row.item,
    )


@pytest.fixture
def attacker(tastes: dict[str, Any], settings: Any) -> Any:
    # this user sends every route at once: what is refused here must be refused for whose
    # the ids are, not for the rate (tests/webapp/test_edit_limits.py)
    settings.EDIT_RATE = "100000/min"
    user = tastes["fans"]["comedy"][1]  # a user like any other, with a list of their own
    user.username = "attacker-9d2c"
    user.save()
    return user


def _snapshot(user: Any) -> dict[str, Any]:
    """Everything of the victim's that a request could change."""
    return {
        "versions": list(
            ProfileVersion.objects.filter(user=user)
            .order_by("number")
            .values_list("number", "fingerprint", "critique_undone")
        ),
        "interactions": list(
            Interaction.objects.filter(user=user)
            .order_by("pk")
            .values_list("pk", "item_id", "kind", "value")
        ),
        "jobs": list(JobRun.objects.filter(requested_by=user).order_by("pk").values()),
        "all_jobs": JobRun.objects.count(),
        "conversation": list(Conversation.objects.filter(user=user).values_list("state", "turns")),
        "explanations": list(
            Explanation.objects.filter(user=user).order_by("pk").values_list("pk", "explanation")
        ),
    }


SECRETS = (MARK, VICTIM, EMAIL)  # none of these may reach anyone but the victim (and staff)


# -- the rules ------------------------------------------------------------------------------

Url = Callable[[Victim], str]
Check = Callable[[Any, Victim], None]


@dataclass(frozen=True)
class Public:
    """Anyone may GET it; ``anonymous`` / ``signed_in``: the status a visitor's / a signed-in
    user's GET gets."""

    anonymous: int = 200
    api: bool = False
    signed_in: int | None = None  # None: as ``anonymous``


@dataclass(frozen=True)
class Own:
    """The signed-in user's own data, no id in the URL. ``methods``: what the view accepts;
    a visitor is refused (pages: redirected to ``anonymous_to``; API: 401/403)."""

    methods: tuple[str, ...]
    api: bool = False
    anonymous_to: str = "/accounts/login/"


@dataclass(frozen=True)
class Owned:
    """The URL carries the id of the owner's object. ``refused``: method -> the statuses
    another user gets (any method not named: 405); ``owner``: method -> the owner's status,
    proving the URL reaches the object; ``data``: the body sent with a method."""

    url: Url
    refused: dict[str, frozenset[int]]
    owner: dict[str, int]
    api: bool = False
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    htmx: dict[str, frozenset[int]] | None = None  # pages: statuses for an htmx request
    note: str = ""


@dataclass(frozen=True)
class Shared:
    """The URL carries a catalogue item's id; the request acts on the requester's data only.
    ``allowed``: method -> the statuses the requester gets."""

    url: Url
    allowed: dict[str, frozenset[int]]
    api: bool = False
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    check: Check | None = None  # more to check in the response


@dataclass(frozen=True)
class Staff:
    """Staff only: ``requests`` builds (method, url, body, extra headers) for each use."""

    requests: Callable[[dict[str, Any]], list[tuple[str, str, dict[str, Any], dict[str, str]]]]


@dataclass(frozen=True)
class AdminArea:
    """Django's admin site: staff only, and each model only with its permission."""


@dataclass(frozen=True)
class CatchAll:
    """Anything else under a prefix: a 404 for everybody."""

    example: str


Rule = Public | Own | Owned | Shared | Staff | AdminArea | CatchAll


def _url(name: str, *args: Any) -> str:
    return reverse(name, args=args)


def _api_item_is_mine_only(response: Any, v: Victim) -> None:
    """The item's "what you did with it" is the requester's, not the victim's like."""
    assert response.json()["state"] == {"liked": False, "disliked": False, "rating": None}


def _start_requests(ctx: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], dict[str, str]]]:
    data = {
        "enrich": {"enrich-limit": "1"},
        "item-vectors": {},
        "train": {"train-name": "pop"},
        "fine-tune": {"fine-tune-steps": "1"},
        "evaluate": {"evaluate-version": ctx["model_version"].version, "evaluate-users": "1"},
    }
    assert set(data) == set(ACTIONS), "a new dashboard button needs its access checked here"
    return [("POST", _url("dashboard:start", a), data[a], {}) for a in ACTIONS]


NOT_FOUND = frozenset({404})
NOTHING_FOR_YOU = frozenset({204, 286})  # the polling card's "no text (yet)", empty body

RULES: dict[str, Rule] = {
    # -- the admin and the staff dashboard
    "admin/": AdminArea(),
    "dashboard:overview": Staff(lambda c: [("GET", _url("dashboard:overview"), {}, {})]),
    "dashboard:chart": Staff(lambda c: [("GET", _url("dashboard:chart"), {}, HX)]),
    "dashboard:jobs": Staff(lambda c: [("GET", _url("dashboard:jobs"), {}, HX)]),
    "dashboard:start": Staff(_start_requests),
    "dashboard:run_again": Staff(
        lambda c: [("POST", _url("dashboard:run_again", c["failed_job"].pk), {}, {})]
    ),
    # -- the API: public
    "api:token": Public(anonymous=405, api=True),  # POST credentials; DELETE revokes
    "api:item-list": Public(api=True),
    "api:genre-list": Public(api=True),
    "api:schema": Public(api=True),
    "api:docs": Public(api=True),
    "api:redoc": Public(api=True),
    "api/^v1/": CatchAll("/api/v1/no-such-thing/42/"),
    "api:item-detail": Shared(
        lambda v: _url("api:item-detail", v.liked.pk),
        {"GET": frozenset({200})},
        api=True,
        check=_api_item_is_mine_only,
    ),
    # -- the API: mine, no id
    "api:recommendations": Own(("GET",), api=True),
    "api:profile": Own(("GET", "PUT"), api=True),
    "api:profile-filters": Own(("PUT",), api=True),
    "api:statement-list": Own(("POST",), api=True),
    "api:version-list": Own(("GET",), api=True),
    "api:profile-regenerate": Own(("POST",), api=True),
    "api:interaction-list": Own(("GET", "POST"), api=True),
    "api:critique-item": Own(("POST",), api=True),
    "api:critique-list": Own(("POST",), api=True),
    "api:conversation": Own(("GET", "DELETE"), api=True),
    "api:conversation-message": Own(("POST",), api=True),
    "api:conversation-keep": Own(("POST",), api=True),
    "api:export": Own(("GET",), api=True),
    # -- the API: ids of mine
    "api:statement-detail": Owned(
        lambda v: _url("api:statement-detail", v.sid),
        {"PATCH": NOT_FOUND, "DELETE": NOT_FOUND},
        owner={"PATCH": 200},
        api=True,
        data={"PATCH": {"pinned": True}},
    ),
    "api:version-revert": Owned(
        lambda v: _url("api:version-revert", 1),
        {"POST": NOT_FOUND},
        owner={"POST": 200},
        api=True,
    ),
    "api:job-detail": Owned(
        lambda v: _url("api:job-detail", v.job.pk),
        {"GET": NOT_FOUND},
        owner={"GET": 200},
        api=True,
    ),
    "api:interaction-detail": Owned(
        lambda v: _url("api:interaction-detail", v.interaction.pk),
        {"GET": NOT_FOUND, "DELETE": NOT_FOUND},
        owner={"GET": 200, "DELETE": 204},
        api=True,
    ),
    "api:critique-undo": Owned(
        lambda v: _url("api:critique-undo", v.critiques[0]),
        {"POST": NOT_FOUND},
        owner={"POST": 200},
        api=True,
    ),
    # -- pages: public
    "signup": Public(signed_in=302),  # a signed-in user is sent home
    "login": Public(),
    "logout": Public(anonymous=405),  # POST only
    "item_list": Public(),
    "healthz": Public(),
    "privacy:deleted": Public(anonymous=302),  # reads only this session's own flash
    "item_detail": Shared(lambda v: _url("item_detail", v.liked.pk), {"GET": frozenset({200})}),
    # -- pages: mine, no id
    "home": Own(("GET",), anonymous_to="/items/"),
    "history": Own(("GET",)),
    "privacy:overview": Own(("GET",)),
    "privacy:export": Own(("GET",)),
    "privacy:delete": Own(("GET", "POST")),
    "profile": Own(("GET",)),
    "profile_start": Own(("GET", "POST")),
    "profile_statement_add": Own(("POST",)),
    "profile_preview": Own(("POST",)),
    "profile_filter_remove": Own(("POST",)),
    "profile_regenerate": Own(("POST",)),
    "profile_critique_list": Own(("POST",)),
    "profile_chat": Own(("GET", "POST")),
    "profile_chat_promote": Own(("POST",)),
    "profile_chat_reset": Own(("POST",)),
    # -- pages: catalogue ids, acting on my own data
    "item_like": Shared(lambda v: _url("item_like", v.liked.pk), {"POST": frozenset({302})}),
    "item_dislike": Shared(lambda v: _url("item_dislike", v.liked.pk), {"POST": frozenset({302})}),
    "item_rate": Shared(
        lambda v: _url("item_rate", v.liked.pk),
        {"POST": frozenset({302})},
        data={"POST": {"value": "1"}},
    ),
    "profile_critique_item": Shared(
        lambda v: _url("profile_critique_item", v.liked.pk),
        {"POST": frozenset({302})},
        data={"POST": {"kind": "not_for_me"}},
    ),
    # -- pages: ids of mine
    "recommendation_explanation": Owned(
        lambda v: _url("recommendation_explanation", v.explained.pk),
        {"GET": NOTHING_FOR_YOU},
        owner={"GET": 200},
        note="the item id is public; the text looked up is the requester's own (none)",
    ),
    "profile_statement_update": Owned(
        lambda v: _url("profile_statement_update", v.sid),
        {"POST": frozenset({422})},
        owner={"POST": 302},
        data={"POST": {"action": "delete"}},
        htmx={"POST": frozenset({200})},
        note="the requester's own editor, saying the statement is not in their profile",
    ),
    "profile_revert": Owned(
        lambda v: _url("profile_revert", 1), {"POST": NOT_FOUND}, owner={"POST": 302}
    ),
    "profile_critique_undo": Owned(
        lambda v: _url("profile_critique_undo", v.critiques[1]),
        {"POST": NOT_FOUND},
        owner={"POST": 302},
    ),
    "profile_job": Owned(
        lambda v: _url("profile_job", v.job.pk), {"GET": NOT_FOUND}, owner={"GET": 200}
    ),
}


# -- the URL configuration ------------------------------------------------------------------


def _walk(patterns: list[Any], prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str]]:
    """(rule key, full route) of every pattern: ``namespace:name``, or the route when the
    pattern has no name; the admin site is one entry, ``admin/``."""
    for p in patterns:
        route = prefix + str(p.pattern)
        if route.startswith(SKIPPED_PREFIXES):
            continue
        if isinstance(p, URLResolver):
            if p.app_name == "admin":
                yield route, route
                continue
            inner = f"{namespace}{p.namespace}:" if p.namespace else namespace
            yield from _walk(p.url_patterns, route, inner)
        else:
            assert isinstance(p, URLPattern)
            yield (f"{namespace}{p.name}" if p.name else route), route


def routes() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key, route in _walk(get_resolver().url_patterns):
        found.setdefault(key, []).append(route)
    return found


def test_every_route_has_an_access_rule() -> None:
    found = routes()
    missing = sorted(f"{k} ({', '.join(r)})" for k, r in found.items() if k not in RULES)
    assert not missing, f"routes without an access rule in RULES: {missing}"
    assert not sorted(set(RULES) - set(found)), "rules for routes that no longer exist"
    shared = {k: r for k, r in found.items() if len(r) > 1}
    assert not shared, f"one name for several routes (a rule must cover one): {shared}"
    assert len(found) >= 60  # the walk really went through every include


# -- clients ----------------------------------------------------------------------------------


def _client(user: Any, *, api: bool) -> Client | APIClient:
    if api:
        api_client = APIClient()
        if user is not None:
            api_client.force_authenticate(user)
        return api_client
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _send(
    client: Client | APIClient,
    method: str,
    url: str,
    data: dict[str, Any] | None = None,
    **extra: Any,
) -> Any:
    send = getattr(client, method.lower())
    if method in ("GET", "POST"):
        return send(url, data or {}, **extra)
    if isinstance(client, APIClient):
        return send(url, data or {}, format="json", **extra)
    return send(url, **extra)


def _body(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def _leaks(response: Any, v: Victim) -> list[str]:
    body = _body(response)
    return [s for s in SECRETS if s in body]


# -- another user, the victim's ids ----------------------------------------------------------


def test_another_user_gets_no_data_from_the_victims_ids(victim: Victim, attacker: Any) -> None:
    """Every route that takes an id, with every method, requested by another user with the
    victim's ids: a refusal, nothing of the victim's in the answer, nothing of theirs
    changed; likewise the catalogue-id routes and the id-free ones that write."""
    # Version and critique numbers count per user: the victim's "version 3" must not be one
    # of the attacker's own, or the attacker would be reverting their own profile.
    assert not ProfileVersion.objects.filter(user=attacker).exists()
    before = _snapshot(victim.user)
    problems: list[str] = []
    tried = 0
    for key, rule in RULES.items():
        if not isinstance(rule, Owned):
            continue
        for headers in [{}] if rule.api else [{}, HX]:
            client = _client(attacker, api=rule.api)
            for method in METHODS:
                expected = rule.refused.get(method, frozenset({405}))
                if headers and rule.htmx and method in rule.htmx:
                    expected = rule.htmx[method]
                url = rule.url(victim)
                response = _send(client, method, url, rule.data.get(method), **headers)
                tried += 1
                how = f"{key}: {method} {url}{' (htmx)' if headers else ''}"
                if response.status_code not in expected:
                    problems.append(f"{how} -> {response.status_code}, not {sorted(expected)}")
                if leaked := _leaks(response, victim):
                    problems.append(f"{how} leaked {leaked}")
    # catalogue ids: the requester's own like, rating or critique of the victim's liked item
    # (reads first: they check that what the item shows is the requester's, who has not
    # touched it yet)
    shared = [(k, r) for k, r in RULES.items() if isinstance(r, Shared)]
    for key, rule, method in [(k, r, m) for m in METHODS for k, r in shared]:
        client = _client(attacker, api=rule.api)
        expected = rule.allowed.get(method, frozenset({405}))
        url = rule.url(victim)
        response = _send(client, method, url, rule.data.get(method))
        tried += 1
        if response.status_code not in expected:
            problems.append(
                f"{key}: {method} {url} -> {response.status_code}, not {sorted(expected)}"
            )
        if leaked := _leaks(response, victim):
            problems.append(f"{key}: {method} {url} leaked {leaked}")
        if rule.check is not None and method == "GET":
            rule.check(response, victim)
    # the id-free writes act on the requester's own data (the chat, above all)
    api = _client(attacker, api=True)
    assert _send(api, "DELETE", _url("api:conversation")).status_code == 204
    assert _send(api, "POST", _url("api:conversation-keep")).status_code == 409
    page = _client(attacker, api=False)
    assert _send(page, "POST", _url("profile_chat_reset")).status_code == 302
    assert _send(page, "POST", _url("profile_chat_promote")).status_code == 302
    assert not problems, "\n".join(problems)
    assert tried >= 80
    assert _snapshot(victim.user) == before, "another user's requests changed the victim's data"


def test_the_owner_reaches_every_id_route(victim: Victim) -> None:
    """The same URLs and bodies work for the owner, so the refusals above are about who
    asks, not broken URLs (a 404 for everybody would pass the test above by construction).
    Reads first: a write makes a new profile version, and the cached explanation is for the
    version of now."""
    page, api = _client(victim.user, api=False), _client(victim.user, api=True)
    # what the owner reads is theirs, so the leak checks above were looking for real data
    assert MARK in _body(page.get(_url("recommendation_explanation", victim.explained.pk)))
    assert MARK in _body(api.get(_url("api:job-detail", victim.job.pk)))
    assert MARK in _body(page.get(_url("profile_chat")))
    done = 0
    for reads in (True, False):
        for key, rule in RULES.items():
            if not isinstance(rule, Owned):
                continue
            for method, status in rule.owner.items():
                if (method == "GET") != reads:
                    continue
                url = rule.url(victim)
                response = _send(api if rule.api else page, method, url, rule.data.get(method))
                assert response.status_code == status, (key, method, url, _body(response)[:500])
                done += 1
    assert done == sum(len(r.owner) for r in RULES.values() if isinstance(r, Owned))
    assert done >= 11


# -- routes without ids ----------------------------------------------------------------------


def test_id_free_routes_refuse_visitors_and_show_each_user_only_their_own(
    victim: Victim, attacker: Any
) -> None:
    problems: list[str] = []
    for key, rule in RULES.items():
        if isinstance(rule, Own):
            url = _url(key)
            method = "GET" if "GET" in rule.methods else rule.methods[0]
            response = _send(_client(None, api=rule.api), method, url)
            if rule.api:
                if response.status_code not in (401, 403):
                    problems.append(f"{key}: a visitor's {method} -> {response.status_code}")
            elif response.status_code != 302 or not response["Location"].startswith(
                rule.anonymous_to
            ):
                problems.append(f"{key}: a visitor's {method} -> {response.status_code}")
            if "GET" in rule.methods:
                mine = _client(attacker, api=rule.api).get(url)
                if mine.status_code != 200:
                    problems.append(f"{key}: the user's own GET -> {mine.status_code}")
                if leaked := _leaks(mine, victim):
                    problems.append(f"{key}: another user's GET leaked {leaked}")
        elif isinstance(rule, Public):
            url = _url(key)
            for who in (None, attacker):
                response = _client(who, api=rule.api).get(url)
                expected = rule.anonymous if who is None else (rule.signed_in or rule.anonymous)
                if response.status_code != expected:
                    problems.append(f"{key}: GET by {who} -> {response.status_code}")
                if leaked := _leaks(response, victim):
                    problems.append(f"{key}: GET by {who} leaked {leaked}")
        elif isinstance(rule, CatchAll):
            for who in (None, attacker):
                response = _client(who, api=True).get(rule.example)
                if response.status_code != 404:
                    problems.append(f"{key}: {rule.example} -> {response.status_code}")
    assert not problems, "\n".join(problems)


# -- staff ------------------------------------------------------------------------------------


@pytest.fixture
def staff_ctx(db: None, make_item: Any) -> dict[str, Any]:
    owner = get_user_model().objects.create_user(VICTIM, email=EMAIL)
    make_item(title="Alien", genres=("Horror",))
    return {
        "model_version": ModelVersion.objects.create(
            name="pop", version="pop-access-1", path="/nowhere.bin"
        ),
        "failed_job": JobRun.objects.create(
            task_name=profile_generate.name,
            state=JobRun.State.FAILED,
            requested_by=owner,
            message=f"{MARK} job",
            error=f"{MARK} traceback",
            arguments={"user_id": owner.pk},
        ),
    }


@pytest.fixture
def bare_staff(db: None) -> Any:
    """Staff (may sign in to the admin) but granted no permission at all."""
    return get_user_model().objects.create_user("bare-staff", is_staff=True)


def _staff_requests(
    ctx: dict[str, Any],
) -> list[tuple[str, str, str, dict[str, Any], dict[str, str]]]:
    return [
        (key, *request)
        for key, rule in RULES.items()
        if isinstance(rule, Staff)
        for request in rule.requests(ctx)
    ]


def _refused_to_staff_login(response: Any) -> bool:
    return response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_staff_routes_send_visitors_and_ordinary_users_to_the_staff_login(
    staff_ctx: dict[str, Any], alice: Any
) -> None:
    jobs = JobRun.objects.count()
    admin_urls = [
        _url("admin:index"),
        _url("admin:catalogue_item_changelist"),
        _url("admin:jobs_jobrun_change", staff_ctx["failed_job"].pk),
    ]
    for who in (None, alice):
        client = _client(who, api=False)
        for key, method, url, data, headers in _staff_requests(staff_ctx):
            response = _send(client, method, url, data, **headers)
            assert _refused_to_staff_login(response), (key, who, method, url)
        for url in admin_urls:
            assert _refused_to_staff_login(client.get(url)), (who, url)
    assert JobRun.objects.count() == jobs


def test_the_staff_dashboard_works_for_a_superuser(staff_ctx: dict[str, Any], staff: Any) -> None:
    client = _client(staff, api=False)
    for key, method, url, data, headers in _staff_requests(staff_ctx):
        response = _send(client, method, url, data, **headers)
        # GETs answer; each button queues its job and goes back to the page
        assert response.status_code == (200 if method == "GET" else 302), (key, url)
        if method == "POST":
            assert response["Location"] == _url("dashboard:overview"), (key, url)


DASHBOARD = [
    "dashboard:overview",
    "dashboard:chart",
    "dashboard:jobs",
    *(f"dashboard:start {a}" for a in ACTIONS),
    "dashboard:run_again",
]


@pytest.mark.parametrize("which", DASHBOARD)
def test_the_staff_dashboard_refuses_staff_without_permissions(
    which: str, staff_ctx: dict[str, Any], bare_staff: Any
) -> None:
    """The dashboard shows every user's jobs (with their arguments and errors) and its
    buttons queue training, enrichment and re-runs: the admin asks for the model's change
    permission before each of its own job buttons, so the dashboard must not hand the same
    work, or the job table, to staff that hold no permission."""
    key, _, action = which.partition(" ")
    requests = [
        r
        for r in _staff_requests(staff_ctx)
        if r[0] == key and (not action or r[2] == _url("dashboard:start", action))
    ]
    assert len(requests) == 1
    _, method, url, data, headers = requests[0]
    jobs = JobRun.objects.count()
    response = _send(_client(bare_staff, api=False), method, url, data, **headers)
    refused = response.status_code in (403, 404) or _refused_to_staff_login(response)
    queued = JobRun.objects.count() - jobs
    leaked = MARK in _body(response)
    assert refused and not queued and not leaked, (
        f"{method} {url} by staff without permissions -> {response.status_code}"
        f"{f', queued {queued} job(s)' if queued else ''}"
        f"{', showing a user job message/error' if leaked else ''}"
    )


def _registered_changelists() -> list[str]:
    return [
        _url(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for model in admin.site._registry
    ]


def test_the_admin_refuses_staff_without_permissions(
    staff_ctx: dict[str, Any], bare_staff: Any, victim_in_admin: Any
) -> None:
    client = _client(bare_staff, api=False)
    index = client.get(_url("admin:index"))
    assert index.status_code == 200  # Django's own: staff may sign in, and see nothing
    assert "have permission to view or edit anything" in _body(index)
    urls = [
        *_registered_changelists(),
        _url("admin:jobs_jobrun_change", staff_ctx["failed_job"].pk),
        _url("admin:profiles_profileversion_change", victim_in_admin.pk),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 403, (url, response.status_code)
        assert MARK not in _body(response)
    jobs = JobRun.objects.count()
    for name in (
        "admin:catalogue_item_recompute_stats",
        "admin:catalogue_item_enrich",
        "admin:recommendations_modelversion_train",
        "admin:recommendations_adapter_train",
    ):
        response = client.post(_url(name), {"name": "pop", "steps": "1", "limit": "1"})
        assert response.status_code in (302, 403), name
    assert JobRun.objects.count() == jobs, "staff without permissions queued a job"


def test_the_admin_works_for_a_superuser(
    staff_ctx: dict[str, Any], staff: Any, victim_in_admin: Any
) -> None:
    client = _client(staff, api=False)
    for url in _registered_changelists():
        assert client.get(url).status_code == 200, url
    job = client.get(_url("admin:jobs_jobrun_change", staff_ctx["failed_job"].pk))
    assert job.status_code == 200 and MARK in _body(job)
    version = client.get(_url("admin:profiles_profileversion_change", victim_in_admin.pk))
    assert version.status_code == 200 and MARK in _body(version)


@pytest.fixture
def victim_in_admin(staff_ctx: dict[str, Any]) -> ProfileVersion:
    owner = get_user_model().objects.get(username=VICTIM)
    statement = {"id": "s1", "text": MARK, "polarity": "likes", "weight": 1.0}
    return ProfileVersion.objects.create(
        user=owner,
        number=1,
        profile={"format": "profile/1", "statements": [statement], "filters": {}},
        fingerprint="a" * 16,
        reason="edit",
    )
