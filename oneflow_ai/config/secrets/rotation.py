"""Reading a running gateway's secret references again (a rotated key), without a restart.

`read_again` does the I/O (run it off the event loop); `Gateway.swap_secrets` then puts the values in at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from oneflow_ai.config.schema import Deployment
from oneflow_ai.config.secrets import Resolver, is_reference


def read_again(deployments: Iterable[Deployment], environ: Mapping[str, str]) -> dict[str, str]:
    """By deployment id, the value its `api_key` reference names now (`env:` is left out: a process's environment
    does not change). One that cannot be read raises `SecretError` (naming it), and nothing is swapped."""
    resolver = Resolver(environ)
    return {
        d.id: resolver.resolve(d.api_key)
        for d in deployments
        if d.api_key is not None and is_reference(d.api_key) and not d.api_key.startswith("env:")
    }
