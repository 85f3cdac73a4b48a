"""Users and JWT sessions over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import time

import jwt
import orjson

from tests.conftest import GatewayFactory
from tests.identity.conftest import (
    JWT_SECRET,
    MASTER,
    PASSWORD,
    Client,
    assert_error,
    bearer,
    identity_env,
    unique_email,
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_sign_up_log_in_refresh_log_out(client: Client) -> None:
    email = unique_email()
    r = client.post("/auth/register", json={"name": "Alice", "email": email.upper(), "password": PASSWORD})
    assert r.status_code == 201, r.text
    user = r.json()
    assert user["role"] == "owner" and user["email"] == email and "password_hash" not in r.text
    tokens = client.login(email)
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 900
    me = client.get("/auth/me", bearer(tokens["access_token"])).json()
    assert (me["user_id"], me["tenant_id"], me["role"]) == (user["id"], user["tenant_id"], "owner")

    again = client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 200 and again.json()["refresh_token"] != tokens["refresh_token"]
    fresh = again.json()
    assert client.get("/auth/me", bearer(fresh["access_token"])).status_code == 200

    assert client.post("/auth/logout", bearer(fresh["access_token"])).status_code == 204
    assert_error(client.get("/auth/me", bearer(fresh["access_token"])), 401, "invalid_token")
    assert_error(client.post("/auth/refresh", json={"refresh_token": fresh["refresh_token"]}), 401)


def test_a_reused_refresh_token_revokes_its_whole_family(client: Client) -> None:
    email = unique_email()
    client.post("/auth/register", json={"name": "Bob", "email": email, "password": PASSWORD})
    stolen = client.login(email)
    legit = client.post("/auth/refresh", json={"refresh_token": stolen["refresh_token"]}).json()
    reuse = client.post("/auth/refresh", json={"refresh_token": stolen["refresh_token"]})
    assert_error(reuse, 401, "invalid_refresh_token")
    # Everything of that session is dead now: the newer refresh token and the access tokens.
    assert_error(client.post("/auth/refresh", json={"refresh_token": legit["refresh_token"]}), 401)
    assert_error(client.get("/auth/me", bearer(legit["access_token"])), 401, "invalid_token")
    assert_error(client.get("/auth/me", bearer(stolen["access_token"])), 401, "invalid_token")
    audit = client.get("/audit", MASTER, params={"action": "auth.refresh_reused"}).json()["data"]
    assert audit and audit[0]["target_type"] == "session"
    assert client.login(email)["access_token"]  # a new login works


def test_forged_tokens_are_rejected(client: Client) -> None:
    email = unique_email()
    client.post("/auth/register", json={"name": "Eve", "email": email, "password": PASSWORD})
    good = client.login(email)["access_token"]
    header, payload, sig = good.split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=="))
    kid = jwt.get_unverified_header(good)["kid"]
    forged = {
        "tampered": ".".join([header, _b64(orjson.dumps({**claims, "sub": "usr_someone_else"})), sig]),
        "alg_none": ".".join([_b64(b'{"alg":"none","typ":"JWT","kid":"' + kid.encode() + b'"}'), payload, ""]),
        "expired": jwt.encode(
            {**claims, "iat": int(time.time()) - 1000, "exp": int(time.time()) - 10},
            JWT_SECRET.encode(),
            "HS256",
            headers={"kid": kid},
        ),
        "wrong_secret": jwt.encode(claims, b"k" * 64, "HS256", headers={"kid": kid}),
        "hs512": jwt.encode(claims, JWT_SECRET.encode() * 2, "HS512", headers={"kid": kid}),
    }
    for name, token in forged.items():
        body = assert_error(client.get("/auth/me", bearer(token)), 401, "invalid_token")
        assert "eyJ" not in body["error"]["message"], name
        assert_error(client.get("/api-keys", bearer(token)), 401, "invalid_token")
    # A valid signature on a session that does not exist is no better.
    ghost = jwt.encode({**claims, "sid": "ses_nope"}, JWT_SECRET.encode(), "HS256", headers={"kid": kid})
    assert_error(client.get("/auth/me", bearer(ghost)), 401, "invalid_token")


def test_failed_logins_back_off_then_lock(client: Client) -> None:
    email = unique_email()
    client.post("/auth/register", json={"name": "Mallory", "email": email, "password": PASSWORD})
    for _ in range(5):
        assert_error(
            client.post("/auth/login", json={"email": email, "password": "wrong" * 4}), 401, "invalid_credentials"
        )
    locked = client.post("/auth/login", json={"email": email, "password": PASSWORD})  # even the right one waits
    assert_error(locked, 429, "login_locked")
    assert int(locked.headers["retry-after"]) >= 1
    time.sleep(int(locked.headers["retry-after"]) + 0.1)  # the back-off passes (part of the scenario)
    assert client.login(email)["access_token"]  # the back-off passed; success clears the count
    unknown = client.post("/auth/login", json={"email": unique_email(), "password": PASSWORD})
    assert_error(unknown, 401, "invalid_credentials")  # the same answer as a wrong password


def test_registration_rules(client: Client) -> None:
    email = unique_email()
    assert_error(
        client.post("/auth/register", json={"name": "W", "email": email, "password": "password"}), 400, "weak_password"
    )
    assert client.post("/auth/register", json={"name": "W", "email": email, "password": PASSWORD}).status_code == 201
    assert_error(
        client.post("/auth/register", json={"name": "W", "email": email, "password": PASSWORD}), 409, "email_taken"
    )
    assert_error(client.post("/auth/register", json={"name": "W", "email": "not-an-email", "password": PASSWORD}), 400)
    assert_error(
        client.post(
            "/auth/register",
            json={"name": "W", "email": unique_email(), "password": PASSWORD, "role": "owner", "tenant_id": "default"},
        ),
        400,
    )


def test_closed_sign_up_needs_an_admin(start_gateway: GatewayFactory, database_url: str) -> None:
    c = Client(start_gateway(database_url=database_url, env=identity_env(ONEFLOW_SIGNUP="closed")).url)
    anonymous = c.post("/auth/register", json={"name": "X", "email": unique_email(), "password": PASSWORD})
    error = assert_error(anonymous, 403, "signup_closed")["error"]  # not 401 missing_api_key: no key helps
    assert "Sign-up is closed" in error["message"] and "ONEFLOW_SIGNUP=open" in error["message"]
    r = c.post("/auth/register", MASTER, json={"name": "X", "email": unique_email(), "password": PASSWORD})
    assert r.status_code == 201 and r.json()["role"] == "member" and r.json()["tenant_id"] == "default"


def test_a_generated_signing_key_rotates_without_logging_anyone_out(
    start_gateway: GatewayFactory, database_url: str
) -> None:
    c = Client(start_gateway(database_url=database_url, env={"ONEFLOW_SIGNUP": "open"}).url)  # no JWT secret set
    email = unique_email()
    c.post("/auth/register", json={"name": "Kid", "email": email, "password": PASSWORD})
    before = c.login(email)["access_token"]
    rotated = c.post("/auth/signing-keys/rotate", MASTER)
    assert rotated.status_code == 200 and rotated.json()["kid"] != jwt.get_unverified_header(before)["kid"]
    after = c.login(email)["access_token"]
    assert jwt.get_unverified_header(after)["kid"] == rotated.json()["kid"]
    assert c.get("/auth/me", bearer(before)).status_code == 200
    assert c.get("/auth/me", bearer(after)).status_code == 200
