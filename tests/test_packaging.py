"""The locks are what every install path installs: each pin hashed, the runtime lock within the dev lock."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\$", re.MULTILINE)


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / lock).read_text()
    found = {name.lower().replace("_", "-"): version for name, version in PIN.findall(text)}
    blocks = re.split(r"^(?=[A-Za-z0-9])", text, flags=re.MULTILINE)
    for block in blocks:
        if PIN.match(block):
            assert "--hash=sha256:" in block, f"{lock}: {block.splitlines()[0]} has no hash"
    return found


def name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_pin_is_hashed_and_the_runtime_lock_is_within_the_dev_lock() -> None:
    runtime, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    assert runtime and dev
    assert {n: v for n, v in runtime.items() if dev.get(n) != v} == {}


def test_the_locks_hold_every_declared_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    extras = project["optional-dependencies"]
    assert {name(r) for r in [*project["dependencies"], *extras["otel"]]} - runtime.keys() == set()
    own = {"oneflow-ai"}
    assert {name(r) for group in extras.values() for r in group} - own - dev.keys() == set()


def test_every_install_path_installs_the_lock_with_hashes() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install -q --require-hashes -r requirements-dev.lock" in makefile
    assert "pip install -q --no-deps -e ." in makefile
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    assert "--require-hashes -r requirements.lock" in dockerfile and "--no-deps ." in dockerfile
    assert "!requirements.lock" in (ROOT / "deploy/Dockerfile.dockerignore").read_text()
    assert "make test" in (ROOT / ".ci/run").read_text()


def test_the_package_says_it_is_typed() -> None:
    assert (ROOT / "oneflow_ai/py.typed").exists()
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "py.typed" in data["oneflow_ai"]
