"""Python run in a new interpreter with the tests' settings, for what only a fresh process shows (which modules
an import brings, say)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fresh_python_prints(code: str) -> str:
    """The last line `code` prints in a new interpreter (CalledProcessError if it fails)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout.strip().splitlines()[-1]
