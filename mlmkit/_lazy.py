"""Lazy imports: optional dependencies imported on demand, and lazy package re-exports.

`require` is the one way mlmkit imports an optional dependency: a missing one raises
[`DependencyError`][mlmkit.exceptions.DependencyError] naming the ``pip install 'mlmkit[extra]'``
command. `lazy_getattr` builds a package ``__getattr__`` so that ``import mlmkit`` stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from types import ModuleType
from typing import Any

from mlmkit.exceptions import DependencyError


def require(module: str, extra: str) -> ModuleType:
    """Import ``module``, or raise [`DependencyError`][mlmkit.exceptions.DependencyError] naming the extra that installs it.

    Parameters
    ----------
    module : str
        Dotted module name (``"altair"``, ``"tqdm.auto"``).
    extra : str
        The mlmkit extra providing it (``"viz"``, ``"report"``, ``"ops"``).

    Examples
    --------
    >>> require("json", "viz").__name__
    'json'
    >>> require("no_such_module_xyz", "ops")
    Traceback (most recent call last):
    ...
    mlmkit.exceptions.DependencyError: no_such_module_xyz is needed for this feature; install it with: pip install 'mlmkit[ops]'
    """  # noqa: E501
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise DependencyError(f"{module} is needed for this feature; install it with: "
                              f"pip install 'mlmkit[{extra}]'") from err


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
