from __future__ import annotations

from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from webapp.ratelimit import allow_client

SIGNUP_RATE = "10/hour"  # new accounts per address: enough for a family, not for a script


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and not allow_client(request, "signup", SIGNUP_RATE):
        form.add_error(None, "Too many new accounts from here; try again in an hour.")
        return render(request, "registration/signup.html", {"form": form}, status=429)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        # two backends (django-axes first): say which one vouches for a just-made account
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("home")
    # On errors the bound form re-renders with what the user typed (passwords excepted).
    return render(request, "registration/signup.html", {"form": form})
