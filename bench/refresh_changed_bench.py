"""Between trainings, how much a changed-only refresh skips and how fast it writes (#26, item 3).

    python bench/refresh_changed_bench.py                    # ML-1M, EASE, PostgreSQL
    python bench/refresh_changed_bench.py --variant 100k --shares 0.01 0.1

In this one process, on PostgreSQL: MovieLens is imported, EASE trained and served, every list
written once (the training's refresh). Then, one scenario after the other: nothing changed;
``--shares`` of the users (drawn with ``--seed``) each rate one more film (a bulk insert: the
database triggers mark them); one user edits their profile; one item is retired (a catalogue
change: every list is stale). Each scenario runs ``services.lists_refresh_changed`` and
reports the users selected and refreshed, the share skipped, the selection query's time and
the users written per second on one core. Prints a table and writes
reports/bench/refresh_changed.json, with PostgreSQL's plan of the selection query.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load_bench import ensure_database  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="1m", choices=["100k", "1m"])
    parser.add_argument("--model", default="ease")
    parser.add_argument("--shares", type=float, nargs="+", default=[0.01, 0.1])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/bench_changed"
    )
    parser.add_argument("--var-dir", default=str(ROOT / "var/bench-changed"))
    parser.add_argument("--out", type=Path, default=ROOT / "reports/bench/refresh_changed.json")
    return parser.parse_args(argv)


def setup(args: argparse.Namespace) -> Any:
    """The served version with every list written; trained once per database."""
    from django.core.management import call_command

    from webapp.recommendations import services
    from webapp.recommendations.models import ModelVersion, RecommendationList

    call_command("migrate", "--noinput", verbosity=0)
    call_command("import_movielens", "--variant", args.variant, "--if-empty")
    mv = ModelVersion.objects.filter(name=args.model, is_active=True).first()
    if mv is None or not Path(mv.path).is_file():
        print(f"training {args.model} ...")
        mv = services.model_train(name=args.model)
    if RecommendationList.objects.filter(model_version=mv).count() < mv.n_users:
        print(f"writing every list of {mv.n_users:,} users ...")
        services.recommendations_refresh(model_version=mv)
    return mv


def top10(users: list[int]) -> dict[int, list[int]]:
    """Each user's stored top 10 (item pks, best first)."""
    from webapp.recommendations.models import RecommendationList

    rows = RecommendationList.objects.filter(user_id__in=users).values_list("user_id", "entries")
    return {u: [e["item"] for e in entries[:11]] for u, entries in rows}


def top10_changed(
    before: dict[int, list[int]], after: dict[int, list[int]], rated: dict[int, int]
) -> float:
    """Mean share of a user's top 10 that is new after the refresh, the film they just rated
    left out of the before list (its leaving is no news): what a person would notice."""
    shares = []
    for user, items in after.items():
        old = [i for i in before.get(user, []) if i != rated[user]][:10]
        shares.append(len(set(items[:10]) - set(old)) / 10)
    return sum(shares) / max(len(shares), 1)


def rate_one_more(share: float, seed: int) -> dict[int, int]:
    """``share`` of the users each rate one film they have not (a bulk insert, as an import
    would); returns user -> the film rated."""
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.db.models import Count
    from django.utils import timezone

    from webapp.catalogue.models import Interaction, Item

    users = list(get_user_model().objects.order_by("pk").values_list("pk", flat=True))
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(users, size=max(1, int(share * len(users))), replace=False))
    popular = list(
        Item.objects.filter(is_active=True)
        .annotate(n=Count("interactions"))
        .order_by("-n")
        .values_list("pk", flat=True)[:200]
    )
    seen: dict[int, set[int]] = {}
    for user, item in Interaction.objects.filter(user_id__in=chosen).values_list("user", "item"):
        seen.setdefault(user, set()).add(item)
    now = timezone.now()
    rows = [
        Interaction(user_id=u, item_id=next(i for i in popular if i not in seen.get(u, set())),
                    kind="rating", value=4.0, created_at=now)
        for u in chosen
    ]  # fmt: skip
    Interaction.objects.bulk_create(rows)
    return {row.user_id: row.item_id for row in rows}


def one_scenario(mv: Any, name: str, changed: int) -> dict[str, Any]:
    from webapp.recommendations import selectors, services

    started = time.perf_counter()
    selected = selectors.users_to_refresh(model_version=mv)
    select_ms = (time.perf_counter() - started) * 1000
    report = services.lists_refresh_changed(model_version=mv)
    return (
        {"scenario": name, "changed": changed, "select_ms": round(select_ms, 1)}
        | {k: report[k] for k in ("selected", "refreshed", "skipped", "skipped_share", "seconds")}
        | {"users_per_s": report["users_per_s"], "expected": len(selected)}
    )


def selection_plan(mv: Any) -> list[str]:
    """PostgreSQL's plan of the selection (what it reads: the marks table, two indexes)."""
    from django.db import connection

    from webapp.recommendations import selectors

    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:  # the plan PostgreSQL picks with current statistics
        cursor.execute("ANALYZE")
    query = selectors.users_to_refresh_query(model_version=mv)
    sql, params = query.query.get_compiler(using=query.db).as_sql()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        return [row[0] for row in cursor.fetchall()]


def scenarios(args: argparse.Namespace, mv: Any) -> list[dict[str, Any]]:
    from django.contrib.auth import get_user_model

    from webapp.catalogue import services as catalogue_services
    from webapp.catalogue.models import Item
    from webapp.profiles import services as profile_services

    rows = [one_scenario(mv, "nothing changed", 0)]
    for k, share in enumerate(args.shares):
        before = top10(list(get_user_model().objects.values_list("pk", flat=True)))
        rated = rate_one_more(share, args.seed + k)
        row = one_scenario(mv, f"{share:.0%} of users rate one more film", len(rated))
        # the rating is folded in: the raters' lists move now, not at the next training
        row["top10_changed"] = round(top10_changed(before, top10(list(rated)), rated), 3)
        rows.append(row)
    user = get_user_model().objects.order_by("pk").first()
    profile_services.profile_edit(user=user, by=user, action="add", text="funny films")
    rows.append(one_scenario(mv, "one profile edit", 1))
    item = Item.objects.filter(is_active=True).order_by("-pk").first()
    assert item is not None
    catalogue_services.items_set_active(item_ids=[item.pk], active=False)
    rows.append(one_scenario(mv, "one item retired (catalogue change)", mv.n_users))
    catalogue_services.items_set_active(item_ids=[item.pk], active=True)
    services_refresh_back(mv)
    return rows


def services_refresh_back(mv: Any) -> None:
    """Leave the database as found: the item restored, every list current again."""
    from webapp.recommendations import services

    services.lists_refresh_changed(model_version=mv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.update(
        {
            "ENV_FILE": "",
            "DATABASE_URL": args.database_url,
            "VAR_DIR": args.var_dir,
            "DEBUG": "false",
            "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
            "LOG_LEVEL": "WARNING",
            "OMP_NUM_THREADS": "1",  # one core: the unit a refresh worker is
        }
    )
    ensure_database(args.database_url)
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    django.setup()
    mv = setup(args)
    plan = selection_plan(mv)
    rows = scenarios(args, mv)
    head = f"{'scenario':<38} {'changed':>7} {'select ms':>9} {'refreshed':>9} {'skipped':>8}"
    print(head + f" {'skipped %':>9} {'seconds':>8} {'users/s':>8} {'top 10 new':>10}")
    for r in rows:
        rate = f"{r['users_per_s']:>8.1f}" if r["users_per_s"] else f"{'-':>8}"
        moved = f"{r['top10_changed']:>10.1%}" if "top10_changed" in r else f"{'-':>10}"
        print(
            f"{r['scenario']:<38} {r['changed']:>7,} {r['select_ms']:>9.1f} {r['refreshed']:>9,} "
            f"{r['skipped']:>8,} {r['skipped_share']:>9.1%} {r['seconds']:>8.2f} {rate} {moved}"
        )
    load = os.getloadavg()[0]
    meta = {
        "variant": args.variant, "model": mv.name, "version": mv.version, "users": mv.n_users,
        "items": mv.n_items, "cores": os.cpu_count(), "load_before": round(load, 2),
        "machine": platform.machine(), "database": args.database_url.split("@")[-1],
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "rows": rows, "plan": plan}, indent=2))
    print("\n".join(plan))
    print(f"wrote {args.out} (1-min load average {load:.1f} on {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
