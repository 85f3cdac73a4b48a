"""Process settings, read once from the environment. Everything is documented in README.md."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Settings:
    config_path: str | None = None
    data_dir: Path = Path(".oneflow")
    master_key: str | None = None
    database_url: str | None = None
    redis_url: str | None = None
    max_body_bytes: int = 10 * 1024 * 1024
    log_level: str = "INFO"
    log_format: str = "json"
    ledger_batch_size: int = 500
    ledger_interval_s: float = 0.25
    credits_per_usd: str = "100"
    inr_per_usd: str = "83"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def get(name: str) -> str | None:
            value = env.get(name)
            return value if value else None

        return cls(
            config_path=get("ONEFLOW_CONFIG"),
            data_dir=Path(get("ONEFLOW_DATA_DIR") or ".oneflow"),
            master_key=get("ONEFLOW_MASTER_KEY"),
            database_url=get("DATABASE_URL"),
            redis_url=get("REDIS_URL"),
            max_body_bytes=int(get("ONEFLOW_MAX_BODY_BYTES") or 10 * 1024 * 1024),
            log_level=(get("ONEFLOW_LOG_LEVEL") or "INFO").upper(),
            log_format=get("ONEFLOW_LOG_FORMAT") or "json",
            ledger_batch_size=int(get("ONEFLOW_LEDGER_BATCH_SIZE") or 500),
            ledger_interval_s=float(get("ONEFLOW_LEDGER_INTERVAL_S") or 0.25),
            credits_per_usd=get("ONEFLOW_CREDITS_PER_USD") or "100",
            inr_per_usd=get("ONEFLOW_INR_PER_USD") or "83",
        )

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'oneflow.db').resolve()}"
