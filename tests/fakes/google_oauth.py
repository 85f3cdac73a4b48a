"""A fake Google OAuth 2.0 token endpoint for service accounts (RFC 7523's JWT bearer grant, as google-auth uses
it): `POST /token` with `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>`. The assertion
must be an RS256 JWT signed with the service account's key (checked against its public key), issued by its e-mail,
for Google's token endpoint (`aud`) and the cloud-platform scope; the answer is an access token, which `issued`
keeps (and which the fake upstream is told to accept). A wrong signature answers 400 `invalid_grant`, as Google
does."""

from __future__ import annotations

from typing import Any

import jwt
from aiohttp import web

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
AUDIENCE = "https://oauth2.googleapis.com/token"
"""The assertion's `aud`: Google's token endpoint, whatever `token_uri` the key file names (as google-auth sends it)."""


class GoogleOAuth:
    def __init__(self, public_key_pem: bytes, client_email: str, on_issue: Any = None, expires_in: int = 3600) -> None:
        self.public_key = public_key_pem
        self.client_email = client_email
        self.on_issue = on_issue
        self.expires_in = expires_in
        self.issued: list[str] = []
        self.claims: list[dict[str, Any]] = []
        self.url = ""
        """Set once served."""
        self.app = web.Application()
        self.app.router.add_post("/token", self.token)

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        try:
            claims = jwt.decode(
                str(form.get("assertion")),
                self.public_key,
                algorithms=["RS256"],
                audience=AUDIENCE,
                issuer=self.client_email,
            )
        except jwt.PyJWTError as e:
            return web.json_response({"error": "invalid_grant", "error_description": str(e)}, status=400)
        if SCOPE not in str(claims.get("scope", "")).split():
            return web.json_response({"error": "invalid_scope"}, status=400)
        self.claims.append(claims)
        token = f"ya29.fake-{len(self.issued) + 1}"
        self.issued.append(token)
        if self.on_issue is not None:
            self.on_issue(token)
        return web.json_response({"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"})
