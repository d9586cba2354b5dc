"""Data drift, prediction drift and label-free performance estimates on the prediction log.

``ws.monitor.data_drift(model, version, reference=..., current=...)`` compares every logged
feature (and the score, as *prediction drift*) of a current selection with a reference:

- ``reference``: a duration (``"7d"``: that span ending where ``current`` starts, same
  version), a ``(start, end)`` pair, a version (``Version`` or ``{"version": "1.0.0"}``,
  optionally with ``"window"``: that version's rows over the current window unless a window
  is given), or a frame of feature values (polars / pandas / dict of arrays).
- ``current``: a duration ending now, or a ``(start, end)`` pair.

Method: the rule of [`mlmkit.analysis.drift`][mlmkit.analysis.drift] (``auto``). When
both sides hold more than 1,000 values the statistics come from histograms computed in DuckDB (two
scans for all columns: ranges, moments and category counts, then the numeric histograms; no rows
transferred): the normalised Wasserstein distance from 2,000 equal-width bins over the joint
range (error at most one bin width, i.e. below 0.5 % of the range) and Jensen-Shannon from
exact category counts. Smaller samples, numeric features whose reference values fill at most
5 bins (hence low-cardinality ones), explicit methods other than these, and frame references
load the values and call
[`mlmkit.analysis.drift.detect_drift`][mlmkit.analysis.drift.detect_drift] (exact).

Missing values (NULL; ingest stores NaN and ±inf as NULL, and rows logged before it did are
read the same way) are a signal of their own. The value statistics use the present values
only, and per feature the missing share of the two sides is compared by
`mlmkit.analysis.drift.missing_drift` (2 x 2 chi-square, Holm across the features,
drift when significant at 0.05 *and* Cohen's ``|h| >= 0.1``). ``drift`` is true when either
signal drifted. A feature with no present value on one side gets no value statistic
(``method`` null) and is judged on its missingness only; it never raises.

``effect_size`` is the normalised Wasserstein distance (numeric, score) or the Jensen-Shannon
distance (categorical) of the present values whatever decided ``drift``: with small samples
(``ks`` / ``chi_square``) it says how large a significant shift is, so an alert can ask for
both (see the ``drift-detection`` job).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NotRequired, TypedDict, cast

import numpy as np
import numpy.typing as npt
import polars as pl

from mlmkit._bins import bin_edges
from mlmkit._validation import check_name, invalid
from mlmkit.analysis.drift.detect import (
    detect_drift,
    jensen_shannon,
    jensen_shannon_from_counts,
    wasserstein,
    wasserstein_from_histogram,
)
from mlmkit.analysis.drift.missing import missing_drift
from mlmkit.store.engines import Side, StatisticsEngine, WorkspaceEngine
from mlmkit.values import TimeRange, Version, VersionLike, resolve_range

if TYPE_CHECKING:
    from mlmkit.store.predictions.writes import PredictionStore

__all__ = ["data_drift", "drift_frame", "exact_rows", "reference_versions", "resolve_sides",
           "split_columns", "sql_plan", "sql_value_rows"]

_SMALL = 1000
_BINS = 2000
_SCHEMA = {"feature": pl.String, "kind": pl.String, "method": pl.String,
           "statistic": pl.Float64, "p_value": pl.Float64, "adjusted_p_value": pl.Float64,
           "threshold": pl.Float64, "drift": pl.Boolean, "n_reference": pl.Int64,
           "n_current": pl.Int64, "source": pl.String, "effect_size": pl.Float64,
           "missing_reference": pl.Float64, "missing_current": pl.Float64,
           "missing_effect": pl.Float64, "missing_p_value": pl.Float64,
           "missing_drift": pl.Boolean}
_Counts = npt.NDArray[np.float64]  # a (2, bins) histogram: reference row, current row
#: Per feature: (missing, rows) on the reference side, then on the current side.
Missing = dict[str, tuple[int, int, int, int]]


class _Stat(TypedDict, total=False):
    """A drift statistic: ``DriftStat.to_dict()`` or a row of ``detect_drift(...).features``."""

    method: str
    statistic: float
    p_value: float | None
    adjusted_p_value: float | None
    threshold: float
    drift_detected: bool
    drift: bool
    n_reference: int
    n_current: int
    kind: str


class _DriftRow(TypedDict):
    """One row of the `data_drift` frame (the ``missing_*`` columns come last)."""

    feature: str
    kind: str
    method: str | None
    statistic: float | None
    p_value: float | None
    adjusted_p_value: float | None
    threshold: float | None
    drift: bool
    n_reference: int
    n_current: int
    source: str
    effect_size: float | None
    missing_reference: NotRequired[float]
    missing_current: NotRequired[float]
    missing_effect: NotRequired[float]
    missing_p_value: NotRequired[float]
    missing_drift: NotRequired[bool]


def _range(value: object, name: str, *, end: datetime | None = None) -> TimeRange:
    """A duration ending at ``end`` (now when None) or a ``(start, end)`` pair."""
    if not isinstance(value, (str, timedelta, tuple, list)):
        raise invalid(name, "a duration or a (start, end) pair", value)
    return resolve_range(value, now=end, name=name)


def reference_versions(reference: object) -> list[str]:
    """The version a ``reference=`` names (a version, or a mapping with ``version``), if any.

    The service checks it is registered: a typo'd reference version read no rows and reported
    every feature as not drifting.
    """
    if isinstance(reference, Version) or (isinstance(reference, Mapping)
                                           and "version" in reference):
        spec = reference if isinstance(reference, Version) else reference["version"]
        return [str(Version.parse(spec, "reference"))]
    return []


def resolve_sides(model_version: str | None, reference: object, current: object
                  ) -> tuple[Side | None, Side, object]:
    """``(reference side or None, current side, reference frame or None)``."""
    versions = None if model_version is None else (model_version,)
    cur = Side(versions, _range(current, "current"))
    if named := reference_versions(reference):
        ver = named[0]
        window = reference.get("window") if isinstance(reference, Mapping) else None
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


#: The prediction column compared as prediction drift, by task (binary, score-only: score).
PREDICTION_COLUMNS = {"multiclass": ("label", "categorical"), "regression": ("value", "numeric")}


def _columns(store: PredictionStore, model_name: str, features: Iterable[str] | None,
             prediction: bool, task: str = "binary"
             ) -> dict[str, tuple[str, str]]:
    fmap = store.feature_map(model_name, refresh=True)
    if features is not None:
        missing = [f for f in features if f not in fmap]
        if missing:
            raise invalid("features", f"logged features of {model_name!r}", missing)
        fmap = {f: fmap[f] for f in features}
    cols = {f: (c, "numeric" if kind == "numeric" else "categorical")
            for f, (c, kind) in fmap.items()}
    if prediction and task in PREDICTION_COLUMNS:
        cols["prediction"] = PREDICTION_COLUMNS[task]
    elif prediction:
        cols["score"] = ("score", "prediction")
    return cols


def split_columns(cols: dict[str, tuple[str, str]]) -> tuple[dict[str, str], dict[str, str]]:
    """``(numeric, categorical)``: feature -> storage column, in ``cols``' order."""
    return ({f: c for f, (c, k) in cols.items() if k != "categorical"},
            {f: c for f, (c, k) in cols.items() if k == "categorical"})


def _sql_rows(engine: StatisticsEngine, model_name: str, cols: dict[str, tuple[str, str]],
              ref: Side, cur: Side) -> tuple[list[_DriftRow], list[str], Missing]:
    """Drift rows from SQL histograms, the features needing exact rows, missing counts."""
    numeric, categorical = split_columns(cols)
    stats, cats = engine.side_stats(model_name, [*numeric.values()], [*categorical.values()],
                                    ref, cur)
    missing, exact, ranges = sql_plan(cols, stats)
    hist = engine.numeric_histograms(model_name, ranges, ref, cur, bins=_BINS)
    return sql_value_rows(cols, stats, cats, ranges, hist, exact), exact, missing


def sql_plan(cols: dict[str, tuple[str, str]], stats: pl.DataFrame
             ) -> tuple[Missing, list[str], dict[str, tuple[float, float]]]:
    """``(missing counts, features needing exact rows, numeric histogram ranges)``."""
    numeric, _ = split_columns(cols)
    by_col = {r["column"]: r for r in stats.iter_rows(named=True)}
    missing = {f: (by_col[c]["rows_ref"] - by_col[c]["n_ref"], by_col[c]["rows_ref"],
                   by_col[c]["rows_cur"] - by_col[c]["n_cur"], by_col[c]["rows_cur"])
               for f, (c, _) in cols.items()}
    exact: list[str] = []
    ranges: dict[str, tuple[float, float]] = {}
    for feature, column in numeric.items():
        st = by_col[column]
        if min(st["n_ref"], st["n_cur"]) <= _SMALL:
            exact.append(feature)
        else:
            ranges[column] = (float(st["lo"]), float(st["hi"]))
    return missing, exact, ranges


def sql_value_rows(cols: dict[str, tuple[str, str]], stats: pl.DataFrame, cats: pl.DataFrame,
                   ranges: dict[str, tuple[float, float]], hist: Mapping[str, _Counts],
                   exact: list[str]) -> list[_DriftRow]:
    """Rows of the histogram statistics (``exact`` gains the features they cannot decide)."""
    numeric, categorical = split_columns(cols)
    by_col = {r["column"]: r for r in stats.iter_rows(named=True)}
    rows: list[_DriftRow] = []
    for feature, column in numeric.items():
        if column not in ranges:
            continue
        counts = hist[column]
        if np.count_nonzero(counts[0]) <= 5:  # <= 5 distinct reference values: exact tests
            exact.append(feature)
            continue
        lo, hi = ranges[column]
        edges = bin_edges(lo, hi, _BINS)
        stat = wasserstein_from_histogram(edges, counts[0], counts[1],
                                          reference_std=float(by_col[column]["ref_std"] or 0))
        rows.append(_row(feature, cols[feature][1], cast("_Stat", stat.to_dict()), "sql"))
    for feature, column in categorical.items():
        wide = (cats.filter(pl.col("column") == column)
                .pivot(on="side", index="value", values="n").fill_null(0))
        r = wide["0"].to_numpy() if "0" in wide.columns else np.zeros(wide.height)
        c = wide["1"].to_numpy() if "1" in wide.columns else np.zeros(wide.height)
        if min(r.sum(), c.sum()) <= _SMALL:
            exact.append(feature)
            continue
        stat = jensen_shannon_from_counts(r, c)
        rows.append(_row(feature, "categorical", cast("_Stat", stat.to_dict()), "sql"))
    return rows


def _row(feature: str, kind: str, stat: _Stat, source: str) -> _DriftRow:
    return {"feature": feature, "kind": kind, "method": stat["method"],
            "statistic": float(stat["statistic"]), "p_value": stat.get("p_value"),
            "adjusted_p_value": stat.get("adjusted_p_value", stat.get("p_value")),
            "threshold": float(stat["threshold"]),
            "drift": bool(stat.get("drift_detected", stat.get("drift"))),
            "n_reference": int(stat["n_reference"]), "n_current": int(stat["n_current"]),
            "source": source, "effect_size": float(stat["statistic"])}


def _finite(frame: pl.DataFrame) -> pl.DataFrame:
    """NaN and ±inf in float columns read as missing (null), as ingest stores them."""
    return frame.with_columns(pl.when(pl.col(c).is_finite()).then(pl.col(c)).alias(c)
                              for c, t in frame.schema.items() if t.is_float())


def _missing(reference: pl.DataFrame, current: pl.DataFrame) -> Missing:
    rn, cn = reference.null_count().row(0, named=True), current.null_count().row(0, named=True)
    return {f: (rn[f], reference.height, cn[f], current.height) for f in current.columns}


def _effect(kind: str, ref: pl.Series, cur: pl.Series) -> float:
    """Normalised Wasserstein (numbers) or Jensen-Shannon (categories) of present values."""
    if kind == "categorical":
        return jensen_shannon(ref.cast(pl.String).to_numpy(), cur.cast(pl.String).to_numpy(),
                              categorical=True).statistic
    return wasserstein(ref.to_numpy(), cur.to_numpy(), normalized=True).statistic


def _absent(feature: str, kind: str, n_reference: int, n_current: int) -> _DriftRow:
    """The row of a feature without a present value on one side: no value statistic."""
    return {"feature": feature, "kind": kind, "method": None, "statistic": None,
            "p_value": None, "adjusted_p_value": None, "threshold": None, "drift": False,
            "n_reference": n_reference, "n_current": n_current, "source": "rows",
            "effect_size": None}


def exact_rows(engine: StatisticsEngine, model_name: str, cols: dict[str, tuple[str, str]],
                features: list[str], ref: Side | None, cur: Side, frame: object,
                method: str) -> tuple[list[_DriftRow], Missing]:
    """Rows of the exact tests on the values of ``features`` (``frame``: the reference)."""
    if not features:
        return [], {}
    columns = [cols[f][0] for f in features]
    finite = [cols[f][0] for f in features if cols[f][1] != "categorical"]
    current = engine.side_rows(model_name, columns, cur, finite=finite)
    current.columns = features
    if ref is not None:
        reference = engine.side_rows(model_name, columns, ref, finite=finite)
        reference.columns = features
    else:
        reference = _frame(frame)
        missing = [f for f in features if f not in reference.columns]
        if missing:
            raise invalid("reference", f"a frame with the columns {features}", missing)
    reference, current = _finite(reference.select(features)), _finite(current)
    counts = _missing(reference, current)
    present = [f for f in features if min(counts[f][1] - counts[f][0],
                                          counts[f][3] - counts[f][2]) > 0]
    out = [_absent(f, cols[f][1], counts[f][1] - counts[f][0], counts[f][3] - counts[f][2])
           for f in features if f not in present]
    if present:
        report = detect_drift(reference.select(present), current.select(present), method=method)
        for rec in report.features.iter_rows(named=True):
            f = rec["feature"]
            row = _row(f, cols[f][1] if cols[f][1] == "prediction" else rec["kind"],
                       cast("_Stat", rec), "rows")
            row["effect_size"] = _effect(rec["kind"], reference[f].drop_nulls(),
                                         current[f].drop_nulls())
            out.append(row)
    return out, counts


def _with_missing(rows: list[_DriftRow], counts: Missing) -> list[_DriftRow]:
    """Add the missing-share columns (one Holm family over all rows) and fold them in ``drift``."""
    if not rows:
        return rows
    c = np.array([counts[r["feature"]] for r in rows], dtype=np.int64).reshape(len(rows), 4)
    test = missing_drift(c[:, 0], c[:, 1], c[:, 2], c[:, 3])
    for row, m in zip(rows, test.iter_rows(named=True), strict=True):
        row["missing_reference"] = m["share_reference"]
        row["missing_current"] = m["share_current"]
        row["missing_effect"] = m["effect"]
        row["missing_p_value"] = m["adjusted_p_value"]
        row["missing_drift"] = m["drift"]
        row["drift"] = bool(row["drift"] or m["drift"])
    return rows


def data_drift(store: PredictionStore, model_name: str, version: VersionLike | None = None, *,
               reference: object = "7d", current: object = "24h",
               features: Iterable[str] | None = None,
               prediction: bool = True, method: str = "auto",
               engine: StatisticsEngine | None = None, task: str = "binary") -> pl.DataFrame:
    """Per-feature drift (one row per feature, plus ``score`` for prediction drift).

    The prediction row of a multiclass model is ``prediction``, its predicted class mix
    (categorical); of a regression model ``prediction``, its predicted values (numeric); of a
    binary or score-only model ``score``. Its ``kind`` is ``"prediction"`` in every case.

    Columns: ``feature, kind ("numeric"|"categorical"|"prediction"), method, statistic,
    p_value, adjusted_p_value, threshold, drift, n_reference, n_current`` (present values),
    ``source ("sql"|"rows"), effect_size, missing_reference, missing_current`` (shares),
    ``missing_effect`` (Cohen's h), ``missing_p_value`` (Holm-adjusted), ``missing_drift``.
    ``drift`` is value drift or ``missing_drift``. See the module docstring for
    ``reference`` / ``current`` and the missingness rule. ``engine`` computes the aggregates
    (default: the workspace database); the feature map comes from ``store``.
    """
    check_name("model_name", model_name)
    engine = WorkspaceEngine(store.db) if engine is None else engine
    ver = None if version is None else str(Version.parse(version))
    ref, cur, frame = resolve_sides(ver, reference, current)
    cols = _columns(store, model_name, features, prediction and frame is None, task)
    if frame is not None:
        names = [f for f in cols if f in _frame_columns(frame)]
        rows, counts = exact_rows(engine, model_name, cols, names, None, cur, frame, method)
    elif method == "auto":
        rows, exact, counts = _sql_rows(engine, model_name, cols, ref, cur)  # type: ignore[arg-type]
        rows += exact_rows(engine, model_name, cols, exact, ref, cur, None, method)[0]
    else:
        rows, counts = exact_rows(engine, model_name, cols, list(cols), ref, cur, None, method)
    return drift_frame(rows, counts, cols, prediction and task in PREDICTION_COLUMNS)


def drift_frame(rows: list[_DriftRow], counts: Missing, cols: dict[str, tuple[str, str]],
                prediction_kind: bool) -> pl.DataFrame:
    """The frame of ``rows`` in ``cols``' order, missingness folded in (kind ``prediction``)."""
    order = {f: i for i, f in enumerate(cols)}
    rows.sort(key=lambda r: order.get(r["feature"], math.inf))
    for row in rows:
        if prediction_kind and row["feature"] == "prediction":
            row["kind"] = "prediction"
    return pl.DataFrame(_with_missing(rows, counts), schema=_SCHEMA)


def _frame_columns(frame: object) -> list[str]:
    if isinstance(frame, Mapping):
        return list(frame)
    return list(getattr(frame, "columns", []))


def _frame(frame: object) -> pl.DataFrame:
    """A reference frame of `resolve_sides` (polars, a mapping of columns, or pandas)."""
    if isinstance(frame, pl.DataFrame):
        return frame
    if hasattr(frame, "to_dict") and not isinstance(frame, Mapping):
        return pl.DataFrame(frame.to_dict("list"))
    if isinstance(frame, Mapping):
        return pl.DataFrame(dict(frame))
    raise invalid("reference", "a frame (polars, pandas or a dict of columns)", frame)
