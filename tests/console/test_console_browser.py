"""The console in a real headless browser (Debian's chromium, driven by Playwright): sign in, create a key and see
it once, call the gateway with it, the role and tenant rules as a user sees them; a screenshot of each page."""

from __future__ import annotations

from typing import Any

import openai
from playwright.sync_api import expect

from tests.console.conftest import ConsoleGateway, screenshot, sign_in, wait_ready


def csp_violations(page: Any) -> list[str]:
    """Messages the browser logs when the CSP blocks something (an inline script or style would)."""
    found: list[str] = []
    page.on("console", lambda m: found.append(m.text) if "Content Security Policy" in m.text else None)
    return found


def test_sign_in_create_a_key_see_it_once_and_use_it(page: Any, console_gateway: ConsoleGateway) -> None:
    gw = console_gateway
    violations = csp_violations(page)
    page.goto(gw.url + "/ui/")
    assert page.url.startswith(gw.url + "/ui/login")
    screenshot(page, "sign-in")
    sign_in(page, gw, "owner", then="/ui/keys")
    assert page.url == gw.url + "/ui/keys"
    page.fill("#create-key-form input[name=name]", "browser-key")
    page.select_option("#allowed-models", ["mini"])  # the gateway's models, listed
    page.fill("#create-key-form input[name=rpm_limit]", "120")
    page.fill("#create-key-form input[name=tpm_limit]", "50000")
    screenshot(page, "keys-create-form")
    page.click("#create-key-button")
    secret = page.text_content("#secret")
    assert secret is not None and secret.startswith("sk-of-")
    wait_ready(page)  # the script has replaced the POST in the history: a reload lists the keys
    screenshot(page, "key-created-once")

    page.reload()
    assert page.query_selector("#secret") is None and secret not in page.content()
    assert "browser-key" in page.content()

    client = openai.OpenAI(api_key=secret.strip(), base_url=gw.url + "/v1", max_retries=0)
    for _ in range(3):
        reply = client.chat.completions.create(model="mini", messages=[{"role": "user", "content": "hello"}])
        assert reply.choices[0].message.content
    page.reload()
    screenshot(page, "keys")
    assert violations == []


def test_rotate_and_revoke_from_the_page(page: Any, console_gateway: ConsoleGateway) -> None:
    gw = console_gateway
    sign_in(page, gw, "admin", then="/ui/keys")
    page.fill("#create-key-form input[name=name]", "rotate-me")
    page.click("#create-key-button")
    first = (page.text_content("#secret") or "").strip()
    page.click("#back-to-keys")
    row = page.locator("tr", has_text="rotate-me")
    row.locator("select[name=grace_period_s]").select_option("0")
    row.locator("button.rotate").click()  # the confirmation dialog is accepted by the fixture
    second = (page.text_content("#secret") or "").strip()
    assert second.startswith("sk-of-") and second != first
    screenshot(page, "key-rotated")
    old = openai.OpenAI(api_key=first, base_url=gw.url + "/v1", max_retries=0)
    new = openai.OpenAI(api_key=second, base_url=gw.url + "/v1", max_retries=0)
    try:
        old.chat.completions.create(model="mini", messages=[{"role": "user", "content": "hi"}])
        raise AssertionError("the rotated-out secret still works (grace period 0)")
    except openai.AuthenticationError:
        pass
    assert new.chat.completions.create(model="mini", messages=[{"role": "user", "content": "hi"}]).choices
    page.goto(gw.url + "/ui/keys")
    live = page.locator("tr", has_text="rotate-me").filter(has=page.locator("button.revoke"))
    live.locator("button.revoke").click()
    expect(page.locator("tr", has_text="rotate-me").locator(".status-revoked")).to_have_count(1)
    try:
        new.chat.completions.create(model="mini", messages=[{"role": "user", "content": "hi"}])
        raise AssertionError("a revoked key still works")
    except openai.AuthenticationError:
        pass


def test_a_viewer_sees_no_create_button_and_a_forged_post_is_refused(
    page: Any, console_gateway: ConsoleGateway
) -> None:
    gw = console_gateway
    sign_in(page, gw, "viewer", then="/ui/keys")
    assert page.query_selector("#create-key-form") is None
    assert page.query_selector("button.rotate") is None and page.query_selector("button.revoke") is None
    assert page.query_selector("nav a[href='/ui/audit']") is None
    screenshot(page, "keys-as-viewer")
    token = page.get_attribute("input[name=csrf_token]", "value")
    forged = page.request.post(
        gw.url + "/ui/keys", form={"csrf_token": token or "", "name": "forged", "role": "viewer"}
    )
    assert forged.status == 403 and "may not" in forged.text()
    page.goto(gw.url + "/ui/audit")
    assert "Not allowed" in page.content()
    screenshot(page, "error-403")
    assert all(k["name"] != "forged" for k in gw.admin_api("GET", "/api-keys").json()["data"])


def test_tenant_b_never_sees_tenant_a(page: Any, console_gateway: ConsoleGateway) -> None:
    gw = console_gateway
    created = gw.admin_api("POST", "/api-keys", json={"name": "a-only-key", "tenant_id": gw.tenant_a})
    assert created.status_code == 201
    a_emails = [u.email for u in gw.users.values() if u.tenant_id == gw.tenant_a]
    sign_in(page, gw, "admin_b", then="/ui/keys")
    for path, shot in (("/ui/keys", "keys-tenant-b"), ("/ui/users", "users-tenant-b"), ("/ui/audit", "audit-tenant-b")):
        page.goto(gw.url + path)
        html = page.content()
        assert "a-only-key" not in html and created.json()["id"] not in html and gw.tenant_a not in html
        assert not any(email in html for email in a_emails)
        screenshot(page, shot)


def test_users_and_audit_pages(page: Any, console_gateway: ConsoleGateway) -> None:
    gw = console_gateway
    violations = csp_violations(page)
    sign_in(page, gw, "owner", then="/ui/users")
    page.fill("#create-department-form input[name=name]", "Finance")
    page.click("#create-department-form button")
    page.wait_for_selector("#departments >> text=Finance")
    page.fill("#create-user-form input[name=name]", "Browser Made")
    page.fill("#create-user-form input[name=email]", "browser-made@example.com")
    page.fill("#create-user-form input[name=password]", "a long enough password 1")
    page.select_option("#create-user-form select[name=role]", "viewer")
    page.select_option("#create-user-form select[name=department_id]", label="Finance")
    page.click("#create-user-form button")
    row = page.locator("tr", has_text="browser-made@example.com")
    expect(row.locator("td").nth(2)).to_have_text("viewer")
    expect(row.locator("td").nth(3)).to_have_text("Finance")
    row.locator("select[name=role]").select_option("member")
    row.locator("button", has_text="Change role").click()
    expect(page.locator("tr", has_text="browser-made@example.com").locator("td").nth(2)).to_have_text("member")
    screenshot(page, "users")
    page.click("nav a[href='/ui/audit']")
    page.wait_for_url("**/ui/audit")
    assert "user.register" in page.content() and "department.create" in page.content()
    screenshot(page, "audit")
    page.fill("input[name=action]", "user.update")
    page.click("form.filter button")
    page.wait_for_url("**/ui/audit?action=user.update")
    expect(page.locator("#audit")).not_to_contain_text("user.register")
    expect(page.locator("#audit")).to_contain_text("user.update")
    page.click("#sign-out")
    page.wait_for_url("**/ui/login**")
    page.goto(gw.url + "/ui/keys")
    assert "/ui/login" in page.url  # signed out for good
    assert violations == []
