"""The Makefile's targets do what the README says (issue 15 #8: `make lint` had no recipe and silently succeeded)."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.fakes.runner import free_port
from tests.test_cli import lines

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


# Issue 20 #7: the workflow the seeds promise. Targets that can run here are run (the venv's installation is
# taken as made, `-o`: a test never installs); docker and kubectl ones are checked with `make -n`, and the
# kubectl ones are run against no cluster, which they must say in one line.
WORKFLOW = [
    "dev", "test", "test-coverage", "lint", "format", "type-check", "security-check", "audit", "db-migrate",
    "db-rollback", "docker-build", "docker-up", "docker-down", "docker-logs", "k8s-deploy", "k8s-status",
    "k8s-logs", "prod-check",
]  # fmt: skip
NEEDED = [".bandit.yml", "deploy/Dockerfile", "deploy/docker-compose.yml", "deploy/k8s/kustomization.yaml"]
GOOD_ENV = """# a production deployment's settings
ONEFLOW_MASTER_KEY=sk-0f4c9a1e7b3d5f2a8c6e0b9d4f1a7c3e5b8d2f6a
DATABASE_URL=postgresql://oneflow@db.internal:5432/oneflow?sslmode=require
REDIS_URL=rediss://cache.internal:6380/0
ONEFLOW_TRUSTED_PROXIES=10.0.0.0/8
"""


def make(target: str, tmp_path: Path, *variables: str) -> subprocess.CompletedProcess[str]:
    """`make <target>` run for real, in a clean environment: no database, Redis or settings of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONEFLOW_", "MAKE", "KUBE"))}
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    env |= {"ONEFLOW_DATA_DIR": str(tmp_path / "data"), "KUBECONFIG": str(tmp_path / "no-cluster")}
    args = ["make", "-s", "-C", str(ROOT), "-o", ".venv/bin/.installed", "VENV=.venv", *variables, target]
    return subprocess.run(args, capture_output=True, text=True, env=env, check=False)


@pytest.mark.parametrize("target", WORKFLOW)
def test_every_workflow_target_has_a_recipe(target: str) -> None:
    made = subprocess.run(["make", "-n", "-C", str(ROOT), "VENV=.venv", target], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip()


def test_what_the_targets_read_is_in_the_repository() -> None:
    """A fresh clone has it: each file the targets name is tracked by git, not only present in this checkout."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--error-unmatch", *NEEDED], capture_output=True)
    assert listed.returncode == 0, listed.stderr


def test_format_and_type_check_recipes() -> None:
    assert recipe("type-check") == [".venv/bin/mypy"]
    assert recipe("format") == [
        ".venv/bin/ruff format oneflow_ai tests bench",
        ".venv/bin/ruff check --fix oneflow_ai tests bench",
    ]


@pytest.mark.parametrize("target", ["lint", "security-check"])  # lint runs type-check's mypy: not run twice
def test_the_code_checks_run_and_pass(target: str, tmp_path: Path) -> None:
    made = make(target, tmp_path)
    assert made.returncode == 0, f"make {target}:\n{made.stdout}{made.stderr}"


def test_dev_serves_and_reloads_on_a_change(tmp_path: Path) -> None:
    """`make dev`: the schema migrated, then uvicorn's reloader (polling: watchfiles is not installed) restarts the
    gateway when a watched file changes (here a directory of the test's own, RELOAD_DIR, not the checkout)."""
    watched = tmp_path / "src"
    watched.mkdir()
    (watched / "module.py").write_text("")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONEFLOW_", "MAKE"))}
    env = {k: v for k, v in env.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env |= {"ONEFLOW_DATA_DIR": str(tmp_path / "data"), "ONEFLOW_MASTER_KEY": "sk-dev-" + "x" * 32}
    args = ["make", "-s", "-C", str(ROOT), "-o", ".venv/bin/.installed", "VENV=.venv", f"DEV_PORT={port}"]
    dev = subprocess.Popen(
        [*args, f"RELOAD_DIR={watched}", "dev"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,  # make, the reloader and its server: stopped together below
    )
    try:
        output = lines(dev.stdout)
        seen = until(output, "Application startup complete")
        assert "database at revision" in seen
        assert httpx.get(f"http://127.0.0.1:{port}/health").json() == {"status": "ok"}
        (watched / "module.py").write_text("CHANGED = True\n")
        until(output, "Reloading")
        until(output, "Application startup complete")
        assert httpx.get(f"http://127.0.0.1:{port}/health").json() == {"status": "ok"}
    finally:
        os.killpg(dev.pid, signal.SIGTERM)
        dev.wait(30)


def until(output: queue.Queue[str | None], text: str, limit_s: float = 60) -> str:
    """The lines read up to and including the first holding `text` (failing after `limit_s`)."""
    deadline = time.monotonic() + limit_s
    seen: list[str] = []
    while time.monotonic() < deadline:
        try:
            line = output.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            break
        assert line is not None, "make dev ended:\n" + "".join(seen)
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"no {text!r} within {limit_s} s:\n" + "".join(seen))


def test_db_migrate_and_rollback_move_a_fresh_sqlite_database(tmp_path: Path) -> None:
    head = max(p.name[:4] for p in (ROOT / "oneflow_ai/store/migrations/versions").glob("[0-9]*_*.py"))
    before = f"{int(head) - 1:04d}"
    assert make("db-migrate", tmp_path).stdout.strip() == f"database at revision {head}"
    assert (tmp_path / "data/oneflow.db").is_file()
    assert make("db-rollback", tmp_path).stdout.strip() == f"database at revision {before}"
    assert make("db-rollback", tmp_path, "REVISION=base").stdout.strip() == "database at revision none (empty)"
    assert make("db-migrate", tmp_path).stdout.strip() == f"database at revision {head}"


def test_prod_check_passes_a_production_configuration_and_fails_a_default_one(tmp_path: Path) -> None:
    good = tmp_path / "prod.env"
    good.write_text(GOOD_ENV)
    made = make("prod-check", tmp_path, f"ENV_FILE={good}")
    assert made.returncode == 0, made.stdout + made.stderr
    assert made.stdout.strip().endswith("production check: 0 errors, 0 warnings")
    bad = tmp_path / "default.env"
    bad.write_text("ONEFLOW_MASTER_KEY=sk-1234\n")
    config = tmp_path / "config.yaml"
    config.write_text(
        "models:\n  - name: m\n    deployments:\n      - {provider: openai, model: m, api_key: sk-live-9}\n"
    )
    made = make("prod-check", tmp_path, f"ENV_FILE={bad}", f"CONFIG={config}")
    assert made.returncode != 0
    for setting in ("ONEFLOW_MASTER_KEY", "DATABASE_URL", "REDIS_URL", "models.m.deployments.0.api_key"):
        assert f"error: {setting}:" in made.stdout
    assert "sk-1234" not in made.stdout and "sk-live-9" not in made.stdout


def test_audit_and_coverage_say_what_they_lack(tmp_path: Path) -> None:
    audit = make("audit", tmp_path, "AUDIT_PROBE=http://127.0.0.1:9/")  # the discard port: nothing listens
    assert audit.returncode != 0 and "pip-audit needs PyPI's vulnerability data (network access)" in audit.stderr
    assert recipe("audit")[-1] == (
        ".venv/bin/pip-audit --strict --progress-spinner off --require-hashes --disable-pip -r requirements.lock"
    )
    # test-coverage runs the whole suite with coverage: only its recipe is checked here (pytest-cov is in dev)
    assert recipe("test-coverage")[-1] == ".venv/bin/pytest -q --cov=oneflow_ai --cov-report=term-missing:skip-covered"


def test_docker_targets_use_the_deploy_files() -> None:
    made = subprocess.run(
        [
            "make",
            "-n",
            "--no-print-directory",
            "-C",
            str(ROOT),
            "docker-build",
            "docker-up",
            "docker-logs",
            "docker-down",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert made.stdout.splitlines() == [
        "docker build -f deploy/Dockerfile -t oneflow:0.1.0 .",
        "docker compose -f deploy/docker-compose.yml up -d --build",
        "docker compose -f deploy/docker-compose.yml logs -f gateway",
        "docker compose -f deploy/docker-compose.yml down",
    ]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("target", ["k8s-deploy", "k8s-status", "k8s-logs"])
def test_k8s_targets_say_when_no_cluster_answers(target: str, tmp_path: Path) -> None:
    made = make(target, tmp_path)
    assert made.returncode != 0
    assert made.stderr.splitlines()[0] == f"{target}: no Kubernetes cluster reachable (kubectl context: none)"
    assert recipe(target) == []  # nothing from the venv
    dry = subprocess.run(["make", "-n", "-C", str(ROOT), target], capture_output=True, text=True, check=True)
    assert "deploy/k8s/overlays/prod" in dry.stdout or "app.kubernetes.io/name=oneflow" in dry.stdout
