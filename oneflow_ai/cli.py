"""The `oneflow` command."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import cast

from oneflow_ai import __version__
from oneflow_ai.api.http_protocol import GatewayProtocol
from oneflow_ai.auth.master import ensure_master_key
from oneflow_ai.config import ConfigError, load_config
from oneflow_ai.ops.commands import add_parsers as add_ops_parsers
from oneflow_ai.ops.commands import run as run_ops
from oneflow_ai.settings import Settings
from oneflow_ai.store.db import SchemaTooNew, create_engine, migrate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="oneflow", description="OneFlow AI gateway")
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", help="YAML configuration file (default: $ONEFLOW_CONFIG, or none)")
    serve.add_argument("--host", default=os.environ.get("ONEFLOW_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("ONEFLOW_PORT", "8000")))
    serve.add_argument("--workers", type=int, default=int(os.environ.get("ONEFLOW_WORKERS", "1")))
    check = commands.add_parser("check-config", help="validate a configuration file and list its models")
    check.add_argument("config")
    commands.add_parser("migrate", help="bring the database schema up to date")
    imports = commands.add_parser("import-litellm", help="translate a LiteLLM proxy config.yaml to OneFlow's YAML")
    imports.add_argument("config", help="the LiteLLM config.yaml")
    imports.add_argument("-o", "--output", help="where to write OneFlow's YAML (default: standard output)")
    add_ops_parsers(commands)
    args = parser.parse_args(argv)
    if (status := run_ops(args)) is not None:
        return status

    if args.command == "check-config":
        return _check(args.config)
    if args.command == "import-litellm":
        from oneflow_ai.config.litellm_import import import_litellm

        return import_litellm(args.config, args.output, os.environ)
    if args.command == "migrate":
        try:
            asyncio.run(_migrate(Settings.from_env(os.environ)))
        except SchemaTooNew as e:
            print(f"oneflow: {e}", file=sys.stderr)
            return 1
        return 0
    return _serve(args)


def _check(path: str) -> int:
    try:
        config = load_config(path, os.environ, warn=_warn, require_env=True)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 2
    for group in config.models:
        print(f"{group.name}: " + ", ".join(f"{d.provider}/{d.model}" for d in group.deployments))
    return 0


async def _migrate(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.db_url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


def _serve(args: argparse.Namespace) -> int:
    from oneflow_ai.server import bind

    if args.config:
        os.environ["ONEFLOW_CONFIG"] = args.config
    settings = Settings.from_env(os.environ)
    try:
        # Every secret is read now, so that one missing stops the start here with its file:line; the workers
        # load the file again, and log what a LiteLLM config sets that has no equivalent, once each.
        config = load_config(settings.config_path, os.environ, warn=lambda _: None, require_env=True)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 2
    if args.workers > 1 and not settings.redis_url:
        _warn(
            f"--workers {args.workers} without REDIS_URL: each worker keeps its own rate limits, budget counters, "
            "response cache and idempotency keys (the metrics are shared); set REDIS_URL to make them one gateway"
        )
    address = f"http://[{args.host}]:{args.port}" if ":" in args.host else f"http://{args.host}:{args.port}"
    try:
        sock = bind(args.host, args.port)  # first: a taken port is a clear error now, not after the start-up
    except OSError as e:
        print(f"oneflow: cannot listen on {address}: {e.strerror or e}", file=sys.stderr)
        return 1
    with sock:
        return _serve_on(sock, address, args, settings, config.resolved_master_key)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _serve_on(
    sock: socket.socket, address: str, args: argparse.Namespace, settings: Settings, config_key: str | None
) -> int:
    import uvicorn

    from oneflow_ai.server import serve

    key, generated = ensure_master_key(settings.master_key or config_key, settings.data_dir)
    if generated:
        print(
            f"OneFlow generated a master key (shown once, kept in {settings.data_dir}/master_key):\n  {key}", flush=True
        )
    # Migrations run in a child process, so that Alembic and what it loads never take memory in the server's.
    migrated = subprocess.run([sys.executable, "-m", "oneflow_ai", "migrate"], check=False)
    if migrated.returncode != 0:
        print("oneflow: the database migration failed (see above)", file=sys.stderr)
        return migrated.returncode
    # Slow clients: an idle keep-alive connection closes after `keep_alive_s` (uvicorn's own timeout); a request's
    # headers and body must arrive within `header_timeout_s` and `body_timeout_s`, and its headers fit the limits
    # (our protocol; uvicorn has none of these).
    protocol = partial(
        GatewayProtocol,
        header_timeout_s=settings.header_timeout_s,
        body_timeout_s=settings.body_timeout_s,
        max_header_bytes=settings.max_header_bytes,
        max_headers=settings.max_headers,
    )
    config = uvicorn.Config(
        "oneflow_ai.app:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        ws="none",  # no WebSocket routes: do not load a WebSocket implementation
        http=cast(type[asyncio.Protocol], protocol),
        access_log=False,
        log_level="warning",
        # X-Forwarded-For/-Proto are believed only from the proxies named in ONEFLOW_TRUSTED_PROXIES (none by
        # default: a client could otherwise set its own address in the audit log); no `server: uvicorn` header.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies) or None,
        server_header=False,
        # On SIGTERM, calls in flight get this long to finish; the gateway cuts those still running just
        # before uvicorn would (`gateway.drain`): each is answered 503 `shutting_down` and recorded.
        timeout_graceful_shutdown=settings.shutdown_grace_s,
        timeout_keep_alive=settings.keep_alive_s,
    )
    listening = f"OneFlow {__version__} listening on {address} (docs: /docs)"
    with _metrics_dir(settings.data_dir, args.workers):
        return serve(config, sock, lambda: print(listening, flush=True))  # once the gateway answers on the socket


@contextmanager
def _metrics_dir(data_dir: Path, workers: int) -> Iterator[None]:
    """Several workers share their metrics' snapshots through files (`observability.worker_metrics`): a fresh
    directory under the data dir, named in ONEFLOW_WORKER_METRICS_DIR before the workers start, removed after."""
    if workers <= 1:
        yield
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    path = tempfile.mkdtemp(prefix="metrics-", dir=data_dir.resolve())
    os.environ["ONEFLOW_WORKER_METRICS_DIR"] = path
    try:
        yield
    finally:
        del os.environ["ONEFLOW_WORKER_METRICS_DIR"]
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
