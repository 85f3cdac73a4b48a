"""Rendering a page: a Jinja2 template inside the layout (`base.html`), with the navigation and the CSRF token.

Templates are autoescaped; they hold no inline script or style (the CSP forbids both): behaviour lives in
`static/console.js`, looks in `static/console.css`. Every page is `Cache-Control: no-store` (a page may show a
secret once).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from oneflow_ai.auth.principal import Principal
from oneflow_ai.console.page import NavEntry, Page
from oneflow_ai.identity.roles import Can, can, is_superuser

TEMPLATES = Path(__file__).parent / "templates"
NO_STORE = {"cache-control": "no-store"}


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def nav(pages: tuple[Page, ...], principal: Principal | None, path: str) -> list[NavEntry]:
    if principal is None:
        return []
    return [
        NavEntry(p.title, "/ui" + p.path, path == "/ui" + p.path or path.startswith("/ui" + p.path + "/"))
        for p in pages
        if p.title and p.path and p.visible(principal)
    ]


def role_of(p: Principal | None) -> str:
    if p is None:
        return ""
    return "superuser" if is_superuser(p) else p.role or "none"


def render(request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200) -> HTMLResponse:
    """`template` rendered with `context`, plus what every page has: `principal`, `role`, `nav`, `csrf_token`,
    `can("MANAGE_TENANT")` (the role rules of `identity.roles`), `path`."""
    principal: Principal | None = getattr(request.state, "console_principal", None)
    env: Environment = request.app.state.console_templates
    pages: tuple[Page, ...] = request.app.state.console_pages
    body = env.get_template(template).render(
        principal=principal,
        role=role_of(principal),
        nav=nav(pages, principal, request.url.path),
        csrf_token=getattr(request.state, "console_csrf", ""),
        can=lambda name: principal is not None and can(principal, Can[name]),
        path=request.url.path,
        **(context or {}),
    )
    return HTMLResponse(body, status_code=status, headers=NO_STORE)
