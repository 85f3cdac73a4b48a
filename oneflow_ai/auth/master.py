"""The master key: from ONEFLOW_MASTER_KEY, or generated once and kept in the data directory."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

KEY_FILE = "master_key"


def ensure_master_key(configured: str | None, data_dir: Path) -> tuple[str, bool]:
    """The master key, and whether it was generated just now (so the caller prints it once)."""
    if configured:
        return configured, False
    path = data_dir / KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    key = "sk-oneflow-" + secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip(), False
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key, True
