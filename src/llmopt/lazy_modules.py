"""Modules imported on first use, for the ones a run may never need.

`scipy.stats` takes ~0.9 s to import and nine modules use it; an hour with no traffic reaches none of their
functions, yet paid for it at every start because each imported it at the top.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class LazyModule:
    """Stands for the module `name` and imports it at its first attribute access (thread-safe: the import
    system's lock serializes a first access from two threads)."""

    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str):
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}{'' if self._module is None else ' (imported)'}>"


scipy_stats = LazyModule("scipy.stats")
scipy_optimize = LazyModule("scipy.optimize")
