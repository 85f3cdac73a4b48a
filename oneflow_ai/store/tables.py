"""Table definitions (SQLAlchemy Core). Alembic migrations under `migrations/` create them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

metadata = MetaData()

# Money columns: NUMERIC(20, 12) keeps a per-token price times a token count exactly.
MONEY = Numeric(20, 12)

usage_records = Table(
    "usage_records",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("key_id", String(64)),
    Column("user_id", String(128)),
    Column("end_user", String(256)),
    Column("department_id", String(64)),
    Column("tenant_id", String(64)),
    Column("endpoint", String(32), nullable=False),
    Column("requested_model", String(128), nullable=False),
    Column("served_model", String(128)),
    Column("provider", String(32)),
    Column("deployment_id", String(160)),
    Column("input_tokens", Integer, nullable=False, default=0),
    Column("output_tokens", Integer, nullable=False, default=0),
    Column("cached_tokens", Integer, nullable=False, default=0),
    Column("cost_usd", MONEY, nullable=False),
    Column("credits", MONEY, nullable=False),
    Column("latency_ms", Float),
    Column("ttft_ms", Float),
    Column("status", String(24), nullable=False),
    Column("http_status", Integer, nullable=False),
    Column("attempts", Integer, nullable=False, default=1),
    Column("cache_hit", Boolean, nullable=False, default=False),
    Column("streamed", Boolean, nullable=False, default=False),
    Column("usage_source", String(16), nullable=False),
    # migration 0007
    Column("cache_kind", String(16)),
    Column("saved_usd", MONEY, nullable=False, server_default="0"),
    Column("guardrail", String(256)),
    Column("guardrail_action", String(16)),
    Column("unit", String(16), nullable=False, server_default="tokens"),
    Column("quantity", Numeric(20, 6), nullable=False, server_default="0"),
    # migration 0010
    Column("experiment", String(64)),
    Column("variant", String(64)),
    Index("ix_usage_records_created_at", "created_at"),
    Index("ix_usage_records_tenant_created", "tenant_id", "created_at"),
    # ix_usage_records_experiment (experiment, created_at) WHERE experiment IS NOT NULL, partial: only the few calls
    # an experiment chose (every query of it names one); the others' inserts skip it. Migration 0010 makes it; it is
    # not declared here, since a dialect's `*_where` option makes SQLAlchemy import that dialect as this module loads
    # (PostgreSQL's: 19 modules, 2.2 MiB in a worker on SQLite). The schema is the migrations' (`store.db.migrate`).
)

ledger_dead_letters = Table(
    "ledger_dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("error", Text, nullable=False),
    Column("record", Text, nullable=False),
    Index("ix_ledger_dead_letters_request_id", "request_id"),
)
"""Usage records the database refused (migration 0005), as JSON text with its error (`store/dead_letters.py`)."""

# Usage aggregates, hourly (migration 0002) and daily (0004): one row per bucket and combination of dimensions,
# kept when the raw records are pruned. A missing dimension is '' (not NULL) so the unique bucket key upserts on
# every dialect.
LATENCY_BOUNDS_MS = (100, 250, 500, 1000, 2500, 5000, 10000, 30000)
"""The latency histogram's upper bounds (ms) in the aggregates (migration 0010): a record counts in the first
bucket whose bound it does not exceed, or in `lat_gt_30000`."""
LATENCY_COLUMNS = (*(f"lat_le_{b}" for b in LATENCY_BOUNDS_MS), f"lat_gt_{LATENCY_BOUNDS_MS[-1]}")

AGGREGATE_DIMENSIONS = (
    "key_id",
    "user_id",
    "end_user",
    "department_id",
    "tenant_id",
    "requested_model",
    "served_model",
    "provider",
)


def _aggregate_table(name: str, bucket: str) -> Table:
    """A usage aggregate: one row per `bucket` (a UTC hour or day) and combination of dimensions, with sums."""
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column(bucket, DateTime(timezone=True), nullable=False),
        *(Column(d, usage_records.c[d].type, nullable=False, server_default="") for d in AGGREGATE_DIMENSIONS),
        Column("requests", Integer, nullable=False, server_default="0"),
        Column("input_tokens", BigInteger, nullable=False, server_default="0"),
        Column("output_tokens", BigInteger, nullable=False, server_default="0"),
        Column("cached_tokens", BigInteger, nullable=False, server_default="0"),
        Column("cost_usd", MONEY, nullable=False, server_default="0"),
        Column("credits", MONEY, nullable=False, server_default="0"),
        Column("errors", Integer, nullable=False, server_default="0"),
        # migration 0007
        Column("cache_hits", Integer, nullable=False, server_default="0"),
        Column("saved_usd", MONEY, nullable=False, server_default="0"),
        Column("guardrail_blocked", Integer, nullable=False, server_default="0"),
        Column("guardrail_redacted", Integer, nullable=False, server_default="0"),
        # migration 0010
        Column("latency_ms_sum", Float, nullable=False, server_default="0"),
        *(Column(c, Integer, nullable=False, server_default="0") for c in LATENCY_COLUMNS),
        UniqueConstraint(bucket, *AGGREGATE_DIMENSIONS, name=f"uq_{name}_bucket"),
        Index(f"ix_{name}_{bucket}", bucket),
        Index(f"ix_{name}_key", "key_id", bucket),
        Index(f"ix_{name}_tenant", "tenant_id", bucket),
    )


usage_hourly = _aggregate_table("usage_hourly", "hour")
usage_daily = _aggregate_table("usage_daily", "day")
"""Daily usage aggregates (migration 0004): `usage_hourly`'s shape with a UTC day (midnight) as the bucket."""

budgets = Table(
    "budgets",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("scope", String(16), nullable=False),
    Column("scope_id", String(256), nullable=False),
    Column("period", String(16), nullable=False),
    Column("limit_usd", MONEY, nullable=False),
    Column("thresholds", String(128), nullable=False, server_default="0.5,0.8,1.0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_budgets_scope", "scope", "scope_id"),
)

budget_events = Table(
    "budget_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("budget_id", String(64), nullable=False),
    Column("period_start", DateTime(timezone=True), nullable=False),
    Column("threshold", Numeric(6, 4), nullable=False),
    Column("spend_usd", MONEY, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("budget_id", "period_start", "threshold", name="uq_budget_events_once"),
)

# Events and webhooks (migration 0008, `oneflow_ai.events`).
event_outbox = Table(
    "event_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(40), nullable=False, unique=True),
    Column("type", String(48), nullable=False),
    Column("tenant_id", String(64)),
    Column("data", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("fanned_at", DateTime(timezone=True)),
    Column("claim", String(40)),
    Column("claimed_until", DateTime(timezone=True)),
    Index("ix_event_outbox_pending", "fanned_at", "id"),
)
"""Events written in the transaction of the change that caused them; the dispatcher fans each out to the
webhook endpoints that want it (`fanned_at`), claiming rows with `claim` / `claimed_until`."""

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("tenant_id", String(64)),
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("events", Text, nullable=False),
    Column("format", String(16), nullable=False, server_default="generic"),
    Column("allow_private", Boolean, nullable=False, server_default=false()),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_webhook_endpoints_tenant", "tenant_id"),
)

webhook_jobs = Table(
    "webhook_jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(40), nullable=False),
    Column("endpoint_id", String(64), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("done_at", DateTime(timezone=True)),
    Column("claim", String(40)),
    Column("claimed_until", DateTime(timezone=True)),
    UniqueConstraint("event_id", "endpoint_id", name="uq_webhook_jobs_once"),
    Index("ix_webhook_jobs_due", "done_at", "next_at"),
)
"""One delivery of an event to an endpoint, until it succeeds or gives up (`status` delivered | failed)."""

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(40), nullable=False),
    Column("event_type", String(48), nullable=False),
    Column("endpoint_id", String(64), nullable=False),
    Column("tenant_id", String(64)),
    Column("url", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("http_status", Integer),
    Column("error", Text),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Index("ix_webhook_deliveries_event", "event_id"),
    Index("ix_webhook_deliveries_tenant", "tenant_id", "id"),
)
"""The delivery log: one row per attempt (`status` ok | error | refused)."""

guardrail_policies = Table(
    "guardrail_policies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("name", String(64), nullable=False),
    Column("spec", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "name", name="uq_guardrail_policies_name"),
)
"""Guardrail policies made through the admin API (migration 0009): `spec` is `Policy.model_dump()` as JSON;
`tenant_id` '' holds the superuser's, seen by every tenant."""

tenant_guardrails = Table(
    "tenant_guardrails",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("names", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""The guardrail policies every call of a tenant carries (`names`: a JSON list), set through the admin API."""

feedback = Table(
    "feedback",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("tenant_id", String(64)),
    Column("key_id", String(64)),
    Column("score", Float, nullable=False),
    Column("comment", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""A client's score for one call (migration 0010, `POST /api/v1/feedback`); a second post replaces the first."""

experiments = Table(
    "experiments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False, server_default=""),
    Column("name", String(128), nullable=False),
    Column("model", String(128), nullable=False),
    Column("variants", Text, nullable=False),
    Column("sticky", Boolean, nullable=False, server_default=false()),
    Column("status", String(16), nullable=False, server_default="running"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    UniqueConstraint("tenant_id", "name", name="uq_experiments_name"),
)
"""A/B experiments (migration 0010): a public `model`'s traffic split between `variants` (JSON: name, target
model, weight); `tenant_id` '' is the superuser's, for every tenant."""
