"""Settings refuse unsafe or malformed configuration at start-up, naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETUP = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"


def start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY", "DATABASE_URL")
    }
    clean.update(
        {
            "DJANGO_SETTINGS_MODULE": "webapp.settings",
            "VAR_DIR": str(tmp_path),
            "ENV_FILE": "",
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "-c", SETUP], cwd=tmp_path, env={**clean, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_it_refuses_production_without_a_secret_key(tmp_path: Path) -> None:
    result = start(tmp_path, DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY is not set and DEBUG is off" in result.stderr


def test_it_refuses_a_short_production_secret_key(tmp_path: Path) -> None:
    result = start(tmp_path, DEBUG="0", SECRET_KEY="short")
    assert result.returncode != 0
    assert "at least 50 characters" in result.stderr


def test_a_key_one_short_of_what_the_deploy_check_asks_is_refused(tmp_path: Path) -> None:
    """Django's deploy check warns under 50 characters: the settings refuse to start."""
    key = "kQ7-x" * 9 + "abcd"  # 49 characters, varied enough for the check otherwise
    refused = start(tmp_path, DEBUG="false", SECRET_KEY=key, ALLOWED_HOSTS="example.org")
    assert refused.returncode != 0
    assert "SECRET_KEY must be at least 50 characters" in refused.stderr
    started = start(tmp_path, DEBUG="false", SECRET_KEY=key + "e", ALLOWED_HOSTS="example.org")
    assert started.returncode == 0, started.stderr


def test_it_rejects_a_malformed_boolean(tmp_path: Path) -> None:
    result = start(tmp_path, DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_it_rejects_an_unknown_database_scheme(tmp_path: Path) -> None:
    result = start(tmp_path, DEBUG="true", DATABASE_URL="oracle2://nowhere/db")
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr


def test_it_starts_in_production_with_a_strong_key(tmp_path: Path) -> None:
    result = start(tmp_path, DEBUG="false", SECRET_KEY="x" * 50, ALLOWED_HOSTS="example.org")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_the_embedded_default_needs_no_server(tmp_path: Path) -> None:
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL)"
    )
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={**clean, "VAR_DIR": str(tmp_path), "ENV_FILE": "", "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "webapp.settings"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "filesystem://"]


def _with_env_example(
    tmp_path: Path, code: list[str], **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with a copy of .env.example as the dotenv file and only ``env`` on top."""
    env_file = tmp_path / ".env"
    env_file.write_text((ROOT / ".env.example").read_text())
    unset = (
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "VAR_DIR",
        "DEBUG",
        "SECRET_KEY",
        "DJANGO_ALLOW_ASYNC_UNSAFE",
    )
    clean = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [sys.executable, *code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**clean, **env, "ENV_FILE": str(env_file), "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "webapp.settings"},
    )  # fmt: skip


def test_a_copied_env_example_is_safe_until_given_a_key(tmp_path: Path) -> None:
    """.env.example has DEBUG off: a copy refuses to start without a real key, so a forgotten
    edit never serves the debug pages (which print the configuration) to the world."""
    result = _with_env_example(tmp_path, ["-c", "import django; django.setup()"])
    assert result.returncode != 0
    assert "SECRET_KEY is not set and DEBUG is off" in result.stderr


def test_a_copied_env_example_starts_with_the_defaults_under_make_run(tmp_path: Path) -> None:
    """`make run` exports DEBUG=true, and a real variable wins over the dotenv file."""
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.DEBUG)"
    )
    result = _with_env_example(tmp_path, ["-c", code], DEBUG="true")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "filesystem://", "True"]
    assert "export DEBUG ?= true" in (ROOT / "Makefile").read_text()


def test_env_example_with_a_real_key_passes_the_deploy_check(tmp_path: Path) -> None:
    manage = [str(ROOT / "manage.py"), "check", "--deploy", "--fail-level", "WARNING"]
    key = "k" * 30 + "-unguessable-" + "q" * 20
    result = _with_env_example(
        tmp_path, manage, SECRET_KEY=key, ALLOWED_HOSTS="example.org", VAR_DIR=str(tmp_path)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_pass_the_deploy_check(tmp_path: Path) -> None:
    """`manage.py check --deploy` with the production defaults: no warnings at all."""
    # (the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE for their own process: not a deploy's)
    unset = ("DEBUG", "SECRET_KEY", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")
    clean = {k: v for k, v in os.environ.items() if k not in unset}
    env = {
        **clean, "DJANGO_SETTINGS_MODULE": "webapp.settings", "VAR_DIR": str(tmp_path),
        "ENV_FILE": "", "DEBUG": "false", "SECRET_KEY": "k" * 30 + "-unguessable-" + "q" * 20,
        "ALLOWED_HOSTS": "example.org",
    }  # fmt: skip
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_debug_is_off_unless_asked_for(tmp_path: Path) -> None:
    result = start(tmp_path, SECRET_KEY="x" * 50)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_the_user_task_rate_is_given_to_celery_in_its_own_form() -> None:
    from webapp.jobs.tasks import celery_rate

    assert [celery_rate(r) for r in ("60/min", "5/s", "100/hour", "48/day")] == [
        "60/m",
        "5/s",
        "100/h",
        "2/h",
    ]
