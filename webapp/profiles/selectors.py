"""Reads of profiles: the current version and the history of versions with their diffs."""

from __future__ import annotations

from typing import Any

from explanations.profile import Profile, diff
from webapp.profiles.models import ProfileVersion


def current_version(*, user: Any) -> ProfileVersion | None:
    return ProfileVersion.objects.filter(user=user).order_by("-number").first()


def current_profile(*, user: Any) -> Profile | None:
    version = current_version(user=user)
    return Profile.from_dict(version.profile) if version else None


def profile_history(*, user: Any, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """Newest first, each version with its diff against the one before it."""
    newest_first = ProfileVersion.objects.filter(user=user).order_by("-number")
    rows = list(newest_first[offset : offset + limit + 1])
    out: list[dict[str, Any]] = []
    for newer, older in zip(rows, [*rows[1:], None], strict=False):
        if len(out) == limit:
            break
        before = Profile.from_dict(older.profile) if older else Profile()
        out.append({"version": newer, "diff": diff(before, Profile.from_dict(newer.profile))})
    return out
