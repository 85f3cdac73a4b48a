"""Give a worker's free memory back to the system: collect the garbage in cycles, then have glibc return the free
pages of its heap (`malloc_trim(0)`).

After a burst of calls a worker keeps what the burst left: objects of closed connections waiting for the cycle
collector, and glibc's free chunks, which it keeps for the next allocations rather than returning. Both are
measured in issue 20 (~0.6 and ~1.5-2 MiB after 64 calls in flight). This is called by `ops.idle_trim` when the
worker has gone quiet, never on a call's path: a full collection walks every object that start-up's `gc.freeze`
did not set aside. Without glibc (musl, macOS) only the collection runs.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from functools import cache

log = logging.getLogger("oneflow")


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where the C library has none. ctypes is imported on the first trim only."""
    import ctypes

    try:
        trim = ctypes.CDLL(None).malloc_trim  # the process's own C library
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def give_back() -> None:
    """Collect every generation, then trim glibc's heap; say what it cost (debug log)."""
    started = time.perf_counter()
    found = gc.collect()
    collected = time.perf_counter()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
    log.debug(
        "idle: the garbage collector found %d objects in %.1f ms, malloc_trim took %.1f ms",
        found,
        (collected - started) * 1000,
        (time.perf_counter() - collected) * 1000 if trim is not None else 0.0,
    )
