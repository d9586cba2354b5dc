"""Loading threshold curves for the tuning engine: one aggregated DuckDB pass per call."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import numpy as np
import polars as pl

from mlmkit._validation import check_real
from mlmkit.analysis.thresholds.curve import threshold_curve_from_histogram
from mlmkit.analysis.tuning import count_curve
from mlmkit.exceptions import StateError
from mlmkit.store.engines import StatisticsEngine
from mlmkit.store.tuning_runs import MAX_SQL_GRID_POINTS
from mlmkit.values import ModelMetadata, TimeRange, WindowLike, resolve_range

DEFAULT_THRESHOLD = 0.5


def time_range(window: WindowLike | None, start: datetime | None,
               end: datetime | None) -> TimeRange | None:
    """The tuning methods' window: `resolve_range`, ``None`` for all rows.

    ``window=None`` without ``start`` / ``end`` reads every row; the methods' default window
    (a [`DefaultWindow`][mlmkit.windows.DefaultWindow]) gives way to explicit ``start`` / ``end``.
    """
    return resolve_range(window, start=start, end=end, default=None)


def configured_threshold(meta: ModelMetadata | None) -> float:
    """The version's ``configuration["threshold"]``, or 0.5."""
    if meta is None or "threshold" not in meta.configuration:
        return DEFAULT_THRESHOLD
    return check_real("configuration['threshold']", meta.configuration["threshold"])


def load_curve(engine: StatisticsEngine, model_name: str, version: str, span: TimeRange | None, *,
               points: np.ndarray[tuple[int], np.dtype[np.float64]] | None) -> pl.DataFrame:
    """The threshold curve of one version's labelled, scored predictions.

    With ``points`` (sorted thresholds, at most ``MAX_SQL_GRID_POINTS``) one scan counts the
    rows per cell between them in DuckDB, exact at those thresholds. Otherwise one scan fetches
    the labelled ``(score, actual)`` columns and the curve (one row per distinct score) is
    built by sorting in numpy: with continuous scores ``GROUP BY score`` has about one group
    per row and measured slower than an ``ORDER BY score`` scan, while the plain scan plus
    ``np.sort`` is several times faster than either.
    """
    if points is not None and points.size <= MAX_SQL_GRID_POINTS:
        cells = engine.grid_cell_counts(model_name, points.tolist(), versions=[version],
                                        time_range=span)
        require_rows(cells.height, model_name, version, span)
        pos = np.zeros(points.size + 1, dtype=np.int64)
        neg = np.zeros(points.size + 1, dtype=np.int64)
        index = cells["cell"].to_numpy()
        pos[index] = cells["pos"].to_numpy()
        neg[index] = cells["neg"].to_numpy()
        if index[0] == 0:
            edges = np.concatenate([[float(cells["min_score"][0])], points])
            return threshold_curve_from_histogram(edges, pos, neg)
        return threshold_curve_from_histogram(points, pos[1:], neg[1:])
    rows = engine.labelled_scores(model_name, versions=[version], time_range=span)
    require_rows(rows.height, model_name, version, span)
    return count_curve(rows["actual"].to_numpy(), rows["score"].to_numpy())


def require_rows(height: int, model_name: str, version: str, span: TimeRange | None) -> None:
    """Raise `StateError` (insufficient data) when the window holds no labelled rows."""
    if height == 0:
        where = "" if span is None else (f" between {span.start.isoformat()} and "
                                         f"{span.end.isoformat()}")
        raise StateError(f"model_name={model_name!r} version={version!r} has no labelled, "
                         f"scored predictions{where}; log scores and record actuals first")


def totals(curve: pl.DataFrame) -> tuple[int, int]:
    """Labelled rows and positives of a curve."""
    first: Mapping[str, int] = curve.row(0, named=True)
    return (int(first["tp"] + first["fp"] + first["tn"] + first["fn"]),
            int(first["tp"] + first["fn"]))
