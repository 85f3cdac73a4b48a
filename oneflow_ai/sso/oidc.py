"""The OpenID Connect relying party: the provider's discovery, the authorization URL (PKCE S256, `state`, `nonce`),
the code exchange, and the ID token's checks. Authlib does the protocol (`AsyncOAuth2Client`: the PKCE challenge,
the token request and its client authentication; `CodeIDToken`: the claims' checks) and joserfc, its JOSE library,
the signature against the provider's JWKS.

Every ID token is checked for: a signature by a key of the provider's JWKS with an asymmetric algorithm the provider
declares (never `none` or HS*), `iss` equal to the configured issuer, `aud` naming our client id, `exp` not past
(60 s of leeway for clocks), `nonce` equal to the one this browser's sign-in sent, and `at_hash` when present. The
discovery document must name the configured issuer (a provider cannot speak for another). `state` is compared
in constant time before the code is even exchanged; the provider checks the PKCE verifier against its challenge.

Foreign failures (HTTP, Authlib's OAuth errors, JOSE errors) become `SignOnFailed` here and nowhere else
(`_mapped`). The provider's metadata and keys are fetched when first needed, not at start-up (a provider that is
down does not stop the gateway), kept for `METADATA_TTL_S`; a token signed by a key not in the cached set
fetches the set again (the provider rotated its keys), at most every `JWKS_REFETCH_S`.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from authlib.common.errors import AuthlibBaseError  # type: ignore[import-untyped]  # no stubs
from authlib.integrations.httpx_client import AsyncOAuth2Client  # type: ignore[import-untyped]
from authlib.integrations.httpx_client._compat import httpx2  # type: ignore[import-untyped]  # its HTTP client
from authlib.oidc.core import CodeIDToken  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from oneflow_ai.errors import SignOnFailed
from oneflow_ai.sso.pending import Pending
from oneflow_ai.sso.settings import SSOSettings

ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
LEEWAY_S = 60
METADATA_TTL_S = 3600.0
JWKS_REFETCH_S = 10.0
MAX_SUBJECT = 255


@dataclass(frozen=True, slots=True)
class SignedIn:
    issuer: str
    subject: str
    claims: dict[str, Any]
    """The ID token's claims, plus the userinfo endpoint's that the ID token does not carry."""


class OIDCClient:
    def __init__(self, settings: SSOSettings, client_secret: str | None) -> None:
        self.settings = settings
        self._secret = client_secret
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0

    async def start(self) -> tuple[str, Pending]:
        """The provider's authorization URL to send the browser to, and what its callback must match."""
        meta = await self.metadata()
        pending = Pending(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48))
        async with self._client(meta) as client:
            url, _ = client.create_authorization_url(
                meta["authorization_endpoint"],
                state=pending.state,
                code_verifier=pending.code_verifier,
                nonce=pending.nonce,
            )
        return str(url), pending

    async def finish(self, pending: Pending, params: Mapping[str, str], now: float) -> SignedIn:
        """The callback's query `params` checked against `pending`, the code exchanged, the ID token verified.
        The state is checked first, so a provider's error is shown only when it answers this browser's sign-in
        (never text from a link someone else made)."""
        if not hmac.compare_digest(params.get("state", "").encode(), pending.state.encode()):
            raise SignOnFailed(
                "This sign-in's state does not match the one this browser started; start again from the sign-in page.",
                code="sso_state_mismatch",
            )
        if "error" in params:
            why = params.get("error_description") or params["error"]
            raise SignOnFailed(f"The identity provider did not sign you in: {why[:200]}.", code="sso_provider_error")
        code = params.get("code")
        if not code:
            raise SignOnFailed("The identity provider sent no authorization code.")
        meta = await self.metadata()
        async with self._client(meta) as client:
            async with _mapped("the authorization code"):
                token = await client.fetch_token(
                    meta["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=pending.code_verifier,
                )
            id_token = token.get("id_token")
            if not isinstance(id_token, str):
                raise SignOnFailed("The identity provider's answer has no ID token (is 'openid' among the scopes?).")
            claims = await self._verified(id_token, meta, pending.nonce, str(token.get("access_token", "")), now)
            if self.settings.userinfo and meta.get("userinfo_endpoint"):
                async with _mapped("reading the userinfo endpoint"):
                    reply = await client.get(meta["userinfo_endpoint"])
                    reply.raise_for_status()
                    info = reply.json()
                if not isinstance(info, dict) or info.get("sub") != claims["sub"]:
                    raise SignOnFailed("The userinfo endpoint answered for another subject than the ID token.")
                claims = {**info, **claims}
        return SignedIn(issuer=claims["iss"], subject=claims["sub"], claims=claims)

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (cached), checked to be the configured issuer's."""
        now = time.monotonic()
        if self._metadata is not None and now - self._metadata_at < METADATA_TTL_S:
            return self._metadata
        issuer = self.settings.issuer
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        async with self._client({}) as client, _mapped("reading the provider's discovery document"):
            reply = await client.request("GET", url, withhold_token=True)
            reply.raise_for_status()
            meta = reply.json()
        if not isinstance(meta, dict):
            raise SignOnFailed(f"The identity provider's discovery document ({url}) is not a JSON object.")
        if meta.get("issuer") != issuer:
            raise SignOnFailed(f"The discovery document at {url} names issuer {meta.get('issuer')!r}, not {issuer!r}.")
        for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(meta.get(field), str):
                raise SignOnFailed(f"The identity provider's discovery document has no {field}.")
        self._metadata, self._metadata_at, self._keys = meta, now, None
        return meta

    async def _verified(
        self, id_token: str, meta: Mapping[str, Any], nonce: str, access_token: str, now: float
    ) -> dict[str, Any]:
        declared = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [a for a in declared if a in ASYMMETRIC]
        if not algorithms:
            raise SignOnFailed(f"The identity provider signs ID tokens only with {declared}; OneFlow needs RS/PS/ES.")
        async with _mapped("checking the ID token"):
            try:
                decoded = jwt.decode(id_token, await self._key_set(meta, refresh=False), algorithms=algorithms)
            except InvalidKeyIdError:
                decoded = jwt.decode(id_token, await self._key_set(meta, refresh=True), algorithms=algorithms)
            claims = CodeIDToken(
                decoded.claims,
                decoded.header,
                {
                    "iss": {"essential": True, "value": self.settings.issuer},
                    "aud": {"essential": True, "values": [self.settings.client_id]},
                    "sub": {"essential": True},
                    "exp": {"essential": True},
                    "nonce": {"essential": True},
                },
                {"nonce": nonce, "client_id": self.settings.client_id, "access_token": access_token or None},
            )
            claims.validate(now=int(now), leeway=LEEWAY_S)
        if not isinstance(claims["sub"], str) or not 0 < len(claims["sub"]) <= MAX_SUBJECT:
            raise SignOnFailed(f"The ID token's subject must be 1 to {MAX_SUBJECT} characters (OpenID Connect Core 2).")
        return dict(claims)

    async def _key_set(self, meta: Mapping[str, Any], *, refresh: bool) -> KeySet:
        now = time.monotonic()
        if self._keys is not None and (not refresh or now - self._keys_at < JWKS_REFETCH_S):
            return self._keys
        async with self._client(meta) as client:
            reply = await client.request("GET", meta["jwks_uri"], withhold_token=True)
            reply.raise_for_status()
            self._keys, self._keys_at = KeySet.import_key_set(reply.json()), now
        return self._keys

    @asynccontextmanager
    async def _client(self, meta: Mapping[str, Any]) -> AsyncIterator[AsyncOAuth2Client]:
        """A client for one sign-in (Authlib's keeps the token it fetched: never shared between users)."""
        settings = self.settings
        async with AsyncOAuth2Client(
            client_id=settings.client_id,
            client_secret=self._secret,
            token_endpoint_auth_method=_auth_method(self._secret, meta),
            scope=" ".join(settings.scopes),
            redirect_uri=settings.callback_url,
            code_challenge_method="S256",
            timeout=settings.timeout_s,
            trust_env=True,
        ) as client:
            yield client


def _auth_method(secret: str | None, meta: Mapping[str, Any]) -> str:
    """How the client authenticates at the token endpoint: HTTP Basic with the secret unless the provider takes it
    only in the form; `none` for a public client (PKCE alone)."""
    if secret is None:
        return "none"
    supported = meta.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    if "client_secret_basic" not in supported and "client_secret_post" in supported:
        return "client_secret_post"
    return "client_secret_basic"


@asynccontextmanager
async def _mapped(doing: str) -> AsyncIterator[None]:
    """Authlib's, joserfc's and the HTTP library's failures, as `SignOnFailed` naming what was being done."""
    try:
        yield
    except SignOnFailed:
        raise
    except httpx2.HTTPStatusError as e:
        raise SignOnFailed(
            f"The identity provider answered HTTP {e.response.status_code} when {doing}.",
            code="sso_provider_error",
            status=502,
        ) from None
    except httpx2.HTTPError as e:
        raise SignOnFailed(
            f"The identity provider could not be reached when {doing} ({type(e).__name__}).",
            code="sso_provider_unreachable",
            status=502,
        ) from None
    except AuthlibBaseError as e:
        raise SignOnFailed(
            f"The identity provider refused {doing}: {_said(e.error, e.description)}.", code="sso_provider_error"
        ) from None
    except JoseError as e:
        raise SignOnFailed(f"The identity provider's ID token was refused: {_said(e.error, e.description)}.") from None
    except ValueError as e:  # a body that is not JSON
        raise SignOnFailed(f"The identity provider's answer could not be read when {doing}: {e}.") from None


def _said(error: object, description: object) -> str:
    text = str(description or "").strip()
    return f"{error}: {text[:200]}" if text else str(error)
