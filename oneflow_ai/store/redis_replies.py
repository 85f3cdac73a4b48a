"""The asyncio client's replies, as the type checker should see them.

redis-py before 7.2 (what `pyproject.toml` allows) annotates each command once for its sync and its asyncio client,
as `Awaitable[T] | T`; on `redis.asyncio.Redis` and its pipelines the reply is always the awaitable. `reply` says
so where a reply is awaited; it returns its argument as it is.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar, cast

T = TypeVar("T")


def reply(value: Awaitable[T] | T) -> Awaitable[T]:
    """A command's reply on the asyncio client: the awaitable it is."""
    return cast("Awaitable[T]", value)
