"""Single sign-on in a real headless browser (Debian's chromium, Playwright; the console's harness): the sign-in
page's SSO link, the trip to the local provider and back, the console open with the role the claims earn; and the
page a refused user sees. Screenshots go to the console's artifacts (`sso-*.png`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import CHROMIUM, screenshot
from tests.fakes.oidc_provider import FakeOIDCProvider
from tests.sso.conftest import SSOGateway, start_sso_gateway


@pytest.fixture
def page() -> Iterator[Any]:
    """A page of a browser of this test's own: Playwright's sync API holds an event loop on the test's thread for
    as long as it runs, which would stop any later test's `asyncio.run` (a session-wide browser would)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (install Debian's chromium package; .ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
        context.close()
        browser.close()


@pytest.fixture
def browser_gateway(provider: FakeOIDCProvider, gateway_port: int, tmp_path: Path) -> Iterator[SSOGateway]:
    yield from start_sso_gateway(provider, gateway_port, f"sqlite:///{tmp_path / 'oneflow.db'}", tmp_path)


def test_sign_in_with_sso_in_the_browser(browser_gateway: SSOGateway, page: Any) -> None:
    gw = browser_gateway
    page.goto(gw.url + "/ui/login?next=/ui/keys")
    link = page.locator("#sso-sign-in")
    assert link.inner_text() == "Sign in with Test IdP"
    screenshot(page, "sso-sign-in-page")
    link.click()
    page.wait_for_selector("#sign-out")
    assert page.url == gw.url + "/ui/keys"
    assert page.locator(".who .role").inner_text() == "admin"
    screenshot(page, "sso-signed-in")
    (user,) = gw.users_of(f"sub-{gw.suffix}")
    assert (user["role"], user["tenant_id"]) == ("admin", f"acme-{gw.tenant_suffix}")


def test_a_refused_user_sees_why(browser_gateway: SSOGateway, page: Any) -> None:
    gw = browser_gateway
    gw.provider.user = {**gw.provider.user, "groups": [], "email": f"ana-{gw.suffix}@elsewhere.org"}
    page.goto(gw.url + "/ui/login")
    page.click("#sso-sign-in")
    page.wait_for_selector("text=no rule of this gateway admits your account")
    assert page.locator("#sign-out").count() == 0
    screenshot(page, "sso-refused")
