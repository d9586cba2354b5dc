"""The one exception tree of mlmkit.

Every error mlmkit raises on purpose is a [`MlmkitError`][mlmkit.exceptions.MlmkitError]; catch that
to handle
"anything mlmkit refused". The tree::

    MlmkitError                      base; never raised directly
    ├── ValidationError(ValueError)  a bad argument or a bad batch; nothing was written
    │   └── DuplicateError           the thing already exists (model version, prediction id)
    ├── NotFoundError(LookupError)   a model, version, prediction or alert does not exist
    ├── StateError                   the operation does not fit the current state
    │                                (rollback with no earlier deployment, finished rollout)
    ├── DependencyError(ImportError) an optional extra is missing; the message names it
    └── StoreError                   the DuckDB store failed
        ├── LockedError              another process kept the file locked past the retry bound
        └── SchemaError              the file was written by a newer mlmkit (or is not ours)

When to catch which:

- ``ValidationError`` in code that forwards user input (a serving loop): the message names the
  argument and the value received, and the batch was rejected whole.
- ``LockedError`` in schedulers: retry the job later; nothing was written.
- ``SchemaError``: upgrade mlmkit; the file is left untouched.

Errors raised from another library's error keep it as ``__cause__`` (``raise ... from err``).
"""

from __future__ import annotations

__all__ = [
    "DependencyError",
    "DuplicateError",
    "LockedError",
    "MlmkitError",
    "NotFoundError",
    "SchemaError",
    "StateError",
    "StoreError",
    "ValidationError",
]


class MlmkitError(Exception):
    """Base class of every error mlmkit raises on purpose."""


class ValidationError(MlmkitError, ValueError):
    """An argument or a batch is invalid; nothing was written.

    ``field`` names the argument or column, ``row`` the 0-based row of a batch (``None`` for
    an argument), ``value`` the value received; all ``None`` when not known. The HTTP API
    answers them as its JSON error.

    Examples
    --------
    >>> err = ValidationError("score (row 3) must be in [0, 1]; got 1.5", field="score",
    ...                       row=3, value=1.5)
    >>> err.field, err.row, err.value
    ('score', 3, 1.5)
    """

    def __init__(self, message: str = "", *, field: str | None = None, row: int | None = None,
                 value: object = None) -> None:
        super().__init__(message)
        self.field = field
        self.row = row
        self.value = value


class DuplicateError(ValidationError):
    """The item already exists (a registered model version, a prediction id)."""


class NotFoundError(MlmkitError, LookupError):
    """A model, version, prediction, experiment or alert does not exist."""


class StateError(MlmkitError):
    """The operation does not fit the current state (e.g. nothing to roll back to)."""


class DependencyError(MlmkitError, ImportError):
    """An optional dependency is missing; the message says which extra to install."""


class StoreError(MlmkitError):
    """The DuckDB store failed."""


class LockedError(StoreError):
    """Another process held the workspace file locked longer than the retry bound."""


class SchemaError(StoreError):
    """The workspace file has a schema this mlmkit cannot use (newer, or not mlmkit's)."""
