"""SQLAlchemy's asyncio extension, its ORM half (the sessions) imported on first use.

`sqlalchemy.ext.asyncio` imports `AsyncSession` and `async_scoped_session` as it loads, and with them all of
`sqlalchemy.orm`: 41 modules and ~6 MiB in every worker, which runs Core statements on `AsyncEngine` and
`AsyncConnection` and never makes a session. `defer()` (from `oneflow_ai/__init__`, before any of our modules
imports the extension) wraps the package's loader once: its `__init__` runs as written, with the two session
modules standing in as empty placeholders that are taken back as soon as it has run; the package then resolves
those names (PEP 562, module `__getattr__`) by importing the real modules the first time anyone asks. Any code
in the process still gets the real `AsyncSession`; only the ORM's import moves. If the extension is imported
already (an embedding application imported it first), nothing is changed.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

PACKAGE = "sqlalchemy.ext.asyncio"
DEFERRED: dict[str, tuple[str, ...]] = {
    "scoping": ("async_scoped_session",),
    "session": (
        "AsyncAttrs",
        "AsyncSession",
        "AsyncSessionTransaction",
        "async_object_session",
        "async_session",
        "async_sessionmaker",
        "close_all_sessions",
    ),
}
"""The package's submodules that import the ORM, and the names its `__init__` takes from each."""


def defer() -> None:
    """Have the next import of the extension leave its sessions for first use (once; a no-op if it is loaded)."""
    if PACKAGE in sys.modules or any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _Finder())


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != PACKAGE:
            return None
        sys.meta_path.remove(self)  # one import to wrap: the real finders find the package's spec
        for finder in sys.meta_path:
            spec = finder.find_spec(fullname, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None and isinstance(spec.loader, importlib.abc.Loader):
                spec.loader = _Loader(spec.loader)
                return spec
        return None


class _Loader(importlib.abc.Loader):
    def __init__(self, real: importlib.abc.Loader) -> None:
        self._real = real

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._real.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        placeholders = [_placeholder(f"{PACKAGE}.{sub}", names) for sub, names in DEFERRED.items()]
        for p in placeholders:
            sys.modules[p.__name__] = p
        try:
            self._real.exec_module(module)
        finally:
            for p in placeholders:
                if sys.modules.get(p.__name__) is p:
                    del sys.modules[p.__name__]
        for sub, names in DEFERRED.items():
            for name in (sub, *names):
                module.__dict__.pop(name, None)
        module.__getattr__ = _first_use  # type: ignore[method-assign]


def _placeholder(name: str, names: tuple[str, ...]) -> ModuleType:
    module = ModuleType(name)
    for n in names:
        setattr(module, n, None)
    return module


def _first_use(name: str) -> Any:
    """A deferred name of the package: its real module imported now (and the name kept on the package)."""
    for sub, names in DEFERRED.items():
        if name == sub or name in names:
            real = importlib.import_module(f"{PACKAGE}.{sub}")
            value = real if name == sub else getattr(real, name)
            setattr(sys.modules[PACKAGE], name, value)
            return value
    raise AttributeError(f"module {PACKAGE!r} has no attribute {name!r}")
