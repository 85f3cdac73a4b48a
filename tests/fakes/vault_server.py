"""A fake HashiCorp Vault speaking its HTTP API as hvac uses it: KV v2 reads and Kubernetes login.

`GET /v1/<mount>/data/<path>` with `X-Vault-Token`: 200 with Vault's KV v2 envelope (`data.data`, `data.metadata`);
a token it did not issue, or one without access to the path, 403 `{"errors": ["permission denied"]}`; an unknown
path 404 `{"errors": []}`. `POST /v1/auth/<mount>/login` `{"role", "jwt"}`: a fresh client token for a known
role and service account token, else 403 permission denied. Every request is kept in `received`.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson
from aiohttp import web

DENIED = {"errors": ["permission denied"]}


class FakeVault:
    def __init__(self, *, mounts: dict[str, dict[str, dict[str, Any]]], tokens: set[str]) -> None:
        """`mounts`: mount -> path -> the secret's data; `tokens`: the tokens that may read them."""
        self.mounts = mounts
        self.tokens = set(tokens)
        self.roles: dict[str, str] = {}
        """Kubernetes auth: role -> the service account token (JWT) it accepts."""
        self.received: list[tuple[str, str, dict[str, str]]] = []
        self.app = web.Application()
        self.app.router.add_get("/v1/{mount}/data/{path:.+}", self.read)
        self.app.router.add_post("/v1/auth/{mount}/login", self.login)

    async def read(self, request: web.Request) -> web.Response:
        self.received.append((request.method, request.path, dict(request.headers)))
        if request.headers.get("X-Vault-Token") not in self.tokens:
            return web.json_response(DENIED, status=403)
        data = self.mounts.get(request.match_info["mount"], {}).get(request.match_info["path"])
        if data is None:
            return web.json_response({"errors": []}, status=404)
        return web.json_response(
            {
                "request_id": "4c2a3ff8-5f0b-9d1e-0a6c-3f8a2b1c0d9e",
                "lease_id": "",
                "renewable": False,
                "lease_duration": 0,
                "data": {
                    "data": data,
                    "metadata": {
                        "created_time": "2026-11-30T09:12:44.120358Z",
                        "custom_metadata": None,
                        "deletion_time": "",
                        "destroyed": False,
                        "version": 3,
                    },
                },
                "wrap_info": None,
                "warnings": None,
                "auth": None,
                "mount_type": "kv",
            }
        )

    async def login(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        self.received.append((request.method, request.path, dict(request.headers)))
        if self.roles.get(body.get("role")) != body.get("jwt"):
            return web.json_response(DENIED, status=403)
        token = "hvs." + secrets.token_urlsafe(18)
        self.tokens.add(token)
        return web.json_response(
            {
                "request_id": "9e1b7c2d-0000-4a5b-8c6d-112233445566",
                "lease_id": "",
                "renewable": False,
                "lease_duration": 0,
                "data": None,
                "wrap_info": None,
                "warnings": None,
                "auth": {
                    "client_token": token,
                    "accessor": "8609694a-cdbc-db9b-d345-e782dbb562ed",
                    "policies": ["default", "oneflow"],
                    "token_policies": ["default", "oneflow"],
                    "metadata": {"role": body["role"], "service_account_name": "oneflow"},
                    "lease_duration": 3600,
                    "renewable": True,
                    "entity_id": "",
                    "token_type": "service",
                    "orphan": True,
                },
            }
        )
