from __future__ import annotations

import stat
from pathlib import Path

from oneflow_ai.auth.master import ensure_master_key
from oneflow_ai.auth.principal import presented_key


def test_generated_once_then_kept(tmp_path: Path) -> None:
    key, generated = ensure_master_key(None, tmp_path)
    assert generated and key.startswith("sk-oneflow-") and len(key) > 40
    assert stat.S_IMODE((tmp_path / "master_key").stat().st_mode) == 0o600
    assert ensure_master_key(None, tmp_path) == (key, False)
    assert ensure_master_key("sk-configured", tmp_path) == ("sk-configured", False)


def test_presented_key_forms() -> None:
    assert presented_key("Bearer abc", None) == "abc"
    assert presented_key("bearer  abc ", None) == "abc"
    assert presented_key(None, "xyz") == "xyz"
    assert presented_key("Basic abc", None) is None
