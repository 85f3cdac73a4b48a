"""Azure OpenAI: OpenAI's wire protocol at Azure's deployment URLs, with an `api-version` and the `api-key` header.

Its deployment fields are its own (`AzureSettings`), written beside the common ones in the YAML:

    - provider: azure
      model: gpt-4o
      base_url: https://my-resource.openai.azure.com
      azure_deployment: gpt4o-prod
      api_version: "2024-10-21"
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field

from oneflow_ai.config.schema import Deployment, ProviderSettings
from oneflow_ai.providers.auth import Auth, header_key
from oneflow_ai.providers.openai import OpenAIProvider


class AzureSettings(ProviderSettings):
    api_version: str = Field(min_length=1, description="the api-version query parameter, as 2024-10-21")
    azure_deployment: str | None = Field(None, min_length=1, description="the Azure deployment (default: model)")


class AzureProvider(OpenAIProvider):
    def url(self, deployment: Deployment, endpoint: str) -> str:
        settings = azure_settings(deployment)
        name = settings.azure_deployment or deployment.model
        return f"{deployment.url}/openai/deployments/{name}/{endpoint}?api-version={settings.api_version}"

    def auth(self, deployment: Deployment, environ: Mapping[str, str]) -> Auth:
        return header_key("api-key", deployment.resolve_key(environ), deployment.headers)


def azure_settings(deployment: Deployment) -> AzureSettings:
    settings = deployment.provider_settings
    if not isinstance(settings, AzureSettings):  # an azure deployment is validated with them: see `registry`
        raise TypeError(f"deployment {deployment.id!r} has no Azure settings")
    return settings
