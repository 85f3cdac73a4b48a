"""Amazon Bedrock through its Converse API (`POST /model/{modelId}/converse` and `/converse-stream`), with the
requests signed by AWS Signature Version 4.

Its deployment fields are its own (`BedrockSettings`), written beside the common ones in the YAML:

    - provider: bedrock
      model: anthropic.claude-3-haiku-20240307-v1:0
      region: us-east-1                          # the endpoint: https://bedrock-runtime.us-east-1.amazonaws.com
      aws_access_key_id: env:AWS_ACCESS_KEY_ID   # these three are the defaults
      aws_secret_access_key: env:AWS_SECRET_ACCESS_KEY
      aws_session_token: env:AWS_SESSION_TOKEN   # temporary credentials only

`base_url` overrides the regional endpoint (a VPC endpoint, a proxy, a test server). A deployment given an
`api_key` (a Bedrock API key, as `env:AWS_BEARER_TOKEN_BEDROCK`) sends it as a bearer token instead of signing.
"""

from __future__ import annotations

import importlib.util
import time
import uuid
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import quote

import orjson
from pydantic import Field, model_validator

from oneflow_ai.config.matching import Matching
from oneflow_ai.config.schema import Deployment, ProviderSettings
from oneflow_ai.errors import UpstreamError
from oneflow_ai.providers.auth import Auth, NoAuth, bearer
from oneflow_ai.providers.base import ProviderResult
from oneflow_ai.providers.bedrock.converse import from_converse, to_converse, usage_of
from oneflow_ai.providers.bedrock.errors import bedrock_error
from oneflow_ai.providers.bedrock.sigv4 import SigV4Auth
from oneflow_ai.providers.bedrock.stream import ConverseStream
from oneflow_ai.upstream.event_stream import EventStreamDecoder
from oneflow_ai.upstream.wire import UpstreamRequest

SERVICE = "bedrock"
"""The service name the signature is made for (the endpoint is `bedrock-runtime`, the signing name `bedrock`)."""
EVENT_STREAM = "application/vnd.amazon.eventstream"
_CREDENTIALS = (
    ("aws_access_key_id", "AWS_ACCESS_KEY_ID"),
    ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"),
    ("aws_session_token", "AWS_SESSION_TOKEN"),
)


class BedrockSettings(ProviderSettings):
    region: Annotated[str, Matching(r"^[a-z0-9-]+$")] = Field(min_length=1, description="the AWS region, as us-east-1")
    aws_access_key_id: str | None = Field(None, description="env:VAR (default env:AWS_ACCESS_KEY_ID)")
    aws_secret_access_key: str | None = Field(None, repr=False, description="env:VAR (default: the usual variable)")
    aws_session_token: str | None = Field(None, repr=False, description="env:VAR (default env:AWS_SESSION_TOKEN)")

    @model_validator(mode="after")
    def _extra_installed(self) -> BedrockSettings:
        if importlib.util.find_spec("botocore") is None:
            raise ValueError("provider bedrock needs the bedrock extra: pip install 'oneflow-ai[bedrock]'")
        return self

    def default_base_url(self) -> str:
        return f"https://bedrock-runtime.{self.region}.amazonaws.com"

    def credentials(self, environ: Mapping[str, str]) -> tuple[str | None, str | None, str | None]:
        """The access key id, secret and session token, each from its field (`env:VAR` or, discouraged, the value
        itself) or its usual variable."""
        key, secret, token = (_resolve(getattr(self, field), default, environ) for field, default in _CREDENTIALS)
        return key, secret, token


class BedrockProvider:
    """Speaks Bedrock's Converse and ConverseStream at the deployment's endpoint."""

    def auth(self, deployment: Deployment, environ: Mapping[str, str]) -> Auth:
        if deployment.api_key is not None:
            return bearer(deployment.resolve_key(environ), deployment.headers)
        settings = bedrock_settings(deployment)
        key, secret, token = settings.credentials(environ)
        if not key or not secret:
            return NoAuth()  # unsigned: Bedrock refuses it (403), which the deployment's breaker and health see
        return SigV4Auth(key, secret, token, region=settings.region, service=SERVICE)

    def chat_request(self, body: dict[str, Any], deployment: Deployment, *, stream: bool) -> UpstreamRequest:
        model = quote(str(body.get("model") or deployment.model), safe="")
        url = f"{deployment.url}/model/{model}/{'converse-stream' if stream else 'converse'}"
        accept = EVENT_STREAM if stream else "application/json"
        headers = {"content-type": "application/json", "accept": accept, **deployment.headers}
        payload = orjson.dumps(to_converse(body))
        return UpstreamRequest("POST", url, headers, payload, deployment.timeouts, deployment.provider)

    def chat_response(self, body: bytes, deployment: Deployment) -> ProviderResult:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict) or not isinstance(parsed.get("output"), dict):
            raise UpstreamError(
                f"{deployment.provider} sent a response that is not a Converse answer", provider=deployment.provider
            )
        completion = from_converse(
            parsed, model=deployment.model, completion_id=_completion_id(), created=int(time.time())
        )
        return ProviderResult(orjson.dumps(completion), usage_of(parsed.get("usage")), deployment.model, completion)

    def chat_stream(self, deployment: Deployment, *, client_wants_usage: bool) -> ConverseStream:
        return ConverseStream(
            deployment.provider,
            model=deployment.model,
            completion_id=_completion_id(),
            created=int(time.time()),
            client_wants_usage=client_wants_usage,
        )

    def stream_decoder(self, deployment: Deployment) -> EventStreamDecoder:
        return EventStreamDecoder(deployment.provider)

    def error(self, status: int, body: bytes, headers: Mapping[str, str], deployment: Deployment) -> UpstreamError:
        return bedrock_error(status, body, headers, deployment.provider, deployment=deployment.id)


def bedrock_settings(deployment: Deployment) -> BedrockSettings:
    settings = deployment.provider_settings
    if not isinstance(settings, BedrockSettings):  # a bedrock deployment is validated with them: see `registry`
        raise TypeError(f"deployment {deployment.id!r} has no Bedrock settings")
    return settings


def _resolve(reference: str | None, default: str, environ: Mapping[str, str]) -> str | None:
    if reference is None:
        return environ.get(default) or None
    if reference.startswith("env:"):
        return environ.get(reference[4:]) or None
    from oneflow_ai.config.secrets import resolve  # file:, vault:, aws-sm: (read once, when the gateway is built)

    return resolve(reference, environ)


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"
