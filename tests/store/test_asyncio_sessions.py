"""SQLAlchemy's asyncio extension loads without its ORM half until something asks for a session, and then the
real one is there (`store.asyncio_sessions`). Each case runs in a fresh interpreter: imports are per process."""

from __future__ import annotations

import subprocess
import sys

AFTER_ONEFLOW = """
import asyncio, sys
import oneflow_ai.app  # every module of the gateway imported: the extension with them
import sqlalchemy.ext.asyncio as package
assert "sqlalchemy.orm" not in sys.modules, "the ORM was imported with the gateway"
assert "sqlalchemy.ext.asyncio.session" not in sys.modules
assert package.AsyncEngine and package.create_async_engine and package.AsyncConnection

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_scoped_session, async_sessionmaker, create_async_engine
assert AsyncSession.__module__ == "sqlalchemy.ext.asyncio.session", AsyncSession
assert async_scoped_session.__module__ == "sqlalchemy.ext.asyncio.scoping"
assert package.session.AsyncSession is AsyncSession and package.AsyncSession is AsyncSession
assert "sqlalchemy.orm" in sys.modules

async def main():
    engine = create_async_engine("sqlite+aiosqlite://")
    async with async_sessionmaker(engine)() as session:
        assert (await session.execute(sa.text("select 41 + 1"))).scalar() == 42
    await engine.dispose()

asyncio.run(main())
try:
    package.NoSuchName
except AttributeError as e:
    assert "NoSuchName" in str(e)
else:
    raise AssertionError("an unknown name resolved")
print("ok")
"""

BEFORE_ONEFLOW = """
import sys
import sqlalchemy.ext.asyncio as package  # an embedding application imported the extension first
import oneflow_ai.app
from oneflow_ai.store import asyncio_sessions
assert "AsyncSession" in vars(package) and "sqlalchemy.ext.asyncio.session" in sys.modules
assert not any(type(f).__module__ == asyncio_sessions.__name__ for f in sys.meta_path)
print("ok")
"""


def run(code: str) -> None:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


def test_the_gateway_imports_the_extension_without_the_orm_and_a_session_still_works() -> None:
    run(AFTER_ONEFLOW)


def test_an_extension_imported_before_oneflow_is_left_as_it_is() -> None:
    run(BEFORE_ONEFLOW)
