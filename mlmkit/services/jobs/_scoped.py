"""A job's per-model step inside the statistics engine's optional scope.

`scoped_for_each` runs a job body over the versions of each model inside one
``scope(model_name, window)`` block of the engine (`mlmkit.store.engines.base.scope`): on
Spark the model's rows of the window are read once into memory and the per-version window
aggregates are computed once for all its versions; elsewhere the block does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from mlmkit._jsonable import JSONObject
from mlmkit.store.engines.base import scope
from mlmkit.values import ModelMetadata, TimeRange

if TYPE_CHECKING:
    from mlmkit.services.jobs.bodies import JobContext

__all__ = ["scoped_for_each"]


def scoped_for_each(ctx: JobContext, models: Iterable[ModelMetadata], engine: object,
                    span: TimeRange,
                    body: Callable[[ModelMetadata, logging.LoggerAdapter], JSONObject]) -> None:
    """``ctx.for_each(models, body)``, each model's versions in one engine scope of ``span``.

    Models keep the order of their first version; a model's versions stay in their order.
    """
    by_model: dict[str, list[ModelMetadata]] = {}
    for meta in models:
        by_model.setdefault(meta.model_name, []).append(meta)
    for name, metas in by_model.items():
        with scope(engine, name, span):
            ctx.for_each(metas, body)
