"""Every page in the console's navigation (every module's, not only these), for every role: a page in a user's
menu opens (200), a page outside it answers 403, and none fails (500) or leaks internals."""

from __future__ import annotations

import re

from oneflow_ai.console.pages import PAGES
from tests.console.conftest import ConsoleGateway, http_as

LEAKS = ("Traceback", "sqlalchemy", 'File "', "key_hash", "password_hash")
NAV = re.compile(r'<nav aria-label="Main">(.*?)</nav>', re.S)


def test_every_page_for_every_role(console_gateway: ConsoleGateway) -> None:
    gw = console_gateway
    paths = ["/ui" + p.path for p in PAGES if p.title and p.path]
    assert {"/ui/keys", "/ui/users", "/ui/audit"} <= set(paths)
    for name in ("owner", "admin", "member", "viewer", "admin_b"):
        with http_as(gw, name) as c:
            home = c.get("/ui/")
            assert home.status_code == 303, (name, home.text)
            first = c.get(home.headers["location"])
            assert first.status_code == 200, (name, first.text)
            nav = NAV.search(first.text)
            assert nav, name
            shown = set(re.findall(r'href="(/ui/[^"]*)"', nav.group(1)))
            assert home.headers["location"] in shown
            for path in paths:
                r = c.get(path)
                assert not any(leak in r.text for leak in LEAKS), (name, path)
                if path in shown:
                    assert r.status_code == 200, (name, path, r.status_code, r.text[:500])
                else:
                    assert r.status_code == 403, (name, path, r.status_code, r.text[:500])
