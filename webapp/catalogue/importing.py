"""Bulk imports: MovieLens from the installed wheels, and an admin's own catalogue file.

Both run inside one transaction: either everything lands or nothing does.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from tqdm import tqdm

from recommender import movielens
from webapp.accounts.models import Demographics
from webapp.catalogue.models import Genre, Interaction, Item
from webapp.catalogue.signals import items_added

User = get_user_model()
BATCH = 5000


@dataclass
class ImportReport:
    source: str
    items_created: int = 0
    items_updated: int = 0
    users_created: int = 0
    interactions_created: int = 0
    seconds: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"{self.source}: {self.items_created} items created, {self.items_updated} updated, "
            f"{self.users_created} users created, {self.interactions_created} interactions "
            f"created in {self.seconds:.1f} s"
        )


def _ensure_genres(names: set[str]) -> dict[str, int]:
    existing = dict(Genre.objects.filter(name__in=names).values_list("name", "id"))
    Genre.objects.bulk_create([Genre(name=n) for n in sorted(names - existing.keys())])
    return dict(Genre.objects.filter(name__in=names).values_list("name", "id"))


def _set_genres(item_genres: dict[int, tuple[str, ...]], genre_ids: dict[str, int]) -> None:
    """Replace the genres of the given items (item pk -> genre names) in two statements."""
    through = Item.genres.through
    through.objects.filter(item_id__in=item_genres).delete()
    through.objects.bulk_create(
        [
            through(item_id=item_id, genre_id=genre_ids[g])
            for item_id, names in item_genres.items()
            for g in names
        ],
        batch_size=BATCH,
    )


PLACEHOLDER_TITLES = frozenset({"unknown", "unkonwn"})  # the packaged file misspells it


def is_placeholder(title: str, year: int | None, genres: Sequence[str]) -> bool:
    """MovieLens 100K's item 267 is a placeholder: title "unknown", no year, no genre. It is
    imported (its ratings are data) but retired, so it is never shown or recommended."""
    return title.strip().lower() in PLACEHOLDER_TITLES and not year and not genres


def username_for(variant: movielens.Variant, external_user_id: str) -> str:
    """``ml100k_196``, ``ml1m_42``: stable, readable, and unique per source."""
    return f"ml{variant}_{external_user_id.removeprefix(f'{variant}_')}"


def _bar(total: int, desc: str, enabled: bool) -> tqdm:
    return tqdm(
        total=total, desc=desc, unit="row", disable=not enabled, leave=False, mininterval=0.5
    )


def movielens_import(*, variant: movielens.Variant, show_progress: bool = False) -> ImportReport:
    """Items, one account per MovieLens user, and every rating. Running it twice adds nothing."""
    source = f"ml-{variant}"
    report = ImportReport(source=source)
    started = time.perf_counter()

    raw_items = movielens.read_items(variant)
    raw_users = movielens.read_users(variant)
    raw = movielens.read_interactions(variant)
    report.stages["read files"] = time.perf_counter() - started

    with transaction.atomic():
        t = time.perf_counter()
        genre_ids = _ensure_genres({g for i in raw_items for g in i.genres})
        existing_items = set(
            Item.objects.filter(source=source).values_list("external_id", flat=True)
        )
        new_items = [i for i in raw_items if i.external_id not in existing_items]
        Item.objects.bulk_create(
            [
                Item(
                    source=source,
                    external_id=i.external_id,
                    title=i.title,
                    year=i.year,
                    is_active=not is_placeholder(i.title, i.year, i.genres),
                )
                for i in new_items
            ],
            batch_size=BATCH,
        )
        item_pk = dict(
            Item.objects.filter(source=source).values_list("external_id", "id").iterator()
        )
        _set_genres({item_pk[i.external_id]: i.genres for i in new_items}, genre_ids)
        report.items_created = len(new_items)
        report.stages["items"] = time.perf_counter() - t

        t = time.perf_counter()
        usernames = {u.external_id: username_for(variant, u.external_id) for u in raw_users}
        existing_users = set(
            User.objects.filter(username__in=usernames.values()).values_list("username", flat=True)
        )
        new_users = [u for u in raw_users if usernames[u.external_id] not in existing_users]
        # make_password(None) is an unusable password: these accounts cannot log in.
        User.objects.bulk_create(
            [
                User(username=usernames[u.external_id], password=make_password(None))
                for u in new_users
            ],
            batch_size=BATCH,
        )
        user_pk = dict(
            User.objects.filter(username__in=usernames.values()).values_list("username", "id")
        )
        Demographics.objects.bulk_create(
            [
                Demographics(
                    user_id=user_pk[usernames[u.external_id]],
                    age=u.age,
                    gender=u.gender,
                    occupation=u.occupation,
                    zip_code=u.zip_code,
                    source=source,
                )
                for u in new_users
            ],
            batch_size=BATCH,
        )
        report.users_created = len(new_users)
        report.stages["users"] = time.perf_counter() - t

        t = time.perf_counter()
        before = Interaction.objects.filter(item__source=source).count()
        rows = _interaction_rows(raw, usernames, user_pk, item_pk)
        with _bar(len(raw), f"{source} ratings", show_progress) as bar:
            _insert_interactions(rows, bar)
        report.interactions_created = (
            Interaction.objects.filter(item__source=source).count() - before
        )
        report.stages["interactions"] = time.perf_counter() - t

    report.seconds = time.perf_counter() - started
    return report


def _interaction_rows(
    raw: movielens.RawInteractions,
    usernames: dict[str, str],
    user_pk: dict[str, int],
    item_pk: dict[str, int],
) -> Iterator[tuple[int, int, str, float, datetime]]:
    """(user_id, item_id, kind, value, created_at) in file row order (ids keep that order)."""
    pk_of_user = {ext: user_pk[name] for ext, name in usernames.items()}
    for u, i, r, ts in zip(
        raw.users, raw.items, raw.ratings.tolist(), raw.timestamps.tolist(), strict=True
    ):
        yield (
            pk_of_user[u],
            item_pk[i],
            Interaction.Kind.RATING,
            r,
            datetime.fromtimestamp(ts, tz=UTC),
        )


def _insert_interactions(rows: Iterator[tuple[int, int, str, float, datetime]], bar: tqdm) -> None:
    """Insert, skipping rows that already exist (that is what makes re-imports add nothing).

    PostgreSQL gets COPY into a temporary table and one INSERT .. ON CONFLICT DO NOTHING, an
    order of magnitude faster than batched INSERTs for a million rows; other databases get
    batched ``bulk_create(ignore_conflicts=True)``.
    """
    if connection.vendor == "postgresql":
        table = Interaction._meta.db_table
        with connection.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE import_interaction "
                "(seq bigserial, user_id bigint, item_id bigint, kind varchar(8), "
                "value double precision, created_at timestamptz) ON COMMIT DROP"
            )
            with cur.connection.cursor().copy(
                "COPY import_interaction (user_id, item_id, kind, value, created_at) FROM STDIN"
            ) as copy:
                for n, row in enumerate(rows, start=1):
                    copy.write_row(row)
                    if n % BATCH == 0:
                        bar.update(BATCH)
            cur.execute(
                f"INSERT INTO {table} (user_id, item_id, kind, value, created_at) "
                "SELECT user_id, item_id, kind, value, created_at FROM import_interaction "
                "ORDER BY seq ON CONFLICT DO NOTHING"
            )
            cur.execute("DROP TABLE import_interaction")
        bar.update(bar.total - bar.n)
        return
    batch: list[Interaction] = []
    for user_id, item_id, kind, value, created_at in rows:
        batch.append(
            Interaction(
                user_id=user_id, item_id=item_id, kind=kind, value=value, created_at=created_at
            )
        )
        if len(batch) == BATCH:
            Interaction.objects.bulk_create(batch, ignore_conflicts=True)
            bar.update(len(batch))
            batch = []
    Interaction.objects.bulk_create(batch, ignore_conflicts=True)
    bar.update(len(batch))


# --- An admin's own catalogue ----------------------------------------------------------------


class CatalogueImportError(ValueError):
    """A bad row; the message names the file line and the field."""

    def __init__(self, line: int, field_name: str, problem: str) -> None:
        super().__init__(f"line {line}, field '{field_name}': {problem}")
        self.line, self.field, self.problem = line, field_name, problem


@dataclass(frozen=True)
class CatalogueRow:
    line: int
    external_id: str
    title: str
    year: int | None
    genres: tuple[str, ...]
    description: str
    facts: dict[str, Any]
    is_active: bool


FIELDS = ("external_id", "title", "year", "genres", "description", "facts", "is_active")
REQUIRED = ("external_id", "title")


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) from CSV (header row) or JSON Lines, decided by the extension."""
    suffix = path.suffix.lower()
    with path.open(encoding="utf-8-sig", newline="") as fh:
        if suffix == ".csv":
            reader = csv.DictReader(fh)
            missing = [f for f in REQUIRED if f not in (reader.fieldnames or [])]
            if missing:
                raise CatalogueImportError(1, missing[0], "column missing from the header row")
            unknown = [f for f in reader.fieldnames or [] if f not in FIELDS]
            if unknown:
                raise CatalogueImportError(
                    1, unknown[0], f"unknown column; expected {', '.join(FIELDS)}"
                )
            line = 1
            for record in reader:
                yield line + 1, record  # the line this record starts on
                line = reader.line_num
        elif suffix in (".jsonl", ".ndjson"):
            for line, text in enumerate(fh, start=1):
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise CatalogueImportError(line, "(row)", f"invalid JSON: {exc.msg}") from None
                if not isinstance(record, dict):
                    raise CatalogueImportError(line, "(row)", "each line must be a JSON object")
                unknown = [f for f in record if f not in FIELDS]
                if unknown:
                    raise CatalogueImportError(
                        line, unknown[0], f"unknown field; expected {', '.join(FIELDS)}"
                    )
                yield line, record
        else:
            raise CatalogueImportError(0, "(file)", "use a .csv or .jsonl file")


def _parse(line: int, record: dict[str, Any]) -> CatalogueRow:
    def text(name: str, *, required: bool = False, limit: int | None = None) -> str:
        value = record.get(name)
        value = "" if value is None else value
        if not isinstance(value, str):
            raise CatalogueImportError(line, name, "must be text")
        value = value.strip()
        if required and not value:
            raise CatalogueImportError(line, name, "is required")
        if limit and len(value) > limit:
            raise CatalogueImportError(line, name, f"is longer than {limit} characters")
        return value

    raw_year = record.get("year")
    year: int | None = None
    if raw_year not in (None, ""):
        try:
            year = int(str(raw_year).strip())
        except ValueError:
            raise CatalogueImportError(
                line, "year", f"{raw_year!r} is not a whole number"
            ) from None
        if not 1800 <= year <= 2100:
            raise CatalogueImportError(line, "year", f"{year} is outside 1800-2100")

    raw_genres = record.get("genres") or []
    if isinstance(raw_genres, str):  # CSV: "Comedy|Drama"
        raw_genres = [g for g in raw_genres.replace(";", "|").split("|")]
    if not isinstance(raw_genres, list) or not all(isinstance(g, str) for g in raw_genres):
        raise CatalogueImportError(line, "genres", "must be a list of names (CSV: 'A|B')")
    genres = tuple(dict.fromkeys(g.strip() for g in raw_genres if g.strip()))
    if any(len(g) > 64 for g in genres):
        raise CatalogueImportError(line, "genres", "a genre name is longer than 64 characters")

    raw_facts = record.get("facts") or {}
    if isinstance(raw_facts, str):
        try:
            raw_facts = json.loads(raw_facts)
        except json.JSONDecodeError:
            raise CatalogueImportError(line, "facts", "is not valid JSON") from None
    if not isinstance(raw_facts, dict):
        raise CatalogueImportError(line, "facts", "must be a JSON object")

    raw_active = record.get("is_active", True)
    if isinstance(raw_active, str):
        lowered = raw_active.strip().lower()
        if lowered not in ("", "1", "0", "true", "false", "yes", "no"):
            raise CatalogueImportError(line, "is_active", f"{raw_active!r} is not true/false")
        raw_active = lowered in ("", "1", "true", "yes")
    if not isinstance(raw_active, bool):
        raise CatalogueImportError(line, "is_active", "must be true or false")

    return CatalogueRow(
        line=line,
        external_id=text("external_id", required=True, limit=255),
        title=text("title", required=True, limit=300),
        year=year,
        genres=genres,
        description=text("description"),
        facts=raw_facts,
        is_active=raw_active,
    )


def _check_text(path: Path) -> None:
    """A clear error, with the line, for a file that is not UTF-8 text (a binary file, a
    UTF-16 export, Latin-1), instead of a decoding traceback halfway through."""
    data = path.read_bytes()
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise CatalogueImportError(1, "(file)", "the file is UTF-16 text; save it as UTF-8")
    if (nul := data.find(b"\x00")) >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise CatalogueImportError(
            line, "(file)", "a NUL byte: this is a binary or UTF-16 file, not UTF-8 text"
        )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise CatalogueImportError(
            line,
            "(file)",
            f"not UTF-8 text (byte 0x{data[exc.start]:02X} at column {column}; a Latin-1 or "
            "Windows-1252 export?): save the file as UTF-8",
        ) from None


def catalogue_file_parse(path: Path) -> list[CatalogueRow]:
    """Validate every row before anything is written; the first problem stops the import."""
    _check_text(path)
    rows: list[CatalogueRow] = []
    seen: dict[str, int] = {}
    for line, record in _records(path):
        row = _parse(line, record)
        if row.external_id in seen:
            raise CatalogueImportError(
                line,
                "external_id",
                f"{row.external_id!r} already appears on line {seen[row.external_id]}",
            )
        seen[row.external_id] = line
        rows.append(row)
    if not rows:
        raise CatalogueImportError(0, "(file)", "no rows to import")
    return rows


def catalogue_import(
    *, path: Path, source: str = "catalogue", on_progress: Callable[[int], None] | None = None
) -> ImportReport:
    """Create or update items from a CSV / JSON Lines file, all-or-nothing.

    Items match on (source, external_id). A curated description in the file replaces the
    curated one in the database; the LLM's generated text is never touched here.
    """
    started = time.perf_counter()
    rows = catalogue_file_parse(path)
    report = ImportReport(source=source)
    with transaction.atomic():
        genre_ids = _ensure_genres({g for r in rows for g in r.genres})
        existing = {
            i.external_id: i
            for i in Item.objects.filter(
                source=source, external_id__in=[r.external_id for r in rows]
            )
        }
        to_create, to_update = [], []
        now = datetime.now(UTC)
        for r in rows:
            fields = {
                "title": r.title,
                "year": r.year,
                "description": r.description,
                "facts": r.facts,
                "is_active": r.is_active,
            }
            if r.external_id in existing:
                item = existing[r.external_id]
                for name, value in fields.items():
                    setattr(item, name, value)
                # bulk_update skips auto_now; the catalogue state's signature reads updated_at
                item.updated_at = now
                to_update.append(item)
            else:
                to_create.append(Item(source=source, external_id=r.external_id, **fields))
        Item.objects.bulk_create(to_create, batch_size=BATCH)
        Item.objects.bulk_update(
            to_update,
            ["title", "year", "description", "facts", "is_active", "updated_at"],
            batch_size=BATCH,
        )
        pks = dict(
            Item.objects.filter(
                source=source, external_id__in=[r.external_id for r in rows]
            ).values_list("external_id", "id")
        )
        _set_genres({pks[r.external_id]: r.genres for r in rows}, genre_ids)
        created = [pks[item.external_id] for item in to_create]
        if created:  # after the commit: a listener's job must find the rows
            transaction.on_commit(
                lambda: items_added.send(sender=Item, item_ids=created)  # type: ignore[arg-type]
            )
        if on_progress:
            on_progress(len(rows))
    report.items_created, report.items_updated = len(to_create), len(to_update)
    report.seconds = time.perf_counter() - started
    return report
