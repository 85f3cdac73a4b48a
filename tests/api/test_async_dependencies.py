"""FastAPI runs a plain-`def` dependency (or endpoint) in AnyIO's thread pool: the first admin call would start a
worker thread, with its stack and the backend's import (~0.7 MiB of a worker's RSS), for a lookup in
`request.state`. Every dependency of the API and the console is `async def`, and admin calls start no thread."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from oneflow_ai.app import create_app
from oneflow_ai.console.pages import PAGES
from oneflow_ai.settings import Settings
from tests.conftest import MASTER_KEY, GatewayFactory

ADMIN = {"authorization": f"Bearer {MASTER_KEY}"}
CONFIG = """
models:
  - name: chat
    deployments:
      - {provider: openai_compatible, model: gpt-4o-mini, base_url: "http://127.0.0.1:9/v1"}
"""


def calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from calls(sub)


def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (included := getattr(route, "original_router", None)) is not None:  # FastAPI's included router
            yield from api_routes(included.routes)


def fastapi_of(app: Any) -> FastAPI:
    while not isinstance(app, FastAPI):  # the edge's layers each wrap the next as `.app`
        app = app.app
    return app


def test_every_endpoint_and_dependency_is_async(tmp_path: Path) -> None:
    app = fastapi_of(create_app(Settings(data_dir=tmp_path, master_key=MASTER_KEY), {}))
    routes = [*api_routes(app.routes), *(r for page in PAGES for r in api_routes(page.router.routes))]
    assert len(routes) > 100
    run_in_a_thread = {
        f"{r.path}: {getattr(call, '__qualname__', call)}"
        for r in routes
        for call in (r.endpoint, *calls(r.dependant))
        if not (inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call))
    }
    assert run_in_a_thread == set()


def test_admin_calls_start_no_worker_thread(start_gateway: GatewayFactory) -> None:
    url = start_gateway(config_yaml=CONFIG).url + "/api/v1/admin"
    before = set(threading.enumerate())
    created = httpx.post(url + "/api-keys", headers=ADMIN, json={"name": "threads"}, timeout=30)
    assert created.status_code == 201, created.text
    for path in ("/budgets", "/webhooks", "/experiments", "/cache/stats", "/features/status", "/api-keys"):
        assert httpx.get(url + path, headers=ADMIN, timeout=30).status_code == 200, path
    started = {t.name for t in set(threading.enumerate()) - before}
    assert "AnyIO worker thread" not in started
