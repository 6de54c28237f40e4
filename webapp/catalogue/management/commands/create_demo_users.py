from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from webapp.catalogue.models import Interaction

DEMO_SOURCE_USER = "ml100k_1"  # the demo account starts from this MovieLens user's first ratings
DEMO_HISTORY = 20


class Command(BaseCommand):
    help = (
        "Create the local 'admin' (staff) and 'demo' accounts used by `make run`. Passwords come "
        "from DEMO_ADMIN_PASSWORD / DEMO_USER_PASSWORD (default: admin / demo). Refuses to run "
        "with DEBUG off unless --force: these are well-known credentials."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true")

    @transaction.atomic
    def handle(self, *args: Any, force: bool, **options: Any) -> None:
        if not settings.DEBUG and not force:
            raise CommandError("DEBUG is off: demo accounts with known passwords are not created.")
        User = get_user_model()
        admin_password = os.environ.get("DEMO_ADMIN_PASSWORD", "admin")
        demo_password = os.environ.get("DEMO_USER_PASSWORD", "demo")

        admin, created = User.objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            admin.set_password(admin_password)
            admin.save()
        demo, demo_created = User.objects.get_or_create(username="demo")
        if demo_created:
            demo.set_password(demo_password)
            demo.save()
            source = (
                Interaction.objects.filter(user__username=DEMO_SOURCE_USER)
                .order_by("created_at", "id")
                .values("item_id", "kind", "value", "created_at")[:DEMO_HISTORY]
            )
            Interaction.objects.bulk_create([Interaction(user=demo, **row) for row in source])
        state = "created" if created or demo_created else "already present"
        self.stdout.write(f"Demo accounts {state}.")
