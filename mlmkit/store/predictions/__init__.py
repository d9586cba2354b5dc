"""The predictions table: writes, delayed labels, aggregates pushed down as SQL, Parquet export."""

from __future__ import annotations

from mlmkit.store.predictions.writes import (
    BASE_COLUMNS,
    PredictionStore,
)

__all__ = [
    'BASE_COLUMNS',
    'PredictionStore',
]
