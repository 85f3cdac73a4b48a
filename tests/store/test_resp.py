"""The hot path's Redis client against a real Redis: pipelined replies in order, error replies as values, the
database from the URL, a connection made again after Redis dropped it, timeouts and refusals as RedisErrors."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis
from redis.asyncio import Redis
from redis.exceptions import ConnectionError, ResponseError, TimeoutError

from oneflow_ai.store.resp import RespClient, encode
from tests.identity.conftest import DEAD_REDIS_URL, REDIS_URL


@pytest.fixture(autouse=True)
def need_redis() -> None:
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS_URL}")


def test_commands_are_encoded_as_arrays_of_bulk_strings() -> None:
    assert encode(["SET", "k", 12, b"\x00v"]) == b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n12\r\n$2\r\n\x00v\r\n"


async def test_replies_come_back_in_order_and_errors_are_values(redis_prefix: str) -> None:
    client = RespClient(REDIS_URL)
    key = redis_prefix + "n"
    replies = await client.execute([["SET", key, "1"], ["INCRBY", key, 41], ["HGET", key, "f"], ["GET", key]])
    assert replies[:2] == [b"OK", 42]
    assert isinstance(replies[2], ResponseError) and "WRONGTYPE" in str(replies[2])
    assert replies[3] == b"42"
    await client.close()


async def test_the_database_of_the_url_is_selected() -> None:
    base = REDIS_URL.rsplit("/", 1)[0]
    client = RespClient(f"{base}/5")
    key = f"oneflow:test:{uuid.uuid4().hex}"
    other = Redis.from_url(f"{base}/5")
    try:
        await client.execute([["SET", key, "in five", "EX", 600]])  # (expires even if the cleanup never runs)
        assert await other.get(key) == b"in five"
        assert await Redis.from_url(f"{base}/0").get(key) is None
    finally:
        await other.delete(key)
        await other.aclose()
    await client.close()


async def test_a_connection_redis_dropped_is_made_again() -> None:
    client = RespClient(REDIS_URL)
    [first] = await client.execute([["CLIENT", "ID"]])
    admin = Redis.from_url(REDIS_URL)
    assert await admin.execute_command("CLIENT", "KILL", "ID", first) == 1
    await admin.aclose()
    deadline = asyncio.get_running_loop().time() + 30
    while not (client._protocol is None or client._protocol.closed):  # until the client has seen the drop
        assert asyncio.get_running_loop().time() < deadline, "the client never saw Redis drop its connection"
        await asyncio.sleep(0.01)
    [second] = await client.execute([["CLIENT", "ID"]])
    assert second != first  # a new connection
    await client.close()


async def test_a_silent_redis_is_a_timeout_for_every_command_in_flight() -> None:
    client = RespClient(REDIS_URL, reply_timeout_s=0.2)
    key = f"oneflow:test:{uuid.uuid4().hex}"
    with pytest.raises(TimeoutError):
        await client.execute([["PING"], ["BLPOP", key, 5]])
    assert await client.execute([["PING"]]) == [b"PONG"]
    await client.close()


async def test_no_redis_is_a_connection_error() -> None:
    client = RespClient(DEAD_REDIS_URL)
    with pytest.raises(ConnectionError, match="cannot connect"):
        await client.execute([["PING"]])


def test_only_redis_urls() -> None:
    with pytest.raises(ValueError):
        RespClient("http://127.0.0.1:6379")
