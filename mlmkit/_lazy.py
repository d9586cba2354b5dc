"""Lazy re-exports: a package lists names it exports from submodules loaded on first access."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_getattr(package: str, names: Mapping[str, str], *, modules: Iterable[str] = ()
                 ) -> Callable[[str], Any]:
    """Return a module ``__getattr__`` loading ``names[attr]`` (or submodule ``attr``) on use.

    ``names`` maps an attribute to the module that defines it; ``modules`` lists submodules of
    ``package`` that are themselves attributes (``from package import submodule``).
    """
    submodules = frozenset(modules)

    def __getattr__(attr: str) -> Any:
        if attr in submodules:
            return importlib.import_module(f"{package}.{attr}")
        module = names.get(attr)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {attr!r}")
        return getattr(importlib.import_module(module), attr)

    return __getattr__
