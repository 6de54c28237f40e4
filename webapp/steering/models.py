"""The chat: one conversation per user, steering the list in words."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Conversation(models.Model):
    """One chat per user: the belief state (``ConversationState.to_dict()``) and the turns."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversation"
    )
    state = models.JSONField(default=dict)
    turns = models.JSONField(default=list, help_text='[{"who": "you"|"bot", "text", "items"}]')
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "profiles_conversation"  # created by the profiles app; moved, not migrated

    def __str__(self) -> str:
        return f"chat of {self.user}"
