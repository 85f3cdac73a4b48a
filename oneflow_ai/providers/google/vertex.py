"""The `vertex_ai` provider: Gemini on Vertex AI, the same bodies as the Gemini API (`GeminiChat`) at

    {base}/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:{method}

where `base` is `https://{location}-aiplatform.googleapis.com` (`https://aiplatform.googleapis.com` for the
`global` location) unless `base_url` says otherwise. Its deployment fields are its own (`VertexSettings`):

    - provider: vertex_ai
      model: gemini-2.5-flash
      project: my-project
      location: europe-west4                     # default us-central1
      credentials_file: /secrets/vertex-sa.json  # default: application default credentials

Embeddings go to the embedding model's `:predict` (`instances: [{content}]`; its `statistics.token_count` is the
usage). Requests carry an OAuth access token from `google-auth` (the `vertex` extra): `vertex_auth.GoogleToken`.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from typing import Annotated, Any

import orjson
from pydantic import Field, field_validator, model_validator

from oneflow_ai.config.matching import Matching
from oneflow_ai.config.schema import Deployment, ProviderSettings
from oneflow_ai.errors import UpstreamError
from oneflow_ai.providers.auth import Auth
from oneflow_ai.providers.base import ProviderResult, Usage
from oneflow_ai.providers.embedding_list import embedding_list, encoding_of
from oneflow_ai.providers.google.embeddings import from_vertex_predict, to_vertex_predict
from oneflow_ai.providers.google.provider import GeminiChat
from oneflow_ai.providers.google.vertex_auth import GoogleToken, TokenAuth
from oneflow_ai.upstream.wire import UpstreamRequest

VERTEX_EXTRA = "provider vertex_ai needs the vertex extra (google-auth): pip install 'oneflow-ai[vertex]'"


class VertexSettings(ProviderSettings):
    project: str = Field(min_length=1, description="the Google Cloud project id")
    location: Annotated[str, Matching(r"^[a-z0-9-]+$")] = Field("us-central1", description="the region, or global")
    credentials_file: str | None = Field(
        None, min_length=1, description="a service-account key file (default: application default credentials)"
    )

    @field_validator("credentials_file")
    @classmethod
    def _readable(cls, v: str | None) -> str | None:
        if v is not None and not os.access(v, os.R_OK):
            raise ValueError(f"credentials_file {v!r} cannot be read")
        return v

    @model_validator(mode="after")
    def _extra_installed(self) -> VertexSettings:
        if importlib.util.find_spec("google.auth") is None:
            raise ValueError(VERTEX_EXTRA)
        return self

    def default_base_url(self) -> str:
        if self.location == "global":
            return "https://aiplatform.googleapis.com"
        return f"https://{self.location}-aiplatform.googleapis.com"


class VertexProvider(GeminiChat):
    """Chat on Vertex AI, and embeddings through its embedding models' `:predict`."""

    float_embeddings = True
    """Its embeddings answers are floats, given as base64 when the client asks (`embedding_list.as_requested`)."""

    def method_url(self, deployment: Deployment, method: str) -> str:
        s = vertex_settings(deployment)
        path = f"v1/projects/{s.project}/locations/{s.location}/publishers/google/models/{deployment.model}"
        return f"{deployment.url}/{path}:{method}"

    def auth(self, deployment: Deployment, environ: Mapping[str, str]) -> Auth:
        if importlib.util.find_spec("google.auth") is None:
            raise ValueError(VERTEX_EXTRA)
        return TokenAuth(GoogleToken(vertex_settings(deployment).credentials_file), deployment.id)

    def embeddings_request(self, body: dict[str, Any], deployment: Deployment) -> UpstreamRequest:
        encoding_of(body)
        return self._request(deployment, self.method_url(deployment, "predict"), to_vertex_predict(body))

    def embeddings_response(self, body: bytes, deployment: Deployment) -> ProviderResult:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        embedded = from_vertex_predict(parsed) if isinstance(parsed, dict) else None
        if embedded is None:
            raise UpstreamError(f"{deployment.provider} sent no embeddings", provider=deployment.provider)
        vectors, tokens = embedded
        answer = embedding_list(vectors, deployment.model, tokens)
        return ProviderResult(orjson.dumps(answer), Usage(tokens), deployment.model, answer)


def vertex_settings(deployment: Deployment) -> VertexSettings:
    settings = deployment.provider_settings
    if not isinstance(settings, VertexSettings):  # a vertex_ai deployment is validated with them: see `registry`
        raise TypeError(f"deployment {deployment.id!r} has no Vertex AI settings")
    return settings
