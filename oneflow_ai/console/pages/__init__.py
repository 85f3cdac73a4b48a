"""The one list of console pages, in navigation order. To add a page: write its module in this package
exposing `PAGE = Page(...)` (`console.page.Page`), import it here and add it to `PAGES` (see ../README.md)."""

from __future__ import annotations

from oneflow_ai.console.page import Page
from oneflow_ai.console.pages import audit, keys, overview, sign_in, sso, users

PAGES: tuple[Page, ...] = (
    sign_in.PAGE,
    sso.PAGE,
    overview.PAGE,
    keys.PAGE,
    users.PAGE,
    audit.PAGE,
)
