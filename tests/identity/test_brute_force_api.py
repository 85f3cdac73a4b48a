"""Guessing passwords over real HTTP: concurrent guesses at one account, and a spray over many accounts from one
address (in this process, and shared by two replicas through Redis)."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis

from tests.conftest import GatewayFactory
from tests.identity.conftest import MASTER, PASSWORD, REDIS_URL, Client, assert_error, identity_env, unique_email

WRONG = "not the password at all"


def _login(c: Client, email: str, password: str) -> httpx.Response:
    # argon2 queues for a pool of half the cores: on a loaded machine, many logins at once take a while
    body = {"email": email, "password": password}
    return httpx.post(c.url + "/api/v1/admin/auth/login", json=body, timeout=120)


def _codes(responses: list[httpx.Response]) -> Counter[str]:
    return Counter("ok" if r.status_code == 200 else r.json()["error"]["code"] for r in responses)


def test_concurrent_guesses_check_no_more_passwords_than_the_lockout_allows(
    start_gateway: GatewayFactory, database_url: str
) -> None:
    # No per-address throttle here: the account's own count must hold on its own.
    env = identity_env(ONEFLOW_LOGIN_LOCK_AFTER="3", ONEFLOW_LOGIN_IP_RPM="0")
    c = Client(start_gateway(database_url=database_url, env=env).url)
    email = unique_email("target")
    assert c.post("/auth/register", json={"name": "T", "email": email, "password": PASSWORD}).status_code == 201

    with ThreadPoolExecutor(max_workers=40) as pool:
        answers = list(pool.map(lambda _: _login(c, email, WRONG), range(80)))
    codes = _codes(answers)
    assert codes == {"invalid_credentials": 3, "login_locked": 77}, codes  # 3 checked: the lock's own number
    for r in answers:
        if r.status_code == 429:
            assert_error(r, 429, "login_locked")
            assert int(r.headers["retry-after"]) >= 1

    locked = _login(c, email, PASSWORD)  # the right password, once locked, is refused unchecked
    assert_error(locked, 429, "login_locked")
    user = next(u for u in c.get("/users", MASTER, params={"limit": 1000}).json()["data"] if u["email"] == email)
    assert user["locked_until"] is not None
    audit = c.get("/audit", MASTER, params={"action": "auth.login_failed"}).json()["data"]
    assert sorted(e["detail"]["failures"] for e in audit if e["target_id"] == user["id"]) == [1, 2, 3]

    assert c.patch(f"/users/{user['id']}", MASTER, json={"unlock": True}).status_code == 200
    assert c.login(email)["access_token"]  # an administrator's unlock lets the owner in again


def test_a_spray_over_many_accounts_from_one_address_is_throttled(
    start_gateway: GatewayFactory, database_url: str
) -> None:
    """200 logins, each at another account (most do not exist), from one address, 3 allowed a minute."""
    client = Client(start_gateway(database_url=database_url, env=identity_env(ONEFLOW_LOGIN_IP_RPM="3")).url)
    real = [unique_email("sprayed") for _ in range(3)]
    for email in real:
        r = client.post("/auth/register", json={"name": "S", "email": email, "password": PASSWORD})
        assert r.status_code == 201, r.text
    for _ in range(4):  # a successful login gives its attempt back: it never uses up the address
        assert client.login(real[0])["access_token"]

    targets = [real[i % 3] if i % 10 == 0 else unique_email("nobody") for i in range(200)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda email: _login(client, email, WRONG), targets))
    codes = _codes(answers)
    assert set(codes) == {"invalid_credentials", "login_throttled"}, codes
    # 3 a minute, refilled evenly: a few more may pass while the spray runs, never most of it.
    assert 3 <= codes["invalid_credentials"] <= 8, codes
    throttled = next(r for r in answers if r.status_code == 429)
    assert_error(throttled, 429, "login_throttled")
    assert 1 <= int(throttled.headers["retry-after"]) <= 60


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_address_throttle_is_shared_by_replicas_through_redis(
    start_gateway: GatewayFactory, database_url: str
) -> None:
    limit = 4  # the bucket's key ends with its limit: no other test's gateway shares this one
    key = f"oneflow:login:ip:127.0.0.1:{limit}:60"
    r = redis.Redis.from_url(REDIS_URL)
    r.delete(key)
    try:
        env = identity_env(ONEFLOW_LOGIN_IP_RPM=str(limit))
        a = Client(start_gateway(database_url=database_url, redis_url=REDIS_URL, env=env).url)
        b = Client(start_gateway(database_url=database_url, redis_url=REDIS_URL, env=env).url)
        answers = [_login(replica, unique_email("nobody"), WRONG) for _ in range(5) for replica in (a, b)]
        codes = _codes(answers)
        assert codes["invalid_credentials"] <= limit + 1 and codes["login_throttled"] >= 10 - limit - 1, codes
        throttled_by = {x.url.port for x in answers if x.status_code == 429}
        assert throttled_by == {httpx.URL(a.url).port, httpx.URL(b.url).port}  # both replicas refuse the address
    finally:
        r.delete(key)
        r.close()
