"""Lazy imports of the optional notebook dependencies (``pip install 'mlmkit[viz]'``)."""

from __future__ import annotations

import importlib
from types import ModuleType

from mlmkit.exceptions import DependencyError

_EXTRA = {
    "altair": "viz", "ipywidgets": "viz", "vl_convert": "viz", "tqdm": "viz",
    "papermill": "report", "nbconvert": "report", "nbformat": "report", "IPython": "viz",
}


def require(module: str) -> ModuleType:
    """Import ``module`` or raise :class:`DependencyError` naming the extra to install.

    Examples
    --------
    >>> require("json").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        extra = _EXTRA.get(module.split(".")[0], "viz")
        raise DependencyError(
            f"{module} is needed for this feature; install it with "
            f"pip install 'mlmkit[{extra}]'") from err


def altair() -> ModuleType:
    """The ``altair`` module with the mlmkit theme registered (once)."""
    alt = require("altair")
    from mlmkit.viz._theme import register_theme

    register_theme(alt)
    return alt


def widgets() -> ModuleType:
    """The ``ipywidgets`` module."""
    return require("ipywidgets")


def tqdm() -> ModuleType:
    """The ``tqdm.auto`` module (progress bars that work in notebooks and terminals)."""
    return require("tqdm.auto")
