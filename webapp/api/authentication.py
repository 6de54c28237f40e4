"""API tokens that expire: a leaked key stops working after API_TOKEN_DAYS, and a new POST
to /api/v1/auth/token/ (username + password) gives a fresh one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token


def token_expired(token: Token) -> bool:
    return bool(timezone.now() - token.created > timedelta(days=settings.API_TOKEN_DAYS))


class ExpiringTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        user, token = super().authenticate_credentials(key)
        if token_expired(token):
            token.delete()
            raise exceptions.AuthenticationFailed(
                "Token expired; POST your username and password to /api/v1/auth/token/ "
                "for a new one."
            )
        return user, token
