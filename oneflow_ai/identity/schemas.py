"""The admin API's wire types, one per direction (`KeyCreate` in, `KeyPublic` out). Unknown fields are refused
and every string is bounded by its column, so nothing a client sends reaches the database unchecked."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated, Any, ClassVar, Generic, TypeVar

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from oneflow_ai.config.matching import Matching

MAX_METADATA_BYTES = 16 * 1024
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_DEPTH = 64
"""How deeply a body may nest (the same bound as the fast lane's, `api.json_limits`)."""
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def _email(value: str) -> str:
    if not EMAIL.match(value):
        raise ValueError("not a valid e-mail address")
    return value.lower()


def _metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if not _storable_numbers(value):
        raise ValueError("metadata numbers must be finite, and integers must fit 64 bits")
    if len(orjson.dumps(value)) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata must be at most {MAX_METADATA_BYTES} bytes of JSON")
    return value


def _storable_numbers(value: Any) -> bool:
    """Whether every number in `value` can be stored as JSON and read back: PostgreSQL refuses NaN and
    Infinity, orjson an integer beyond 64 bits."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, int):
        return INT64_MIN <= value <= INT64_MAX
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_storable_numbers(v) for v in value.values())
    if isinstance(value, list):
        return all(_storable_numbers(v) for v in value)
    return True


Id = Annotated[str, Field(min_length=1, max_length=64)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Email = Annotated[str, Field(max_length=320), AfterValidator(_email)]
Password = Annotated[str, Field(max_length=1024)]
Limit = Annotated[int, Field(ge=1, le=2**31 - 1)]
"""A rate limit: stored in an INTEGER column, so it must fit 32 bits (a larger value is a 400, never a 500)."""
Models = Annotated[list[Annotated[str, Field(min_length=1, max_length=128)]], Field(max_length=1000)]
Metadata = Annotated[dict[str, Any], AfterValidator(_metadata)]
Role = Annotated[str, Matching("^(owner|admin|member|viewer)$")]
GuardrailNames = Annotated[
    list[Annotated[str, Field(max_length=64), Matching(r"^[A-Za-z0-9][\w.-]*$")]], Field(max_length=32)
]
"""Guardrail policy names (presets, the YAML's, the tenant's), applied to every call of the key (the length apart
from the pattern: see `guardrails.policy.NAME_MAX`)."""


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        """NUL cannot be stored in a PostgreSQL text column; refuse it anywhere in the body, and a body nested
        deeper than `MAX_DEPTH` (metadata is stored as JSON, which orjson writes to 255 levels)."""
        _check_strings_and_depth(data)
        return data


class Patch(In):
    """A partial update: a field left out is unchanged, null clears it, except the `NOT_NULL` ones."""

    NOT_NULL: ClassVar[tuple[str, ...]] = ("name", "role")

    @model_validator(mode="after")
    def _required_stay(self) -> Patch:
        for name in self.NOT_NULL:
            if name in self.model_fields_set and getattr(self, name, None) is None:
                raise ValueError(f"'{name}' cannot be null")
        return self


def _check_strings_and_depth(body: Any) -> None:
    """A walk without recursion: a body 500 levels deep exhausted Python's stack (a 500)."""
    stack: list[tuple[Any, int]] = [(body, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise ValueError("strings must not contain NUL characters")
        elif isinstance(value, (dict, list)):
            if depth >= MAX_DEPTH:
                raise ValueError(f"the body must not be nested more than {MAX_DEPTH} levels deep")
            items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)


class KeyCreate(In):
    name: Name = "default"
    tenant_id: Id | None = None
    user_id: Id | None = None
    department_id: Id | None = None
    role: Role = "member"
    allowed_models: Models | None = None
    rpm_limit: Limit | None = None
    rph_limit: Limit | None = None
    tpm_limit: Limit | None = None
    budget_id: Id | None = None
    expires_at: datetime | None = None
    metadata: Metadata | None = None
    guardrails: GuardrailNames | None = None


class KeyUpdate(Patch):
    name: Name | None = None
    department_id: Id | None = None
    role: Role | None = None
    allowed_models: Models | None = None
    rpm_limit: Limit | None = None
    rph_limit: Limit | None = None
    tpm_limit: Limit | None = None
    budget_id: Id | None = None
    expires_at: datetime | None = None
    metadata: Metadata | None = None
    guardrails: GuardrailNames | None = None


class KeyRotate(In):
    grace_period_s: Annotated[int, Field(ge=0, le=30 * 24 * 3600)] = 24 * 3600


class KeyPublic(BaseModel):
    object: str = "api_key"
    id: str
    name: str
    prefix: str
    tenant_id: str
    user_id: str | None
    department_id: str | None
    role: str
    allowed_models: list[str] | None
    rpm_limit: int | None
    rph_limit: int | None
    tpm_limit: int | None
    budget_id: str | None
    expires_at: datetime | None
    revoked_at: datetime | None
    rotated_from: str | None
    grace_until: datetime | None
    metadata: dict[str, Any] | None
    guardrails: list[str] = []
    created_at: datetime
    last_used_at: datetime | None


class KeyCreated(KeyPublic):
    key: str
    """The secret, shown this once."""


class Register(In):
    name: Name
    email: Email
    password: Password
    role: Role | None = None
    tenant_id: Id | None = None
    department_id: Id | None = None


class Login(In):
    email: Annotated[str, Field(max_length=320)]
    password: Password


class Refresh(In):
    refresh_token: Annotated[str, Field(max_length=256)]


class Logout(In):
    refresh_token: Annotated[str, Field(max_length=256)] | None = None


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class UserPublic(BaseModel):
    object: str = "user"
    id: str
    email: str
    name: str
    role: str
    tenant_id: str
    department_id: str | None
    rpm_limit: int | None
    tpm_limit: int | None
    locked_until: datetime | None
    disabled_at: datetime | None
    created_at: datetime


class UserUpdate(Patch):
    NOT_NULL: ClassVar[tuple[str, ...]] = ("name", "role", "disabled")

    name: Name | None = None
    role: Role | None = None
    department_id: Id | None = None
    rpm_limit: Limit | None = None
    tpm_limit: Limit | None = None
    unlock: bool = False
    disabled: bool | None = None
    """True disables the user (no login, refresh, session or key of theirs works); false enables them again."""


class TenantCreate(In):
    name: Name
    rpm_limit: Limit | None = None
    tpm_limit: Limit | None = None


class TenantUpdate(Patch):
    name: Name | None = None
    rpm_limit: Limit | None = None
    tpm_limit: Limit | None = None


class TenantPublic(BaseModel):
    object: str = "tenant"
    id: str
    name: str
    rpm_limit: int | None
    tpm_limit: int | None
    created_at: datetime


class DepartmentCreate(In):
    name: Name
    tenant_id: Id | None = None


class DepartmentPublic(BaseModel):
    object: str = "department"
    id: str
    tenant_id: str
    name: str
    created_at: datetime


class AuditEntry(BaseModel):
    object: str = "audit_entry"
    id: int
    at: datetime
    tenant_id: str | None
    actor_key_id: str | None
    actor_user_id: str | None
    action: str
    target_type: str | None
    target_id: str | None
    source_ip: str | None
    detail: dict[str, Any] | None


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    object: str = "list"
    data: list[T]
    has_more: bool = False
    next_cursor: str | None = None
    """Pass it back as `?cursor=` for the next page (None: this is the last); see `store.cursor`."""
