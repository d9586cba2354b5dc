"""Data drift, prediction drift and label-free performance estimates on the prediction log.

``ws.monitor.data_drift(model, version, reference=..., current=...)`` compares every logged
feature (and the score, as *prediction drift*) of a current selection with a reference:

- ``reference``: a duration (``"7d"``: that span ending where ``current`` starts, same
  version), a ``(start, end)`` pair, a version (``Version`` or ``{"version": "1.0.0"}``,
  optionally with ``"window"``: that version's rows over the current window unless a window
  is given), or a frame of feature values (polars / pandas / dict of arrays).
- ``current``: a duration ending now, or a ``(start, end)`` pair.

Method: the rule of :mod:`mlmkit.analysis.drift.detect` (``auto``). When both sides hold more than
1,000 values the statistics come from histograms computed in DuckDB (two scans for all
columns: ranges, moments and category counts, then the numeric histograms; no rows
transferred): the normalised Wasserstein distance from 2,000 equal-width bins over the joint
range (error at most one bin width, i.e. below 0.5 % of the range) and Jensen-Shannon from
exact category counts. Smaller samples, numeric features whose reference values fill at most
5 bins (hence low-cardinality ones), explicit methods other than these, and frame references
load the values and call :func:`mlmkit.analysis.drift.detect_drift` (exact).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from mlmkit._validation import check_int, check_name, invalid
from mlmkit.analysis.drift.detect import (
    detect_drift,
    jensen_shannon_from_counts,
    wasserstein_from_histogram,
)
from mlmkit.analysis.estimation import EstimatedMetrics, estimate_performance
from mlmkit.store.predictions import drift as drift_sql
from mlmkit.store.predictions.drift import Side
from mlmkit.values import TimeRange, Version, resolve_range

if TYPE_CHECKING:
    from mlmkit.store.predictions.writes import PredictionStore

__all__ = ["data_drift", "estimate_performance_window", "resolve_sides"]

_SMALL = 1000
_BINS = 2000
_SCHEMA = {"feature": pl.String, "kind": pl.String, "method": pl.String,
           "statistic": pl.Float64, "p_value": pl.Float64, "adjusted_p_value": pl.Float64,
           "threshold": pl.Float64, "drift": pl.Boolean, "n_reference": pl.Int64,
           "n_current": pl.Int64, "source": pl.String}


def _range(value: Any, name: str, *, end: datetime | None = None) -> TimeRange:
    """A duration ending at ``end`` (now when None) or a ``(start, end)`` pair."""
    if not isinstance(value, (str, timedelta, tuple, list)):
        raise invalid(name, "a duration or a (start, end) pair", value)
    return resolve_range(value, now=end, name=name)


def resolve_sides(model_version: str | None, reference: Any, current: Any
                  ) -> tuple[Side | None, Side, Any]:
    """``(reference side or None, current side, reference frame or None)``."""
    versions = None if model_version is None else (model_version,)
    cur = Side(versions, _range(current, "current"))
    if isinstance(reference, Version) or (isinstance(reference, Mapping)
                                           and "version" in reference):
        spec = {"version": reference} if isinstance(reference, Version) else dict(reference)
        ver = str(Version.parse(spec["version"], "reference"))
        window = spec.get("window")
        span = cur.time_range if window is None else _range(window, "reference window",
                                                            end=cur.time_range.start)
        return Side((ver,), span), cur, None
    if isinstance(reference, (str, timedelta, tuple, list)):
        return Side(versions, _range(reference, "reference", end=cur.time_range.start)), cur, \
            None
    if isinstance(reference, (pl.DataFrame, Mapping)) or hasattr(reference, "to_dict"):
        return None, cur, reference
    raise invalid("reference", "a duration, a (start, end) pair, a version or a frame",
                  reference)


def _columns(store: PredictionStore, model_name: str, features: Any, prediction: bool
             ) -> dict[str, tuple[str, str]]:
    fmap = store.feature_map(model_name, refresh=True)
    if features is not None:
        missing = [f for f in features if f not in fmap]
        if missing:
            raise invalid("features", f"logged features of {model_name!r}", missing)
        fmap = {f: fmap[f] for f in features}
    cols = {f: (c, "numeric" if kind == "numeric" else "categorical")
            for f, (c, kind) in fmap.items()}
    if prediction:
        cols["score"] = ("score", "prediction")
    return cols


def _sql_rows(store: PredictionStore, model_name: str, cols: dict[str, tuple[str, str]], ref: Side,
              cur: Side) -> tuple[list[dict[str, Any]], list[str]]:
    """Drift rows computed from SQL histograms, plus the features needing exact rows."""
    numeric = {f: c for f, (c, k) in cols.items() if k != "categorical"}
    categorical = {f: c for f, (c, k) in cols.items() if k == "categorical"}
    stats, cats = drift_sql.side_stats(store.db, model_name, list(numeric.values()),
                                       list(categorical.values()), ref, cur)
    by_col = {r["column"]: r for r in stats.iter_rows(named=True)}
    exact: list[str] = []
    ranges: dict[str, tuple[float, float]] = {}
    for feature, column in numeric.items():
        st = by_col[column]
        if min(st["n_ref"], st["n_cur"]) <= _SMALL:
            exact.append(feature)
        else:
            ranges[column] = (float(st["lo"]), float(st["hi"]))
    hist = drift_sql.numeric_histograms(store.db, model_name, ranges, ref, cur, bins=_BINS)
    rows: list[dict[str, Any]] = []
    for feature, column in numeric.items():
        if column not in ranges:
            continue
        counts = hist[column]
        if np.count_nonzero(counts[0]) <= 5:  # <= 5 distinct reference values: exact tests
            exact.append(feature)
            continue
        lo, hi = ranges[column]
        edges = np.linspace(lo, hi if hi > lo else lo + _BINS, _BINS + 1)
        stat = wasserstein_from_histogram(edges, counts[0], counts[1],
                                          reference_std=float(by_col[column]["ref_std"] or 0))
        rows.append(_row(feature, cols[feature][1], stat.to_dict(), "sql"))
    for feature, column in categorical.items():
        wide = (cats.filter(pl.col("column") == column)
                .pivot(on="side", index="value", values="n").fill_null(0))
        r = wide["0"].to_numpy() if "0" in wide.columns else np.zeros(wide.height)
        c = wide["1"].to_numpy() if "1" in wide.columns else np.zeros(wide.height)
        if min(r.sum(), c.sum()) <= _SMALL:
            exact.append(feature)
            continue
        stat = jensen_shannon_from_counts(r, c)
        rows.append(_row(feature, "categorical", stat.to_dict(), "sql"))
    return rows, exact


def _row(feature: str, kind: str, stat: dict[str, Any], source: str) -> dict[str, Any]:
    return {"feature": feature, "kind": kind, "method": stat["method"],
            "statistic": float(stat["statistic"]), "p_value": stat.get("p_value"),
            "adjusted_p_value": stat.get("adjusted_p_value", stat.get("p_value")),
            "threshold": float(stat["threshold"]),
            "drift": bool(stat.get("drift_detected", stat.get("drift"))),
            "n_reference": int(stat["n_reference"]), "n_current": int(stat["n_current"]),
            "source": source}


def _exact_rows(store: PredictionStore, model_name: str, cols: dict[str, tuple[str, str]],
                features: list[str], ref: Side | None, cur: Side, frame: Any,
                method: Any) -> list[dict[str, Any]]:
    if not features:
        return []
    columns = [cols[f][0] for f in features]
    current = drift_sql.side_rows(store.db, model_name, columns, cur)
    current.columns = features
    if ref is not None:
        reference = drift_sql.side_rows(store.db, model_name, columns, ref)
        reference.columns = features
    else:
        reference = frame if isinstance(frame, pl.DataFrame) else pl.DataFrame(
            frame.to_dict("list") if hasattr(frame, "to_dict") and not isinstance(
                frame, Mapping) else dict(frame))
        missing = [f for f in features if f not in reference.columns]
        if missing:
            raise invalid("reference", f"a frame with the columns {features}", missing)
    report = detect_drift(reference.select(features), current, method=method)
    out = []
    for rec in report.features.iter_rows(named=True):
        kind = cols[rec["feature"]][1]
        out.append(_row(rec["feature"], kind if kind == "prediction" else rec["kind"], rec,
                        "rows"))
    return out


def data_drift(store: PredictionStore, model_name: str, version: Any = None, *,
               reference: Any = "7d", current: Any = "24h", features: Any = None,
               prediction: bool = True, method: str = "auto") -> pl.DataFrame:
    """Per-feature drift (one row per feature, plus ``score`` for prediction drift).

    Columns: ``feature, kind ("numeric"|"categorical"|"prediction"), method, statistic,
    p_value, adjusted_p_value, threshold, drift, n_reference, n_current, source
    ("sql"|"rows")``. See the module docstring for ``reference`` / ``current``.
    """
    check_name("model_name", model_name)
    ver = None if version is None else str(Version.parse(version))
    ref, cur, frame = resolve_sides(ver, reference, current)
    cols = _columns(store, model_name, features, prediction and frame is None)
    if frame is not None:
        names = [f for f in cols if f in _frame_columns(frame)]
        rows = _exact_rows(store, model_name, cols, names, None, cur, frame, method)
    elif method == "auto":
        rows, exact = _sql_rows(store, model_name, cols, ref, cur)  # type: ignore[arg-type]
        rows += _exact_rows(store, model_name, cols, exact, ref, cur, None, method)
    else:
        rows = _exact_rows(store, model_name, cols, list(cols), ref, cur, None, method)
    order = {f: i for i, f in enumerate(cols)}
    rows.sort(key=lambda r: order.get(r["feature"], math.inf))
    return pl.DataFrame(rows, schema=_SCHEMA)


def _frame_columns(frame: Any) -> list[str]:
    if isinstance(frame, Mapping):
        return list(frame)
    return list(getattr(frame, "columns", []))


def estimate_performance_window(store: PredictionStore, model_name: str, version: Any, *,
                                reference: Any = "7d", current: Any = "24h",
                                threshold: float = 0.5, n_simulations: int = 200
                                ) -> EstimatedMetrics:
    """CBPE estimate of the current window's metrics from scores alone.

    The calibration is fitted on the labelled, scored rows of ``reference`` (same forms as
    :func:`data_drift`, frames excepted); the current window's labels, if any, are ignored.
    """
    check_name("model_name", model_name)
    ver = str(Version.parse(version))
    ref, cur, frame = resolve_sides(ver, reference, current)
    if ref is None or frame is not None:
        raise invalid("reference", "a duration, a (start, end) pair or a version", reference)
    ref_rows = drift_sql.side_rows(store.db, model_name, ["actual", "score"], ref)
    ref_rows = ref_rows.drop_nulls()
    cur_rows = drift_sql.side_rows(store.db, model_name, ["score"], cur).drop_nulls()
    if cur_rows.height == 0:
        raise invalid("current", "a window with scored predictions", current)
    return estimate_performance(ref_rows["actual"].to_numpy(), ref_rows["score"].to_numpy(),
                                cur_rows["score"].to_numpy(), threshold=threshold,
                                n_simulations=check_int("n_simulations", n_simulations, low=0))
