"""Vertex AI's credential: an OAuth access token (`authorization: Bearer ya29...`), valid for about an hour.

`TokenAuth` keeps the current token and its expiry. `ready()` (awaited before each request is authorised) returns
at once while the token has more than `refresh_margin_s` left; closer to its end, it starts one refresh beside
the calls (in a thread: `google-auth` blocks) and the calls go on with the current token; only without a valid
token (the first call, or after a failed refresh let it expire) do the calls wait, all for the same refresh.

`GoogleToken` fetches one with `google-auth` (imported when first used: the `vertex` extra): from a
service-account key file (a JWT assertion signed with its key, exchanged at the file's `token_uri`) or from the
application default credentials (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's, or the metadata server's).
"""

from __future__ import annotations

import asyncio
import calendar
import logging
import time
from collections.abc import Callable
from typing import Any

from oneflow_ai.errors import UpstreamAuthFailed
from oneflow_ai.providers.auth import ExpiringAuth
from oneflow_ai.upstream.wire import UpstreamRequest

log = logging.getLogger("oneflow.vertex")

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
Token = tuple[str, float]
"""An access token and when it expires (seconds since the epoch)."""


class GoogleToken:
    """Fetches an access token with `google-auth` (blocking: call it in a thread)."""

    __slots__ = ("_credentials", "credentials_file")

    def __init__(self, credentials_file: str | None) -> None:
        self.credentials_file = credentials_file
        self._credentials: Any = None

    def __call__(self) -> Token:
        from google.auth.transport.requests import Request

        if self._credentials is None:
            self._credentials = self._load()
        self._credentials.refresh(Request())
        expiry = self._credentials.expiry  # naive UTC, as google-auth keeps it
        expires_at = calendar.timegm(expiry.utctimetuple()) if expiry is not None else time.time() + 3600
        return str(self._credentials.token), float(expires_at)

    def _load(self) -> Any:
        if self.credentials_file is not None:
            from google.oauth2 import service_account

            file = self.credentials_file
            return service_account.Credentials.from_service_account_file(file, scopes=SCOPES)  # type: ignore[no-untyped-call]
        import google.auth

        credentials, _ = google.auth.default(scopes=SCOPES)
        return credentials

    def __repr__(self) -> str:
        return f"GoogleToken({self.credentials_file!r})"


class TokenAuth(ExpiringAuth):
    """`authorization: Bearer <token>`, the token fetched by `source` and refreshed before it expires."""

    __slots__ = ("_clock", "_expires_at", "_failure", "_refreshing", "_source", "_token", "deployment", "margin_s")

    def __init__(
        self,
        source: Callable[[], Token],
        deployment: str,
        *,
        refresh_margin_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._source = source
        self.deployment = deployment
        self.margin_s = refresh_margin_s
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._refreshing: asyncio.Task[None] | None = None
        self._failure: str | None = None

    async def ready(self) -> None:
        left = self._expires_at - self._clock()
        if self._token is not None and left > self.margin_s:
            return
        refresh = self._refreshing
        if refresh is None or refresh.done():
            refresh = self._refreshing = asyncio.get_running_loop().create_task(self._refresh())
        if self._token is not None and left > 0:
            return  # refreshed beside the calls, which go on with the current token
        await asyncio.shield(refresh)
        if self._token is None or self._expires_at <= self._clock():
            raise UpstreamAuthFailed(
                f"Could not get a Google access token for deployment '{self.deployment}': {self._failure}",
                provider="vertex_ai",
            )

    async def _refresh(self) -> None:
        try:
            token, expires_at = await asyncio.to_thread(self._source)
        except Exception as e:  # google-auth's RefreshError, a transport error, a bad key file...
            self._failure = f"{type(e).__name__}: {e}"
            log.warning("vertex_ai deployment %s: token refresh failed: %s", self.deployment, self._failure)
            return
        self._token, self._expires_at, self._failure = token, expires_at, None

    def apply(self, request: UpstreamRequest) -> None:
        if self._token is not None:
            request.headers["authorization"] = f"Bearer {self._token}"

    def __repr__(self) -> str:
        return f"TokenAuth({self._source!r}, {self.deployment!r}, <token>)"
