"""``manage.py prune``: the retention sweep now, in this process (for cron, or a one-off)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from webapp.privacy.services import data_prune


class Command(BaseCommand):
    help = (
        "Delete finished jobs and explanations past their retention (JOB_RETENTION_DAYS, "
        "EXPLANATION_RETENTION_DAYS), expired task results and unused text vectors."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        for kind, n in data_prune().items():
            self.stdout.write(f"{kind}: {n} deleted")
