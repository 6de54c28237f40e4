from __future__ import annotations

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


def _actions(request: HttpRequest, item: Item) -> HttpResponse:
    """The like / dislike / rate controls, as a fragment for htmx, or a redirect for plain
    POSTs: back to the page they came from (``next``, this site only) or to the item.

    ``fragment=card`` answers with the whole item card (chat replies, onboarding), else the
    item page's #actions block."""
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
    }
    if request.POST.get("fragment") == "card":
        return render(request, "catalogue/item_card.html#card", context)
    return render(request, "catalogue/item_detail.html#actions", context)


@login_required
@require_POST
def item_like(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(Item, pk=pk, is_active=True)
    services.interaction_toggle(user=request.user, item=item, kind=Interaction.Kind.LIKE)
    return _actions(request, item)


@login_required
@require_POST
def item_dislike(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(Item, pk=pk, is_active=True)
    services.interaction_toggle(user=request.user, item=item, kind=Interaction.Kind.DISLIKE)
    return _actions(request, item)


@login_required
@require_POST
def item_rate(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(Item, pk=pk, is_active=True)
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
