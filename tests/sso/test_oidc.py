"""The OIDC client against a local provider: the code flow with PKCE, and each check that must refuse."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import httpx
import pytest

from oneflow_ai.errors import SignOnFailed
from oneflow_ai.sso.oidc import OIDCClient
from oneflow_ai.sso.settings import SSOSettings
from tests.fakes.oidc_provider import FakeOIDCProvider, s256
from tests.sso.conftest import CLIENT_ID, CLIENT_SECRET, authorize


def client_for(provider: FakeOIDCProvider, gateway_port: int, **over: Any) -> OIDCClient:
    settings = SSOSettings.model_validate(
        {
            "issuer": provider.url,
            "client_id": CLIENT_ID,
            "client_secret": "env:SSO_SECRET",
            "public_url": f"http://127.0.0.1:{gateway_port}",
            "default": {"tenant": "acme", "role": "viewer"},
            **over,
        }
    )
    return OIDCClient(settings, CLIENT_SECRET)


async def test_the_code_flow_with_pkce_signs_the_user_in(provider: FakeOIDCProvider, gateway_port: int) -> None:
    client = client_for(provider, gateway_port)
    url, pending = await client.start()
    sent = httpx.URL(url).params
    assert sent["code_challenge_method"] == "S256"
    assert sent["code_challenge"] == s256(pending.code_verifier)
    assert (sent["state"], sent["nonce"]) == (pending.state, pending.nonce)
    assert pending.code_verifier not in url
    signed_in = await client.finish(pending, authorize(url), time.time())
    assert (signed_in.issuer, signed_in.subject) == (provider.url, "248289761001")
    assert signed_in.claims["groups"] == ["staff", "platform-admins"]
    assert signed_in.claims["nonce"] == pending.nonce
    assert provider.requests["/userinfo"] == 1
    (form,) = provider.token_requests
    assert form["code_verifier"] == pending.code_verifier
    assert "client_secret" not in form  # HTTP Basic, the provider's first choice


async def test_userinfo_adds_claims_the_id_token_lacks(provider: FakeOIDCProvider, gateway_port: int) -> None:
    client = client_for(provider, gateway_port)
    url, pending = await client.start()
    provider.id_token_overrides = {"groups": None, "department": None}  # as if only userinfo had them
    signed_in = await client.finish(pending, authorize(url), time.time())
    assert signed_in.claims["groups"] is None  # the signed ID token wins where both have the claim
    off = client_for(provider, gateway_port, userinfo=False)
    url, pending = await off.start()
    provider.id_token_overrides = {}
    await off.finish(pending, authorize(url), time.time())
    assert provider.requests["/userinfo"] == 1


async def test_userinfo_for_another_subject_is_refused(provider: FakeOIDCProvider, gateway_port: int) -> None:
    client = client_for(provider, gateway_port)
    url, pending = await client.start()
    provider.userinfo_overrides = {"sub": "someone-else", "groups": ["platform-admins"]}
    with pytest.raises(SignOnFailed, match="another subject"):
        await client.finish(pending, authorize(url), time.time())


async def test_a_wrong_state_is_refused_before_the_code_is_spent(provider: FakeOIDCProvider, gateway_port: int) -> None:
    client = client_for(provider, gateway_port)
    url, pending = await client.start()
    params = authorize(url)
    for state in ("", "x" + pending.state, pending.state[:-1]):
        with pytest.raises(SignOnFailed) as info:
            await client.finish(pending, {**params, "state": state}, time.time())
        assert info.value.code == "sso_state_mismatch"
    assert provider.requests["/token"] == 0


async def test_a_wrong_nonce_is_refused(provider: FakeOIDCProvider, gateway_port: int) -> None:
    client = client_for(provider, gateway_port)
    url, pending = await client.start()
    provider.id_token_overrides = {"nonce": "another-sign-in"}
    with pytest.raises(SignOnFailed, match="nonce"):
        await client.finish(pending, authorize(url), time.time())


async def test_a_signature_by_another_key_is_refused(provider: FakeOIDCProvider, gateway_port: int) -> None:
    client = client_for(provider, gateway_port)
    url, pending = await client.start()
    provider.sign_with_other_key = True
    with pytest.raises(SignOnFailed, match="signature"):
        await client.finish(pending, authorize(url), time.time())


async def test_an_expired_id_token_is_refused(provider: FakeOIDCProvider, gateway_port: int) -> None:
    client = client_for(provider, gateway_port)
    url, pending = await client.start()
    now = int(time.time())
    provider.id_token_overrides = {"iat": now - 900, "exp": now - 600}
    with pytest.raises(SignOnFailed, match="expired"):
        await client.finish(pending, authorize(url), time.time())


@pytest.mark.parametrize(
    ("claims", "name"),
    [
        ({"aud": "another-client"}, "aud"),
        ({"iss": "https://evil.example.com"}, "iss"),
        ({"sub": "s" * 256}, "subject must be 1 to 255"),
    ],
)
async def test_another_audience_or_issuer_is_refused(
    provider: FakeOIDCProvider, gateway_port: int, claims: dict[str, Any], name: str
) -> None:
    client = client_for(provider, gateway_port)
    url, pending = await client.start()
    provider.id_token_overrides = claims
    with pytest.raises(SignOnFailed, match=name):
        await client.finish(pending, authorize(url), time.time())


async def test_a_pkce_mismatch_is_refused_by_the_provider(provider: FakeOIDCProvider, gateway_port: int) -> None:
    client = client_for(provider, gateway_port)
    url, pending = await client.start()
    other = replace(
        pending, code_verifier=pending.code_verifier[:-1] + ("A" if pending.code_verifier[-1] != "A" else "B")
    )
    with pytest.raises(SignOnFailed, match="PKCE verification failed") as info:
        await client.finish(other, authorize(url), time.time())
    assert info.value.code == "sso_provider_error"


async def test_a_wrong_client_secret_is_refused(provider: FakeOIDCProvider, gateway_port: int) -> None:
    settings = client_for(provider, gateway_port).settings
    client = OIDCClient(settings, "not-the-secret")
    url, pending = await client.start()
    with pytest.raises(SignOnFailed, match="invalid_client"):
        await client.finish(pending, authorize(url), time.time())


async def test_a_provider_error_is_shown(provider: FakeOIDCProvider, gateway_port: int) -> None:
    client = client_for(provider, gateway_port)
    _, pending = await client.start()
    params = {"error": "access_denied", "error_description": "The user declined", "state": pending.state}
    with pytest.raises(SignOnFailed, match="The user declined") as info:
        await client.finish(pending, params, time.time())
    assert info.value.code == "sso_provider_error"
    with pytest.raises(SignOnFailed) as info:  # someone else's link: their text is not shown
        await client.finish(pending, {**params, "state": "made-up"}, time.time())
    assert info.value.code == "sso_state_mismatch" and "declined" not in info.value.message


async def test_a_discovery_document_for_another_issuer_is_refused(
    provider: FakeOIDCProvider, gateway_port: int
) -> None:
    client = client_for(provider, gateway_port, issuer=provider.url + "/")  # not the issuer it names
    with pytest.raises(SignOnFailed, match="names issuer"):
        await client.start()


async def test_an_unreachable_provider_is_a_clear_error(gateway_port: int) -> None:
    settings = SSOSettings.model_validate(
        {
            "issuer": f"http://127.0.0.1:{gateway_port}",  # nothing listens there
            "client_id": CLIENT_ID,
            "public_url": f"http://127.0.0.1:{gateway_port}",
            "default": {"tenant": "acme", "role": "viewer"},
        }
    )
    with pytest.raises(SignOnFailed, match="could not be reached") as info:
        await OIDCClient(settings, None).start()
    assert (info.value.code, info.value.status) == ("sso_provider_unreachable", 502)
