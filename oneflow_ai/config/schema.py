"""The configuration model. Validated once at start-up; the hot path reads only these frozen objects."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from oneflow_ai.config.cache import CacheSettings, ModelCache, check_cache
from oneflow_ai.config.matching import Matching
from oneflow_ai.config.presets import PROVIDERS, preset_of, wire_of
from oneflow_ai.config.secrets import parse as parse_reference
from oneflow_ai.config.secrets import resolve as resolve_secret
from oneflow_ai.events.config import DeliverySettings, WebhookConfig
from oneflow_ai.experiments.config import ExperimentConfig, check_experiments
from oneflow_ai.guardrails.settings import GuardrailsSettings, check_guardrails
from oneflow_ai.sso.settings import SSOSettings


def _check_strategy(name: str) -> str:
    from oneflow_ai.routing.strategy import ordering

    ordering(name)  # raises ValueError naming the known strategies
    return name


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Timeouts(Frozen):
    """Seconds. `connect`: to open a connection (TCP, proxy tunnel and TLS handshake), and again at most to wait
    for a free one when the origin's `max_connections` are all busy. `read`: the longest wait for the next byte
    of a non-streamed response, from the request sent to its last byte (so the time to the response's head, then
    between any two reads of its body; not a bound on the whole response). `stream_idle`: the same for a streamed
    response (to its head, then between chunks)."""

    connect: float = Field(10.0, gt=0)
    read: float = Field(30.0, gt=0)
    stream_idle: float = Field(60.0, gt=0)


class PriceOverride(Frozen):
    """A deployment's own prices, USD per million tokens (and per image, character of speech or second of audio
    transcribed, for the media modes); a field left out keeps the catalog's."""

    input_per_million: Decimal | None = None
    output_per_million: Decimal | None = None
    cached_input_per_million: Decimal | None = None
    per_image: Decimal | None = None
    per_character: Decimal | None = None
    per_second: Decimal | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _exact(cls, v: object) -> object:
        if isinstance(v, bool):
            raise ValueError("a price is a decimal number, not true/false")
        if isinstance(v, float):
            return str(v)  # 2.5 -> "2.5": the number as written, not the binary float's expansion
        return v

    @field_validator("*")
    @classmethod
    def _non_negative(cls, v: Decimal | None) -> Decimal | None:
        if v is not None and (not v.is_finite() or v < 0):
            raise ValueError(f"a price must be a finite amount >= 0, got {v}")
        return v

    @model_validator(mode="after")
    def _cached_at_most_input(self) -> PriceOverride:
        inp, cached = self.input_per_million, self.cached_input_per_million
        if inp is not None and cached is not None and cached > inp:
            raise ValueError(f"cached_input_per_million {cached} is more than input_per_million {inp}")
        return self


class ProviderSettings(Frozen):
    """A provider's own deployment fields (Azure's `api_version`, ...): written beside the common ones, validated by
    the model its provider declares (`providers.registry.SETTINGS`), kept in `Deployment.provider_settings`."""

    def default_base_url(self) -> str | None:
        """The endpoint when `base_url` is not given, when it depends on these fields (Bedrock's region)."""
        return None


class Deployment(Frozen):
    """One way to serve a public model: a provider, an upstream model, an endpoint and a key."""

    provider: str
    model: str = Field(min_length=1, description="the model name the upstream knows")
    base_url: str | None = None
    api_key: str | None = Field(
        None, description="a reference: env:VAR, file:/path, vault:mount/path#field, aws-sm:name#field; or a literal"
    )
    provider_settings: ProviderSettings | None = Field(None, description="the provider's own fields")
    headers: dict[str, str] = Field(default_factory=dict)
    weight: float = Field(1.0, gt=0)
    timeouts: Timeouts = Timeouts()
    rpm: int | None = Field(None, gt=0)
    tpm: int | None = Field(None, gt=0)
    quality: float | None = Field(None, ge=0, le=1)
    context_window: int | None = Field(None, gt=0)
    price: PriceOverride | None = Field(None, description="this deployment's prices, over the catalog's")
    max_connections: int | None = Field(None, gt=0, description="to its origin (default ONEFLOW_UPSTREAM_...)")
    ca_bundle: str | None = Field(None, description="PEM file of the CAs that sign the upstream's certificate")
    client_cert: str | None = Field(None, description="PEM file of the certificate the gateway presents")
    client_key: str | None = Field(None, description="PEM file of client_cert's key (when not in client_cert)")
    transport: Literal["native", "httpx"] = Field(
        "native", description="native: ours (HTTP/1.1, the fastest); httpx: HTTP/2 (the `httpx` extra)"
    )
    id: str = ""
    _secret: str | None = PrivateAttr(None)

    @model_validator(mode="before")
    @classmethod
    def _provider_settings(cls, data: Any) -> Any:
        from oneflow_ai.providers.registry import with_provider_settings

        return with_provider_settings(data)

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, v: str) -> str:
        if v not in PROVIDERS:
            raise ValueError(f"unknown provider {v!r}; known: {', '.join(PROVIDERS)}")
        return v

    @field_validator("api_key")
    @classmethod
    def _key_reference(cls, v: str | None) -> str | None:
        if v is not None:
            parse_reference(v)  # a malformed reference is refused now (with its file:line)
        return v

    @model_validator(mode="after")
    def _endpoint(self) -> Deployment:
        if not self.url:
            raise ValueError(f"provider {self.provider} needs base_url")
        return self

    @model_validator(mode="after")
    def _tls_files(self) -> Deployment:
        """The CA bundle and client certificate are read now: a wrong path or a key that does not match fails
        the start, not the first call."""
        if self.client_key is not None and self.client_cert is None:
            raise ValueError("client_key needs client_cert")
        if self.ca_bundle is None and self.client_cert is None:
            return self
        if not self.url.startswith("https://"):
            raise ValueError("ca_bundle and client_cert need an https:// base_url")
        from oneflow_ai.upstream.origin import tls_context

        tls_context(self.ca_bundle, self.client_cert, self.client_key)
        return self

    @model_validator(mode="after")
    def _transport(self) -> Deployment:
        if self.transport != "httpx":
            return self
        if importlib.util.find_spec("httpx") is None or importlib.util.find_spec("h2") is None:
            raise ValueError("transport httpx needs the httpx extra: pip install 'oneflow-ai[httpx]'")
        if self.connection_settings != (None, None, None, None):
            raise ValueError("max_connections, ca_bundle, client_cert and client_key are the native transport's")
        return self

    @property
    def connection_settings(self) -> tuple[int | None, str | None, str | None, str | None]:
        return (self.max_connections, self.ca_bundle, self.client_cert, self.client_key)

    @property
    def wire(self) -> str:
        return wire_of(self.provider)

    @property
    def url(self) -> str:
        own = self.provider_settings.default_base_url() if self.base_url is None and self.provider_settings else None
        return (self.base_url or own or preset_of(self.provider).base_url).rstrip("/")

    def resolve_key(self, environ: Mapping[str, str]) -> str | None:
        """The secret this deployment sends upstream, read from the environment when referenced."""
        if self._secret is not None:
            return self._secret  # read when the configuration was loaded (`config.loader`)
        ref = self.api_key
        if ref is None:
            env = preset_of(self.provider).api_key_env
            return environ.get(env) if env else None
        if ref.startswith("env:"):
            return environ.get(ref[4:])
        return resolve_secret(ref, environ)

    def keep_secret(self, value: str) -> None:
        """Hold the value `api_key` refers to, read at load (never shown: not a field, not in repr or dumps)."""
        self._secret = value


class ModelGroup(Frozen):
    """A public model name and the deployments that serve it."""

    name: str = Field(min_length=1)
    deployments: tuple[Deployment, ...] = Field(min_length=1)
    fallbacks: tuple[str, ...] = ()
    strategy: str | None = None
    mode: Annotated[str, Matching("^(chat|embedding|image_generation|audio_speech|audio_transcription)$")] = "chat"
    aliases: tuple[str, ...] = ()
    guardrails: tuple[str, ...] = Field((), max_length=32)
    """The guardrail policies applied to this group's calls (presets or `guardrails.policies`)."""
    cache: ModelCache | None = None
    """This group's response cache settings, over the top-level `cache:`."""

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, v: str | None) -> str | None:
        return None if v is None else _check_strategy(v)

    @model_validator(mode="after")
    def _providers_serve_mode(self) -> ModelGroup:
        from oneflow_ai.providers.registry import check_mode

        check_mode(self.mode, self.deployments)
        return self

    @model_validator(mode="before")
    @classmethod
    def _name_deployments(cls, data: Any) -> Any:
        """Give each deployment a stable id, `<model>/<index>`, unless the config names it."""
        if isinstance(data, dict) and isinstance(data.get("deployments"), list):
            deployments = []
            for i, d in enumerate(data["deployments"]):
                if isinstance(d, dict) and not d.get("id"):
                    d = {**d, "id": f"{data.get('name')}/{i}"}
                deployments.append(d)
            data = {**data, "deployments": deployments}
        return data


class BreakerSettings(Frozen):
    """A deployment's circuit opens when, over `window_s`, at least `min_requests` were tried and the share
    that failed reached `failure_rate_threshold`, or when `consecutive_failures` failed in a row (whatever
    succeeded before; null turns that off); after `cooldown_s` one probe may pass (half-open)."""

    failure_rate_threshold: float = Field(0.5, gt=0, le=1)
    min_requests: int = Field(5, ge=1)
    window_s: float = Field(30.0, gt=0)
    cooldown_s: float = Field(30.0, gt=0)
    consecutive_failures: int | None = Field(5, ge=1)


class RoutingSettings(Frozen):
    """How the gateway tries deployments: `max_attempts` upstream calls at most per request, within
    `deadline_s`; a retry of a deployment already tried waits an exponential backoff with full jitter
    (`backoff_base_s` doubling up to `backoff_cap_s`) or the upstream's `Retry-After`."""

    strategy: str = "weighted"
    max_attempts: int = Field(3, ge=1, le=20)
    deadline_s: float = Field(120.0, gt=0)
    backoff_base_s: float = Field(0.25, ge=0)
    backoff_cap_s: float = Field(8.0, ge=0)
    breaker: BreakerSettings = BreakerSettings()

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, v: str) -> str:
        return _check_strategy(v)


class BudgetConfig(Frozen):
    """A spending limit: `limit_usd` per `period` (daily | weekly | monthly | total) for one `scope` (key | user |
    end_user | department | tenant | provider | model) and its `id`; `thresholds` are logged once per period."""

    scope: str
    id: str = Field(min_length=1)
    period: str = "monthly"
    limit_usd: Decimal = Field(ge=0, allow_inf_nan=False)
    thresholds: tuple[Decimal, ...] = (Decimal("0.5"), Decimal("0.8"), Decimal("1"))

    @model_validator(mode="after")
    def _known(self) -> BudgetConfig:
        from oneflow_ai.billing.periods import PERIODS, SCOPES, format_thresholds, parse_thresholds

        if self.scope not in SCOPES:
            raise ValueError(f"unknown budget scope {self.scope!r}; known: {', '.join(SCOPES)}")
        if self.period not in PERIODS:
            raise ValueError(f"unknown budget period {self.period!r}; known: {', '.join(PERIODS)}")
        parse_thresholds(format_thresholds(self.thresholds))
        return self


class TokenSettings(Frozen):
    """The `tokens:` section. `estimate`: how a call's tokens are estimated before it is made (its rate limits'
    tokens, budget holds, routing by cost and context window): `heuristic` counts the text's characters
    (`pricing.token_estimate`, no tokenizer in memory); `tokenizer` counts them with tiktoken's cl100k (~24 MiB,
    loaded at start-up). Usage the upstream does not report is counted with the tokenizer either way."""

    estimate: Literal["heuristic", "tokenizer"] = "heuristic"


class GatewayConfig(Frozen):
    models: tuple[ModelGroup, ...] = ()
    routing: RoutingSettings = RoutingSettings()
    budgets: tuple[BudgetConfig, ...] = ()
    guardrails: GuardrailsSettings | None = None
    """The `guardrails:` section; None when the YAML has none (and no model names a policy: no stage is built)."""
    cache: CacheSettings = CacheSettings()
    webhooks: tuple[WebhookConfig, ...] = ()
    """The `webhooks:` section: where events are delivered (`oneflow_ai.events`)."""
    webhook_delivery: DeliverySettings = DeliverySettings()
    experiments: tuple[ExperimentConfig, ...] = ()
    """The `experiments:` section: A/B splits of public models' traffic (`oneflow_ai.experiments`)."""
    sso: SSOSettings | None = None
    """The `sso:` section: single sign-on to the console through an OpenID Connect provider (`oneflow_ai.sso`)."""
    tokens: TokenSettings = TokenSettings()
    master_key: str | None = None
    """The master key as a secret reference (`env:`, `file:`, `vault:`, `aws-sm:`); ONEFLOW_MASTER_KEY wins."""
    _master_key: str | None = PrivateAttr(None)

    @field_validator("master_key")
    @classmethod
    def _master_key_reference(cls, v: str | None) -> str | None:
        if v is not None:
            parse_reference(v)
        return v

    def keep_master_key(self, value: str) -> None:
        """Hold the master key `master_key` refers to, read at load (never shown)."""
        self._master_key = value

    @property
    def resolved_master_key(self) -> str | None:
        return self._master_key

    @model_validator(mode="after")
    def _cross_references(self) -> GatewayConfig:
        names: set[str] = set()
        for group in self.models:
            for name in (group.name, *group.aliases):
                if name in names:
                    raise ValueError(f"model name {name!r} is defined twice")
                names.add(name)
        for group in self.models:
            for fb in group.fallbacks:
                if fb not in names:
                    raise ValueError(f"model {group.name!r} falls back to unknown model {fb!r}")
        _one_setting_per_origin([d for g in self.models for d in g.deployments])
        check_guardrails(self.guardrails, {g.name: g.guardrails for g in self.models})
        check_cache(self.cache, {n: (g.cache, g.mode) for n, g in self.by_name().items()})
        check_experiments(self.experiments, {n: g.mode for n, g in self.by_name().items()})
        return self

    def by_name(self) -> dict[str, ModelGroup]:
        table: dict[str, ModelGroup] = {}
        for group in self.models:
            for name in (group.name, *group.aliases):
                table[name] = group
        return table

    def merged(self, extra: list[dict[str, Any]]) -> GatewayConfig:
        """This config plus model groups whose names it does not define yet (environment defaults)."""
        known = self.by_name()
        added = [ModelGroup.model_validate(g) for g in extra if g["name"] not in known]
        merged = GatewayConfig(
            models=(*self.models, *added),
            routing=self.routing,
            budgets=self.budgets,
            cache=self.cache,
            guardrails=self.guardrails,
            webhooks=self.webhooks,
            webhook_delivery=self.webhook_delivery,
            experiments=self.experiments,
            sso=self.sso,
            tokens=self.tokens,
            master_key=self.master_key,
        )
        merged._master_key = self._master_key
        return merged


def _one_setting_per_origin(deployments: list[Deployment]) -> None:
    """Deployments on one origin share its connections: those that set a limit or TLS files must set the same."""
    from urllib.parse import urlsplit

    seen: dict[tuple[str, str | None, int | None], Deployment] = {}
    for d in deployments:
        parts = urlsplit(d.url)
        if parts.scheme not in ("http", "https"):
            continue
        if d.connection_settings == (None, None, None, None):
            continue  # it takes what the origin's other deployments set
        origin = (parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        first = seen.setdefault(origin, d)
        if first.connection_settings != d.connection_settings:
            raise ValueError(
                f"deployments {first.id!r} and {d.id!r} use one origin ({d.url}) with different max_connections, "
                "ca_bundle, client_cert or client_key: the origin's connections are shared, so give them the same"
            )
