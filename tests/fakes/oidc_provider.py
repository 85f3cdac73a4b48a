"""A local OpenID Connect provider speaking the wire format of Keycloak, Okta or Azure AD, for the SSO tests.

- `GET /.well-known/openid-configuration`: the discovery document (issuer = this server's URL).
- `GET /authorize`: checks the client id, the registered redirect URI, `response_type=code`, a PKCE S256
  challenge, a `state` and a `nonce`; auto-approves the configured user (`user`: the claims the ID token and
  userinfo carry, `sub` among them) and redirects back with `code` and `state`. A wrong request answers 400.
- `POST /token`: the authorization-code grant. Checks the client's authentication (HTTP Basic or the form's
  `client_id`/`client_secret`), that the code is one it issued and unspent (a code is good once), that
  `redirect_uri` is the one the code was issued for, and that SHA-256 of `code_verifier` is the code's
  `code_challenge`; answers `invalid_grant` / `invalid_client` otherwise, as RFC 6749 says. Issues an access token
  and an RS256 ID token (`kid` of the JWKS) with `iss`, `aud`, `sub`, `iat`, `exp`, `nonce`, `at_hash` and the
  user's claims.
- `GET /jwks`: the public key. `GET /userinfo` with the access token: the user's claims.

Knobs for the refusal tests, applied to the next ID tokens: `id_token_overrides` (claims replaced, e.g. a wrong
`nonce` or a past `exp`), `sign_with_other_key` (a signature by a key that is not in the JWKS, same `kid`),
`redirect_state` (the state sent back instead of the one received); `userinfo_overrides` (claims userinfo
answers differently). `requests` counts the calls by path.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

KID = "test-key-1"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Issued:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str
    claims: dict[str, Any]
    spent: bool = False


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class FakeOIDCProvider:
    def __init__(self, *, client_id: str, client_secret: str, redirect_uri: str, user: dict[str, Any]) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = {redirect_uri}
        self.user = user
        self.key = new_key()
        self.other_key = new_key()
        self.url = ""
        """Set by the test once served (the issuer)."""
        self.id_token_overrides: dict[str, Any] = {}
        self.sign_with_other_key = False
        self.redirect_state: str | None = None
        self.userinfo_overrides: dict[str, Any] = {}
        self.codes: dict[str, Issued] = {}
        self.access_tokens: dict[str, dict[str, Any]] = {}
        self.requests: Counter[str] = Counter()
        self.token_requests: list[dict[str, str]] = []
        self.app = web.Application()
        self.app.router.add_get("/.well-known/openid-configuration", self.discovery)
        self.app.router.add_get("/authorize", self.authorize)
        self.app.router.add_post("/token", self.token)
        self.app.router.add_get("/jwks", self.jwks)
        self.app.router.add_get("/userinfo", self.userinfo)

    async def discovery(self, request: web.Request) -> web.Response:
        self.requests[request.path] += 1
        return web.json_response(
            {
                "issuer": self.url,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "jwks_uri": f"{self.url}/jwks",
                "userinfo_endpoint": f"{self.url}/userinfo",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "scopes_supported": ["openid", "email", "profile", "groups"],
            }
        )

    async def authorize(self, request: web.Request) -> web.Response:
        self.requests[request.path] += 1
        q = request.query
        if q.get("client_id") != self.client_id:
            return web.Response(status=400, text="unknown client_id")
        redirect_uri = q.get("redirect_uri", "")
        if redirect_uri not in self.redirect_uris:
            return web.Response(status=400, text="redirect_uri is not registered for this client")
        problems = [
            what
            for what, ok in (
                ("response_type", q.get("response_type") == "code"),
                ("code_challenge_method", q.get("code_challenge_method") == "S256"),
                ("code_challenge", bool(q.get("code_challenge"))),
                ("state", bool(q.get("state"))),
                ("nonce", bool(q.get("nonce"))),
                ("scope", "openid" in q.get("scope", "").split()),
            )
            if not ok
        ]
        if problems:
            return web.Response(status=400, text=f"bad authorization request: {', '.join(problems)}")
        code = secrets.token_urlsafe(24)
        self.codes[code] = Issued(self.client_id, redirect_uri, q["code_challenge"], q["nonce"], dict(self.user))
        state = self.redirect_state if self.redirect_state is not None else q["state"]
        raise web.HTTPFound(f"{redirect_uri}?{urlencode({'code': code, 'state': state})}")

    async def token(self, request: web.Request) -> web.Response:
        self.requests[request.path] += 1
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.token_requests.append(form)
        if not self._client_authenticated(request, form):
            return web.json_response({"error": "invalid_client"}, status=401)
        if form.get("grant_type") != "authorization_code":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        issued = self.codes.get(form.get("code", ""))
        if issued is None or issued.spent:
            return _invalid_grant("unknown or already used code")
        issued.spent = True
        if form.get("redirect_uri") != issued.redirect_uri:
            return _invalid_grant("redirect_uri differs from the authorization request's")
        if s256(form.get("code_verifier", "")) != issued.challenge:
            return _invalid_grant("PKCE verification failed")
        access = "at-" + secrets.token_urlsafe(24)
        self.access_tokens[access] = issued.claims
        now = int(time.time())
        claims = {
            **issued.claims,
            "iss": self.url,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": issued.nonce,
            "at_hash": _at_hash(access),
            **self.id_token_overrides,
        }
        key = self.other_key if self.sign_with_other_key else self.key
        id_token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID})
        return web.json_response(
            {"access_token": access, "token_type": "Bearer", "expires_in": 300, "id_token": id_token},
            headers={"Cache-Control": "no-store"},
        )

    async def jwks(self, request: web.Request) -> web.Response:
        self.requests[request.path] += 1
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return web.json_response({"keys": [{**public, "kid": KID, "use": "sig", "alg": "RS256"}]})

    async def userinfo(self, request: web.Request) -> web.Response:
        self.requests[request.path] += 1
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        claims = self.access_tokens.get(token)
        if claims is None:
            return web.json_response({"error": "invalid_token"}, status=401)
        return web.json_response({**claims, **self.userinfo_overrides})

    def _client_authenticated(self, request: web.Request, form: dict[str, str]) -> bool:
        basic = request.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            user, _, password = base64.b64decode(basic[6:]).decode().partition(":")
            return (user, password) == (self.client_id, self.client_secret)
        return (form.get("client_id"), form.get("client_secret")) == (self.client_id, self.client_secret)


def _invalid_grant(why: str) -> web.Response:
    return web.json_response({"error": "invalid_grant", "error_description": why}, status=400)


def _at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
