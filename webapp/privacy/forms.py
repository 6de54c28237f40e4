from __future__ import annotations

from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest


class AccountDeleteForm(forms.Form):
    """Deleting everything asks for the password again: a session left open is not enough."""

    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        self.locked_out = False  # the view answers 429 when guessing was stopped

    def clean_password(self) -> str:
        # Checked as a login is, so someone holding an open session cannot guess without
        # limit: django-axes' lockout is asked before any hashing, and authenticate() (not
        # check_password) reports a wrong password to axes as a failed login for this account
        # from this address, counted towards the same LOGIN_FAILURE_LIMIT.
        password = self.cleaned_data["password"]
        user = self.request.user
        credentials = {"username": user.get_username()}
        if AxesProxyHandler.is_locked(self.request, credentials):
            self.locked_out = True
            minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
            raise forms.ValidationError(
                f"Too many wrong passwords: try again in {minutes} minutes. Nothing was deleted."
            )
        confirmed = authenticate(self.request, password=password, **credentials)
        if confirmed is None or confirmed.pk != user.pk:
            raise forms.ValidationError("That is not your password. Nothing was deleted.")
        return password
