"""The request path knows the catalogue changed from one row the database keeps current."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from webapp.catalogue import state
from webapp.catalogue.models import CatalogueStats, CatalogueVersion, Genre, Item

pytestmark = pytest.mark.django_db


def test_every_kind_of_catalogue_write_moves_the_version(make_item: Any) -> None:
    CatalogueVersion.objects.get_or_create(id=1)  # a flushed test database lost it
    item = make_item(title="Heat", genres=("Crime",))
    seen = [state._signature()]

    def moved() -> bool:
        seen.append(state._signature())
        return seen[-1] != seen[-2]

    # writers that send no signal: update(), bulk_create, the m2m table, raw SQL
    Item.objects.filter(pk=item.pk).update(description="A heist.")
    assert moved()
    Item.objects.bulk_create([Item(title="Ronin", year=1998, source="test", external_id="ronin")])
    assert moved()
    item.genres.add(Genre.objects.get_or_create(name="Thriller")[0])
    assert moved()
    CatalogueStats.objects.create(
        n_items=1, n_active_items=1, n_users=0, n_interactions=0, seconds=0
    )
    assert moved()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE catalogue_item SET is_active = FALSE WHERE title = 'Ronin'")
    assert moved()
    Item.objects.filter(title="Ronin").delete()
    assert moved()
    # reading it writes nothing and scans nothing: the same number until the next write
    assert state._signature() == seen[-1] and seen[-1][0] == "version"


def test_the_cached_state_follows_a_write_no_signal_announces(make_item: Any) -> None:
    CatalogueVersion.objects.get_or_create(id=1)
    make_item(title="Heat")
    before = state.catalogue_state()
    Item.objects.bulk_create([Item(title="Ronin", year=1998, source="test", external_id="ronin")])
    after = state.catalogue_state()
    assert "Ronin" not in before.catalogue.titles and "Ronin" in after.catalogue.titles


def test_without_the_version_row_the_scan_stands_in(make_item: Any) -> None:
    CatalogueVersion.objects.all().delete()
    make_item(title="Heat")
    assert state._signature()[0] != "version"


def test_a_rolled_back_write_and_the_next_one_never_share_a_signature(make_item: Any) -> None:
    from django.db import transaction

    CatalogueVersion.objects.get_or_create(id=1)
    make_item(title="Heat")
    with transaction.atomic():
        point = transaction.savepoint()
        make_item(title="Ronin", year=1998)
        rolled_back = state._signature()
        assert "Ronin" in state.catalogue_state().catalogue.titles  # cached under it
        transaction.savepoint_rollback(point)
    make_item(title="Alien", year=1979)  # the same number of bumps, other content
    assert state._signature() != rolled_back
    titles = state.catalogue_state().catalogue.titles
    assert "Alien" in titles and "Ronin" not in titles


def test_every_table_the_state_reads_still_has_its_trigger_after_all_migrations() -> None:
    # SQLite drops a table's triggers when a migration rebuilds the table: a later migration
    # that alters the items, their genres or the statistics must put them back, or the
    # request path would keep a stale catalogue (this test fails until it does)
    tables = {"catalogue_item", "catalogue_item_genres", "catalogue_cataloguestats"}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT DISTINCT event_object_table FROM information_schema.triggers"
                " WHERE trigger_name LIKE '%%_version'"
            )
        else:
            cursor.execute(
                "SELECT DISTINCT tbl_name FROM sqlite_master WHERE type = 'trigger'"
                " AND name LIKE '%_version_%'"
            )
        found = {row[0] for row in cursor.fetchall()}
    assert found == tables
