"""Profile pages. Views parse a form, call one service and render; an htmx request gets a
named partial of the same template, a plain one a redirect (or the page with its errors)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from webapp.catalogue.models import Item
from webapp.jobs.models import JobRun
from webapp.jobs.services import job_enqueue
from webapp.profiles import forms, selectors, services, tasks
from webapp.profiles.models import Conversation

EDIT_ERRORS = (ValueError, KeyError)  # a bad value, or a statement deleted in another tab


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


def _editor(
    request: HttpRequest,
    status: int = 200,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    **extra: Any,
) -> HttpResponse:
    """The profile page (or its #editor fragment); ``typed`` keeps what a failed edit said."""
    user, errors, typed = request.user, errors or {}, typed or {}
    ranking = selectors.ranking_for(user=user, limit=10)
    statements = ranking.profile.statements if ranking.profile else ()
    context = {
        "statements": [
            {"s": s, "text": typed.get(s.id, s.text), "error": errors.get(s.id)} for s in statements
        ],
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
    if request.htmx:
        return render(request, "profiles/profile.html#editor", context)
    return render(request, "profiles/profile.html", context, status=status)


def _done(request: HttpRequest) -> HttpResponse:
    return _editor(request) if request.htmx else redirect("profile")


def _failed(request: HttpRequest, **extra: Any) -> HttpResponse:
    # htmx swaps only 2xx answers by default, so the fragment with errors comes back as 200
    return _editor(request, status=200 if request.htmx else 422, **extra)


@login_required
@require_GET
def profile_page(request: HttpRequest) -> HttpResponse:
    return _editor(request)


@login_required
def onboarding(request: HttpRequest) -> HttpResponse:
    """Cold start: a new user describes their taste in their own words."""
    form = forms.ColdStartForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.profile_cold_start(user=request.user, text=form.cleaned_data["text"])
        except ValueError as exc:
            form.add_error("text", str(exc))
        else:
            messages.success(request, "Thanks! Your list now follows what you told us.")
            return redirect("home")
    status = 422 if form.errors else 200
    return render(request, "profiles/onboarding.html", {"form": form}, status=status)


@login_required
@require_POST
def statement_add(request: HttpRequest) -> HttpResponse:
    form = forms.StatementAddForm(request.POST)
    if not form.is_valid():
        return _failed(request, add_form=form)
    try:
        services.profile_edit(user=request.user, by=request.user, action="add", **form.cleaned_data)
    except EDIT_ERRORS as exc:
        form.add_error("text", str(exc))
        return _failed(request, add_form=form)
    return _done(request)


@login_required
@require_POST
def statement_update(request: HttpRequest, sid: str) -> HttpResponse:
    form = forms.StatementEditForm(request.POST)
    if not form.is_valid():
        errors = " ".join(e for es in form.errors.values() for e in es)
        return _failed(request, errors={sid: errors}, typed={sid: request.POST.get("text", "")})
    data = form.cleaned_data
    action, arguments = data["action"], {"sid": sid}
    if action in ("pin", "unpin"):
        action, arguments["pinned"] = "pin", data["action"] == "pin"
    elif action in ("text", "weight"):
        arguments[action] = data[action]
    try:
        services.profile_edit(user=request.user, by=request.user, action=action, **arguments)
    except KeyError:
        return _failed(request, errors={sid: "That statement is no longer in your profile."})
    except ValueError as exc:
        return _failed(request, errors={sid: str(exc)}, typed={sid: request.POST.get("text", "")})
    return _done(request)


@login_required
@require_POST
def filter_remove(request: HttpRequest) -> HttpResponse:
    name, value = request.POST.get("name", ""), request.POST.get("value") or None
    if name not in ("include_genres", "exclude_genres", "year_min", "year_max", "exclude_items"):
        return _failed(request, errors={"filters": "Unknown filter."})
    if name == "exclude_items" and value is not None:
        value = int(value) if value.isdigit() else value
    services.profile_edit(
        user=request.user, by=request.user, action="remove_filter", name=name, value=value
    )
    return _done(request)


@login_required
@require_POST
def version_revert(request: HttpRequest, number: int) -> HttpResponse:
    get_object_or_404(request.user.profile_versions, number=number)  # type: ignore[union-attr]
    services.profile_revert(user=request.user, by=request.user, number=number)
    return _done(request)


@login_required
@require_POST
def critique_undo(request: HttpRequest, number: int) -> HttpResponse:
    get_object_or_404(request.user.profile_versions, number=number, reason="critique")  # type: ignore[union-attr]
    try:
        services.critique_undo(user=request.user, number=number)
    except ValueError as exc:
        return _failed(request, errors={"history": str(exc)})
    return _done(request)


@login_required
@require_POST
def regenerate(request: HttpRequest) -> HttpResponse:
    """Generation runs on a worker; the page polls the job's fragment until it is done."""
    job = job_enqueue(
        task=tasks.profile_generate,
        arguments={"user_id": request.user.pk, "requested_by_id": request.user.pk},
        requested_by=request.user,
    )
    if request.htmx:
        return render(request, "profiles/profile.html#job", {"job": job})
    return redirect("profile")


@login_required
@require_GET
def job_status(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(
        JobRun, pk=job_id, requested_by=request.user, task_name=tasks.profile_generate.name
    )
    return render(request, "profiles/profile.html#job", {"job": job})


def _home_list(request: HttpRequest) -> HttpResponse:
    if not request.htmx:
        return redirect("home")
    ranking = selectors.ranking_for(user=request.user, limit=20)
    return render(request, "recommendations/home.html#list", {"recommendations": ranking.entries})


@login_required
@require_POST
def critique_item(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(Item, pk=pk)
    form = forms.CritiqueItemForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Pick more, less or not for me.")
        return redirect("home")
    services.critique_item_apply(user=request.user, item=item, **form.cleaned_data)
    return _home_list(request)


@login_required
@require_POST
def critique_list(request: HttpRequest) -> HttpResponse:
    form = forms.CritiqueListForm(request.POST)
    if form.is_valid():
        try:
            services.critique_list_apply(user=request.user, text=form.cleaned_data["text"])
        except ValueError as exc:
            form.add_error("text", str(exc))
    if form.errors:
        ranking = selectors.ranking_for(user=request.user, limit=20)
        context = {"recommendations": ranking.entries, "critique_form": form}
        template = "recommendations/home.html#list" if request.htmx else "recommendations/home.html"
        return render(request, template, context, status=200 if request.htmx else 422)
    return _home_list(request)


def _chat(request: HttpRequest, form: forms.ChatForm, status: int = 200) -> HttpResponse:
    chat = Conversation.objects.filter(user=request.user).first()
    turns = list(chat.turns) if chat else []
    pks = {pk for t in turns for pk in t["items"]}
    items = Item.objects.in_bulk(list(pks))
    for t in turns:
        t["objects"] = [items[pk] for pk in t["items"] if pk in items]
    context = {"turns": turns, "form": form, "has_state": bool(chat and chat.state)}
    template = "profiles/chat.html#thread" if request.htmx else "profiles/chat.html"
    return render(request, template, context, status=status)


@login_required
def chat(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _chat(request, forms.ChatForm())
    form = forms.ChatForm(request.POST)
    if form.is_valid():
        try:
            services.conversation_respond(user=request.user, message=form.cleaned_data["message"])
        except ValueError as exc:
            form.add_error("message", str(exc))
        else:
            return _chat(request, forms.ChatForm()) if request.htmx else redirect("profile_chat")
    return _chat(request, form, status=200 if request.htmx else 422)


@login_required
@require_POST
def chat_promote(request: HttpRequest) -> HttpResponse:
    try:
        services.conversation_promote(user=request.user)
    except (ValueError, Conversation.DoesNotExist) as exc:
        messages.error(request, str(exc) if isinstance(exc, ValueError) else "No chat yet.")
        return redirect("profile_chat")
    messages.success(request, "Kept: what you asked for in the chat is now in your profile.")
    return redirect("profile")


@login_required
@require_POST
def chat_reset(request: HttpRequest) -> HttpResponse:
    services.conversation_reset(user=request.user)
    return redirect("profile_chat")
