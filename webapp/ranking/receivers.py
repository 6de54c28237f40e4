"""Signal receivers: a saved profile version makes the user's explanations stale."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.dispatch import receiver

from webapp.profiles.signals import profile_saved
from webapp.ranking.tasks import explanations_enqueue


@receiver(profile_saved, dispatch_uid="ranking.explanations_on_profile_saved")
def explanations_on_profile_saved(sender: Any, *, user: Any, by: Any = None, **_: Any) -> None:
    # Without the LLM the request path's sentence is the explanation: nothing to queue.
    if settings.EXPLANATIONS_LLM:
        explanations_enqueue(user=user, by=by)
