"""What a fresh clone needs to run: the scripts the Makefile calls are executable."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_script_is_executable_in_git() -> None:
    # `make run` calls ./scripts/run.sh: a mode lost in a commit (written by a tool that
    # does not keep it) breaks the quick start on every fresh clone, not on this checkout
    listed = subprocess.run(
        ["git", "ls-files", "-s", "scripts"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    modes = {line.split("\t")[1]: line.split()[0] for line in listed if line.endswith(".sh")}
    assert modes and all(mode == "100755" for mode in modes.values()), modes
    assert all(os.access(ROOT / path, os.X_OK) for path in modes)
