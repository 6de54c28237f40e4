"""The one settings module. Every value comes from the environment (see .env.example).

Defaults need nothing installed: SQLite under ``var/`` and a filesystem Celery broker, so a
newcomer runs the web server and a real worker with one command. Production points
DATABASE_URL at PostgreSQL and CELERY_BROKER_URL at Redis or RabbitMQ.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from webapp.env import env_bool, env_int, env_list, env_path, env_rate, env_str, load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent
# ENV_FILE="" disables the .env file (the settings tests need a clean environment).
load_dotenv(Path(os.environ.get("ENV_FILE", str(BASE_DIR / ".env"))))

# Local state (SQLite file, broker folders, model caches, artifacts). Git-ignored.
VAR_DIR = env_path("VAR_DIR", "var", BASE_DIR)
VAR_DIR.mkdir(parents=True, exist_ok=True)

# Off unless asked for: a 500 page in DEBUG prints the database, broker and cache URLs with
# their passwords. `make run` (the embedded default on a laptop) turns it on.
DEBUG = env_bool("DEBUG", False)
_DEV_SECRET = "dev-insecure-secret-key-only-for-DEBUG-never-for-production"
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set and DEBUG is off: refusing to start with a guessable key. "
            "Set SECRET_KEY to a long random string (python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))')."
        )
    SECRET_KEY = _DEV_SECRET
elif not DEBUG and len(SECRET_KEY) < 50:
    # Django's own deploy check (security.W009) asks for 50: a shorter key is refused here
    # rather than warned about, since it signs sessions and password-reset links
    raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters when DEBUG is off")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must name this site's host names when DEBUG is off")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
SITE_NAME = env_str("SITE_NAME", "Steerable Recommender")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "webapp.accounts",
    "webapp.catalogue",
    "webapp.jobs",
    "webapp.recommendations",
    "webapp.profiles",
    "webapp.ranking",
    "webapp.steering",
    "webapp.api",
    "webapp.dashboard",
    "webapp.privacy",
]

# Server-Timing: app;dur=<ms> on every response (webapp/timing.py); first, to time the rest.
SERVER_TIMING = env_bool("SERVER_TIMING", True)
MIDDLEWARE = [
    "webapp.timing.ServerTimingMiddleware",
    # a session marked as flooding is refused before it is read (webapp.ratelimit)
    "webapp.ratelimit.FloodGateMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # before any view checks a password: too many attempts from one address never hash
    "webapp.accounts.middleware.PasswordAttemptLimitMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it answers a locked-out login attempt
]

# Brute-force protection on every login (the site's form, the admin, POST /api/v1/auth/token/):
# django-axes counts failures per username *and* address, so a guesser is stopped without
# locking the account's owner out from elsewhere; a success resets the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "registration/locked.html"
# the client's address as every other per-address limit reads it (NUM_PROXIES, below)
AXES_CLIENT_IP_CALLABLE = "webapp.clientip.client_ip"
# Password checks (logins, the admin's, the API token, account deletion) per client address,
# counted before any hashing: each check costs ~0.1 s of CPU, so a flood of them would
# otherwise be a cheap way to exhaust the web processes, whatever the usernames.
LOGIN_ATTEMPT_RATE = env_rate("LOGIN_ATTEMPT_RATE", "20/min")
# Versions kept per profile (webapp.profiles.services.profile_compact): the newest this many,
# the versions they reverted to and the critiques that can still be undone. Without a cap one
# account editing at the API's rate would write gigabytes a day.
PROFILE_VERSIONS_KEPT = env_int("PROFILE_VERSIONS_KEPT", 100, minimum=1)
# Work a signed-in user's clicks and keystrokes make the web process do, per user (counted in
# the cache, webapp.ratelimit): the live preview embeds the typed words and re-ranks on every
# pause in typing; each edit, critique or onboarding writes a version and re-ranks. The API's
# endpoints that write the profile share EDIT_RATE (its "edit" throttle scope).
PREVIEW_RATE = env_rate("PREVIEW_RATE", "30/min")
EDIT_RATE = env_rate("EDIT_RATE", "60/min")

ROOT_URLCONF = "webapp.urls"
CSRF_FAILURE_VIEW = "webapp.api.errors.csrf_failure"  # JSON under /api/, Django's page elsewhere
WSGI_APPLICATION = "webapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "webapp.context_processors.site",
            ],
            # {% partialdef %} everywhere without {% load %}; Django 6 has it built in.
            "builtins": ["template_partials.templatetags.partials"],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
try:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
except ValueError as exc:  # unknown scheme, malformed URL
    raise ImproperlyConfigured(f"DATABASE_URL={DATABASE_URL!r} is not valid: {exc}") from exc
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write concurrently: WAL lets readers run beside a writer,
    # and IMMEDIATE transactions take the write lock up front instead of failing mid-way.
    _db["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    _db["CONN_MAX_AGE"] = 0
    # A file, not :memory:, so a real worker process can see what a test committed; one per
    # process, so two test runs side by side never share (and corrupt) one file.
    _db["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env_path("STATIC_ROOT", "staticfiles", BASE_DIR)

# --- Cache ----------------------------------------------------------------------------------
# Each user's re-ranked list (webapp/profiles/selectors.py) and the API throttle counts. Empty:
# one in-memory cache per process of CACHE_MAX_ENTRIES entries (a list is ~35 kB; Django's 300
# would evict the lists of more than ~150 active users in turn). redis://host:6379/2 shares one
# cache between web processes.
CACHE_URL = env_str("CACHE_URL", "")
if CACHE_URL and not CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(f"CACHE_URL={CACHE_URL!r} must be a redis:// URL (or empty)")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    if CACHE_URL
    else {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "OPTIONS": {"MAX_ENTRIES": env_int("CACHE_MAX_ENTRIES", 1000, minimum=1)},
    }
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_CONTENT_TYPE_NOSNIFF = True
    # HTTPS only, and browsers told to keep it so (`manage.py check --deploy` is clean with
    # the defaults); a site behind a TLS-terminating proxy names the header it sets
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    if _proxy := env_str("SECURE_PROXY_SSL_HEADER", ""):  # e.g. HTTP_X_FORWARDED_PROTO
        SECURE_PROXY_SSL_HEADER = (_proxy, "https")

# --- REST API (owned by webapp/api) ---------------------------------------------------------
# Token first: its WWW-Authenticate header makes an anonymous request a 401, not a 403.
# Throttle rates are per process (the default local-memory cache); run one cache server
# (CACHES) for exact limits across several web processes.
API_TOKEN_DAYS = env_int("API_TOKEN_DAYS", 30, minimum=1)  # an API token's lifetime
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "webapp.api.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON only: people read the API at /api/docs/ (Swagger UI), not DRF's browsable pages
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # ... and JSON bodies: a profile is nested lists, which form encodings cannot carry
    # (POST /auth/token/ also takes a form, as DRF's ObtainAuthToken does)
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_PAGINATION_CLASS": "webapp.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_THROTTLE_CLASSES": [
        "webapp.api.throttles.AnonThrottle",
        "webapp.api.throttles.UserThrottle",
        "webapp.api.throttles.ScopedThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_rate("API_ANON_THROTTLE", "60/min"),
        "user": env_rate("API_USER_THROTTLE", "600/min"),
        # conversation turns and profile regeneration: model work per request
        "llm": env_rate("API_LLM_THROTTLE", "30/min"),
        # writes of the profile (edits, reverts, critiques, keeping a chat): the pages' rate
        "edit": EDIT_RATE,
    },
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Proxies in front of the app: every per-address limit (webapp.clientip: throttles,
    # sign-ups, login attempts, lockouts) reads the client's address this many hops back in
    # X-Forwarded-For. 0 (none) reads the connection's address: a client could otherwise
    # pick its own bucket by sending the header.
    "NUM_PROXIES": env_int("NUM_PROXIES", 0, minimum=0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": f"{SITE_NAME} API",
    "DESCRIPTION": (
        "Browse the catalogue, read your re-ranked recommendations with their explanations, "
        "and steer them: edit your profile, critique, chat. Authenticate with a session "
        "cookie or `Authorization: Token <key>` (POST /api/v1/auth/token/)."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # every operation's error answers (400/401/403/404/415/429), declared from what it takes
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "webapp.api.schema.declare_error_responses",
    ],
    # Swagger UI and ReDoc from drf-spectacular-sidecar's static files: no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery ---------------------------------------------------------------------------------
# Default broker: kombu's filesystem transport, which needs no server, so `make run` still runs
# a real worker process beside the web server. The folder is shared by producer and worker.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", f"file://{VAR_DIR / 'celery-results'}")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for sub in ("queue", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
if CELERY_RESULT_BACKEND.startswith("file://"):
    Path(CELERY_RESULT_BACKEND.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Eager mode (tests, or a set-up with no worker) records failures on the JobRun like a worker
# does, instead of raising into the caller: Celery skips on_failure when it propagates.
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_SERIALIZER = "json"  # tasks take ids and JSON, never model instances
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True  # a worker that dies mid-task leaves the message to be redelivered
# ... and a pool child killed mid-task (OOM, SIGKILL) gives its message back at once instead of
# acknowledging it; the JobRun's conditional claim (webapp.jobs.services.job_claim) lets that
# same message run again (at most JOB_MAX_ATTEMPTS deliveries) and makes any other late copy
# exit. A whole node that dies is reaped when it starts again (webapp.jobs.tasks.reap_on_start).
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A prefork child is replaced after a task leaves it above this RSS (KiB): each LLM loaded or
# merged stays in memory, and without a cap a long-lived worker grows until the OOM killer.
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env_int(
    "CELERY_WORKER_MAX_MEMORY_PER_CHILD", 6_000_000, minimum=100_000
)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 6 * 3600, minimum=1)
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Redis re-delivers an unacknowledged message after this long; shorter than the longest
    # task (a fine-tune may take hours) and such a task runs twice at once
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Stored task results expire after a day (the retention sweep deletes expired result files).
CELERY_RESULT_EXPIRES = timedelta(days=1)
# The retention sweep (webapp.privacy.services.data_prune) once a day: `make run`'s staff
# worker runs beat inside itself (-B); a deployment runs one `celery -A webapp beat`.
CELERY_BEAT_SCHEDULE = {
    "retention": {"task": "webapp.privacy.tasks.data_prune", "schedule": timedelta(days=1)},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
JOB_RETENTION_DAYS = env_int("JOB_RETENTION_DAYS", 90, minimum=1)
# A job delivered this many times without finishing (a worker killed mid-task gives its message
# back: acks_late + reject_on_worker_lost; transient-error retries count too) is marked failed
# instead of being run again: a task that kills its worker every time must not loop for ever.
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 5, minimum=1)
EXPLANATION_RETENTION_DAYS = env_int("EXPLANATION_RETENTION_DAYS", 30, minimum=1)
# django-axes' logs of sign-ins and failed ones (username, address, user agent): the sweep
# deletes them after this many days (they go with the account at once, and are in its export)
AXES_LOG_DAYS = env_int("AXES_LOG_DAYS", 30, minimum=1)
# Work a person's click starts (their profile, their explanations) has a queue of its own,
# served by its own worker (scripts/run.sh), so a six-hour training run or a catalogue import
# on the default queue never holds it up; each user has at most one such job of a kind queued
# (webapp.jobs.services.job_enqueue), and the rate caps how many a worker starts per task
# kind, so a burst of users cannot saturate the machine the web processes share.
CELERY_TASK_DEFAULT_QUEUE = "celery"
USER_QUEUE = "user"
# A training's list refresh is cut into slices of REFRESH_CHUNK_USERS users that any worker
# listening on REFRESH_QUEUE takes (the default queue unless set: `make run`'s staff worker
# serves it; a cluster points N workers at a queue of its own).
REFRESH_QUEUE = env_str("REFRESH_QUEUE", CELERY_TASK_DEFAULT_QUEUE)
REFRESH_CHUNK_USERS = env_int("REFRESH_CHUNK_USERS", 500, minimum=1)
# A worker started without -Q serves them all; purging the broker empties them all.
CELERY_TASK_QUEUES = {CELERY_TASK_DEFAULT_QUEUE: {}, USER_QUEUE: {}, REFRESH_QUEUE: {}}
CELERY_TASK_ROUTES = ["webapp.jobs.tasks.route"]
USER_TASK_RATE_LIMIT = env_rate("USER_TASK_RATE_LIMIT", "60/min")

# --- Models (loaded lazily by recommender/, never at start-up) ------------------------------
# Each is a packaged alias ("packaged:<name>"), a local folder, or a Hugging Face hub id.
EMBEDDING_MODEL = env_str("EMBEDDING_MODEL", "packaged:all-minilm-l6-v2")
LLM_MODEL = env_str("LLM_MODEL", "packaged:smollm2-135m-instruct")
MODEL_CACHE_DIR = env_path("MODEL_CACHE_DIR", str(VAR_DIR / "models"), BASE_DIR)
# Whether the LLM's generated descriptions feed the item embeddings (dense retrieval, profile
# matching). Off by default: on ML-100K they made dense retrieval worse (NDCG@10 0.102 -> 0.069,
# bench/enrich_bench.py); they are still shown on the site where no curated text exists.
EMBED_GENERATED_TEXT = env_bool("EMBED_GENERATED_TEXT", False)
# Let the LLM word card explanations in the background (a worker replaces the evidence-built
# sentence when every claim of the LLM's text checks out). Off by default: the packaged 135M
# model passes that check rarely (see docs/explanations-eval.md) and costs seconds per card.
EXPLANATIONS_LLM = env_bool("EXPLANATIONS_LLM", False)
ARTIFACT_DIR = env_path("ARTIFACT_DIR", str(VAR_DIR / "artifacts"), BASE_DIR)

# --- Logging --------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
