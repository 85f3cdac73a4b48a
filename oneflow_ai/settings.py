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
    redis_max_connections: int = 50
    """The shared Redis client's pool: at most this many connections; a caller waits for a free one."""
    redis_pool_timeout_s: float = 5.0
    """How long a caller waits for a free Redis connection before the command fails."""
    upstream_max_connections: int = 100
    """Connections to one upstream origin at most (a deployment's `max_connections` overrides it); a call waits
    up to its connect timeout for a free one."""
    max_body_bytes: int = 10 * 1024 * 1024
    log_level: str = "INFO"
    log_format: str = "json"
    ledger_batch_size: int = 500
    ledger_interval_s: float = 0.25
    ledger_retention_days: int = 90
    ledger_journal: bool = True
    """Journal each usage record to a local file before its answer completes (`store.journal`): a killed process
    loses none. `ONEFLOW_LEDGER_JOURNAL=off` turns it off."""
    ledger_journal_dir: Path | None = None
    """Where the journals are (one directory per host, shared by its replicas); None: `<data_dir>/ledger-journal`."""
    ledger_journal_sync: bool = False
    """Each journal line waits for the disk (`O_DSYNC`): records survive the machine's crash too, at a disk flush
    per call."""
    shared_view_s: float = 0.1
    """With Redis: how recent this replica's view of a shared counter must be to admit a call without asking."""
    credits_per_usd: str = "100"
    inr_per_usd: str = "83"
    price_catalog: str | None = None
    # observability and the HTTP edge (README: "Observability")
    cors_origins: tuple[str, ...] = ()
    metrics_per_key: bool = False
    worker_metrics_dir: Path | None = None
    """Set by `oneflow serve --workers N` for its workers: where they share their metrics' snapshots."""
    otel_enabled: bool = False
    otel_endpoint: str | None = None
    idempotency_ttl_s: int = 24 * 3600
    idempotency_max_bytes: int = 256 * 1024 * 1024
    """Without Redis: what the in-memory idempotency store may hold; past it the oldest answers are forgotten."""
    body_timeout_s: float = 30.0
    header_timeout_s: float = 10.0
    keep_alive_s: int = 5
    trusted_proxies: tuple[str, ...] = ()
    max_header_bytes: int = 64 * 1024
    """The request line and headers together, in bytes; larger is refused with 431."""
    max_headers: int = 100
    shutdown_grace_s: int = 30
    """On SIGTERM, how long calls in flight may take to finish; those still running then are cut (503)."""
    guardrails_refresh_s: float = 5.0
    """How often a gateway reloads the guardrail policies and tenants' lists other workers and replicas stored."""
    idle_trim_s: float = 1.0
    """Once no call has run for this long after a burst, collect garbage and give glibc's free memory back to the
    system (`ops.idle_trim`); 0: never."""

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
            redis_max_connections=int(get("ONEFLOW_REDIS_MAX_CONNECTIONS") or 50),
            redis_pool_timeout_s=float(get("ONEFLOW_REDIS_POOL_TIMEOUT_S") or 5.0),
            upstream_max_connections=int(get("ONEFLOW_UPSTREAM_MAX_CONNECTIONS") or 100),
            max_body_bytes=int(get("ONEFLOW_MAX_BODY_BYTES") or 10 * 1024 * 1024),
            log_level=(get("ONEFLOW_LOG_LEVEL") or "INFO").upper(),
            log_format=get("ONEFLOW_LOG_FORMAT") or "json",
            ledger_batch_size=int(get("ONEFLOW_LEDGER_BATCH_SIZE") or 500),
            ledger_interval_s=float(get("ONEFLOW_LEDGER_INTERVAL_S") or 0.25),
            ledger_retention_days=int(get("ONEFLOW_LEDGER_RETENTION_DAYS") or 90),
            ledger_journal=(get("ONEFLOW_LEDGER_JOURNAL") or "on").lower() not in ("0", "off", "false", "no"),
            ledger_journal_dir=Path(journal_dir) if (journal_dir := get("ONEFLOW_LEDGER_JOURNAL_DIR")) else None,
            ledger_journal_sync=(get("ONEFLOW_LEDGER_JOURNAL_SYNC") or "").lower() in ("1", "true", "yes", "on"),
            shared_view_s=float(get("ONEFLOW_SHARED_VIEW_S") or 0.1),
            credits_per_usd=get("ONEFLOW_CREDITS_PER_USD") or "100",
            inr_per_usd=get("ONEFLOW_INR_PER_USD") or "83",
            price_catalog=get("ONEFLOW_PRICE_CATALOG"),
            cors_origins=tuple(o.strip() for o in (get("ONEFLOW_CORS_ORIGINS") or "").split(",") if o.strip()),
            metrics_per_key=(get("ONEFLOW_METRICS_PER_KEY") or "").lower() in ("1", "true", "yes"),
            worker_metrics_dir=Path(d) if (d := get("ONEFLOW_WORKER_METRICS_DIR")) else None,
            otel_enabled=(get("ONEFLOW_OTEL_ENABLED") or "").lower() in ("1", "true", "yes"),
            otel_endpoint=get("OTEL_EXPORTER_OTLP_ENDPOINT"),
            idempotency_ttl_s=int(get("ONEFLOW_IDEMPOTENCY_TTL_S") or 24 * 3600),
            idempotency_max_bytes=int(get("ONEFLOW_IDEMPOTENCY_MAX_BYTES") or 256 * 1024 * 1024),
            body_timeout_s=float(get("ONEFLOW_BODY_TIMEOUT_S") or 30.0),
            header_timeout_s=float(get("ONEFLOW_HEADER_TIMEOUT_S") or 10.0),
            keep_alive_s=int(get("ONEFLOW_KEEP_ALIVE_S") or 5),
            trusted_proxies=tuple(p.strip() for p in (get("ONEFLOW_TRUSTED_PROXIES") or "").split(",") if p.strip()),
            max_header_bytes=int(get("ONEFLOW_MAX_HEADER_BYTES") or 64 * 1024),
            max_headers=int(get("ONEFLOW_MAX_HEADERS") or 100),
            shutdown_grace_s=int(get("ONEFLOW_SHUTDOWN_GRACE_S") or 30),
            guardrails_refresh_s=float(get("ONEFLOW_GUARDRAILS_REFRESH_S") or 5.0),
            idle_trim_s=float(get("ONEFLOW_IDLE_TRIM_S") or 1.0),
        )

    @property
    def journal_dir(self) -> Path:
        return self.ledger_journal_dir or self.data_dir / "ledger-journal"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'oneflow.db').resolve()}"
