"""Abuse benchmark: what one hostile client does to everyone else (issue 25).

The set-up of ``bench/load_bench.py`` (its functions, reused): MovieLens in PostgreSQL, a
Celery worker on Redis that trains the served model and precomputes every user's list, then
gunicorn with DEBUG off, its page limits counted in Redis (``CACHE_URL``: what the README asks
of a deployment with more than one web process). ``--clients`` normal clients browse the
recommendations page and API as signed-in users the whole time. Each attack in turn runs
for ``--duration`` seconds, and the normal clients are measured during it and for as long
alone right before it (``--before``):

  login    ``--login-rate`` form logins a second with random usernames, one address
  preview  ``--preview-rate`` live previews a second with new text, one account (the profile
           page's endpoint, as htmx sends it)
  edit     up to ``--edit-count`` profile edits from one account over HTTP, as fast as
           ``--attack-threads`` connections go; then the same number of edits through the
           service itself (no HTTP, no throttle), so the version cap, not the rate limit, is
           what bounds the rows
  limit    the API's recommendations with every ``?limit=`` from 1 to 100, round and round,
           one account

For each phase: the normal clients' p95 (client side) and error rate, the attack's answers by
status, peak RSS of gunicorn (master and workers, summed) and storage: profile-version rows
and table bytes, the whole database's bytes, the shared embedding cache's bytes and the cache
keys in Redis. Targets (issue 25): normal clients' errors 0 and p95 <= 2x the quiet minute's
before, peak RSS <= the first quiet minute's peak + 100 MB, storage bounded.

The attackers are threads of this process and share the machine's cores with gunicorn,
PostgreSQL and the normal clients: on a small machine an attack costs the server some CPU
just by being sent, so the figures are an upper bound on the harm.

    python bench/abuse_bench.py                          # ML-100K, 20 clients, 60 s a phase
    python bench/abuse_bench.py --duration 5 --warmup 3 --edit-count 300   # a smoke run

Prints a table and writes reports/bench/abuse.json. Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import os
import platform
import secrets
import shlex
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import load_bench as lb  # noqa: E402  (after the path is set)

ATTACKS = ("login", "preview", "edit", "limit")
PATHS = ["/", "/api/v1/me/recommendations/"]
WORDS = [
    "slow",
    "quiet",
    "loud",
    "bright",
    "dark",
    "funny",
    "grim",
    "tender",
    "strange",
    "epic",
    "small",
    "odd",
    "gentle",
    "wild",
    "cold",
    "warm",
    "bitter",
    "sweet",
    "heist",
    "space",
    "noir",
    "western",
    "musical",
    "courtroom",
    "road",
    "war",
    "spy",
    "ghost",
    "robot",
    "island",
    "desert",
    "city",
    "family",
    "revenge",
    "rescue",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/recommender_abuse")
    p.add_argument("--broker-url", default="redis://127.0.0.1:6379/7")
    p.add_argument("--result-backend", default="redis://127.0.0.1:6379/6")
    p.add_argument("--cache-url", default="redis://127.0.0.1:6379/5", help="gunicorn's CACHE_URL")
    p.add_argument("--variant", default="100k", choices=["100k", "1m"], help="MovieLens variant")
    p.add_argument("--model", default="ease", help="registry model the worker trains")
    p.add_argument("--retrain", action="store_true", help="train again even if lists exist")
    p.add_argument("--clients", type=int, default=20, help="normal clients, all phases")
    p.add_argument("--users", type=int, default=200, help="distinct signed-in normal users")
    p.add_argument(
        "--think",
        type=float,
        default=2.0,
        help="seconds a normal client reads a page before its next request (0: none, and "
        "20 clients saturate a 2-core server, so p95 is mostly queueing)",
    )
    p.add_argument("--duration", type=float, default=60.0, help="seconds of each phase")
    p.add_argument("--warmup", type=float, default=10.0, help="unrecorded normal load first")
    p.add_argument("--settle", type=float, default=5.0, help="unrecorded seconds between phases")
    p.add_argument(
        "--before",
        type=float,
        default=None,
        help="seconds of normal load alone right before each attack, what its p95 is "
        "compared with (default: --duration; the machine's other load drifts over a run)",
    )
    p.add_argument("--attacks", default=",".join(ATTACKS), help="which, in order")
    p.add_argument(
        "--attack-threads", type=int, default=8, help="connections per attack (at least rate/2)"
    )
    p.add_argument("--login-rate", type=float, default=50.0)
    p.add_argument("--preview-rate", type=float, default=20.0)
    p.add_argument("--edit-count", type=int, default=10_000)
    p.add_argument("--gunicorn-workers", type=int, default=os.cpu_count() or 2)
    p.add_argument("--rss-every", type=float, default=1.0)
    p.add_argument("--port", type=int, default=8766)
    p.add_argument("--var-dir", default=str(ROOT / "var" / "bench-abuse"))
    p.add_argument("--out", default=str(ROOT / "reports" / "bench" / "abuse.json"))
    p.add_argument("--max-p95-ratio", type=float, default=2.0)
    p.add_argument("--max-rss-growth-mb", type=float, default=100.0)
    return p.parse_args(argv)


# -- normal clients, recorded per phase -----------------------------------------------------


@dataclass
class PhaseRecorder(lb.Recorder):
    """load_bench's recorder, its samples filed under the phase running when they came."""

    phase: str = ""
    by_phase: dict[str, list[lb.Sample]] = field(default_factory=dict)

    def add(self, sample: lb.Sample) -> None:
        if self.phase:
            with self.lock:
                self.by_phase.setdefault(self.phase, []).append(sample)


@dataclass
class PhaseRss:
    """Peak RSS (MB) of the gunicorn tree per phase, sampled every ``every`` seconds."""

    pid: int
    every: float
    recorder: PhaseRecorder
    peaks: dict[str, float] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.done.wait(self.every):
            phase = self.recorder.phase
            if phase:
                mb = lb.tree_rss_mb(self.pid)
                self.peaks[phase] = max(self.peaks.get(phase, 0.0), mb)


def normal_stats(samples: list[lb.Sample], seconds: float) -> dict[str, Any]:
    ok = [s.client_ms for s in samples if not s.error]
    server = [s.server_ms for s in samples if not s.error and s.server_ms is not None]
    errors = Counter(s.error for s in samples if s.error)
    return {
        "requests": len(samples),
        "rps": round(len(samples) / seconds, 1) if seconds else None,
        "errors": sum(errors.values()),
        "error_rate": round(sum(errors.values()) / len(samples), 4) if samples else None,
        "error_kinds": dict(errors),
        "p50_ms": lb.pct(ok, 50),
        "p95_ms": lb.pct(ok, 95),
        "mean_ms": round(statistics.fmean(ok), 1) if ok else None,
        "server_p95_ms": lb.pct(server, 95),  # Server-Timing: inside Django, no queueing
    }


# -- attackers ------------------------------------------------------------------------------


@dataclass
class AttackLog:
    statuses: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    server_ms: dict[str, list[float]] = field(default_factory=dict)  # by status
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, status: str, ms: float, server_ms: float | None = None) -> None:
        with self.lock:
            self.statuses[status] += 1
            self.latencies.append(ms)
            if server_ms is not None:
                self.server_ms.setdefault(status, []).append(server_ms)

    def summary(self, seconds: float) -> dict[str, Any]:
        sent = sum(self.statuses.values())
        return {
            "sent": sent,
            "per_second": round(sent / seconds, 1) if seconds else None,
            "statuses": dict(sorted(self.statuses.items())),
            "p95_ms": lb.pct(self.latencies, 95),
            # time inside Django per answer (Server-Timing): what each one cost the server
            "server_ms_mean": {
                k: round(statistics.fmean(v), 1) for k, v in sorted(self.server_ms.items())
            },
        }


Request = tuple[str, str, dict[str, str], bytes | None]  # method, path, headers, body


def attacker(
    port: int, requests: Any, ticks: Any, stop_at: float, log: AttackLog, lock: threading.Lock
) -> None:
    """One connection: the next request from the shared iterator, when its tick comes."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while True:
        with lock:  # iterators are not thread-safe
            due = next(ticks, None)
            req: Request | None = next(requests, None)
        if req is None or due is None:
            break
        if due > time.monotonic():
            time.sleep(due - time.monotonic())
        if time.monotonic() >= stop_at:
            break
        method, path, headers, body = req
        started, server = time.perf_counter(), None
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            status = str(response.status)
            timing = lb.SERVER_TIMING.search(response.getheader("Server-Timing") or "")
            server = float(timing[1]) if timing else None
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            status = type(exc).__name__
        log.add(status, (time.perf_counter() - started) * 1000, server)
    conn.close()


def paced(rate: float | None) -> Any:
    """Send times: ``rate`` a second from now (an open loop: a slow server does not slow
    the attacker down), or as fast as the connections go (``None``)."""
    start = time.monotonic()
    for i in itertools.count():
        yield start + i / rate if rate else 0.0


def run_attack(args: argparse.Namespace, requests: Any, rate: float | None) -> dict[str, Any]:
    log, lock = AttackLog(), threading.Lock()
    started = time.monotonic()
    stop_at = started + args.duration
    ticks = paced(rate)
    threads = [
        threading.Thread(
            target=attacker,
            args=(args.port, requests, ticks, stop_at, log, lock),
            daemon=True,
        )
        for _ in range(max(args.attack_threads, int(rate or 0) // 2, 1))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=args.duration + 60)
    return log.summary(time.monotonic() - started)


def form(session: str | None, csrf: str, fields: dict[str, str], htmx: bool = False) -> Any:
    """Headers and body of a form POST with a CSRF token the client chose (Django accepts
    a well-formed token in the cookie that the form repeats, as a browser's would)."""
    cookie = f"csrftoken={csrf}" + (f"; sessionid={session}" if session else "")
    headers = {
        "Cookie": cookie,
        "Content-Type": "application/x-www-form-urlencoded",
        "X-CSRFToken": csrf,
    }
    if htmx:
        headers["HX-Request"] = "true"
    return headers, urlencode({"csrfmiddlewaretoken": csrf, **fields}).encode()


def login_requests(csrf: str) -> Any:
    for i in itertools.count():
        name = f"nobody-{secrets.token_hex(4)}-{i}"
        headers, body = form(None, csrf, {"username": name, "password": secrets.token_hex(8)})
        yield "POST", "/accounts/login/", headers, body


def preview_requests(session: str, csrf: str) -> Any:
    rng = secrets.SystemRandom()
    for i in itertools.count():
        text = " ".join(rng.choice(WORDS) for _ in range(4)) + f" films {i}"
        headers, body = form(session, csrf, {"text": text, "polarity": "likes"}, htmx=True)
        yield "POST", "/profile/statements/preview/", headers, body


def edit_requests(session: str, csrf: str, sid: str, count: int) -> Any:
    for i in range(count):
        fields = {"action": "weight", "weight": "1.5" if i % 2 else "1.0"}
        headers, body = form(session, csrf, fields, htmx=True)
        yield "POST", f"/profile/statements/{sid}/", headers, body


def limit_requests(session: str) -> Any:
    headers = {"Cookie": f"sessionid={session}", "Accept": "application/json"}
    for limit in itertools.cycle(range(1, 101)):
        yield "GET", f"/api/v1/me/recommendations/?limit={limit}", headers, None


# -- storage --------------------------------------------------------------------------------


def storage(args: argparse.Namespace, attacker_id: int) -> dict[str, Any]:
    """Rows and bytes an attack could grow: profile versions (the attacker's and all), their
    table, the database, the embedding cache files, the Redis cache's keys."""
    import redis
    from django.db import connection

    from webapp.profiles.models import ProfileVersion

    table = ProfileVersion._meta.db_table
    with connection.cursor() as cur:
        cur.execute(
            "SELECT pg_total_relation_size(%s), pg_database_size(current_database())", [table]
        )
        table_bytes, db_bytes = cur.fetchone()
        cur.execute("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = %s", [table])
        dead = (cur.fetchone() or [0])[0]
    files = list(Path(args.var_dir).rglob("embeddings.sqlite*"))
    rows = 0
    for path in files:
        if path.name == "embeddings.sqlite":
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
                rows += db.execute("SELECT count(*) FROM embeddings").fetchone()[0]
    return {
        "versions_attacker": ProfileVersion.objects.filter(user_id=attacker_id).count(),
        "versions_all": ProfileVersion.objects.count(),
        "version_table_bytes": int(table_bytes),
        "version_dead_rows": int(dead or 0),  # deleted, until (auto)vacuum frees their space
        "database_bytes": int(db_bytes),
        "embedding_cache_rows": rows,
        "embedding_cache_bytes": sum(p.stat().st_size for p in files),
        "cache_keys": int(redis.Redis.from_url(args.cache_url).dbsize()),
    }


def grown(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in before}


def vacuum() -> None:
    from django.db import connection

    from webapp.profiles.models import ProfileVersion

    with connection.cursor() as cur:  # autocommit: VACUUM runs outside a transaction
        cur.execute(f'VACUUM "{ProfileVersion._meta.db_table}"')


def edits_in_process(user: Any, sid: str, count: int) -> dict[str, Any]:
    """``count`` edits through the service, with no HTTP and no rate limit in the way: what
    the version cap alone holds to."""
    from webapp.profiles import services

    started = time.perf_counter()
    for i in range(count):
        weight = 1.5 if i % 2 else 1.0
        services.profile_edit(user=user, by=user, action="weight", sid=sid, weight=weight)
    return {"edits": count, "seconds": round(time.perf_counter() - started, 1)}


def attacker_keys(args: argparse.Namespace, user_id: int) -> int:
    """Ranking cache entries the attacking account holds in Redis (any ``?limit=``)."""
    import redis

    client = redis.Redis.from_url(args.cache_url)
    return sum(1 for _ in client.scan_iter(match=f"*ranking:v1:{user_id}:*", count=1000))


def direct_edits(
    args: argparse.Namespace, env: dict[str, str], user_id: int, sid: str, count: int
) -> Any:
    """:func:`edits_in_process` in a child process: in this one, its CPU would hold the GIL
    from the normal clients' threads and inflate what they measure."""
    code = (
        "import django, json, sys; django.setup(); sys.path.insert(0, '.'); "
        "from django.contrib.auth import get_user_model; "
        "from bench.abuse_bench import edits_in_process; "
        f"u = get_user_model().objects.get(pk={user_id}); "
        f"print(json.dumps(edits_in_process(u, {sid!r}, {count})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**env, "OMP_NUM_THREADS": "1"},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- set-up ---------------------------------------------------------------------------------


def session_for(user: Any) -> str:
    """A session key for ``user``: what ``login()`` writes, minus the password check."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return str(session.session_key)


def attacking_account(n_normal: int) -> tuple[Any, str]:
    """A user with a stored list who is none of the normal clients', with a statement of
    their own to edit: (user, its statement id)."""
    from django.contrib.auth import get_user_model

    from explanations.profile import Profile
    from webapp.profiles import selectors, services
    from webapp.recommendations.models import RecommendationList

    ids = RecommendationList.objects.order_by("user_id").values_list("user_id", flat=True)
    user = get_user_model().objects.get(pk=ids[n_normal])
    current = selectors.current_version(user=user)
    mine = [s for s in Profile.from_dict(current.profile).statements] if current else []
    if not any(s.source == "user" for s in mine):
        version = services.profile_edit(
            user=user, by=user, action="add", text="slow-burn heist films", polarity="likes"
        )
        mine = list(Profile.from_dict(version.profile).statements)
    return user, next(s.id for s in mine if s.source == "user")


def warm_workers(args: argparse.Namespace, gunicorn_pid: int, n_normal: int) -> dict[str, Any]:
    """Each gunicorn worker serves previews and edits before anything is measured.

    A web process loads the text encoder on its first preview or edit (hundreds of MB, and
    seconds to tens of seconds of one worker on a busy machine), whoever sends it; a
    deployment's processes hold it once any user has edited a profile. So what is measured is a
    warm server, and this one-off cost is reported on its own. A warm-up account of its own
    leaves the attacker's rate windows untouched."""
    user, sid = attacking_account(n_normal + 1)
    session, csrf = session_for(user), secrets.token_hex(16)
    before, started = lb.tree_rss_mb(gunicorn_pid), time.monotonic()
    logs = []
    for requests in (preview_requests(session, csrf), edit_requests(session, csrf, sid, 10**6)):
        for _ in range(2):  # sync workers: n requests at once reach n different workers
            log, lock = AttackLog(), threading.Lock()
            ticks = iter([0.0] * args.gunicorn_workers)
            threads = [
                threading.Thread(
                    target=attacker,
                    args=(args.port, requests, ticks, time.monotonic() + 600, log, lock),
                )
                for _ in range(args.gunicorn_workers)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            logs.append(dict(log.statuses))
    if any(status != "200" for answers in logs for status in answers):
        raise RuntimeError(f"the warm-up's previews and edits failed: {logs}; see the gunicorn log")
    return {
        "rss_before_mb": before,
        "rss_after_mb": lb.tree_rss_mb(gunicorn_pid),
        "seconds": round(time.monotonic() - started, 1),
        "answers": logs,
    }


def start_server(args: argparse.Namespace, env: dict[str, str]) -> Any:
    """Set-up as load_bench does it (data, a trained model, every list), then gunicorn."""
    logs = Path(args.var_dir) / "logs"
    bin_dir = Path(sys.executable).parent
    worker_log = logs / "worker.log"
    worker = lb.start(
        [str(bin_dir / "celery"), "-A", "webapp", "worker", "--pool=solo", "--loglevel=INFO",
         "--without-gossip", "--without-mingle", "-Q", "celery,user"],
        env, worker_log,
    )  # fmt: skip
    lb.WORKER[:] = [worker, worker_log]
    try:
        data = lb.setup_data(args)
    finally:
        # its part is done: left running it would write each first visitor's explanations
        # and take a core from gunicorn (the jobs the attacks queue wait in Redis)
        lb.stop(worker)
    gunicorn_log = logs / "gunicorn.log"
    gunicorn = lb.start(
        [str(bin_dir / "gunicorn"), "webapp.wsgi:application", "--workers",
         str(args.gunicorn_workers), "--bind", f"127.0.0.1:{args.port}", "--log-level", "warning"],
        env, gunicorn_log,
    )  # fmt: skip
    lb.wait_until(lambda: lb._healthy(args.port), 60, "gunicorn", gunicorn, gunicorn_log)
    return gunicorn, data


# -- phases ---------------------------------------------------------------------------------


@dataclass
class Bench:
    """What the phases share: the settings, the recorder, the attacking account."""

    args: argparse.Namespace
    env: dict[str, str]
    rec: PhaseRecorder
    user: Any
    sid: str
    session: str
    csrf: str = field(default_factory=lambda: secrets.token_hex(16))  # 32 characters
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)

    def measure(self, name: str, work: Any) -> None:
        """Normal clients recorded under ``name`` while ``work()`` runs; storage around it."""
        time.sleep(self.args.settle)
        before = storage(self.args, self.user.pk)
        keys_before = attacker_keys(self.args, self.user.pk)
        self.rec.phase, started = name, time.monotonic()
        attack = work()
        self.rec.phase, seconds = "", time.monotonic() - started
        after = storage(self.args, self.user.pk)
        self.phases[name] = {
            "seconds": round(seconds, 1),
            "normal": normal_stats(self.rec.by_phase.get(name, []), seconds),
            "attack": attack,
            "storage_before": before,
            "storage_after": after,
            "storage_growth": grown(before, after),
            "attacker_cache_keys": [keys_before, attacker_keys(self.args, self.user.pk)],
        }
        row = self.phases[name]["normal"]
        print(f"  {name}: normal p95 {row['p95_ms']} ms, {row['errors']} errors; attack {attack}")

    def quiet(self) -> dict[str, Any]:
        time.sleep(self.args.duration if self.args.before is None else self.args.before)
        return {}

    def login(self) -> dict[str, Any]:
        return run_attack(self.args, login_requests(self.csrf), self.args.login_rate)

    def preview(self) -> dict[str, Any]:
        requests = preview_requests(self.session, self.csrf)
        return run_attack(self.args, requests, self.args.preview_rate)

    def edit(self) -> dict[str, Any]:
        requests = edit_requests(self.session, self.csrf, self.sid, self.args.edit_count)
        return run_attack(self.args, requests, None)

    def edit_direct(self) -> dict[str, Any]:
        """The edits in two halves, the table vacuumed between (what autovacuum does on its
        own schedule): rows past the cap are deleted, and their space is reused, not added."""
        half = self.args.edit_count // 2
        first = direct_edits(self.args, self.env, self.user.pk, self.sid, half)
        after_first = storage(self.args, self.user.pk)
        vacuum()
        after_vacuum = storage(self.args, self.user.pk)
        second = direct_edits(
            self.args, self.env, self.user.pk, self.sid, self.args.edit_count - half
        )
        return {
            "edits": first["edits"] + second["edits"],
            "seconds": round(first["seconds"] + second["seconds"], 1),
            "after_first_half": after_first,
            "after_vacuum": after_vacuum,
        }

    def limit(self) -> dict[str, Any]:
        return run_attack(self.args, limit_requests(self.session), None)


def run_phases(bench: Bench, gunicorn_pid: int, sessions: list[str]) -> dict[str, float]:
    """The normal clients throughout; each attack after a quiet minute; peak RSS per phase."""
    args = bench.args
    stop_at = [time.monotonic() + 10 * 24 * 3600]
    shares = [sessions[i :: args.clients] or sessions for i in range(args.clients)]
    clients = [
        threading.Thread(
            target=lb.client,
            args=(
                args.port,
                PATHS[i % 2 :] + PATHS[: i % 2],
                share,
                stop_at,
                bench.rec,
                args.think,
            ),
            daemon=True,
        )
        for i, share in enumerate(shares)
    ]
    rss = PhaseRss(gunicorn_pid, args.rss_every, bench.rec)
    watcher = threading.Thread(target=rss.run, daemon=True)
    for t in [*clients, watcher]:
        t.start()
    time.sleep(args.warmup)
    for attack in args.attacks.split(","):
        bench.measure(f"before {attack}", bench.quiet)
        bench.measure(attack, getattr(bench, attack))
        if attack == "edit":
            bench.measure("edit_direct", bench.edit_direct)
    stop_at[0] = 0.0
    rss.done.set()
    for t in [*clients, watcher]:
        t.join(timeout=60)
    return rss.peaks


# -- report ---------------------------------------------------------------------------------


def verdicts(args: argparse.Namespace, phases: dict[str, Any], peaks: dict[str, float]) -> Any:
    """Each attack phase against the targets: (phase, check, met, detail). The p95 is
    compared with the quiet minute just before the attack; RSS with the first quiet minute
    (growth over the whole run counts)."""
    from django.conf import settings

    first = peaks.get(next(iter(phases)), 0.0)
    out = []
    for name, row in phases.items():
        if name.startswith("before"):
            continue
        base = phases[f"before {name.removesuffix('_direct')}"]["normal"]["p95_ms"] or 0.0
        normal = row["normal"]
        ratio = normal["p95_ms"] / base if base and normal["p95_ms"] else None
        growth = peaks.get(name, 0.0) - first
        out += [
            (name, "normal errors 0", normal["errors"] == 0, normal["errors"]),
            (name, f"p95 <= {args.max_p95_ratio}x before", ratio is not None and ratio <= args.max_p95_ratio,
             None if ratio is None else round(ratio, 2)),
            (name, f"RSS +<= {args.max_rss_growth_mb:.0f} MB", growth <= args.max_rss_growth_mb,
             round(growth, 1)),
        ]  # fmt: skip
    out += storage_verdicts(phases, 3 * settings.PROFILE_VERSIONS_KEPT)
    return out


def storage_verdicts(phases: dict[str, Any], cap: int) -> Any:
    """Rows within the version cap (kept, reverted-to and undoable critiques: 3x the setting),
    the version table's bytes flat over the second half of the edits, no vector cached for a
    preview, at most 8 ranking entries for the account that tried every ``?limit=``."""
    out = []
    if "edit_direct" in phases:
        row = phases["edit_direct"]
        rows = row["storage_after"]["versions_attacker"]
        out.append(("edit_direct", f"versions <= {cap}", rows <= cap, rows))
        half = row["attack"]["after_vacuum"]["version_table_bytes"]
        end = row["storage_after"]["version_table_bytes"]
        out.append(
            ("edit_direct", "table bytes flat, 2nd half", end <= 1.1 * half, f"{half} -> {end}")
        )
    if "preview" in phases:
        grew = phases["preview"]["storage_growth"]["embedding_cache_rows"]
        out.append(("preview", "embedding cache +0 rows", grew == 0, grew))
    if "limit" in phases:
        keys = phases["limit"]["attacker_cache_keys"][1]
        out.append(("limit", "attacker cache keys <= 8", keys <= 8, keys))
    return out


def print_table(phases: dict[str, Any], peaks: dict[str, float]) -> None:
    head = (
        f"{'phase':<15} {'req/s':>6} {'err':>4} {'p50 ms':>7} {'p95 ms':>7} {'srv p95':>7} {'peak RSS':>9}  "
        f"{'attack sent/s':>13}  {'answers':<28} {'versions':>9} {'table kB':>9}"
    )
    print(head)
    print("-" * len(head))
    for name, row in phases.items():
        n, a, after = row["normal"], row["attack"], row["storage_after"]
        answers = ", ".join(f"{k}:{v}" for k, v in a.get("statuses", {}).items())
        if name == "edit_direct":
            answers = f"{a['edits']} edits in {a['seconds']} s (no HTTP)"
        print(
            f"{name:<15} {n['rps']:>6} {n['errors']:>4} {n['p50_ms']:>7} {n['p95_ms']:>7} {n['server_p95_ms']:>7} "
            f"{peaks.get(name, 0):>9.1f}  {a.get('per_second', '') or '':>13}  {answers:<28} "
            f"{after['versions_attacker']:>9} {after['version_table_bytes'] / 1024:>9.0f}"
        )


def report(
    args: argparse.Namespace, bench: Bench, peaks: dict[str, float], extra: dict[str, Any]
) -> int:
    print()
    print_table(bench.phases, peaks)
    checks = verdicts(args, bench.phases, peaks)
    print()
    for phase, check, met, detail in checks:
        print(f"{'ok  ' if met else 'MISS'} {phase:<12} {check:<28} {detail}")
    result = {
        "command": shlex.join([sys.executable, *sys.argv]),
        "config": {k: v for k, v in vars(args).items() if k != "out"},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        },
        **extra,
        "peak_rss_mb": peaks,
        "phases": bench.phases,
        "checks": [{"phase": p, "check": c, "met": m, "detail": d} for p, c, m, d in checks],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0 if all(m for _, _, m, _ in checks) else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    unknown = set(args.attacks.split(",")) - set(ATTACKS)
    if unknown:
        raise SystemExit(f"--attacks: unknown {sorted(unknown)}; choose from {ATTACKS}")
    Path(args.var_dir).mkdir(parents=True, exist_ok=True)
    lb.ensure_database(args.database_url)
    env = lb.app_env(args, DJANGO_SETTINGS_MODULE="webapp.settings")
    os.environ.update(env)  # the same settings (and SECRET_KEY, which signs the sessions)
    import django

    django.setup()
    lb.fresh_start(args)
    load_before = os.getloadavg()
    gunicorn, data = start_server(args, env)
    try:
        sessions = lb.sessions_for(args.users)
        user, sid = attacking_account(args.users)
        bench = Bench(args, env, PhaseRecorder(), user, sid, session_for(user))
        warm = warm_workers(args, gunicorn.pid, args.users)
        print(f"warm-up (each worker's first previews and edits): gunicorn RSS "
              f"{warm['rss_before_mb']} -> {warm['rss_after_mb']} MB in {warm['seconds']} s")  # fmt: skip
        print(f"{args.clients} normal clients as {len(sessions)} users; attacks "
              f"{args.attacks} as user {user.pk}, {args.duration:.0f} s each")  # fmt: skip
        peaks = run_phases(bench, gunicorn.pid, sessions)
    finally:
        lb.stop(gunicorn)
    extra = {"data": data, "loadavg_before": [round(x, 2) for x in load_before], "warm_up": warm}
    return report(args, bench, peaks, extra)


if __name__ == "__main__":
    sys.exit(main())
