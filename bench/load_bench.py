"""Load benchmark: the recommendations page and API under concurrent signed-in clients.

The production shape on one machine: MovieLens 1M in PostgreSQL, a real Celery worker on
Redis that trains the served model and precomputes every user's list, and the app under
gunicorn with DEBUG off. Then ``--clients`` threads hit the home page and the API's
recommendations endpoint for ``--duration`` seconds, each request as one of ``--users``
MovieLens users signed in by session cookie.

Two latencies per request:
  server  the ``Server-Timing: app;dur=`` header (webapp/timing.py): time inside Django,
          first middleware to last byte of the rendered response;
  client  request sent -> body read, as the client saw it: adds gunicorn's queueing (20
          clients, a few sync workers), the connection and the client's own scheduling.

The client is Python threads with ``http.client``, not wrk: it needs a session cookie per
user and the Server-Timing header per response, which wrk only offers through Lua, and its
own cost is small next to the server's (about 0.1 ms of CPU per request); on a 2-core
machine the client shares the cores with gunicorn, so client percentiles are an upper bound.

    python bench/load_bench.py                       # 20 clients, 60 s, PostgreSQL + Redis
    python bench/load_bench.py --clients 50 --busy-worker            # ... while the worker explains
    python bench/load_bench.py --clients 50 --busy-worker --duration 600   # the 10-minute RSS run
    python bench/load_bench.py --clients 5 --duration 10 --api-path ''   # page only

RSS of gunicorn (master and workers) and of the worker is sampled through the measured load
(start, end, max). Prints a table and writes reports/bench/load.json. Exits 1 if any request
failed.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import platform
import re
import secrets
import shlex
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SERVER_TIMING = re.compile(r"\bapp;dur=([0-9.]+)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/recommender_bench")
    p.add_argument("--broker-url", default="redis://127.0.0.1:6379/12")
    p.add_argument("--result-backend", default="redis://127.0.0.1:6379/11")
    p.add_argument("--variant", default="1m", choices=["100k", "1m"], help="MovieLens variant")
    p.add_argument(
        "--model",
        default="ease",
        help="registry model the worker trains for the lists (default ease: one closed-form "
        "fit per λ, about a minute on 2 cores for ML-1M; the hybrid's SASRec would take hours)",
    )
    p.add_argument("--retrain", action="store_true", help="train again even if lists exist")
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--duration", type=float, default=60.0, help="seconds of measured load")
    p.add_argument(
        "--warmup",
        type=float,
        default=10.0,
        help="seconds of unrecorded load first: each gunicorn worker builds its catalogue "
        "state, and each user's first visit enqueues their explanation job",
    )
    p.add_argument("--users", type=int, default=200, help="distinct signed-in users")
    p.add_argument("--page-path", default="/", help="the recommendations page ('' to skip)")
    p.add_argument(
        "--api-path", default="/api/v1/me/recommendations/", help="the API endpoint ('' to skip)"
    )
    p.add_argument(
        "--keep-worker",
        action="store_true",
        help="keep the Celery worker running during the load (it then writes the LLM "
        "explanations that first visits enqueue, competing with gunicorn for the cores)",
    )
    p.add_argument(
        "--busy-worker",
        action="store_true",
        help="keep the worker running with LLM explanations on, and queue an explanation "
        "job for every user first: the load meets a worker busy on the same cores",
    )
    p.add_argument(
        "--rss-every",
        type=float,
        default=5.0,
        help="seconds between RSS samples of gunicorn (all its processes) and the worker",
    )
    p.add_argument(
        "--gunicorn-workers",
        type=int,
        default=os.cpu_count() or 2,
        help="sync workers (default: one per core; a request is CPU-bound once its few "
        "queries are answered, so more workers than cores only lengthen each request)",
    )
    p.add_argument(
        "--cache-url",
        default="",
        help="CACHE_URL for gunicorn (default: each worker's own in-memory cache; "
        "redis://127.0.0.1:6379/13 shares the cached lists between workers)",
    )
    p.add_argument("--worker-class", default="sync", help="gunicorn worker class")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--var-dir", default=str(ROOT / "var" / "bench"))
    p.add_argument("--out", default=str(ROOT / "reports" / "bench" / "load.json"))
    p.add_argument("--target-p95-ms", type=float, default=50.0, help="page server p95 target")
    return p.parse_args(argv)


# -- set-up: database, data, worker, lists, sessions ----------------------------------------


def ensure_database(url: str) -> None:
    """CREATE DATABASE if it is missing (PostgreSQL URLs only; SQLite creates its file)."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        return
    import psycopg

    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return
        conn.execute(f'CREATE DATABASE "{name}"')
        print(f"created database {name}")


def app_env(args: argparse.Namespace, **extra: str) -> dict[str, str]:
    """The environment of every process here: production-like settings, our own state."""
    return {
        **os.environ,
        "ENV_FILE": "",  # a developer's .env must not change what is measured
        "DATABASE_URL": args.database_url,
        "CELERY_BROKER_URL": args.broker_url,
        "CELERY_RESULT_BACKEND": args.result_backend,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "VAR_DIR": args.var_dir,
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_COOKIES": "false",  # plain HTTP on localhost
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_HSTS_SECONDS": "0",
        "SERVER_TIMING": "true",
        "LOG_LEVEL": "WARNING",
        "CACHE_URL": args.cache_url,
        **extra,
    }


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_until(
    predicate: Any, timeout: float, what: str, proc: Any = None, log: Any = None
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited\n{Path(log).read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not done after {timeout:.0f} s")
        time.sleep(0.5)


def setup_data(args: argparse.Namespace) -> dict[str, Any]:
    """Migrate and import (once); have the worker train and precompute lists (once)."""
    from django.core.management import call_command

    from webapp.catalogue import tasks as catalogue_tasks
    from webapp.catalogue.models import Interaction
    from webapp.jobs.models import JobRun
    from webapp.jobs.services import job_enqueue
    from webapp.recommendations import tasks
    from webapp.recommendations.models import ModelVersion, RecommendationList

    t0 = time.perf_counter()
    call_command("migrate", "--noinput", verbosity=0)
    call_command("import_movielens", "--variant", args.variant, "--if-empty")
    imported = time.perf_counter() - t0
    active = ModelVersion.objects.filter(is_active=True, name=args.model).first()
    lists = RecommendationList.objects.filter(model_version=active).count() if active else 0
    trained = None
    if args.retrain or not lists:
        print(f"the worker trains {args.model} and precomputes every user's list ...")
        t1 = time.perf_counter()
        job = job_enqueue(task=tasks.model_train, arguments={"name": args.model})
        wait_until(lambda: JobRun.objects.get(pk=job.pk).is_finished, 3600, "training", *WORKER)
        job.refresh_from_db()
        if job.state != JobRun.State.SUCCEEDED:
            raise RuntimeError(f"training failed: {job.error[-2000:]}")
        trained = {"job": job.result, "seconds": round(time.perf_counter() - t1, 1)}
        print(f"  {job.result} in {trained['seconds']} s")
    # the item-vectors job the training queued (profile re-ranking reads them): let it
    # finish before measuring, so the pages take their full path
    setup_tasks = [tasks.model_train.name, catalogue_tasks.item_vectors_refresh.name]
    unfinished = JobRun.objects.filter(task_name__in=setup_tasks).exclude(
        state__in=[JobRun.State.SUCCEEDED, JobRun.State.FAILED]
    )
    wait_until(lambda: not unfinished.exists(), 3600, "background jobs", *WORKER)
    active = ModelVersion.objects.get(is_active=True)
    return {
        "interactions": Interaction.objects.count(),
        "import_or_check_s": round(imported, 1),
        "model_version": active.version,
        "model": active.name,
        "hparams": active.hparams,
        "valid_ndcg": active.valid_ndcg,
        "lists": RecommendationList.objects.filter(model_version=active).count(),
        "training": trained,
    }


WORKER: list[Any] = []  # (process, log) while the worker runs, for wait_until's checks


def sessions_for(n: int) -> list[str]:
    """Session keys for ``n`` users with a stored list: what ``login()`` writes, minus the
    password check (MovieLens accounts have unusable passwords; they are data, not logins)."""
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.sessions.backends.db import SessionStore

    from webapp.recommendations.models import RecommendationList

    user_ids = list(
        RecommendationList.objects.order_by("user_id").values_list("user_id", flat=True)[:n]
    )
    keys = []
    for user in get_user_model().objects.filter(pk__in=user_ids).order_by("pk"):
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        keys.append(session.session_key)
    if len(keys) < n:
        raise RuntimeError(f"only {len(keys)} users have a precomputed list; asked for {n}")
    return keys


# -- load -----------------------------------------------------------------------------------


@dataclass
class Sample:
    path: str
    status: int
    client_ms: float
    server_ms: float | None
    error: str = ""


@dataclass
class Recorder:
    samples: list[Sample] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    recording: bool = False
    elapsed: float = 0.0

    def add(self, sample: Sample) -> None:
        if self.recording:
            with self.lock:
                self.samples.append(sample)


def client(
    port: int,
    paths: list[str],
    sessions: list[str],
    stop_at: list[float],
    rec: Recorder,
    think: float = 0.0,
) -> None:
    """One client: a connection it reuses (reopened when the server closes it), cycling
    through the paths and its share of users, one request at a time, ``think`` seconds
    between a response and the next request (0: at once, the most load it can make)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i, (path, session) in enumerate(
        zip(itertools.cycle(paths), itertools.cycle(sessions), strict=False)
    ):
        if i and think:
            time.sleep(think)
        if time.monotonic() >= stop_at[0]:
            break
        headers = {"Cookie": f"sessionid={session}", "Accept": "text/html,application/json"}
        started = time.perf_counter()
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = response.read()
            elapsed = (time.perf_counter() - started) * 1000
            timing = SERVER_TIMING.search(response.getheader("Server-Timing") or "")
            error = "" if response.status == 200 and body else f"HTTP {response.status}"
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
            rec.add(
                Sample(path, response.status, elapsed, float(timing[1]) if timing else None, error)
            )
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            elapsed = (time.perf_counter() - started) * 1000
            rec.add(Sample(path, 0, elapsed, None, f"{type(exc).__name__}: {exc}"))


def run_load(
    args: argparse.Namespace,
    paths: list[str],
    sessions: list[str],
    sampler: RssSampler | None = None,
) -> Recorder:
    rec = Recorder()
    stop_at = [time.monotonic() + args.warmup + args.duration]
    shares = [sessions[i :: args.clients] or sessions for i in range(args.clients)]
    threads = [
        threading.Thread(
            target=client,
            # clients start on different paths so both are always in flight
            args=(
                args.port,
                paths[i % len(paths) :] + paths[: i % len(paths)],
                share,
                stop_at,
                rec,
            ),
            daemon=True,
        )
        for i, share in enumerate(shares)
    ]
    for t in threads:
        t.start()
    time.sleep(args.warmup)  # every gunicorn worker builds its catalogue state here
    rec.recording, started = True, time.monotonic()
    watcher = None
    if sampler is not None:
        watcher = threading.Thread(target=sampler.run, args=(started,), daemon=True)
        watcher.start()
    for t in threads:
        t.join()
    rec.recording = False
    if sampler is not None and watcher is not None:
        sampler.done.set()
        watcher.join()
    rec.elapsed = time.monotonic() - started
    return rec


# -- memory ---------------------------------------------------------------------------------


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (gunicorn's master and workers)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return round(total / 2**20, 1)


@dataclass
class RssSampler:
    """Samples (seconds since the measured load began, web MB, worker MB) in a thread."""

    pids: dict[str, int]
    every: float
    samples: list[dict[str, float]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def run(self, started: float) -> None:
        while True:
            row = {"t": round(time.monotonic() - started, 1)}
            row |= {name: tree_rss_mb(pid) for name, pid in self.pids.items()}
            self.samples.append(row)
            if self.done.wait(self.every):
                break

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"samples": self.samples}
        for name in self.pids:
            series = [r[name] for r in self.samples if r[name] > 0]
            if not series:
                continue
            first, last = series[0], series[-1]
            # a worker loads its models on its first job: growth after the first minute is
            # what would show a leak
            warm = [r[name] for r in self.samples if r["t"] >= 60 and r[name] > 0]
            out[name] = {
                "start_mb": first,
                "end_mb": last,
                "max_mb": max(series),
                "change_pct": round(100 * (last - first) / first, 1) if first else None,
                "after_60s_mb": warm[0] if warm else None,
                "change_after_60s_pct": round(100 * (last - warm[0]) / warm[0], 1)
                if warm
                else None,
            }
        return out


def queue_explanations(n: int) -> tuple[int, str]:
    """An explanation job for each of the first ``n`` users with a list (the worker writes
    them with the LLM during the load); returns (jobs, the task's name)."""
    from django.contrib.auth import get_user_model

    from webapp.ranking.tasks import explanations_enqueue, explanations_refresh
    from webapp.recommendations.models import RecommendationList

    ids = RecommendationList.objects.order_by("user_id").values_list("user_id", flat=True)[:n]
    users = get_user_model().objects.filter(pk__in=list(ids))
    return sum(1 for user in users if explanations_enqueue(user=user)), explanations_refresh.name


# -- report ---------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))], 2)


def _latencies(values: list[float]) -> dict[str, float | None]:
    return {f"p{q}": pct(values, q) for q in (50, 95, 99)} | {
        "mean": round(statistics.fmean(values), 2) if values else None
    }


def summarize(rec: Recorder, paths: list[str], elapsed: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in [*paths, "all"]:
        rows = [s for s in rec.samples if path in ("all", s.path)]
        ok = [s for s in rows if not s.error]
        server = [s.server_ms for s in ok if s.server_ms is not None]
        client_ms = [s.client_ms for s in ok]
        errors: dict[str, int] = {}
        for s in rows:
            if s.error:
                errors[s.error] = errors.get(s.error, 0) + 1
        out[path] = {
            "requests": len(rows),
            "rps": round(len(rows) / elapsed, 1),
            "errors": sum(errors.values()),
            "error_kinds": errors,
            "server_ms": _latencies(server),
            "client_ms": _latencies(client_ms),
            "missing_server_timing": len(ok) - len(server),
        }
    return out


def print_table(summary: dict[str, Any]) -> None:
    head = (
        f"{'path':<30} {'req':>7} {'req/s':>7} {'err':>4}  "
        f"{'server p50/p95/p99 ms':>24}  {'client p50/p95/p99 ms':>24}"
    )
    print(head)
    print("-" * len(head))
    for path, r in summary.items():
        s, c = r["server_ms"], r["client_ms"]
        print(
            f"{path:<30} {r['requests']:>7} {r['rps']:>7} {r['errors']:>4}  "
            f"{_trio(s):>24}  {_trio(c):>24}"
        )


def _trio(d: dict[str, Any]) -> str:
    return " / ".join("–" if d[k] is None else f"{d[k]:.1f}" for k in ("p50", "p95", "p99"))


def fresh_start(args: argparse.Namespace) -> None:
    """Migrate, and clear what an earlier run left on this bench's broker, cache and jobs."""
    from django.core.management import call_command

    from webapp.celery import app
    from webapp.jobs.models import JobRun

    # A fresh database has no tables yet: migrate before touching the job table below.
    call_command("migrate", "--noinput", verbosity=0)
    # Leftovers of an earlier run on this bench's own broker db and database: the messages
    # go, and so must the JobRuns that wait for them, or the first page visit of a user whose
    # explanation job was purged would wait on it for ever (the page enqueues one per user).
    app.control.purge()
    if args.cache_url:  # a shared cache starts empty, as each worker's own memory does
        from django.core.cache import cache

        cache.clear()
    JobRun.objects.exclude(state__in=[JobRun.State.SUCCEEDED, JobRun.State.FAILED]).update(
        state=JobRun.State.FAILED, error=f"purged by {Path(sys.argv[0]).name} before a new run"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    paths = [p for p in (args.page_path, args.api_path) if p]
    if not paths:
        raise SystemExit("nothing to load: both --page-path and --api-path are empty")
    Path(args.var_dir).mkdir(parents=True, exist_ok=True)
    logs = Path(args.var_dir) / "logs"
    ensure_database(args.database_url)
    env = app_env(args)
    os.environ.update(env)  # this process reads the same settings (and SECRET_KEY, which
    # signs the session hashes below) as the worker and gunicorn
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django

    django.setup()
    from webapp.jobs.models import JobRun

    fresh_start(args)
    bin_dir = Path(sys.executable).parent
    worker = gunicorn = None
    try:
        worker_log = logs / "worker.log"
        worker_env = {**env, "EXPLANATIONS_LLM": "true"} if args.busy_worker else env
        worker = start(
            [str(bin_dir / "celery"), "-A", "webapp", "worker", "--pool=solo",
             "--loglevel=INFO", "--without-gossip", "--without-mingle", "-Q", "celery,user"],
            worker_env, worker_log,
        )  # fmt: skip
        WORKER[:] = [worker, worker_log]
        data = setup_data(args)
        print(f"data: {data['interactions']:,} interactions, {data['lists']:,} lists from "
              f"{data['model_version']}")  # fmt: skip
        sessions = sessions_for(args.users)
        busy = {"queued": 0}
        if args.busy_worker:
            busy["queued"], explain_task = queue_explanations(args.users)
            print(
                f"queued {busy['queued']} explanation jobs: the worker writes them during the load"
            )
        if not (args.keep_worker or args.busy_worker):
            # The worker's part (training, lists, item vectors) is done. Left running, it
            # would spend the load writing LLM explanations for each user's first visit
            # and take a core from gunicorn; --keep-worker measures that contended case.
            stop(worker)
        gunicorn_log = logs / "gunicorn.log"
        gunicorn = start(
            [str(bin_dir / "gunicorn"), "webapp.wsgi:application",
             "--workers", str(args.gunicorn_workers), "--worker-class", args.worker_class,
             "--bind", f"127.0.0.1:{args.port}", "--log-level", "warning"],
            env, gunicorn_log,
        )  # fmt: skip
        wait_until(lambda: _healthy(args.port), 60, "gunicorn", gunicorn, gunicorn_log)
        print(f"load: {args.clients} clients x {args.duration:.0f} s (+{args.warmup:.0f} s "
              f"warm-up) on {', '.join(paths)} as {len(sessions)} users, gunicorn "
              f"{args.gunicorn_workers} {args.worker_class} workers")  # fmt: skip
        load_before = os.getloadavg()
        pids = {"web": gunicorn.pid}
        if worker.poll() is None:
            pids["worker"] = worker.pid
        sampler = RssSampler(pids, args.rss_every)
        load_started = time.time()
        rec = run_load(args, paths, sessions, sampler)
        elapsed = rec.elapsed
        if args.busy_worker:
            from datetime import UTC, datetime

            since = datetime.fromtimestamp(load_started, UTC)
            finished = JobRun.objects.filter(task_name=explain_task, finished_at__gte=since)
            busy["finished_during_load"] = finished.count()
            busy["failed_during_load"] = finished.filter(state=JobRun.State.FAILED).count()
    finally:
        stop(gunicorn)
        stop(worker)
    summary = summarize(rec, paths, elapsed)
    print()
    print_table(summary)
    page = summary.get(args.page_path, {}) if args.page_path else {}
    page_p95 = page.get("server_ms", {}).get("p95")
    errors = summary["all"]["errors"]
    result = {
        "command": shlex.join([sys.executable, *sys.argv]),
        "config": {k: v for k, v in vars(args).items() if k not in ("out",)},
        "client": "python threads + http.client (one connection per client, reopened when "
        "the server closes it)",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        },
        "data": data,
        "measured_seconds": round(elapsed, 1),
        "worker_explanations": busy if args.busy_worker else None,
        "rss": sampler.summary(),
        "results": summary,
        "target": {
            "page_server_p95_ms": args.target_p95_ms,
            "met": page_p95 is not None and page_p95 < args.target_p95_ms,
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    for name, row in result["rss"].items():
        if name != "samples":
            after = (f"; {row['change_after_60s_pct']:+}% after the first minute"
                     if row["change_after_60s_pct"] is not None else "")  # fmt: skip
            print(f"RSS {name}: {row['start_mb']} MB at the start, {row['end_mb']} MB at the end "
                  f"({row['change_pct']:+}%), max {row['max_mb']} MB{after}")  # fmt: skip
    if args.busy_worker:
        print(f"worker: {busy.get('finished_during_load', 0)} of {busy['queued']} explanation "
              f"jobs finished during the load ({busy.get('failed_during_load', 0)} failed)")  # fmt: skip
    print(f"\n{errors} errors; page server p95 {page_p95} ms (target < {args.target_p95_ms} ms)")
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 1 if errors else 0


def _healthy(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/healthz")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
