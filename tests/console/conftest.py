"""The console's test harness: a real gateway over real HTTP with a fake OpenAI upstream, seeded tenants and users,
and a real headless browser (Debian's chromium driven by Playwright).

Fixtures and helpers for every console test (pages added by other modules use them too):

- `console_gateway` (session): `ConsoleGateway` with `.url`, `.database_url`, `.upstream` (the fake OpenAI
  server's URL), `.users[name]` (`SeedUser`: email, password, id, tenant_id, role) for `owner`, `admin`, `viewer`
  and `member` of tenant A (`.tenant_a`) and `admin_b` of tenant B (`.tenant_b`); the model `mini` is served by
  the fake upstream. `start_console_gateway(dir, upstream_url, ...)` starts another one (own config or env).
- `http_as(gateway, name)`: an `httpx.Client` signed in through the sign-in form (cookies kept), for the quick
  plain-HTTP tests; `csrf_of(html)` reads a page's CSRF token.
- `browser` (session) and `page` (a fresh context per test: no cookies); `sign_in(page, gateway, name)`;
  `wait_ready(page)` waits until the page's script has run (wait on that, never on time); `screenshot(page,
  name)` writes `<name>.png` under `$ONEFLOW_TEST_ARTIFACTS` (default `artifacts/console/` in the repository).
  Browser tests skip, saying why, only when `/usr/bin/chromium` is missing.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from oneflow_ai.app import create_app
from oneflow_ai.settings import Settings
from tests.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.fakes.openai_upstream import OpenAIUpstream
from tests.fakes.runner import AiohttpServer, UvicornServer

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery staple"
REPO = Path(__file__).resolve().parents[2]
MASTER = {"authorization": f"Bearer {MASTER_KEY}"}
SEED_ROLES = {"owner": "a", "admin": "a", "viewer": "a", "member": "a", "admin_b": "b"}
"""Who is seeded: user name -> tenant (`a` or `b`); the role is the name without its tenant suffix."""


@dataclass(frozen=True)
class SeedUser:
    name: str
    email: str
    password: str
    id: str
    tenant_id: str
    role: str


@dataclass
class ConsoleGateway:
    url: str
    database_url: str
    upstream: str
    tenant_a: str = ""
    tenant_b: str = ""
    users: dict[str, SeedUser] = field(default_factory=dict)

    def admin_api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """The admin API with the master key."""
        return httpx.request(method, self.url + "/api/v1/admin" + path, headers=MASTER, timeout=30, **kw)

    def add_user(self, name: str, tenant_id: str, role: str) -> SeedUser:
        email = f"{name}-{os.urandom(4).hex()}@example.com"
        r = self.admin_api(
            "POST",
            "/auth/register",
            json={"name": name, "email": email, "password": PASSWORD, "role": role, "tenant_id": tenant_id},
        )
        assert r.status_code == 201, r.text
        user = SeedUser(name, email, PASSWORD, r.json()["id"], tenant_id, role)
        self.users[name] = user
        return user


def config_yaml(upstream_url: str) -> str:
    return f"""
models:
  - name: mini
    deployments:
      - provider: openai
        model: gpt-4o-mini
        base_url: {upstream_url}/v1
        api_key: env:UPSTREAM_KEY
"""


def start_console_gateway(
    directory: Path,
    upstream_url: str,
    *,
    env: dict[str, str] | None = None,
    yaml: str | None = None,
    database_url: str | None = None,
    **settings: Any,
) -> tuple[ConsoleGateway, UvicornServer]:
    """A gateway (on SQLite in `directory` unless `database_url` is given), its tenants and users seeded; stop the
    server when done."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "config.yaml"
    config.write_text(yaml if yaml is not None else config_yaml(upstream_url))
    database_url = database_url or f"sqlite:///{directory / 'oneflow.db'}"
    s = Settings(
        config_path=str(config),
        data_dir=directory / "data",
        master_key=MASTER_KEY,
        database_url=database_url,
        ledger_interval_s=0.05,
        **settings,
    )
    environ = {"UPSTREAM_KEY": UPSTREAM_KEY, "ONEFLOW_LOGIN_IP_RPM": "100000", **(env or {})}
    server = UvicornServer(lambda: create_app(s, environ))
    gw = ConsoleGateway(server.url, database_url, upstream_url)
    try:
        for label in ("a", "b"):
            r = gw.admin_api("POST", "/tenants", json={"name": f"Tenant {label.upper()}"})
            assert r.status_code == 201, r.text
            setattr(gw, f"tenant_{label}", r.json()["id"])
        for name, label in SEED_ROLES.items():
            gw.add_user(name, getattr(gw, f"tenant_{label}"), name.removesuffix("_b"))
    except BaseException:
        server.stop()
        raise
    return gw, server


@pytest.fixture(scope="session")
def console_upstream() -> Iterator[tuple[OpenAIUpstream, AiohttpServer]]:
    fake = OpenAIUpstream(require_key=UPSTREAM_KEY)
    server = AiohttpServer(fake.app)
    yield fake, server
    server.stop()


@pytest.fixture(scope="session")
def console_gateway(
    tmp_path_factory: pytest.TempPathFactory, console_upstream: tuple[OpenAIUpstream, AiohttpServer]
) -> Iterator[ConsoleGateway]:
    gw, server = start_console_gateway(tmp_path_factory.mktemp("console"), console_upstream[1].url)
    yield gw
    server.stop()


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


@contextmanager
def http_as(gw: ConsoleGateway, name: str) -> Iterator[httpx.Client]:
    """`with http_as(gw, "viewer") as c:` a client signed in to the console as the seeded user `name` (through
    the sign-in form; its cookies kept)."""
    user = gw.users[name]
    with httpx.Client(base_url=gw.url, timeout=30) as client:
        form = client.get("/ui/login")
        assert form.status_code == 200, form.text
        r = client.post(
            "/ui/login",
            data={"email": user.email, "password": user.password, "csrf_token": csrf_of(form.text), "next": "/ui/keys"},
        )
        assert r.status_code == 303, r.text
        yield client


# --- the browser -------------------------------------------------------------------------------------------------


def artifacts_dir() -> Path:
    path = Path(os.environ.get("ONEFLOW_TEST_ARTIFACTS") or REPO / "artifacts" / "console")
    path.mkdir(parents=True, exist_ok=True)
    return path


def screenshot(page: Any, name: str) -> Path:
    """A full-page PNG of what the browser shows, kept as a test artifact."""
    path = artifacts_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module. Not for the session: while Playwright's sync API is open an event loop runs on
    the main thread, and every later `asyncio.run` (other test directories' fixtures) would fail."""
    if not (Path(CHROMIUM).exists() and shutil.which(CHROMIUM)):
        pytest.skip(f"{CHROMIUM} is missing (install Debian's chromium package; .ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page in a fresh browser context (no cookies); dialogs (confirmations) are accepted."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.on("dialog", lambda dialog: dialog.accept())
    yield page
    context.close()


def wait_ready(page: Any) -> None:
    """Until the page's scripts have set it up (`console.js` marks `<html data-console-ready>`)."""
    page.wait_for_selector("html[data-console-ready]", state="attached")


def sign_in(page: Any, gw: ConsoleGateway, name: str, *, then: str = "/ui/") -> None:
    user = gw.users[name]
    page.goto(gw.url + "/ui/login?next=" + then)
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", user.password)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#sign-out")
    wait_ready(page)


SignIn = Callable[[Any, ConsoleGateway, str], None]
