"""Typed readers for environment variables that fail loudly (after healthchecks' settings).

A typo in production configuration should stop the process at start-up with a message that
names the variable, never fall back silently to a default.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def load_dotenv(path: Path) -> None:
    """Read KEY=VALUE lines from ``path`` into os.environ without overriding real variables."""
    if not path.is_file():
        return
    for lineno, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise ImproperlyConfigured(f"{path}:{lineno}: expected KEY=VALUE, got {raw!r}")
        key, value = line.split("=", 1)
        os.environ.setdefault(key.strip(), value.strip().strip("'\""))


def env_str(name: str, default: str | None = None) -> str:
    """A string; an empty value counts as unset (``.env.example`` lists blanks for defaults)."""
    value = os.environ.get(name) or default
    if value is None:
        raise ImproperlyConfigured(f"environment variable {name} is required")
    return value


def env_path(name: str, default: str, base: Path) -> Path:
    """A filesystem path; relative values are taken relative to ``base`` (the project root)."""
    path = Path(env_str(name, default)).expanduser()
    return (path if path.is_absolute() else base / path).resolve()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if not raw:
        return default
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    return value


def env_list(name: str, default: str) -> list[str]:
    """Comma-separated list; blanks dropped."""
    return [part.strip() for part in env_str(name, default).split(",") if part.strip()]


_RATE_PERIODS = ("s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day")


def env_rate(name: str, default: str) -> str:
    """A request rate such as ``30/min`` (DRF's throttle format: N per s, m, h or d)."""
    value = env_str(name, default).strip()
    count, _, period = value.partition("/")
    if not (count.isdigit() and int(count) > 0 and period.lower() in _RATE_PERIODS):
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a rate; use e.g. 30/min, 1000/hour or 5/s"
        )
    return f"{int(count)}/{period.lower()}"
