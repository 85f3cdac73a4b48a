"""`oneflow check --production`: what a production deployment must not run with, read from its settings and
model configuration. Pure: values in, findings out; the command prints them (`cli.py`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from oneflow_ai.config.schema import GatewayConfig
from oneflow_ai.settings import Settings

REFERENCES = ("env:", "file:", "vault:", "aws-sm:")
"""How a secret is named without being written down (README: secrets by reference)."""
PLACEHOLDERS = frozenset({"sk-1234", "replace-me", "changeme", "change-me", "secret", "password", "admin", "test"})
"""Values seen in examples (ours, LiteLLM's `sk-1234`): a master key equal to one of them is the default."""
MIN_KEY_CHARS = 32
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
PG_TLS = frozenset({"require", "verify-ca", "verify-full"})


@dataclass(frozen=True)
class Finding:
    severity: Literal["error", "warning"]
    setting: str
    message: str


def check_production(settings: Settings, config: GatewayConfig) -> list[Finding]:
    """Every finding: an error is what must change before serving production traffic; a warning, what to check."""
    return [
        *_master_key(settings.master_key),
        *_database(settings.database_url),
        *_redis(settings.redis_url),
        *_edge(settings),
        *_deployments(config),
    ]


def _master_key(key: str | None) -> Iterable[Finding]:
    name = "ONEFLOW_MASTER_KEY"
    if not key:
        yield Finding("error", name, "not set: each replica would generate its own key in its data directory")
    elif key.startswith(REFERENCES):
        return
    elif key.lower() in PLACEHOLDERS or key.lower().removeprefix("sk-") in PLACEHOLDERS:
        yield Finding("error", name, "is a default or example value; generate one (openssl rand -hex 32)")
    elif len(key) < MIN_KEY_CHARS:
        yield Finding("error", name, f"is {len(key)} characters; use at least {MIN_KEY_CHARS} random ones")


def _database(url: str | None) -> Iterable[Finding]:
    name = "DATABASE_URL"
    if not url or url.startswith("sqlite"):
        yield Finding("error", name, "SQLite: one file per replica; set a PostgreSQL URL shared by all replicas")
        return
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    mode = (query.get("sslmode") or query.get("ssl") or [""])[0]
    if parts.hostname not in LOCAL_HOSTS and mode not in PG_TLS:
        yield Finding("warning", name, "no sslmode=require (or verify-full): the connection may be unencrypted")


def _redis(url: str | None) -> Iterable[Finding]:
    name = "REDIS_URL"
    if not url:
        yield Finding("error", name, "not set: rate limits, budgets and breakers are per replica, not shared")
    elif url.startswith("redis://") and urlsplit(url).hostname not in LOCAL_HOSTS:
        yield Finding("warning", name, "redis:// is unencrypted; use rediss:// when Redis is off this network")


def _edge(settings: Settings) -> Iterable[Finding]:
    if "*" in settings.cors_origins:
        yield Finding("error", "ONEFLOW_CORS_ORIGINS", "'*' lets any web page call the gateway; list the origins")
    if settings.log_level == "DEBUG":
        yield Finding("warning", "ONEFLOW_LOG_LEVEL", "DEBUG logs more than production needs")
    if settings.log_format != "json":
        yield Finding("warning", "ONEFLOW_LOG_FORMAT", "not json: log collectors parse JSON lines")
    if not settings.trusted_proxies:
        yield Finding(
            "warning",
            "ONEFLOW_TRUSTED_PROXIES",
            "empty: behind TLS termination (an Ingress, a load balancer) every client is logged as the proxy",
        )


def _deployments(config: GatewayConfig) -> Iterable[Finding]:
    for group in config.models:
        for i, dep in enumerate(group.deployments):
            where = f"models.{group.name}.deployments.{i}"
            if dep.api_key is not None and not dep.api_key.startswith(REFERENCES):
                yield Finding("error", f"{where}.api_key", "a literal key in the file; use env:VAR or file:/path")
            if dep.base_url and _plain_http(dep.base_url):
                yield Finding("warning", f"{where}.base_url", f"{dep.base_url} is plain http (no TLS)")


def _plain_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS


def read_env_file(text: str) -> dict[str, str]:
    """`NAME=value` lines (Docker's `--env-file` format: no quoting, `#` starts a comment line)."""
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line and not line.lstrip().startswith("#"))
    return {name.strip(): value.strip() for name, value in pairs}
