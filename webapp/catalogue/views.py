from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from webapp.catalogue import selectors, services
from webapp.catalogue.models import Interaction, Item
from webapp.ratelimit import TOO_MANY, allow, retry_after

PAGE_SIZE = 24


@require_GET
def item_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:100]
    genre = request.GET.get("genre", "").strip()[:64]
    page = Paginator(selectors.item_list(query=query, genre=genre), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {"page": page, "query": query, "genre": genre, "genres": selectors.genre_list()}
    # htmx swaps only the results (search-as-you-type, paging); a plain request gets the page.
    template = "catalogue/item_list.html#results" if request.htmx else "catalogue/item_list.html"
    return render(request, template, context)


def _actions(request: HttpRequest, item: Item, error: str = "") -> HttpResponse:
    """The like / dislike / rate controls, as a fragment for htmx, or a redirect for plain
    POSTs: back to the page they came from (``next``, this site only) or to the item.

    ``fragment=card`` answers with the whole item card (chat replies, onboarding), else the
    item page's #actions block; ``error`` is said under the controls."""
    back = request.POST.get("next", "")
    if not request.htmx:
        if back and url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return redirect(back)
        return redirect("item_detail", pk=item.pk)
    context = {
        "item": item,
        "state": selectors.item_state_for_user(user=request.user, item=item),
        "next": back,
        "actions_error": error,
    }
    if request.POST.get("fragment") == "card":
        return render(request, "catalogue/item_card.html#card", context)
    return render(request, "catalogue/item_detail.html#actions", context)


def _refused(request: HttpRequest, item: Item) -> HttpResponse | None:
    """A like, dislike or rating over EDIT_RATE (counted per user with the profile writes,
    as the API's "edit" scope counts them): the controls as they stand, as a 429 saying
    why, or None when it is allowed."""
    if allow(f"edit:{request.user.pk}", settings.EDIT_RATE):
        return None
    if not request.htmx:
        messages.error(request, TOO_MANY)
        return _actions(request, item)  # back where the click came from
    response = _actions(request, item, error=TOO_MANY)
    response.status_code = 429  # base.html lets htmx swap a 429 in
    response["Retry-After"] = str(retry_after(settings.EDIT_RATE))
    return response


@login_required
@require_POST
def item_like(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(Item, pk=pk, is_active=True)
    if refused := _refused(request, item):
        return refused
    services.interaction_toggle(user=request.user, item=item, kind=Interaction.Kind.LIKE)
    return _actions(request, item)


@login_required
@require_POST
def item_dislike(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(Item, pk=pk, is_active=True)
    if refused := _refused(request, item):
        return refused
    services.interaction_toggle(user=request.user, item=item, kind=Interaction.Kind.DISLIKE)
    return _actions(request, item)


@login_required
@require_POST
def item_rate(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(Item, pk=pk, is_active=True)
    if refused := _refused(request, item):
        return refused
    try:
        services.interaction_rate(user=request.user, item=item, value=float(request.POST["value"]))
    except (KeyError, ValueError, ValidationError):
        return HttpResponseBadRequest("A rating is a whole number from 1 to 5.")
    return _actions(request, item)


@login_required
@require_GET
def history(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.user_history(user=request.user), 50).get_page(
        request.GET.get("page")
    )
    return render(request, "catalogue/history.html", {"page": page})


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})
