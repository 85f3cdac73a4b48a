"""The console's rules over plain HTTP (quick): sessions and their cookie, CSRF, roles, tenants, error pages."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import openai

from tests.console.conftest import PASSWORD, ConsoleGateway, csrf_of, http_as, start_console_gateway

LEAKS = ("Traceback", "sqlalchemy", 'File "', "key_hash", "password_hash")


def create_key(client: httpx.Client, **fields: str) -> tuple[str, str]:
    """(key id, secret) of a key created through the console's form."""
    page = client.get("/ui/keys")
    r = client.post("/ui/keys", data={"csrf_token": csrf_of(page.text), "name": "k", **fields})
    assert r.status_code == 201, r.text
    secret = re.search(r'id="secret"[^>]*>(sk-of-[^<]+)<', r.text)
    key_id = re.search(r"<dt>Id</dt><dd>(key_[0-9a-f]+)</dd>", r.text)
    assert secret and key_id, r.text
    return key_id.group(1), secret.group(1)


def session_cookie(r: httpx.Response) -> str:
    return next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("oneflow_console="))


def test_session_cookie_flags_and_csp(console_gateway: ConsoleGateway) -> None:
    gw = console_gateway
    user = gw.users["viewer"]
    # The harness's uvicorn believes X-Forwarded-Proto from 127.0.0.1 (its default, like a trusted proxy in
    # ONEFLOW_TRUSTED_PROXIES for `oneflow serve`): a request that came over TLS gets a Secure cookie.
    for headers, secure in (({}, False), ({"x-forwarded-proto": "https"}, True)):
        with httpx.Client(base_url=gw.url, timeout=30) as c:
            form = c.get("/ui/login")
            csp = form.headers["content-security-policy"]
            assert "default-src 'none'; script-src 'self'; style-src 'self'" in csp and "unsafe-inline" not in csp
            r = c.post(
                "/ui/login",
                data={"email": user.email, "password": PASSWORD, "csrf_token": csrf_of(form.text)},
                headers=headers,
            )
            assert r.status_code == 303 and r.headers["location"] == "/ui/"
            cookie = session_cookie(r)
            flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
            assert {"httponly", "path", "samesite", "max-age"} <= flags
            assert "Path=/ui" in cookie and "SameSite=lax" in cookie
            assert ("secure" in flags) is secure
            keys = c.get("/ui/keys").text
            assert "<script>" not in keys and " style=" not in keys


def test_secure_cookie_over_tls() -> None:
    from starlette.requests import Request
    from starlette.responses import Response

    from oneflow_ai.console.session import set_cookie

    for scheme, secure in (("https", True), ("http", False)):
        request = Request({"type": "http", "scheme": scheme, "path": "/ui/login", "headers": [], "server": ("x", 443)})
        response = Response()
        set_cookie(response, request, "rt_token", 60)
        assert ("; secure" in response.headers["set-cookie"].lower()) is secure


def test_sign_in_goes_through_the_login_service(console_gateway: ConsoleGateway) -> None:
    gw = console_gateway
    user = gw.add_user("lockme", gw.tenant_a, "member")
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        token = csrf_of(c.get("/ui/login").text)
        statuses = []
        for _ in range(6):
            r = c.post("/ui/login", data={"email": user.email, "password": "wrong password!", "csrf_token": token})
            statuses.append(r.status_code)
            assert "oneflow_console=" not in r.headers.get("set-cookie", "")
        assert statuses[:5] == [401] * 5
        assert statuses[5] == 429, statuses  # the account's lock-out applies to the console too
        assert "Too many failed logins" in r.text and "retry-after" in r.headers
    audit = gw.admin_api("GET", "/audit", params={"action": "auth.login_failed"}).json()["data"]
    assert sum(e["target_id"] == user.id for e in audit) == 5


def test_sign_in_form_refuses_a_post_without_its_token(console_gateway: ConsoleGateway) -> None:
    user = console_gateway.users["owner"]
    with httpx.Client(base_url=console_gateway.url, timeout=30) as c:
        r = c.post("/ui/login", data={"email": user.email, "password": PASSWORD})
        assert r.status_code == 403 and "oneflow_console=" not in r.headers.get("set-cookie", "")
        c.get("/ui/login")  # the pre-session cookie alone is not enough: the token must come with the form
        r = c.post("/ui/login", data={"email": user.email, "password": PASSWORD, "csrf_token": "forged"})
        assert r.status_code == 403


def test_every_post_needs_the_csrf_token(console_gateway: ConsoleGateway) -> None:
    gw = console_gateway
    with http_as(gw, "owner") as c:
        before = c.get("/ui/keys").text
        key_id, _ = create_key(c, name="csrf-victim")
        with http_as(gw, "admin") as other:
            foreign_token = csrf_of(other.get("/ui/keys").text)  # a valid token, of another session
        for path in (
            "/ui/keys",
            f"/ui/keys/{key_id}/revoke",
            f"/ui/keys/{key_id}/rotate",
            "/ui/logout",
            "/ui/users",
            "/ui/departments",
        ):
            for data in ({"name": "x"}, {"name": "x", "csrf_token": foreign_token}, {"csrf_token": ""}):
                r = c.post(path, data=data)
                assert r.status_code == 403, (path, data, r.text)
                assert "This form has expired" in r.text
        listed = c.get("/ui/keys").text
        assert listed.count('data-key-id="') == before.count('data-key-id="') + 1  # nothing else was created
        assert "csrf-victim" in listed and 'status-active">active' in listed.split("csrf-victim")[1][:2000]
        assert c.get("/ui/keys").status_code == 200  # still signed in: /ui/logout was refused


def test_a_key_is_created_shown_once_and_works(console_gateway: ConsoleGateway) -> None:
    gw = console_gateway
    with http_as(gw, "admin") as c:
        key_id, secret = create_key(c, name="http-key", rpm_limit="100", tpm_limit="100000", allowed_models="mini")
        assert secret not in c.get("/ui/keys").text
        created = gw.admin_api("GET", f"/api-keys/{key_id}").json()
        assert (created["rpm_limit"], created["tpm_limit"], created["allowed_models"]) == (100, 100000, ["mini"])
        assert created["tenant_id"] == gw.tenant_a
        client = openai.OpenAI(api_key=secret, base_url=gw.url + "/v1", max_retries=0)
        assert client.chat.completions.create(model="mini", messages=[{"role": "user", "content": "hi"}]).choices
        try:
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
            raise AssertionError("a model outside allowed_models was served")
        except openai.APIStatusError as e:
            assert e.status_code in (403, 404)
        page = c.get("/ui/keys").text
        r = c.post(f"/ui/keys/{key_id}/revoke", data={"csrf_token": csrf_of(page)})
        assert r.status_code == 303
        try:
            client.chat.completions.create(model="mini", messages=[{"role": "user", "content": "hi"}])
            raise AssertionError("a revoked key still works")
        except openai.AuthenticationError:
            pass


def test_key_form_fields_reach_the_key(console_gateway: ConsoleGateway) -> None:
    gw = console_gateway
    dep = gw.admin_api("POST", "/departments", json={"name": "Key Dept", "tenant_id": gw.tenant_a}).json()["id"]
    with http_as(gw, "owner") as c:
        page = c.get("/ui/keys").text
        assert "<option>mini</option>" in page and f'<option value="{dep}">Key Dept</option>' in page
        r = c.post(
            "/ui/keys",
            data={
                "csrf_token": csrf_of(page),
                "name": "fields",
                "role": "viewer",
                "user_id": gw.users["viewer"].id,
                "department_id": dep,
                "allowed_models": ["mini", "gpt-4o, mini"],
                "budget_id": "",
                "expires_on": "2031-05-17",
            },
        )
        assert r.status_code == 201, r.text
        key_id = re.search(r"<dt>Id</dt><dd>(key_[0-9a-f]+)</dd>", r.text)
        assert key_id
    key = gw.admin_api("GET", f"/api-keys/{key_id.group(1)}").json()
    assert key["allowed_models"] == ["mini", "gpt-4o"] and key["department_id"] == dep
    assert (key["role"], key["user_id"], key["budget_id"]) == ("viewer", gw.users["viewer"].id, None)
    assert key["expires_at"].startswith("2031-05-17T23:59:59")


def test_rotate_shows_the_new_secret_once(console_gateway: ConsoleGateway) -> None:
    with http_as(console_gateway, "owner") as c:
        key_id, old = create_key(c, name="to-rotate")
        r = c.post(
            f"/ui/keys/{key_id}/rotate", data={"csrf_token": csrf_of(c.get("/ui/keys").text), "grace_period_s": "0"}
        )
        assert r.status_code == 201 and "Key rotated" in r.text
        new = re.search(r'id="secret"[^>]*>(sk-of-[^<]+)<', r.text)
        assert new and new.group(1) != old
        listed = c.get("/ui/keys").text
        assert new.group(1) not in listed and old not in listed


def test_a_viewer_reads_but_cannot_change(console_gateway: ConsoleGateway) -> None:
    gw = console_gateway
    with http_as(gw, "owner") as owner:
        key_id, _ = create_key(owner, name="owners-key")
    with http_as(gw, "viewer") as c:
        page = c.get("/ui/keys")
        assert page.status_code == 200 and "owners-key" in page.text
        for absent in ('id="create-key-form"', "/rotate", "/revoke", "Create key"):
            assert absent not in page.text
        token = csrf_of(page.text)
        forged = c.post("/ui/keys", data={"csrf_token": token, "name": "viewer-made", "role": "viewer"})
        assert forged.status_code == 403 and "may not" in forged.text
        assert c.post(f"/ui/keys/{key_id}/revoke", data={"csrf_token": token}).status_code == 403
        assert c.post(f"/ui/keys/{key_id}/rotate", data={"csrf_token": token}).status_code == 403
        users = c.get("/ui/users")
        assert (
            users.status_code == 200 and 'id="create-user-form"' not in users.text and "Change role" not in users.text
        )
        assert c.post("/ui/departments", data={"csrf_token": token, "name": "x"}).status_code == 403
        assert c.get("/ui/audit").status_code == 403
        nav = users.text.split("</nav>")[0]
        assert "/ui/audit" not in nav and "/ui/users" in nav
    assert all(k["name"] != "viewer-made" for k in gw.admin_api("GET", "/api-keys").json()["data"])
    assert gw.admin_api("GET", f"/api-keys/{key_id}").json()["revoked_at"] is None


def test_a_member_manages_only_own_keys(console_gateway: ConsoleGateway) -> None:
    gw = console_gateway
    with http_as(gw, "member") as c:
        page = c.get("/ui/keys").text
        assert 'id="create-key-form"' in page and "<option>admin</option>" not in page and 'name="user_id"' not in page
        key_id, _ = create_key(c, name="members-own")
        assert gw.admin_api("GET", f"/api-keys/{key_id}").json()["user_id"] == gw.users["member"].id
        forged = c.post("/ui/keys", data={"csrf_token": csrf_of(page), "name": "x", "role": "admin"})
        assert forged.status_code == 403
        assert c.get("/ui/users").status_code == 403 and "/ui/users" not in page.split("</nav>")[0]


def test_a_tenant_admin_never_sees_another_tenant(console_gateway: ConsoleGateway) -> None:
    gw = console_gateway
    with http_as(gw, "owner") as a:
        key_id, _ = create_key(a, name="tenant-a-secret-project")
    a_emails = [u.email for u in gw.users.values() if u.tenant_id == gw.tenant_a]
    with http_as(gw, "admin_b") as b:
        keys = b.get("/ui/keys").text
        users = b.get("/ui/users").text
        audit = b.get("/ui/audit").text
        for text in (keys, users, audit):
            assert gw.tenant_a not in text and key_id not in text and "tenant-a-secret-project" not in text
            assert not any(email in text for email in a_emails)
        assert gw.users["admin_b"].email in users and gw.tenant_b in keys
        token = csrf_of(keys)
        for path in (
            f"/ui/keys/{key_id}/revoke",
            f"/ui/keys/{key_id}/rotate",
            f"/ui/users/{gw.users['member'].id}/disable",
        ):
            r = b.post(path, data={"csrf_token": token})
            assert r.status_code == 404, (path, r.text)
    assert gw.admin_api("GET", f"/api-keys/{key_id}").json()["revoked_at"] is None
    assert gw.admin_api("GET", f"/users/{gw.users['member'].id}").json()["disabled_at"] is None


def test_sign_out_and_disabling_end_the_session(console_gateway: ConsoleGateway) -> None:
    gw = console_gateway
    gw.add_user("leaver", gw.tenant_a, "viewer")
    with http_as(gw, "leaver") as c:
        stolen = dict(c.cookies)
        r = c.post("/ui/logout", data={"csrf_token": csrf_of(c.get("/ui/keys").text)})
        assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
    with httpx.Client(base_url=gw.url, cookies=stolen, timeout=30) as replay:  # the old cookie is dead server-side
        r = replay.get("/ui/keys")
        assert r.status_code == 303 and r.headers["location"] == "/ui/login?next=/ui/keys"
    user = gw.add_user("disabled-later", gw.tenant_a, "viewer")
    with http_as(gw, "disabled-later") as c, http_as(gw, "owner") as owner:
        assert c.get("/ui/keys").status_code == 200
        r = owner.post(f"/ui/users/{user.id}/disable", data={"csrf_token": csrf_of(owner.get("/ui/users").text)})
        assert r.status_code == 303
        assert "disabled" in owner.get("/ui/users").text.split(user.email)[1][:400]
        assert c.get("/ui/keys").status_code == 303
        assert c.post("/ui/keys", data={"name": "x"}).status_code == 401


def test_users_departments_and_roles(console_gateway: ConsoleGateway) -> None:
    gw = console_gateway
    with http_as(gw, "admin") as c:
        token = csrf_of(c.get("/ui/users").text)
        assert c.post("/ui/departments", data={"csrf_token": token, "name": "Research"}).status_code == 303
        page = c.get("/ui/users").text
        dep = re.search(r'<option value="(dep_[0-9a-f]+)">Research</option>', page)
        assert dep
        email = "new-hire@example.com"
        r = c.post(
            "/ui/users",
            data={
                "csrf_token": token,
                "name": "New Hire",
                "email": email,
                "password": PASSWORD,
                "role": "viewer",
                "department_id": dep.group(1),
            },
        )
        assert r.status_code == 303, r.text
        new = next(u for u in gw.admin_api("GET", "/users").json()["data"] if u["email"] == email)
        assert (new["role"], new["department_id"], new["tenant_id"]) == ("viewer", dep.group(1), gw.tenant_a)
        assert c.post(f"/ui/users/{new['id']}/role", data={"csrf_token": token, "role": "member"}).status_code == 303
        assert gw.admin_api("GET", f"/users/{new['id']}").json()["role"] == "member"
        # an admin does not make owners, nor touch one
        r = c.post(f"/ui/users/{new['id']}/role", data={"csrf_token": token, "role": "owner"})
        assert r.status_code == 403 and "may not grant" in r.text
        owner_id = gw.users["owner"].id
        assert c.post(f"/ui/users/{owner_id}/disable", data={"csrf_token": token}).status_code == 403
        assert f'action="/ui/users/{owner_id}/disable"' not in c.get("/ui/users").text
        bad = c.post("/ui/users", data={"csrf_token": token, "name": "x", "email": "not-an-email", "password": "p"})
        assert bad.status_code == 400 and "e-mail" in bad.text
        audit = c.get("/ui/audit", params={"action": "user.update"}).text
        assert new["id"] in audit


def test_errors_are_pages_without_internals(console_gateway: ConsoleGateway) -> None:
    gw = console_gateway
    with http_as(gw, "owner") as c:
        token = csrf_of(c.get("/ui/keys").text)
        for r, status in (
            (c.post("/ui/keys", data={"csrf_token": token, "name": "x", "rpm_limit": "lots"}), 400),
            (c.post("/ui/keys", data={"csrf_token": token, "name": "x", "rpm_limit": str(2**40)}), 400),
            (c.post("/ui/keys", data={"csrf_token": token, "name": "x", "expires_on": "tomorrow"}), 400),
            (c.post("/ui/keys/key_doesnotexist/revoke", data={"csrf_token": token}), 404),
            (c.post("/ui/keys/not%20an%20id/rotate", data={"csrf_token": token}), 404),
            (c.get("/ui/audit", params={"before": "-1"}), 400),
            (c.get("/ui/audit", params={"action": "<script>"}), 400),
            (c.get("/ui/keys", params={"offset": "many"}), 400),
            (c.get("/ui/no-such-page"), 404),
            (
                c.post("/ui/keys", content=b"\xff\xfe", headers={"content-type": "application/x-www-form-urlencoded"}),
                400,
            ),
        ):
            assert r.status_code == status, (r.request.url, r.text)
            assert r.headers["content-type"].startswith("text/html")
            assert not any(leak in r.text for leak in LEAKS), r.text
            assert "<script>" not in r.text


def test_signed_out_requests(console_gateway: ConsoleGateway) -> None:
    with httpx.Client(base_url=console_gateway.url, timeout=30) as c:
        r = c.get("/ui/users?offset=0")
        assert r.status_code == 303 and r.headers["location"] == "/ui/login?next=/ui/users%3Foffset%3D0"
        assert c.post("/ui/keys", data={"name": "x"}).status_code == 401
        assert c.get("/ui/", follow_redirects=False).headers["location"].startswith("/ui/login")
        user = console_gateway.users["owner"]
        for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example", "/api/v1/admin/users"):
            form = c.get("/ui/login")
            r = c.post(
                "/ui/login",
                data={"email": user.email, "password": PASSWORD, "csrf_token": csrf_of(form.text), "next": evil},
            )
            assert r.status_code == 303 and r.headers["location"] == "/ui/", evil
            c.cookies.delete("oneflow_console", path="/ui")


def test_a_script_sends_the_token_in_a_header(console_gateway: ConsoleGateway) -> None:
    """A JSON POST (a page's script) is not read as a form: its token comes in X-CSRF-Token, or it is refused."""
    gw = console_gateway
    gw.add_user("scripted", gw.tenant_a, "viewer")
    with http_as(gw, "scripted") as c:
        token = csrf_of(c.get("/ui/keys").text)
        for headers in ({}, {"x-csrf-token": "forged"}):
            r = c.post("/ui/logout", json={"csrf_token": token}, headers=headers)  # a token in JSON does not count
            assert r.status_code == 403, r.text
        assert c.get("/ui/keys").status_code == 200
        r = c.post("/ui/logout", json={}, headers={"x-csrf-token": token})
        assert r.status_code == 303
        assert c.get("/ui/keys").status_code == 303  # signed out


def test_sign_in_attempts_per_address_are_throttled(tmp_path: Path, console_upstream: Any) -> None:
    gw, server = start_console_gateway(tmp_path, console_upstream[1].url, env={"ONEFLOW_LOGIN_IP_RPM": "3"})
    try:
        with httpx.Client(base_url=gw.url, timeout=30) as c:
            token = csrf_of(c.get("/ui/login").text)
            for name in ("owner", "admin", "viewer"):  # three accounts: no lock-out, but one address
                r = c.post(
                    "/ui/login", data={"email": gw.users[name].email, "password": "not it!", "csrf_token": token}
                )
                assert r.status_code == 401, r.text
            user = gw.users["member"]
            r = c.post("/ui/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
            assert r.status_code == 429 and "Too many login attempts from your address" in r.text
            assert "oneflow_console=" not in r.headers.get("set-cookie", "") and int(r.headers["retry-after"]) >= 1
    finally:
        server.stop()


def test_sessions_on_postgres(tmp_path: Path, console_upstream: Any, postgres_url: str) -> None:
    """The session's look-up (times compared in the database) on PostgreSQL: sign in, act, sign out."""
    gw, server = start_console_gateway(tmp_path, console_upstream[1].url, database_url=postgres_url)
    try:
        with http_as(gw, "admin") as c:
            _, secret = create_key(c, name="on-postgres")
            assert secret not in c.get("/ui/keys").text and "on-postgres" in c.get("/ui/keys").text
            assert c.post("/ui/logout", data={"csrf_token": csrf_of(c.get("/ui/keys").text)}).status_code == 303
            assert c.get("/ui/keys").status_code == 303
    finally:
        server.stop()
