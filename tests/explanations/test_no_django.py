import subprocess
import sys


def test_explanations_imports_no_web_framework() -> None:
    code = (
        "import sys, explanations.conversation, explanations.critique, explanations.explain, "
        "explanations.generate, explanations.scoring, explanations.evaluate;"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "{'django', 'celery', 'webapp', 'rest_framework', 'torch'}];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
