"""Readable dates for the privacy page, whose data is the JSON export (ISO strings)."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format

register = template.Library()


@register.filter
def isodate(value: object) -> str:
    """``2026-11-22T06:03:38+00:00`` -> ``22 Nov 2026, 06:03`` in the site's time zone;
    anything that is not an ISO timestamp is shown as it is (the export stays the source)."""
    if not isinstance(value, str) or not value:
        return "–" if value in (None, "") else str(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return date_format(moment, "j M Y, H:i")
