"""How fast a training's lists are written with 1, 2, ... Celery workers (users per second).

    python bench/refresh_bench.py                          # ML-1M, EASE, 1 and 2 workers
    python bench/refresh_bench.py --variant 100k --workers 1 2 --chunk 100

The production shape: PostgreSQL, Redis as the broker, real ``celery worker`` processes
(one child each) on a queue of their own. A model is trained once in this process (not
activated); then for each worker count the refresh is planned afresh
(``services.refresh_plan``: parts of ``--chunk`` users), the workers are started, every part is
queued, and the clock runs from the first part queued to the last one written (each worker
loads the model on its first part: that is part of a refresh). Prints a table and writes
reports/bench/refresh.json. On a machine with fewer idle cores than workers, the speed-up is
bounded by the cores, not by the design: say how many were idle.
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

from bench.load_bench import ensure_database, start, stop, wait_until  # noqa: E402

QUEUE = "refresh_bench"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="1m", choices=["100k", "1m"])
    parser.add_argument("--model", default="ease")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chunk", type=int, default=250, help="users per part")
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/bench_refresh"
    )
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--var-dir", default=str(ROOT / "var/bench-refresh"))
    parser.add_argument("--out", type=Path, default=ROOT / "reports/bench/refresh.json")
    return parser.parse_args(argv)


def environment(args: argparse.Namespace) -> dict[str, str]:
    return {
        **os.environ,
        "ENV_FILE": "",
        "DATABASE_URL": args.database_url,
        "CELERY_BROKER_URL": args.broker_url,
        "CELERY_RESULT_BACKEND": args.broker_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "VAR_DIR": args.var_dir,
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        "REFRESH_QUEUE": QUEUE,
        "REFRESH_CHUNK_USERS": str(args.chunk),
        "LOG_LEVEL": "WARNING",
        "OMP_NUM_THREADS": "1",  # one core per worker: the unit a cluster adds
    }


def trained_version(args: argparse.Namespace) -> Any:
    from django.core.management import call_command

    from webapp.recommendations import services
    from webapp.recommendations.models import ModelVersion

    call_command("migrate", "--noinput", verbosity=0)
    call_command("import_movielens", "--variant", args.variant, "--if-empty")
    found = ModelVersion.objects.filter(name=args.model).order_by("-created_at").first()
    if found is not None and Path(found.path).is_file():
        return found
    print(f"training {args.model} ...")
    return services.model_train(name=args.model, activate=False)


def one_run(args: argparse.Namespace, mv: Any, workers: int, env: dict[str, str]) -> dict[str, Any]:
    from webapp.recommendations import services, tasks
    from webapp.recommendations.models import RecommendationList, RefreshChunk

    RefreshChunk.objects.filter(model_version=mv).delete()
    RecommendationList.objects.filter(model_version=mv).delete()
    numbers = services.refresh_plan(model_version=mv, requested_at=None, activate=False)
    procs, logs = [], []
    for i in range(workers):
        log = Path(args.var_dir) / f"worker-{workers}-{i}.log"
        cmd = [sys.executable, "-m", "celery", "-A", "webapp", "worker", "-Q", QUEUE,
               "--pool=prefork", "--concurrency=1", "-n", f"bench{i}@%h", "--without-gossip",
               "--without-mingle", "--loglevel=INFO"]  # fmt: skip
        procs.append(start(cmd, env, log))
        logs.append(log)
    try:
        for proc, log in zip(procs, logs, strict=True):
            wait_until(lambda log=log: "ready." in log.read_text(), 120, "worker start", proc, log)
        started = time.perf_counter()
        for n in numbers:
            tasks.lists_refresh_chunk.apply_async(
                kwargs={"version": mv.version, "number": n}, queue=QUEUE
            )
        pending = RefreshChunk.objects.filter(model_version=mv, done_at=None)
        wait_until(lambda: not pending.exists(), 3600, "refresh", procs[0], logs[0])
        elapsed = time.perf_counter() - started
    finally:
        for proc in procs:
            stop(proc)
    users = sum(len(c.user_ids) for c in RefreshChunk.objects.filter(model_version=mv))
    return {
        "workers": workers,
        "parts": len(numbers),
        "users": users,
        "seconds": round(elapsed, 2),
        "users_per_s": round(users / elapsed, 1),
        "lists": RecommendationList.objects.filter(model_version=mv).count(),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env = environment(args)
    os.environ.update(env)
    ensure_database(args.database_url)
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    django.setup()
    mv = trained_version(args)
    rows = [one_run(args, mv, n, env) for n in args.workers]
    base = rows[0]["users_per_s"]
    print(f"{'workers':>8} {'parts':>6} {'users':>7} {'seconds':>8} {'users/s':>8} {'speed-up':>9}")
    for r in rows:
        r["speedup"] = round(r["users_per_s"] / base, 2)
        print(
            f"{r['workers']:>8} {r['parts']:>6} {r['users']:>7,} {r['seconds']:>8.1f} "
            f"{r['users_per_s']:>8.1f} {r['speedup']:>8.2f}x"
        )
    load = os.getloadavg()[0]
    meta = {
        "variant": args.variant, "model": mv.name, "version": mv.version, "chunk": args.chunk,
        "cores": os.cpu_count(), "load_before": round(load, 2), "machine": platform.machine(),
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"wrote {args.out} (1-min load average {load:.1f} on {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
