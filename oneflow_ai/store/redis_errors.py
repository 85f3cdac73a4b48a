"""redis-py's exceptions, for modules that catch them but are loaded whether or not the gateway has a Redis.

Importing anything of `redis`, even `redis.exceptions`, runs the package's `__init__`, which loads the whole client
(with hiredis: ~4 MiB in every worker, ~8 with redis-py 8 and the OpenTelemetry SDK), memory a gateway without
`REDIS_URL` never uses. An `except` clause's expression is evaluated only when an exception reaches it, so
`except (redis_error(), OSError)` costs nothing while nothing is raised, and imports redis-py only then.
"""

from __future__ import annotations


def redis_error() -> type[Exception]:
    """redis-py's base exception."""
    from redis.exceptions import RedisError

    return RedisError


def unreachable() -> tuple[type[Exception], ...]:
    """Redis could not be reached, or did not answer in time: redis-py's `ConnectionError` and `TimeoutError`, and
    the `OSError` of a socket."""
    from redis.exceptions import ConnectionError, TimeoutError

    return ConnectionError, TimeoutError, OSError
