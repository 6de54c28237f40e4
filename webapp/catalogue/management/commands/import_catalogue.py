from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.catalogue.importing import CatalogueImportError, catalogue_import


class Command(BaseCommand):
    help = (
        "Import an admin's catalogue from CSV (header: external_id,title,year,genres,description,"
        "facts,is_active; genres as 'A|B', facts as JSON) or JSON Lines (one object per line). "
        "All or nothing: a bad row aborts the import and names its line and field."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--source",
            default="catalogue",
            help="Catalogue name; items match on (source, external_id).",
        )

    def handle(self, *args: Any, file: Path, source: str, **options: Any) -> None:
        if not file.is_file():
            raise CommandError(f"{file}: no such file")
        try:
            report = catalogue_import(path=file, source=source)
        except CatalogueImportError as exc:
            raise CommandError(f"{file}: {exc}. Nothing was imported.") from exc
        self.stdout.write(self.style.SUCCESS(report.summary()))
