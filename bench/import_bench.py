"""Import timings: MovieLens 100K / 1M into SQLite and PostgreSQL, each into a fresh database.

    python bench/import_bench.py                      # SQLite 100K + 1M, PostgreSQL if reachable
    python bench/import_bench.py --postgres-url postgres://postgres@127.0.0.1:5432/postgres

Each run is a separate process (``migrate`` + the import) so timings include nothing cached.
Prints a table and writes reports/bench/import.json. Targets from the foundation issue:
ML-100K under 20 s on both databases, ML-1M under 90 s on PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import json, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from webapp.catalogue.importing import movielens_import
report = movielens_import(variant="{variant}")
again = movielens_import(variant="{variant}")
print(json.dumps({{"seconds": report.seconds, "stages": report.stages,
                  "interactions": report.interactions_created, "rerun_seconds": again.seconds,
                  "rerun_added": again.interactions_created + again.items_created + again.users_created}}))
"""


def run(database_url: str, variant: str, var_dir: str) -> dict[str, object]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "VAR_DIR": var_dir,
        "DJANGO_SETTINGS_MODULE": "webapp.settings",
        "ENV_FILE": "",
        "DEBUG": os.environ.get("DEBUG", "true"),  # a local timing run, not a deployment
    }
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(variant=variant)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def postgres_reachable(url: str) -> bool:
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=3).close()
        return True
    except psycopg.Error:
        return False


def fresh_postgres(admin_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variants", default="100k,1m")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "import.json")
    args = parser.parse_args()

    rows = []
    use_pg = postgres_reachable(args.postgres_url)
    for variant in args.variants.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            result = run(f"sqlite:///{tmp}/bench.sqlite3", variant, tmp)
            rows.append({"database": "sqlite", "variant": variant, **result})
            print(f"sqlite   ml-{variant}: {result['seconds']:.1f} s", file=sys.stderr)
            if use_pg:
                url = fresh_postgres(args.postgres_url, f"bench_import_{variant}")
                result = run(url, variant, tmp)
                rows.append({"database": "postgresql", "variant": variant, **result})
                print(f"postgres ml-{variant}: {result['seconds']:.1f} s", file=sys.stderr)
                fresh_postgres(args.postgres_url, f"bench_import_{variant}")  # leave it empty

    print(
        f"\n{'database':<11}{'dataset':<9}{'rows':>10}{'import s':>10}{'re-run s':>10}{'re-run adds':>12}"
    )
    for r in rows:
        print(
            f"{r['database']:<11}{'ml-' + r['variant']:<9}{r['interactions']:>10,}{r['seconds']:>10.1f}{r['rerun_seconds']:>10.1f}{r['rerun_added']:>12}"
        )
    if not use_pg:
        print(f"(PostgreSQL at {args.postgres_url} not reachable: skipped)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    args.out.write_text(json.dumps({"machine": meta, "runs": rows}, indent=2))
    print(f"wrote {args.out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
