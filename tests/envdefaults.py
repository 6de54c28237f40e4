"""Loaded with ``-p tests.envdefaults`` before pytest-django reads the settings.

Tests keep their state (SQLite test database, filesystem broker queue, caches) under
``var/test`` so a running development server and its worker never share a queue with them.
Variables already set (CI's DATABASE_URL and CELERY_BROKER_URL) win.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("VAR_DIR", str(ROOT / "var" / "test"))
os.environ.setdefault("DEBUG", "1")
# Unit tests run tasks eagerly; the worker tests switch this off and use a real worker.
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
