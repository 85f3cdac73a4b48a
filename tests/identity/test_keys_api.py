"""Virtual keys over real HTTP, on SQLite and PostgreSQL: the admin API, and the keys on `/v1`."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import GatewayFactory
from tests.identity.conftest import MASTER, Client, assert_error, identity_env


def test_a_key_is_created_once_used_edited_and_revoked(client: Client) -> None:
    created = client.new_key(name="ci", metadata={"team": "search"})
    assert created["key"].startswith("sk-of-") and created["key"].startswith(created["prefix"])
    assert created["tenant_id"] == "default" and created["role"] == "member"
    assert (created["rpm_limit"], created["rph_limit"], created["tpm_limit"]) == (60, 1000, None)
    shown = client.get(f"/api-keys/{created['id']}", MASTER).json()
    assert "key" not in shown and "key_hash" not in shown and shown["metadata"] == {"team": "search"}

    r = client.chat(created["key"])
    assert r.status_code == 200
    assert (r.headers["x-ratelimit-limit-requests"], r.headers["x-ratelimit-remaining-requests"]) == ("60", "59")

    edited = client.patch(f"/api-keys/{created['id']}", MASTER, json={"name": "renamed", "rpm_limit": 5})
    assert edited.status_code == 200 and edited.json()["name"] == "renamed"
    assert client.chat(created["key"]).headers["x-ratelimit-limit-requests"] == "5"  # the edit is seen at once

    for bad in ({"name": None}, {"role": None}, {"role": "god"}, {"unknown": "x"}, {"rpm_limit": 0}):
        assert_error(client.patch(f"/api-keys/{created['id']}", MASTER, json=bad), 400)

    listed = client.get("/api-keys", MASTER).json()
    assert listed["object"] == "list"
    seen = {k["id"] for k in listed["data"]}
    while listed["next_cursor"] is not None:  # the database is shared: other tests' keys may come first
        listed = client.get("/api-keys", MASTER, params={"cursor": listed["next_cursor"]}).json()
        seen |= {k["id"] for k in listed["data"]}
    assert created["id"] in seen

    revoked = client.delete(f"/api-keys/{created['id']}", MASTER)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert_error(client.chat(created["key"]), 401, "invalid_api_key")
    assert_error(client.chat("sk-of-" + "x" * 43), 401, "invalid_api_key")
    assert_error(client.chat("not-even-a-key"), 401, "invalid_api_key")


def test_rotation_keeps_the_old_secret_for_its_grace_period(client: Client) -> None:
    old = client.new_key(allowed_models=["demo"], rpm_limit=7)
    r = client.post(f"/api-keys/{old['id']}/rotate", MASTER, json={"grace_period_s": 3})  # room for a busy machine
    assert r.status_code == 201
    new = r.json()
    assert new["rotated_from"] == old["id"] and new["key"] != old["key"]
    assert (new["allowed_models"], new["rpm_limit"]) == (["demo"], 7)
    assert client.chat(old["key"]).status_code == 200
    assert client.chat(new["key"]).status_code == 200
    grace_until = datetime.fromisoformat(client.get(f"/api-keys/{old['id']}", MASTER).json()["grace_until"])
    time.sleep(max(0.0, (grace_until - datetime.now(UTC)).total_seconds()) + 0.1)  # the grace period passes
    body = assert_error(client.chat(old["key"]), 401, "invalid_api_key")
    assert "grace period" in body["error"]["message"]
    assert client.chat(new["key"]).status_code == 200

    default = client.post(f"/api-keys/{new['id']}/rotate", MASTER)
    assert default.status_code == 201
    grace = datetime.fromisoformat(client.get(f"/api-keys/{new['id']}", MASTER).json()["grace_until"])
    assert abs(grace - datetime.now(UTC) - timedelta(hours=24)) < timedelta(minutes=1)
    assert client.chat(new["key"]).status_code == 200
    assert_error(client.post(f"/api-keys/{old['id']}/rotate", MASTER), 400)  # retired keys don't rotate


def test_an_expired_key_is_refused(client: Client) -> None:
    expiry = datetime.now(UTC) + timedelta(seconds=3)  # room for a slow machine to make the key and call once
    key = client.new_key(expires_at=expiry.isoformat())
    assert client.chat(key["key"]).status_code == 200
    time.sleep(max(0.0, (expiry - datetime.now(UTC)).total_seconds()) + 0.1)
    body = assert_error(client.chat(key["key"]), 401, "invalid_api_key")
    assert "expired" in body["error"]["message"]


def test_allowed_models_are_enforced(client: Client) -> None:
    key = client.new_key(allowed_models=["demo-embedding"])["key"]
    body = assert_error(client.chat(key), 403, "model_not_allowed")
    assert body["error"]["param"] == "model"
    emb = httpx.post(
        client.url + "/v1/embeddings",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "demo-embedding", "input": "hi"},
    )
    assert emb.status_code == 200
    assert_error(
        client.chat(key, {"model": "nope", "messages": [{"role": "user", "content": "x"}]}), 404, "model_not_found"
    )
    both = client.new_key(allowed_models=["demo"])["key"]
    with_fallback = {"model": "demo", "fallbacks": ["demo-embedding"], "messages": [{"role": "user", "content": "x"}]}
    assert_error(client.chat(both, with_fallback), 403, "model_not_allowed")


SQL = ["'; DROP TABLE api_keys; --", '" OR 1=1 --', "x' UNION SELECT key_hash FROM api_keys --", "%_\\", "\x00"]


def test_sql_metacharacters_in_every_string_field(client: Client) -> None:
    for bad in SQL:
        if bad == "\x00":  # PostgreSQL text cannot hold NUL: refused cleanly on every dialect, never a 500
            assert_error(client.post("/api-keys", MASTER, json={"name": bad}), 400)
            assert_error(client.post("/api-keys", MASTER, json={"name": "x", "metadata": {"a": [bad]}}), 400)
            assert_error(client.post("/auth/login", json={"email": bad, "password": bad}), 400)
            assert_error(client.get("/api-keys/%00", MASTER), 404)
            assert client.get("/api-keys", MASTER, params={"user_id": bad}).json()["data"] == []
            continue
        tenant = client.post("/tenants", MASTER, json={"name": bad}).json()
        assert tenant["name"] == bad
        dep = client.post("/departments", MASTER, json={"name": bad, "tenant_id": tenant["id"]}).json()
        assert dep["name"] == bad
        created = client.new_key(
            name=bad, tenant_id=tenant["id"], department_id=dep["id"], allowed_models=[bad], metadata={bad: bad}
        )
        got = client.get(f"/api-keys/{created['id']}", MASTER).json()
        assert (got["name"], got["allowed_models"], got["metadata"]) == (bad, [bad], {bad: bad})
        for path in (f"/api-keys/{bad}", f"/users/{bad}", f"/tenants/{bad}"):
            assert_error(client.get(path.replace("%", "%25").replace("\\", "%5C"), MASTER), 404)
        assert_error(client.post("/api-keys", MASTER, json={"name": "x", "user_id": bad}), 404)
        assert_error(client.post("/api-keys", MASTER, json={"name": "x", "tenant_id": bad}), 404)
        assert client.get("/api-keys", MASTER, params={"user_id": bad}).json()["data"] == []
        assert_error(client.get("/audit", MASTER, params={"action": bad}), 400)
        assert_error(client.post("/auth/login", json={"email": bad, "password": bad}), 401, "invalid_credentials")
        r = client.post("/auth/register", json={"name": bad, "email": f"{bad}@x.io", "password": bad * 4})
        assert r.status_code in (201, 400), r.text
        assert_error(client.chat(bad), 401)
        assert_error(client.chat("sk-of-" + bad), 401)
    keys = client.get("/api-keys", MASTER, params={"limit": 1000}).json()["data"]
    assert len(keys) >= 4  # the table is still there, with every row


def test_last_used_is_written_behind_and_flushed_on_shutdown(start_gateway: GatewayFactory, database_url: str) -> None:
    first = start_gateway(database_url=database_url, env=identity_env())
    c = Client(first.url)
    key: dict[str, Any] = c.new_key()
    assert c.chat(key["key"]).status_code == 200
    first.stop()
    again = Client(start_gateway(database_url=database_url, env=identity_env()).url)
    assert again.get(f"/api-keys/{key['id']}", MASTER).json()["last_used_at"] is not None


def test_limits_beyond_the_column_range_are_a_400_not_a_500(client: Client) -> None:
    """Limits are stored in INTEGER columns: PostgreSQL refused 2**31 with a 500 before the schema bounded it."""
    for field in ("rpm_limit", "rph_limit", "tpm_limit"):
        assert_error(client.post("/api-keys", MASTER, json={"name": "big", field: 2**31}), 400)
    largest = client.post("/api-keys", MASTER, json={"name": "big", "tpm_limit": 2**31 - 1})
    assert largest.status_code in (200, 201) and largest.json()["tpm_limit"] == 2**31 - 1
