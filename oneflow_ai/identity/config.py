"""Identity settings, read once from the environment and validated at start-up (README: "Identity and access")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from oneflow_ai.config import ConfigError

WEAK_SECRETS = frozenset({"secret", "changeme", "change-me", "jwt-secret", "your-secret-key", "supersecret"})
MIN_SECRET_CHARS = 32


@dataclass(frozen=True, slots=True)
class IdentitySettings:
    jwt_secret: str | None = None
    jwt_previous_secrets: tuple[str, ...] = ()
    access_ttl_s: int = 900
    refresh_ttl_s: int = 30 * 24 * 3600
    signup: Literal["closed", "open"] = "closed"
    key_cache_ttl_s: float | None = None
    key_default_rpm: int | None = 60
    key_default_rph: int | None = 1000
    key_default_tpm: int | None = None
    master_rpm: int | None = None
    master_tpm: int | None = None
    end_user_rpm: int | None = None
    end_user_tpm: int | None = None
    model_rpm: Mapping[str, int] = field(default_factory=dict)
    model_tpm: Mapping[str, int] = field(default_factory=dict)
    fail_mode: Literal["open", "closed"] = "open"
    login_ip_rpm: int | None = 30
    """Login attempts per minute per client address that may fail (`login_throttle`)."""
    login_lock_after: int = 10
    """Failed logins in a row that lock an account for 15 minutes (`passwords.Lockout`)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> IdentitySettings:
        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        secret = get("ONEFLOW_JWT_SECRET")
        previous = tuple(s.strip() for s in (get("ONEFLOW_JWT_PREVIOUS_SECRETS") or "").split(",") if s.strip())
        for name, value in [("ONEFLOW_JWT_SECRET", secret), *(("ONEFLOW_JWT_PREVIOUS_SECRETS", p) for p in previous)]:
            if value is not None:
                _check_secret(name, value)
        signup = get("ONEFLOW_SIGNUP") or "closed"
        fail_mode = get("ONEFLOW_RATE_LIMIT_FAIL_MODE") or "open"
        if signup not in ("closed", "open"):
            raise ConfigError(f"ONEFLOW_SIGNUP must be 'closed' or 'open', not {signup!r}")
        if fail_mode not in ("open", "closed"):
            raise ConfigError(f"ONEFLOW_RATE_LIMIT_FAIL_MODE must be 'open' or 'closed', not {fail_mode!r}")
        ttl = get("ONEFLOW_KEY_CACHE_TTL_S")
        return cls(
            jwt_secret=secret,
            jwt_previous_secrets=previous,
            access_ttl_s=_int(env, "ONEFLOW_JWT_ACCESS_TTL_S", 900) or 900,
            refresh_ttl_s=_int(env, "ONEFLOW_JWT_REFRESH_TTL_S", 30 * 24 * 3600) or 30 * 24 * 3600,
            signup="open" if signup == "open" else "closed",
            key_cache_ttl_s=_float("ONEFLOW_KEY_CACHE_TTL_S", ttl) if ttl else None,
            key_default_rpm=_int(env, "ONEFLOW_KEY_DEFAULT_RPM", 60),
            key_default_rph=_int(env, "ONEFLOW_KEY_DEFAULT_RPH", 1000),
            key_default_tpm=_int(env, "ONEFLOW_KEY_DEFAULT_TPM", None),
            master_rpm=_int(env, "ONEFLOW_MASTER_RPM", None),
            master_tpm=_int(env, "ONEFLOW_MASTER_TPM", None),
            end_user_rpm=_int(env, "ONEFLOW_END_USER_RPM", None),
            end_user_tpm=_int(env, "ONEFLOW_END_USER_TPM", None),
            model_rpm=_per_model(env, "ONEFLOW_MODEL_RPM"),
            model_tpm=_per_model(env, "ONEFLOW_MODEL_TPM"),
            fail_mode="closed" if fail_mode == "closed" else "open",
            login_ip_rpm=_int(env, "ONEFLOW_LOGIN_IP_RPM", 30),
            login_lock_after=_positive(env, "ONEFLOW_LOGIN_LOCK_AFTER", 10),
        )


def _check_secret(name: str, value: str) -> None:
    if value.lower() in WEAK_SECRETS or len(value) < MIN_SECRET_CHARS:
        raise ConfigError(
            f"{name} is a default or short secret; use at least {MIN_SECRET_CHARS} random characters "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`), or leave it unset to have "
            "one generated into the data directory"
        )


def _int(env: Mapping[str, str], name: str, default: int | None) -> int | None:
    """A limit: a positive integer; `0` or `none` means no limit."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("0", "none", "unlimited"):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, not {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative")
    return value


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if value is None:
        raise ConfigError(f"{name} must be a positive integer")
    return value


def _float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive")
    return value


def _per_model(env: Mapping[str, str], name: str) -> dict[str, int]:
    """`gpt-4o=500,demo=100`."""
    out: dict[str, int] = {}
    for item in (env.get(name) or "").split(","):
        if not item.strip():
            continue
        model, sep, value = item.rpartition("=")
        if not sep or not model.strip() or not value.strip().isdigit() or int(value) == 0:
            raise ConfigError(f"{name}: expected 'model=limit,...' with positive limits, got {item.strip()!r}")
        out[model.strip()] = int(value)
    return out
