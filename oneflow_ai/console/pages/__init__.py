"""The one list of console pages, in navigation order. To add a page: write its module in this package
exposing `PAGE = Page(...)` (`console.page.Page`), import it here and add it to `PAGES` (see ../README.md)."""

from __future__ import annotations

from oneflow_ai.console.page import Page
from oneflow_ai.console.pages import (
    audit,
    budgets,
    cache,
    experiments,
    guardrails,
    insights,
    keys,
    overview,
    providers,
    requests,
    sign_in,
    sso,
    users,
)

PAGES: tuple[Page, ...] = (
    sign_in.PAGE,
    sso.PAGE,
    overview.PAGE,
    requests.PAGE,
    keys.PAGE,
    budgets.PAGE,
    users.PAGE,
    audit.PAGE,
    cache.PAGE,
    providers.PAGE,
    guardrails.PAGE,
    insights.PAGE,
    experiments.PAGE,
)
