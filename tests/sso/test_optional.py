"""Authlib is the optional `sso` extra: a gateway without `sso:` never imports it (nor its JOSE library)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_gateway_without_sso_does_not_import_authlib(tmp_path: Path) -> None:
    script = f"""
import sys
from oneflow_ai.app import create_app
from oneflow_ai.settings import Settings
create_app(Settings(data_dir={str(tmp_path)!r}, database_url="sqlite:///{tmp_path}/db"), {{}})
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("authlib", "joserfc", "oneflow_ai") and (
    m.startswith(("authlib", "joserfc")) or m == "oneflow_ai.sso.oidc"))
print(",".join(loaded))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", done.stdout
