"""Optional libraries some detectors need, imported on first use, and the error naming the extra that provides them."""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtra(RuntimeError):
    """A detector's library is not installed; the message names the extra to install."""


EXTRA_MODULES = {"guardrails": ("phonenumbers", "stdnum")}


def require(module: str, extra: str = "guardrails") -> ModuleType:
    """The imported module, or MissingExtra naming `pip install 'oneflow-ai[<extra>]'`."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(
            f"the guardrail detectors need the '{extra}' extra ({module} is not installed): "
            f"pip install 'oneflow-ai[{extra}]'"
        ) from exc


def check_extra(extra: str | None) -> None:
    """Raises MissingExtra now (at configuration time) if `extra`'s libraries cannot be imported."""
    for module in EXTRA_MODULES.get(extra or "", ()):
        require(module, extra or "")
