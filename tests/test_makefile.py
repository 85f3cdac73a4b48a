"""The Makefile's targets do what the README says (issue 15 #8: `make lint` had no recipe and silently succeeded)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
LINT = [
    ".venv/bin/ruff check oneflow_ai tests bench",
    ".venv/bin/ruff format --check oneflow_ai tests bench",
    ".venv/bin/mypy",
]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def recipe(target: str) -> list[str]:
    """The commands `make <target>` would run (`make -n`: printed, not run), the venv's set-up left out."""
    made = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "VENV=.venv", target], capture_output=True, text=True, check=True
    )
    return [line for line in made.stdout.splitlines() if line.startswith(".venv/bin/") and "pip install" not in line]


def test_lint_checks_style_formatting_and_types() -> None:
    assert recipe("lint") == LINT


def test_test_lints_then_runs_the_tests() -> None:
    assert recipe("test") == [*LINT, ".venv/bin/pytest -q"]
