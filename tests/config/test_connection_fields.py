"""A deployment's connection settings (`max_connections`, `ca_bundle`, `client_cert`, `client_key`) are checked
when the configuration is loaded: files read, a key only with a certificate, one set of settings per origin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from oneflow_ai.config.schema import GatewayConfig
from tests.upstream.tls_files import make_tls_files, needs_openssl


def config(*deployments: dict[str, Any]) -> GatewayConfig:
    return GatewayConfig.model_validate({"models": [{"name": "m", "deployments": list(deployments)}]})


def dep(**fields: Any) -> dict[str, Any]:
    return {"provider": "openai_compatible", "model": "x", "base_url": "https://llm.example/v1", **fields}


@needs_openssl
def test_readable_tls_files_and_a_limit_are_accepted(tmp_path: Path) -> None:
    files = make_tls_files(tmp_path)
    tls = {"ca_bundle": str(files.ca), "client_cert": str(files.client_cert), "client_key": str(files.client_key)}
    loaded = config(dep(max_connections=8, **tls), dep(**tls, max_connections=8), dep())
    first = loaded.models[0].deployments[0]
    assert first.max_connections == 8 and first.ca_bundle == str(files.ca)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"ca_bundle": "/nonexistent/ca.pem"}, "ca_bundle '/nonexistent/ca.pem' cannot be used"),
        ({"client_cert": "/nonexistent/c.pem"}, "client_cert '/nonexistent/c.pem'"),
        ({"client_key": "/k.pem"}, "client_key needs client_cert"),
        ({"max_connections": 0}, "greater than 0"),
        ({"ca_bundle": "/x.pem", "base_url": "http://plain.example/v1"}, "need an https:// base_url"),
    ],
)
def test_unusable_connection_settings_fail_the_load(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        config(dep(**fields))


def test_one_origin_cannot_have_two_limits() -> None:
    with pytest.raises(ValidationError, match=r"use one origin .* with different max_connections"):
        config(dep(max_connections=4), dep(max_connections=5, base_url="https://llm.example/other"))
