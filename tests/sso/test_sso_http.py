"""Single sign-on through the gateway over real HTTP, against the local OIDC provider: the browser's trip
(`/ui/sso/login` -> the provider -> `/ui/sso/callback` -> the console) followed by httpx, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.fakes.oidc_provider import FakeOIDCProvider
from tests.sso.conftest import SSOGateway


def test_sign_in_creates_the_user_with_the_role_from_the_claims(sso_gateway: SSOGateway) -> None:
    gw = sso_gateway
    client, page = gw.sign_in()
    assert page.status_code == 200, page.text
    assert page.url.path == "/ui/keys"
    assert 'id="sign-out"' in page.text and "role-admin" in page.text
    trip = [(r.status_code, r.url.path) for r in page.history]
    assert trip == [(303, "/ui/sso/login"), (302, "/authorize"), (303, "/ui/sso/callback")]
    (user,) = gw.users_of(f"sub-{gw.suffix}")
    assert (user["tenant_id"], user["role"], user["email"]) == (
        f"acme-{gw.tenant_suffix}",
        "admin",
        f"ana-{gw.suffix}@acme.com",
    )
    assert user["name"] == "Ana Lima"
    assert "oneflow_sso" not in client.cookies  # the pending sign-in is spent
    assert any(a["target_id"] == user["id"] for a in gw.audit("user.sso_provision"))
    # the console session is a real one: the admin API's data shows on its pages, and signing out ends it
    assert client.get("/ui/keys").status_code == 200


def test_no_password_signs_in_an_sso_account(sqlite_sso_gateway: SSOGateway) -> None:
    gw = sqlite_sso_gateway
    gw.sign_in()
    for password in ("", "!sso", "sso"):
        r = httpx.post(
            gw.url + "/api/v1/admin/auth/login", json={"email": f"ana-{gw.suffix}@acme.com", "password": password}
        )
        assert r.status_code in (400, 401), r.text


def test_a_second_sign_in_with_changed_claims_changes_the_role(sso_gateway: SSOGateway) -> None:
    gw = sso_gateway
    gw.sign_in()
    gw.provider.user = {**gw.provider.user, "groups": ["staff"]}  # out of platform-admins: the e-mail rule applies
    _, page = gw.sign_in()
    assert page.status_code == 200 and "role-viewer" in page.text
    (user,) = gw.users_of(f"sub-{gw.suffix}")
    assert user["role"] == "viewer"
    (change,) = [a for a in gw.audit("user.sso_role_change") if a["target_id"] == user["id"]]
    assert change["detail"] == {"from": "admin", "to": "viewer"}


def test_an_unmatched_claim_is_refused_with_a_page(sso_gateway: SSOGateway) -> None:
    gw = sso_gateway
    gw.provider.user = {**gw.provider.user, "groups": ["staff"], "email": f"ana-{gw.suffix}@elsewhere.org"}
    client, page = gw.sign_in()
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert "no rule of this gateway admits your account" in page.text
    assert "oneflow_console" not in client.cookies
    assert gw.users_of(f"sub-{gw.suffix}") == []
    (refusal,) = [a for a in gw.audit("auth.sso_refused") if a["detail"]["subject"] == f"sub-{gw.suffix}"]
    assert refusal["detail"]["reason"] == "sso_no_matching_rule"


def test_a_user_is_never_moved_to_another_tenant(sso_gateway: SSOGateway) -> None:
    gw = sso_gateway
    gw.sign_in()
    gw.provider.user = {**gw.provider.user, "groups": ["researchers"]}  # the rules now say lab
    _, page = gw.sign_in()
    assert page.status_code == 403 and "belongs to tenant" in page.text
    (user,) = gw.users_of(f"sub-{gw.suffix}")
    assert (user["tenant_id"], user["role"]) == (f"acme-{gw.tenant_suffix}", "admin")


@pytest.mark.parametrize(
    ("spoil", "status", "text"),
    [
        (lambda p: setattr(p, "redirect_state", "forged-state"), 401, "state does not match"),
        (lambda p: p.id_token_overrides.update(nonce="replayed"), 401, "nonce"),
        (lambda p: setattr(p, "sign_with_other_key", True), 401, "bad_signature"),
        (lambda p: p.id_token_overrides.update(exp=1_000_000_000, iat=999_999_000), 401, "expired"),
    ],
    ids=["state", "nonce", "signature", "expired"],
)
def test_a_spoiled_answer_is_refused_and_nobody_signed_in(
    sqlite_sso_gateway: SSOGateway, spoil: Callable[[FakeOIDCProvider], None], status: int, text: str
) -> None:
    gw = sqlite_sso_gateway
    spoil(gw.provider)
    client, page = gw.sign_in()
    assert page.status_code == status, page.text
    assert text in page.text and "Traceback" not in page.text
    assert "oneflow_console" not in client.cookies
    assert gw.users_of(f"sub-{gw.suffix}") == []


def test_a_callback_without_the_browsers_pending_cookie_is_refused(sqlite_sso_gateway: SSOGateway) -> None:
    """Login CSRF: a callback URL made in another browser (its code and state) does not sign this one in."""
    gw = sqlite_sso_gateway
    attacker = httpx.Client(base_url=gw.url, timeout=30)
    start = attacker.get("/ui/sso/login")
    back = httpx.get(start.headers["location"], follow_redirects=False, timeout=10).headers["location"]
    victim = httpx.Client(timeout=30)
    page = victim.get(back)
    assert page.status_code == 401 and "not started in this browser" in page.text
    assert gw.provider.requests["/token"] == 0
    assert "oneflow_console" not in victim.cookies


def test_a_pkce_mismatch_is_refused(sqlite_sso_gateway: SSOGateway) -> None:
    """A code taken to another sign-in of the same browser (its cookie holds another verifier) is not redeemed."""
    gw = sqlite_sso_gateway
    client = httpx.Client(base_url=gw.url, timeout=30)
    first = client.get("/ui/sso/login")  # this sign-in's code will be stolen
    stolen = httpx.URL(
        httpx.get(first.headers["location"], follow_redirects=False, timeout=10).headers["location"]
    ).params
    second = client.get("/ui/sso/login")  # the cookie now holds the second sign-in's state and verifier
    second_state = httpx.URL(second.headers["location"]).params["state"]
    page = client.get("/ui/sso/callback", params={"code": stolen["code"], "state": second_state})
    assert page.status_code == 401 and "PKCE verification failed" in page.text
    assert gw.users_of(f"sub-{gw.suffix}") == []


def test_the_sign_in_page_offers_sso(sqlite_sso_gateway: SSOGateway) -> None:
    page = httpx.get(sqlite_sso_gateway.url + "/ui/login?next=/ui/keys", timeout=30)
    assert 'href="/ui/sso/login?next=/ui/keys"' in page.text and "Sign in with Test IdP" in page.text


def test_the_pending_cookie_is_http_only_lax_and_scoped(sqlite_sso_gateway: SSOGateway) -> None:
    r = httpx.get(sqlite_sso_gateway.url + "/ui/sso/login", timeout=30)
    assert r.status_code == 303 and r.headers["location"].startswith(sqlite_sso_gateway.provider.url + "/authorize?")
    cookie = r.headers["set-cookie"].lower()
    assert "oneflow_sso=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "path=/ui/sso" in cookie and "max-age=600" in cookie
