"""The operations subcommands of `oneflow`: `db upgrade|downgrade|current` and `check [--production]`."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from oneflow_ai.config import ConfigError, load_config
from oneflow_ai.ops import schema_revisions
from oneflow_ai.ops.production import check_production, read_env_file
from oneflow_ai.settings import Settings


def add_parsers(commands: Any) -> None:
    """Add `db` and `check` to the `oneflow` parser's subcommands."""
    db = commands.add_parser("db", help="the database schema: upgrade, downgrade, current revision")
    steps = db.add_subparsers(dest="db_command", required=True)
    up = steps.add_parser("upgrade", help="migrate forward (to the newest revision by default)")
    up.add_argument("revision", nargs="?", default="head")
    down = steps.add_parser("downgrade", help="migrate back (one revision by default; `base` empties it)")
    down.add_argument("revision", nargs="?", default="-1")
    steps.add_parser("current", help="the revision the database is at, and the newest one")
    check = commands.add_parser("check", help="validate the configuration; --production: is it fit for production")
    check.add_argument("--config", help="YAML configuration file (default: $ONEFLOW_CONFIG)")
    check.add_argument("--env-file", help="read the settings from NAME=value lines instead of the environment")
    check.add_argument("--production", action="store_true", help="also check the production requirements")


def run(args: argparse.Namespace) -> int | None:
    """The exit status of an operations command, or None when `args` names another command."""
    if args.command == "db":
        return _db(args.db_command, getattr(args, "revision", None))
    if args.command == "check":
        return _check(args)
    return None


def _db(step: str, revision: str | None) -> int:
    settings = Settings.from_env(os.environ)
    if step == "current":
        at, head = asyncio.run(schema_revisions.current(settings))
        print(f"{at or 'none'} (newest: {head})")
        return 0
    move = schema_revisions.upgrade if step == "upgrade" else schema_revisions.downgrade
    at = asyncio.run(move(settings, revision or ("head" if step == "upgrade" else "-1")))
    print(f"database at revision {at or 'none (empty)'}")
    return 0


def _check(args: argparse.Namespace) -> int:
    environ = read_env_file(Path(args.env_file).read_text()) if args.env_file else dict(os.environ)
    settings = Settings.from_env(environ)
    try:
        config = load_config(args.config or settings.config_path, environ)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 2
    if not args.production:
        print(f"configuration valid: {len(config.models)} models")
        return 0
    findings = check_production(settings, config)
    for f in findings:
        print(f"{f.severity}: {f.setting}: {f.message}")
    failed = sum(f.severity == "error" for f in findings)
    print(f"production check: {failed} errors, {len(findings) - failed} warnings")
    return 1 if failed else 0
