import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

MODULES = [
    "recommender.base",
    "recommender.data",
    "recommender.split",
    "recommender.metrics",
    "recommender.registry",
    "recommender.harness",
    "recommender.evaluate",
    "recommender.models.popularity",
    "recommender.models.itemknn",
    "recommender.models.mf",
    "recommender.models.ease",
]


def test_recommender_imports_with_django_unavailable() -> None:
    # sys.modules[name] = None makes any `import django` raise ImportError, so an accidental
    # dependency fails here; no settings module is configured either
    code = (
        "import sys\n"
        "for name in ('django', 'celery', 'webapp', 'rest_framework'):\n"
        "    sys.modules[name] = None\n"
        f"for module in {MODULES!r}:\n"
        "    __import__(module)\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('django', 'celery', 'webapp')"
        " and sys.modules[m] is not None]\n"
        "assert not loaded, loaded\n"
        "print('ok')\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}  # no DJANGO_SETTINGS_MODULE
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
