"""The console's sub-application alone (no gateway): error pages and the sign-in redirect's target."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter
from starlette.testclient import TestClient

import oneflow_ai.console
from oneflow_ai.console.app import build_console
from oneflow_ai.console.page import Page
from oneflow_ai.console.pages.sign_in import safe_next
from oneflow_ai.errors import PermissionDenied


def test_unexpected_and_known_errors_render_as_pages() -> None:
    router = APIRouter()

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals /etc/passwd")

    @router.get("/denied")
    async def denied() -> None:
        raise PermissionDenied("Your role (viewer) may not manage the tenant.")

    client = TestClient(build_console(pages=(Page(router=router),)), raise_server_exceptions=False)
    r = client.get("/boom")
    assert r.status_code == 500 and r.headers["content-type"].startswith("text/html")
    assert "Something went wrong" in r.text and "secret internals" not in r.text and "Traceback" not in r.text
    r = client.get("/denied")
    assert r.status_code == 403 and "Your role (viewer) may not manage the tenant." in r.text
    assert r.headers["cache-control"] == "no-store"


def test_only_console_paths_are_followed_after_sign_in() -> None:
    assert safe_next("/ui/keys?offset=50") == "/ui/keys?offset=50"
    for evil in (
        None,
        "",
        "//evil.example/ui/",
        "https://evil.example/ui/",
        "/ui\\..\\x",
        "/\\evil",
        "/api/v1/x",
        "ui/",
    ):
        assert safe_next(evil) == "/ui/", evil


INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>|\sstyle\s*=|\son[a-z]+\s*=|javascript:|<style",
    re.IGNORECASE,
)


def test_no_template_holds_inline_script_or_style() -> None:
    """The CSP (`script-src 'self'; style-src 'self'`) would block them: every page's behaviour and looks live in
    static files (a `<script type="application/json">` data block is not a script: it is allowed). This covers
    the templates every console page adds."""
    templates = Path(oneflow_ai.console.__file__).parent / "templates"
    offending = {
        f"{path.name}: {match.group(0)!r}"
        for path in templates.glob("*.html")
        for match in INLINE.finditer(path.read_text())
    }
    assert not offending, sorted(offending)
