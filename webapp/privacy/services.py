"""What we store about one person: export it all, or delete it all.

The export is the one place that lists every personal table, so the privacy page, the JSON
download and the API show the same thing; the delete removes the same rows. A new model
that keeps personal data belongs in both functions (and in the privacy tests).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from rest_framework.authtoken.models import Token

from explanations.titles import natural_title
from recommender.encoders import text_sha
from webapp import ml
from webapp.accounts.models import Demographics
from webapp.catalogue.models import Interaction, Item
from webapp.catalogue.state import catalogue_state
from webapp.celery import app  # the project's app: its result backend (data_prune)
from webapp.jobs.models import JobRun
from webapp.profiles.models import ProfileVersion
from webapp.ranking.models import Explanation
from webapp.ranking.services import ranking_forget
from webapp.recommendations.models import RecommendationList
from webapp.recommendations.selectors import stored_list
from webapp.steering.models import Conversation

EXPORT_FORMAT = "steerable-recommender/personal-data/1"


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _titles(ids: Iterable[int]) -> dict[int, str]:
    rows = Item.objects.filter(pk__in=set(ids)).values_list("pk", "title")
    return {pk: natural_title(title) for pk, title in rows}


def personal_jobs(*, user: Any) -> QuerySet[JobRun]:
    """Jobs the user started, and background jobs run for them (profile generation,
    explanations) whose arguments name them."""
    return JobRun.objects.filter(Q(requested_by=user) | Q(arguments__user_id=user.pk))


CHUNK = 500  # rows read at a time by the export and the sweep: memory stays flat however
# long a history is
PAGE_ROWS = 50  # the newest rows of each list the privacy page shows (the download has all)


def _interaction(i: Interaction, user: Any) -> dict[str, Any]:
    return {
        "item": {"id": i.item_id, "title": i.item.display_title},
        "kind": i.kind,
        "value": i.value,
        "created_at": _iso(i.created_at),
    }


def _version(v: ProfileVersion, user: Any) -> dict[str, Any]:
    return {
        "number": v.number,
        "reason": v.reason,
        "summary": v.summary,
        "written_by": "you"
        if v.created_by_id == user.pk
        else ("the system" if v.created_by_id is None else "staff"),
        "reverted_from": v.reverted_from,
        "created_at": _iso(v.created_at),
        "profile": v.profile,
    }


def _critique(v: ProfileVersion, user: Any) -> dict[str, Any]:
    critique = v.critique or {}
    return {
        "version": v.number,
        "text": critique.get("text", v.summary),
        "undone": v.critique_undone,
        "created_at": _iso(v.created_at),
        "change": v.critique,
    }


def _explanation(e: Explanation, user: Any) -> dict[str, Any]:
    return {
        "item": {"id": e.item_id, "title": e.item.display_title},
        "text": e.explanation.get("text", ""),
        "explanation": e.explanation,
        "evidence": e.evidence,
        "created_at": _iso(e.created_at),
    }


def _job(j: JobRun, user: Any) -> dict[str, Any]:
    return {
        "id": j.pk,
        "task": j.task_name,
        "arguments": j.arguments,
        "state": j.state,
        # the one-line message only: a traceback shows the server's code and paths
        "message": j.message,
        "started_by_you": j.requested_by_id == user.pk,
        "created_at": _iso(j.created_at),
        "finished_at": _iso(j.finished_at),
    }


def _access(row: AccessAttempt | AccessFailureLog | AccessLog) -> dict[str, Any]:
    """What django-axes keeps of a sign-in under this username: when, from where, with what.
    Left out: the form data of a failed one (the password in it is masked; the rest is the
    username and a CSRF token) and a login's session hash (derived from a credential)."""
    return {
        "at": _iso(row.attempt_time),
        "address": row.ip_address,
        "user_agent": row.user_agent,
        "path": row.path_info,
    }


def _login(row: AccessLog, user: Any) -> dict[str, Any]:
    return _access(row) | {"logged_out_at": _iso(row.logout_time)}


def _login_failure(row: AccessFailureLog, user: Any) -> dict[str, Any]:
    return _access(row) | {"locked_out": row.locked_out}


def _login_attempt(row: AccessAttempt, user: Any) -> dict[str, Any]:
    return _access(row) | {"failures": row.failures_since_start}


SIGN_IN_ROWS: dict[str, Callable[[Any, Any], dict[str, Any]]] = {
    "logins": _login,
    "login_failures": _login_failure,
    "login_attempts": _login_attempt,
}


def sign_in_logs(*, user: Any) -> dict[str, QuerySet[Any]]:
    """django-axes' rows about this account, newest first: they name it by username (no
    foreign key, so no CASCADE reaches them) with an address and a user agent."""
    username = user.get_username()
    return {
        "logins": AccessLog.objects.filter(username=username).order_by("-attempt_time"),
        "login_failures": AccessFailureLog.objects.filter(username=username).order_by(
            "-attempt_time"
        ),
        "login_attempts": AccessAttempt.objects.filter(username=username).order_by("-attempt_time"),
    }


def _lists(user: Any) -> dict[str, tuple[QuerySet[Any], Callable[[Any, Any], dict[str, Any]]]]:
    """Each list of the export: its rows, newest first, and how one row is written."""
    versions = ProfileVersion.objects.filter(user=user).order_by("-number")
    return {
        "interactions": (
            Interaction.objects.filter(user=user)
            .select_related("item")
            .order_by("-created_at", "-id"),
            _interaction,
        ),
        "profile_versions": (versions, _version),
        "critiques": (versions.filter(critique__isnull=False), _critique),
        "explanations": (
            Explanation.objects.filter(user=user).select_related("item").order_by("-created_at"),
            _explanation,
        ),
        "jobs": (personal_jobs(user=user).order_by("-created_at", "-id"), _job),
        **{name: (rows, SIGN_IN_ROWS[name]) for name, rows in sign_in_logs(user=user).items()},
    }


def _listed(
    rows: QuerySet[Any], write: Callable[[Any, Any], dict[str, Any]], user: Any, limit: int | None
) -> Iterator[dict[str, Any]]:
    """``rows`` (at most ``limit``) written one at a time, read from the database CHUNK at a
    time: the query runs only when the first row is asked for."""
    for row in (rows if limit is None else rows[:limit]).iterator(chunk_size=CHUNK):
        yield write(row, user)


def _sections(user: Any, limit: int | None) -> dict[str, Any]:
    """The export in its order; each list an iterator over its newest ``limit`` rows (None:
    all). Left out on purpose: the password (only a salted hash is stored, and it is useless
    to its owner) and the API token's key (a credential; its existence is listed)."""
    demographics = Demographics.objects.filter(user=user).first()
    conversation = Conversation.objects.filter(user=user).first()
    stored = stored_list(user=user)
    token = Token.objects.filter(user=user).first()
    lists = {
        name: _listed(rows, write, user, limit) for name, (rows, write) in _lists(user).items()
    }
    return {
        "format": EXPORT_FORMAT,
        "exported_at": _iso(timezone.now()),
        "account": {
            "id": user.pk,
            "username": user.get_username(),
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "date_joined": _iso(user.date_joined),
            "last_login": _iso(user.last_login),
            "is_staff": user.is_staff,
        },
        "demographics": None
        if demographics is None
        else {
            "age": demographics.age,
            "gender": demographics.gender,
            "occupation": demographics.occupation,
            "zip_code": demographics.zip_code,
            "source": demographics.source,
        },
        "interactions": lists["interactions"],
        "profile_versions": lists["profile_versions"],
        "critiques": lists["critiques"],
        "conversation": None
        if conversation is None
        else {
            "turns": conversation.turns,
            "state": conversation.state,
            "updated_at": _iso(conversation.updated_at),
        },
        "explanations": lists["explanations"],
        "recommendations": None if stored is None else _recommendations(stored),
        "jobs": lists["jobs"],
        "api_token": None if token is None else {"created": _iso(token.created)},
        "logins": lists["logins"],
        "login_failures": lists["login_failures"],
        "login_attempts": lists["login_attempts"],
    }


def _materialised(sections: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, Iterator) else v for k, v in sections.items()}


def personal_data_export(*, user: Any) -> dict[str, Any]:
    """Everything stored about ``user`` as plain JSON types, newest first within each list,
    all in memory: responses stream :func:`personal_data_json` instead."""
    return _materialised(_sections(user, None))


def personal_data_page(*, user: Any, rows: int = PAGE_ROWS) -> dict[str, Any]:
    """The export with only the newest ``rows`` of each list: what the privacy page shows
    (beside :func:`personal_data_counts`), however long the history."""
    return _materialised(_sections(user, rows))


def personal_data_json(*, user: Any) -> Iterator[str]:
    """The export as JSON text, written a row at a time (each list's rows on lines of their
    own), so a long history is never held in memory: a StreamingHttpResponse's content."""
    dump = partial(json.dumps, ensure_ascii=False, cls=DjangoJSONEncoder)
    yield "{"
    for n, (key, value) in enumerate(_sections(user, None).items()):
        yield f"{',' if n else ''}\n  {dump(key)}: "
        if not isinstance(value, Iterator):
            yield dump(value)
            continue
        yield "["
        for m, row in enumerate(value):
            yield f"{',' if m else ''}\n    {dump(row)}"
        yield "\n  ]"
    yield "\n}\n"


def _recommendations(stored: RecommendationList) -> dict[str, Any]:
    titles = _titles(e["item"] for e in stored.entries)
    return {
        "model_version": stored.model_version.version,
        "computed_at": _iso(stored.computed_at),
        "entries": [
            {
                "item": {"id": e["item"], "title": titles.get(e["item"], "")},
                "score": e["score"],
                "components": e.get("components", {}),
            }
            for e in stored.entries
        ],
        "reranked": stored.reranked,
        "reranked_by": stored.reranked_by,
        "reranked_at": _iso(stored.reranked_at),
    }


def personal_data_counts(*, user: Any) -> dict[str, int]:
    """How many rows each list of the export holds (what the privacy and delete pages say),
    counted by the database."""
    return {name: rows.count() for name, (rows, _) in _lists(user).items()}


def _only_admin(user: Any) -> bool:
    others = get_user_model().objects.filter(is_superuser=True, is_active=True)
    return bool(user.is_superuser) and not others.exclude(pk=user.pk).exists()


def _texts(versions: QuerySet[ProfileVersion], chats: QuerySet[Conversation]) -> Iterator[str]:
    """Every text these rows hold that may have been encoded: statements of every version,
    critiques, the chat's gathered wishes and its turns. Read CHUNK rows at a time (the
    sweep reads everyone's), so a text may come more than once."""
    rows = versions.order_by().values_list("profile", "critique").iterator(chunk_size=CHUNK)
    for profile, critique in rows:
        yield from (s.get("text", "") for s in (profile or {}).get("statements", []))
        yield (critique or {}).get("text", "")
    for state, turns in chats.order_by().values_list("state", "turns").iterator(chunk_size=CHUNK):
        yield from (s.get("text", "") for s in (state or {}).get("statements", []))
        yield from (t.get("text", "") for t in turns or [])


def personal_texts(*, user: Any) -> set[str]:
    """The user's own words that may have been encoded (their vectors go with the account)."""
    mine = ProfileVersion.objects.filter(user=user), Conversation.objects.filter(user=user)
    return set(_texts(*mine)) - {""}


def _forget_cached(user_id: int, texts: set[str]) -> None:
    """After the rows are gone: the cached rankings and the vectors of the user's own
    words go too (neither is a database row, so no CASCADE reaches them)."""
    ranking_forget(user_id=user_id)
    store = ml.encoder().cache  # no model loads for this: only its on-disk cache is read
    if store is not None:
        store.forget(text_sha(t) for t in texts)


@transaction.atomic
def personal_data_delete(*, user: Any) -> dict[str, int]:
    """Delete the account and every personal row in one transaction; returns rows deleted
    per kind (verbose model names).

    Most rows go through the foreign keys' CASCADE. Jobs only SET_NULL their requester (staff
    keep the job history of everyone else), so the user's own jobs are deleted first.
    Refuses to delete the site's last active superuser: nobody could run the admin after.
    """
    if _only_admin(user):
        raise ValidationError(
            "You are the only administrator: make someone else a superuser first."
        )
    deleted: Counter[str] = Counter()
    texts = personal_texts(user=user)
    transaction.on_commit(partial(_forget_cached, user.pk, texts))
    deleted["background jobs"] = personal_jobs(user=user).delete()[0]
    per_model: Counter[str] = Counter()
    for rows in sign_in_logs(user=user).values():  # named by username: no CASCADE
        per_model.update(rows.delete()[1])
    user_label = user._meta.label
    per_model.update(user.delete()[1])
    for label, n in per_model.items():
        name = "account" if label == user_label else apps.get_model(label)._meta.verbose_name_plural
        deleted[str(name).lower()] += n
    return {name: n for name, n in deleted.items() if n}


# -- retention ---------------------------------------------------------------------------------


def data_prune(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Delete what is kept only for a while; returns how much went, per kind.

    - finished jobs older than JOB_RETENTION_DAYS (their messages and errors included);
    - explanations written more than EXPLANATION_RETENTION_DAYS ago (a cache: a card whose
      row is gone shows its evidence-built sentence and is written again when next seen);
    - django-axes' logs of sign-ins (username, address, user agent) older than AXES_LOG_DAYS,
      and its lockout counters too, once also past the lockout's cool-off;
    - Celery's stored task results past CELERY_RESULT_EXPIRES (the backend's own cleanup);
    - vectors of texts that no item, profile version or chat uses any more.
    """
    now = now or timezone.now()
    days = dt.timedelta(days=1)
    jobs = JobRun.objects.filter(
        state__in=[JobRun.State.SUCCEEDED, JobRun.State.FAILED],
        created_at__lt=now - settings.JOB_RETENTION_DAYS * days,
    )
    old = Explanation.objects.filter(
        created_at__lt=now - settings.EXPLANATION_RETENTION_DAYS * days
    )
    pruned = {"jobs": _delete_batched(jobs), "explanations": _delete_batched(old)}
    pruned |= _sign_ins_prune(now)
    app.backend.cleanup()  # a no-op for backends that expire results themselves (Redis)
    encoder = ml.encoder()
    if encoder.cache is not None:
        # streamed into the cache's own table of texts to keep: never every user's in memory
        everyone = _texts(ProfileVersion.objects.all(), Conversation.objects.all())
        used = (t for t in itertools.chain(catalogue_state().texts, everyone) if t)
        pruned["text vectors"] = encoder.cache.keep_only(encoder.key, map(text_sha, used))
    return pruned


def _sign_ins_prune(now: dt.datetime) -> dict[str, int]:
    """django-axes' rows past AXES_LOG_DAYS; a lockout counter only once past the cool-off
    as well, so pruning never lifts a lockout early."""
    logged = now - dt.timedelta(days=settings.AXES_LOG_DAYS)
    counted = min(logged, now - settings.AXES_COOLOFF_TIME)
    return {
        "logins": _delete_batched(AccessLog.objects.filter(attempt_time__lt=logged)),
        "login failures": _delete_batched(AccessFailureLog.objects.filter(attempt_time__lt=logged)),
        "login attempts": _delete_batched(AccessAttempt.objects.filter(attempt_time__lt=counted)),
    }


def _delete_batched(rows: QuerySet[Any]) -> int:
    """Delete ``rows`` CHUNK at a time; returns rows deleted. One DELETE of every expired row
    would hold its lock for as long as that takes, and Django collects the rows (and what
    cascades from them) in memory first."""
    deleted, label = 0, rows.model._meta.label
    while batch := list(rows.order_by().values_list("pk", flat=True)[:CHUNK]):
        deleted += rows.model.objects.filter(pk__in=batch).delete()[1].get(label, 0)
    return deleted
