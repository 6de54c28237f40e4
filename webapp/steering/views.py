"""Steering pages: the profile, onboarding, critiques and the chat. Views parse a form,
call one service and render; an htmx request gets a named partial of the same template, a
plain one a redirect (or the page with its errors)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from webapp.catalogue import selectors as catalogue_selectors
from webapp.catalogue.models import Item
from webapp.jobs.models import JobRun
from webapp.jobs.services import job_alive
from webapp.jobs.tasks import USER_WORK_DEAD_AFTER
from webapp.profiles import selectors, services, tasks
from webapp.profiles.models import ProfileVersion
from webapp.ranking import selectors as ranking_selectors
from webapp.ranking import services as ranking_services
from webapp.ratelimit import (
    TOO_MANY,
    allow,
    flood_mark,
    flooding,
    parse_rate,
    retry_after,
    too_many,
)
from webapp.steering import forms
from webapp.steering import selectors as steering_selectors
from webapp.steering import services as steering_services
from webapp.steering.models import Conversation

EDIT_ERRORS = (ValueError, KeyError)  # a bad value, or a statement deleted in another tab
GONE = "That statement is no longer in your profile."
# Previews and profile writes at once, within PREVIEW_RATE / EDIT_RATE (webapp.ratelimit.allow):
# each re-ranks in the request (~0.1-0.3 s), so a minute's allowance sent together would hold
# every web process for seconds; a person typing or clicking sends a few at a time. Writes:
# a sixth of the allowance, never under MIN_BURST (so a lifted EDIT_RATE lifts it too).
PREVIEW_BURST = MIN_BURST = 5
PREVIEW_LENGTH = 10  # the "top 10" the profile page previews
ONBOARDING_ITEMS = 12
FULL = ("save", "preview")  # the actions whose form carries every field of a statement


def _filters(profile: Any) -> list[dict[str, Any]]:
    """Each active filter as (name, value, label), so each can be removed on its own."""
    if profile is None:
        return []
    f, out = profile.filters, []
    out += [{"name": "include_genres", "value": g, "label": f"Only {g}"} for g in f.include_genres]
    out += [{"name": "exclude_genres", "value": g, "label": f"Never {g}"} for g in f.exclude_genres]
    if f.year_min is not None:
        out.append({"name": "year_min", "value": "", "label": f"From {f.year_min} on"})
    if f.year_max is not None:
        out.append({"name": "year_max", "value": "", "label": f"Up to {f.year_max}"})
    titles = Item.objects.in_bulk(list(f.exclude_items))
    out += [
        {
            "name": "exclude_items",
            "value": pk,
            "label": f"Hidden: {titles.get(pk, pk)}",
        }
        for pk in f.exclude_items
    ]
    return out


def _rows(
    profile: Any,
    errors: dict[str, str],
    typed: dict[str, QueryDict],
    notes: dict[str, tuple[str, bool]] | None = None,
) -> list[dict]:
    """One editable row per statement; a row whose edit failed shows what was typed; ``notes``
    say what each statement does to the list (and which ones nothing fits)."""
    statements = profile.statements if profile else ()
    notes = notes or {}
    cited = Item.objects.in_bulk([pk for s in statements for pk in s.evidence])
    rows = []
    for s in statements:
        said = typed.get(s.id)
        rows.append(
            {
                "s": s,
                "text": said.get("text", s.text) if said else s.text,
                "polarity": said.get("polarity") or s.polarity if said else s.polarity,
                "weight": said.get("weight", s.weight) if said else s.weight,
                # a checkbox sends nothing when unticked: read it only from the full row form
                "pinned": "pinned" in said if said and said.get("action") in FULL else s.pinned,
                "error": errors.get(s.id),
                "note": notes.get(s.id),
                "evidence": [cited[pk] for pk in s.evidence if pk in cited],
            }
        )
    return rows


def _editor(
    request: HttpRequest,
    status: int = 200,
    errors: dict[str, str] | None = None,
    typed: dict[str, QueryDict] | None = None,
    **extra: Any,
) -> HttpResponse:
    """The profile page (or its #editor fragment); ``typed`` keeps what a failed edit said."""
    user, errors = request.user, errors or {}
    ranking = ranking_selectors.ranking_for(user=user, limit=PREVIEW_LENGTH)
    context = {
        "statements": _rows(
            ranking.profile, errors, typed or {}, ranking_selectors.statement_notes(ranking)
        ),
        "errors": errors,
        "version": selectors.current_version(user=user),
        "profile": ranking.profile,
        "filters": _filters(ranking.profile),
        "history": selectors.profile_history(user=user, limit=20),
        "ranking": ranking,
        "job": JobRun.objects.filter(
            task_name=tasks.profile_generate.name, requested_by=user
        ).first(),
        "add_form": forms.StatementAddForm(),
        "start_form": forms.ColdStartForm(),
        **extra,
    }
    template = "profiles/profile.html#editor" if request.htmx else "profiles/profile.html"
    return render(request, template, context, status=status)


def _home_list(request: HttpRequest, status: int = 200, **extra: Any) -> HttpResponse:
    """The home page's list (its #recs fragment for htmx), after a critique or an undo."""
    if not request.htmx and not extra.get("critique_form"):
        return redirect("home")
    context = ranking_selectors.for_you(user=request.user) | extra
    template = "recommendations/home.html#list" if request.htmx else "recommendations/home.html"
    return render(request, template, context, status=status)


def _home_failed(request: HttpRequest, message: str) -> HttpResponse:
    """A home-page control that could not be applied: said in the list, or as a message."""
    if request.htmx:
        return _home_list(request, list_error=message)
    messages.error(request, message)
    return redirect("home")


def _done(request: HttpRequest) -> HttpResponse:
    if request.POST.get("next") == "home":  # the home page's own controls stay on it
        return _home_list(request)
    return _editor(request) if request.htmx else redirect("profile")


def _failed(request: HttpRequest, **extra: Any) -> HttpResponse:
    # htmx swaps only 2xx answers by default, so the fragment with errors comes back as 200
    return _editor(request, status=200 if request.htmx else 422, **extra)


# -- per-user limits on the work a page makes the web process do -----------------------------


def _edit_allowed(request: HttpRequest) -> bool:
    """One more profile write (edit, revert, critique, onboarding, chat reset) within
    EDIT_RATE: each one writes rows and most re-rank in the request. Counted per user, pages
    apart from the API (likes and ratings share the count: webapp.catalogue.views). At most
    a sixth of the allowance at once (10 of 60 a minute, per 10 s): a minute's writes sent
    together would hold every web process. A flood is not counted on: one cache read
    refuses it."""
    rate = settings.EDIT_RATE
    burst = max(MIN_BURST, parse_rate(rate)[0] // 6)
    return not _edit_flooding(request) and allow(f"edit:{request.user.pk}", rate, burst=burst)


def _edit_flooding(request: HttpRequest) -> bool:
    """Refused edits far past EDIT_RATE come from a script: refused without rendering, and
    its session's next writes before it is read (webapp.ratelimit.FloodGateMiddleware)."""
    if flooding(f"edit:{request.user.pk}", settings.EDIT_RATE):
        flood_mark(request, settings.EDIT_RATE)
        return True
    return False


def _refused(response: HttpResponse, rate: str) -> HttpResponse:
    """``response`` (the page or fragment saying TOO_MANY, with what was typed kept) as a 429
    with when to retry; base.html lets htmx swap a 429 in, so the page shows why."""
    response.status_code = 429
    response["Retry-After"] = str(retry_after(rate))
    return response


def _edit_refused(request: HttpRequest, **extra: Any) -> HttpResponse:
    """The profile page (or its #editor) with TOO_MANY where ``extra`` puts it."""
    if _edit_flooding(request):
        return too_many(settings.EDIT_RATE)
    return _refused(_editor(request, **extra), settings.EDIT_RATE)


def _home_refused(request: HttpRequest) -> HttpResponse:
    """Over EDIT_RATE on a home-page control: said in the list (a 429), or as a message."""
    if _edit_flooding(request):
        return too_many(settings.EDIT_RATE)
    response = _home_failed(request, TOO_MANY)
    return _refused(response, settings.EDIT_RATE) if request.htmx else response


def _told(form: Any, field: str, message: str = TOO_MANY) -> Any:
    """``form`` (bound: it keeps what was typed) with ``message`` under ``field``."""
    form.is_valid()  # add_error needs the cleaned form
    form.add_error(field, message)
    return form


@login_required
@require_GET
def profile_page(request: HttpRequest) -> HttpResponse:
    return _editor(request)


def _onboarding(
    request: HttpRequest, form: forms.ColdStartForm, error: str = "", status: int | None = None
) -> HttpResponse:
    items = list(catalogue_selectors.popular_items(limit=ONBOARDING_ITEMS))
    states = catalogue_selectors.item_states_for_user(user=request.user, items=items)
    context = {
        "form": form,
        "cards": [{"item": i, "state": states[i.pk]} for i in items],
        "ratings_error": error,
    }
    status = status or (422 if form.errors or error else 200)
    return render(request, "profiles/onboarding.html", context, status=status)


def _onboarding_refused(request: HttpRequest) -> HttpResponse:
    """Over EDIT_RATE: the page again, with what was typed and why nothing happened."""
    if _edit_flooding(request):
        return too_many(settings.EDIT_RATE)
    if request.POST.get("action") == "ratings":
        page = _onboarding(request, forms.ColdStartForm(), error=TOO_MANY.rstrip("."))
    else:
        page = _onboarding(request, _told(forms.ColdStartForm(request.POST), "text"))
    return _refused(page, settings.EDIT_RATE)


@login_required
def onboarding(request: HttpRequest) -> HttpResponse:
    """Cold start: a new user describes their taste in their own words, or rates a few
    well-known films and has their profile written from those ratings."""
    if request.method == "POST" and not _edit_allowed(request):
        return _onboarding_refused(request)
    if request.method == "POST" and request.POST.get("action") == "ratings":
        try:
            tasks.profile_generate_enqueue(user=request.user)
        except ValueError as exc:
            return _onboarding(request, forms.ColdStartForm(), error=str(exc))
        messages.success(request, "Thanks! Your profile is being written from your ratings.")
        return redirect("home")
    form = forms.ColdStartForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.profile_cold_start(user=request.user, text=form.cleaned_data["text"])
        except ValueError as exc:
            form.add_error("text", str(exc))
        else:
            messages.success(request, "Thanks! Your list now follows what you told us.")
            return redirect("home")
    return _onboarding(request, form)


@login_required
@require_POST
def statement_add(request: HttpRequest) -> HttpResponse:
    form = forms.StatementAddForm(request.POST)
    if not _edit_allowed(request):
        return _edit_refused(request, add_form=_told(form, "text"))
    if not form.is_valid():
        return _failed(request, add_form=form)
    try:
        services.profile_edit(user=request.user, by=request.user, action="add", **form.cleaned_data)
    except EDIT_ERRORS as exc:
        form.add_error("text", str(exc))
        return _failed(request, add_form=form)
    return _done(request)


def _statement_change(action: str, sid: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The form's action -> (service, keyword arguments)."""
    if action == "save":
        fields = {k: data[k] for k in ("text", "weight", "pinned")}
        return "update", {"sid": sid, "polarity": data["polarity"] or None, **fields}
    if action in ("pin", "unpin"):
        return "edit", {"action": "pin", "sid": sid, "pinned": action == "pin"}
    if action in ("text", "weight"):
        return "edit", {"action": action, "sid": sid, action: data[action]}
    return "edit", {"action": action, "sid": sid}


@login_required
@require_POST
def statement_update(request: HttpRequest, sid: str) -> HttpResponse:
    form = forms.StatementEditForm(request.POST)
    typed = {sid: request.POST}
    if not _edit_allowed(request):
        return _edit_refused(request, errors={sid: TOO_MANY}, typed=typed)
    if not form.is_valid():
        errors = " ".join(e for es in form.errors.values() for e in es)
        return _failed(request, errors={sid: errors}, typed=typed)
    kind, arguments = _statement_change(form.cleaned_data["action"], sid, form.cleaned_data)
    try:
        if kind == "update":
            services.statement_update(user=request.user, by=request.user, **arguments)
        else:
            services.profile_edit(user=request.user, by=request.user, **arguments)
    except KeyError:
        return _failed(request, errors={sid: GONE})
    except ValueError as exc:
        return _failed(request, errors={sid: str(exc)}, typed=typed)
    return _done(request)


@login_required
@require_POST
def statement_preview(request: HttpRequest) -> HttpResponse:
    """The top 10 as it would be with the statement being edited (or added), saving nothing:
    the #preview fragment for htmx, the whole page (edits kept) without JavaScript."""
    if _preview_flooding(request):  # a script: nothing read, ranked or rendered
        return too_many(settings.PREVIEW_RATE)
    preview, error, refused = _previewed(request, forms.StatementPreviewForm(request.POST))
    if refused and _preview_flooding(request):
        return too_many(settings.PREVIEW_RATE)
    context: dict[str, Any] = {"preview": preview, "preview_error": error}
    response: HttpResponse
    if request.htmx:
        if preview is None:
            context["ranking"] = ranking_selectors.ranking_for(
                user=request.user, limit=PREVIEW_LENGTH, explain=False
            )
        response = render(request, "profiles/profile.html#preview", context)
    else:
        sid = request.POST.get("sid", "")
        response = _editor(request, typed={sid: request.POST} if sid else {}, **context)
    return _refused(response, settings.PREVIEW_RATE) if refused else response


def _preview_flooding(request: HttpRequest) -> bool:
    """As _edit_flooding, for previews past PREVIEW_RATE."""
    if flooding(f"preview:{request.user.pk}", settings.PREVIEW_RATE):
        flood_mark(request, settings.PREVIEW_RATE)
        return True
    return False


def _previewed(
    request: HttpRequest, form: forms.StatementPreviewForm
) -> tuple[ranking_services.Preview | None, str, bool]:
    """(the preview or None, what to say instead, refused over PREVIEW_RATE). Only a preview
    that would embed and re-rank counts: the page sends one on every pause in typing."""
    if not request.POST.get("text", "").strip():
        return None, "", False  # an empty box previews nothing; the saved list stays on show
    if not form.is_valid():
        return None, " ".join(e for es in form.errors.values() for e in es), False
    if not allow(f"preview:{request.user.pk}", settings.PREVIEW_RATE, burst=PREVIEW_BURST):
        return None, TOO_MANY, True
    try:
        preview = ranking_services.profile_preview(
            user=request.user,
            sid=form.cleaned_data["sid"] or None,
            limit=PREVIEW_LENGTH,
            **form.changes(),
        )
    except KeyError:
        return None, GONE, False
    except ValueError as exc:
        return None, str(exc), False
    return preview, "", False


@login_required
@require_POST
def filter_remove(request: HttpRequest) -> HttpResponse:
    if not _edit_allowed(request):
        return _edit_refused(request, errors={"filters": TOO_MANY})
    name, value = request.POST.get("name", ""), request.POST.get("value") or None
    if name not in ("include_genres", "exclude_genres", "year_min", "year_max", "exclude_items"):
        return _failed(request, errors={"filters": "Unknown filter."})
    if name == "exclude_items" and value is not None:
        # isascii: "²".isdigit() is True and int("²") raises
        value = int(value) if value.isascii() and value.isdigit() else value
    services.profile_edit(
        user=request.user, by=request.user, action="remove_filter", name=name, value=value
    )
    return _done(request)


@login_required
@require_POST
def version_revert(request: HttpRequest, number: int) -> HttpResponse:
    if not _edit_allowed(request):
        return _edit_refused(request, errors={"history": TOO_MANY})
    get_object_or_404(request.user.profile_versions, number=number)  # type: ignore[union-attr]
    services.profile_revert(user=request.user, by=request.user, number=number)
    return _done(request)


@login_required
@require_POST
def critique_undo(request: HttpRequest, number: int) -> HttpResponse:
    if not _edit_allowed(request):
        if request.POST.get("next") == "home":
            return _home_refused(request)
        return _edit_refused(request, errors={"history": TOO_MANY})
    get_object_or_404(request.user.profile_versions, number=number, reason="critique")  # type: ignore[union-attr]
    try:
        services.critique_undo(user=request.user, number=number)
    except ValueError as exc:
        if request.POST.get("next") == "home":
            return _home_failed(request, str(exc).capitalize() + ".")
        return _failed(request, errors={"history": str(exc)})
    return _done(request)


def llm_rate() -> str:
    """The API's rate for model work (API_LLM_THROTTLE): the pages that start it (regenerate,
    chat) are held to the same rate, counted per user in the shared cache."""
    return str(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["llm"])


def _too_many(request: HttpRequest) -> HttpResponse:
    if request.htmx:
        return render(
            request, "profiles/profile.html#job", {"job_error": TOO_MANY.rstrip(".")}, status=429
        )
    messages.error(request, TOO_MANY)
    return redirect("profile")


@login_required
@require_POST
def regenerate(request: HttpRequest) -> HttpResponse:
    """Generation runs on a worker; the page polls the job's fragment until it is done."""
    if not allow(
        f"llm:{request.user.pk}", settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["llm"]
    ):
        return _too_many(request)
    try:
        job = tasks.profile_generate_enqueue(user=request.user)
    except ValueError as exc:
        if request.htmx:
            return render(request, "profiles/profile.html#job", {"job_error": str(exc)})
        messages.error(request, str(exc).capitalize() + ".")
        return redirect("profile")
    if request.htmx:
        return render(request, "profiles/profile.html#job", {"job": job})
    return redirect("profile")


@login_required
@require_GET
def job_status(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(
        JobRun, pk=job_id, requested_by=request.user, task_name=tasks.profile_generate.name
    )
    job_alive(job, running_for=USER_WORK_DEAD_AFTER)  # a dead one ends the polling
    return render(request, "profiles/profile.html#job", {"job": job})


@login_required
@require_POST
def critique_item(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(Item, pk=pk)
    if not _edit_allowed(request):
        return _home_refused(request)
    form = forms.CritiqueItemForm(request.POST)
    if not form.is_valid():
        return _home_failed(request, "Pick more like this, less like this or not for me.")
    try:
        version = services.critique_item_apply(user=request.user, item=item, **form.cleaned_data)
    except ValueError as exc:
        return _home_failed(request, str(exc).capitalize() + ".")
    return _home_list(request, critique=version)


@login_required
@require_POST
def critique_list(request: HttpRequest) -> HttpResponse:
    form = forms.CritiqueListForm(request.POST)
    version: ProfileVersion | None = None
    if not _edit_allowed(request):
        response = _home_list(request, critique_form=_told(form, "text"))
        return _refused(response, settings.EDIT_RATE)
    if form.is_valid():
        try:
            version = services.critique_list_apply(
                user=request.user, text=form.cleaned_data["text"]
            )
        except ValueError as exc:
            form.add_error("text", str(exc))
    if form.errors:
        return _home_list(request, status=200 if request.htmx else 422, critique_form=form)
    return _home_list(request, critique=version)


def _chat(request: HttpRequest, form: forms.ChatForm, status: int = 200) -> HttpResponse:
    turns, has_state = steering_selectors.conversation_turns(user=request.user)
    items = [item for t in turns for item in t["objects"]]
    states = catalogue_selectors.item_states_for_user(user=request.user, items=items)
    for t in turns:
        t["cards"] = [{**c, "state": states[c["item"].pk]} for c in t["cards"]]
    context = {"turns": turns, "form": form, "has_state": has_state}
    template = "profiles/chat.html#thread" if request.htmx else "profiles/chat.html"
    return render(request, template, context, status=status)


@login_required
def chat(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _chat(request, forms.ChatForm())
    form = forms.ChatForm(request.POST)
    if form.is_valid() and not allow(f"llm:{request.user.pk}", llm_rate()):
        form.add_error("message", TOO_MANY)  # what was typed stays in the box
        return _chat(request, form, status=429)
    if form.is_valid():
        try:
            steering_services.conversation_respond(
                user=request.user, message=form.cleaned_data["message"]
            )
        except ValueError as exc:
            form.add_error("message", str(exc))
        else:
            return _chat(request, forms.ChatForm()) if request.htmx else redirect("profile_chat")
    return _chat(request, form, status=200 if request.htmx else 422)


@login_required
@require_POST
def chat_promote(request: HttpRequest) -> HttpResponse:
    if not _edit_allowed(request):
        messages.error(request, TOO_MANY)
        return redirect("profile_chat")
    try:
        steering_services.conversation_promote(user=request.user)
    except (ValueError, Conversation.DoesNotExist) as exc:
        messages.error(request, str(exc) if isinstance(exc, ValueError) else "No chat yet.")
        return redirect("profile_chat")
    messages.success(request, "Kept: what you asked for in the chat is now in your profile.")
    return redirect("profile")


@login_required
@require_POST
def chat_reset(request: HttpRequest) -> HttpResponse:
    if not _edit_allowed(request):  # a write like the others: counted against EDIT_RATE
        messages.error(request, TOO_MANY)
        return redirect("profile_chat")
    steering_services.conversation_reset(user=request.user)
    return redirect("profile_chat")
