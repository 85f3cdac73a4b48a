"""`Page`: what a console page declares about itself, so the console can mount it and list it in the navigation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter

from oneflow_ai.auth.principal import Principal


def everyone(_: Principal) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Page:
    """One console page (or a family of pages under one path).

    `router`: its routes, with paths relative to `/ui` (e.g. `@router.get("/keys")`). `title` and `path` make
    its navigation entry (`path` is where the entry points, e.g. `/keys`); a page without a `title` (the
    sign-in page) has no entry. `visible(principal)` says who sees the entry: follow the API's role rules
    (`identity.roles.can`), so nobody is shown a page that would answer 403. The routes must check the
    rules themselves too: a hidden entry is not a permission.
    """

    router: APIRouter
    title: str | None = None
    path: str | None = None
    visible: Callable[[Principal], bool] = everyone


@dataclass(frozen=True, slots=True)
class NavEntry:
    title: str
    href: str
    current: bool
