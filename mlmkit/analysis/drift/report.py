"""Per-feature drift detection over two frames (re-exported by the package)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from mlmkit._html import rows_table
from mlmkit._validation import check_choice, check_int, check_real, invalid
from mlmkit.analysis.drift import kernels as k
from mlmkit.analysis.drift.methods import (
    Context,
    Kind,
    Sample,
    auto_method,
    available_drift_methods,
    get_drift_method,
)
from mlmkit.analysis.metrics.intervals import html_table

_CORRECTIONS = {"holm", "fdr_bh", None}
_SCHEMA = {
    "feature": pl.String, "kind": pl.String, "method": pl.String, "statistic": pl.Float64,
    "p_value": pl.Float64, "adjusted_p_value": pl.Float64, "threshold": pl.Float64,
    "drift_detected": pl.Boolean, "n_reference": pl.Int64, "n_current": pl.Int64,
}


@dataclass(frozen=True, eq=False)
class DriftReport:
    """Per-feature drift results and the dataset-level verdict.

    Attributes
    ----------
    features : polars.DataFrame
        One row per feature: ``feature, kind, method, statistic, p_value, adjusted_p_value,
        threshold, drift_detected, n_reference, n_current`` (p-values null for distances).
    share_drifted : float
        Share of features with ``drift_detected``.
    dataset_drift : bool
        ``share_drifted >= drift_share``.
    drift_share : float
        The dataset-level threshold used.
    correction : str or None
        Multiple-testing correction applied to the p-value methods.

    Examples
    --------
    >>> r = detect_drift({"x": [1.0, 2.0, 3.0]}, {"x": [1.0, 2.0, 3.0]})
    >>> r.features["method"].to_list(), r.dataset_drift
    (['chi_square'], False)
    """

    features: pl.DataFrame
    share_drifted: float
    dataset_drift: bool
    drift_share: float
    correction: str | None

    @property
    def drifted_features(self) -> list[str]:
        """Names of the features flagged as drifted, in column order."""
        return self.features.filter(pl.col("drift_detected"))["feature"].to_list()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict (features as a list of row dicts)."""
        return {"features": self.features.to_dicts(), "share_drifted": self.share_drifted,
                "dataset_drift": self.dataset_drift, "drift_share": self.drift_share,
                "correction": self.correction}

    def _repr_html_(self) -> str:
        summary = html_table({"share_drifted": self.share_drifted,
                              "dataset_drift": self.dataset_drift,
                              "drift_share": self.drift_share,
                              "correction": str(self.correction)}, title="DriftReport")
        cols = ["feature", "kind", "method", "statistic", "p_value", "adjusted_p_value",
                "threshold", "drift_detected"]
        return summary + rows_table(cols, self.features.select(cols).iter_rows(named=True))


def _as_columns(name: str, frame: Any) -> dict[str, pl.Series]:
    if isinstance(frame, pl.DataFrame):
        return {c: frame.get_column(c) for c in frame.columns}
    if isinstance(frame, Mapping) and frame:
        out = {}
        for key, values in frame.items():
            if not isinstance(key, str):
                raise invalid(f"{name} keys", "strings", key)
            arr = np.asarray(values)
            if arr.ndim != 1:
                raise invalid(f"{name}[{key!r}]", "a 1-D array", values)
            out[key] = pl.Series(key, arr if arr.dtype.kind != "O" else arr.tolist())
        return out
    raise invalid(name, "a non-empty polars DataFrame or a dict of 1-D arrays", frame)


def _kind(name: str, series: pl.Series) -> Kind:
    dtype = series.dtype
    if dtype.is_numeric():
        return "numeric"
    if dtype in (pl.String, pl.Categorical, pl.Boolean) or isinstance(dtype, pl.Enum):
        return "categorical"
    if dtype == pl.Null:
        return "numeric"  # all-null: rejected as empty below
    raise invalid(name, "a numeric, string, categorical or boolean column", dtype)


def _sample(name: str, series: pl.Series, kind: Kind) -> Sample:
    s = series.drop_nulls()
    if s.len() == 0:
        raise invalid(name, "a column with at least one non-null value", series)
    if kind == "numeric":
        values = s.cast(pl.Float64).to_numpy()
        return Sample("numeric", values=k.sorted_sample(name, values))
    vc = s.cast(pl.String).rename("value").to_frame().group_by("value").len(name="n")
    return Sample("categorical", categories=vc["value"].to_list(),
                  counts=vc["n"].to_numpy().astype(np.int64))


def _select(reference: dict[str, pl.Series], current: dict[str, pl.Series],
            columns: Sequence[str] | None) -> list[str]:
    if columns is None:
        names = list(reference)
    elif isinstance(columns, str) or not isinstance(columns, Sequence) or not columns:
        raise invalid("columns", "a non-empty sequence of column names", columns)
    else:
        names = list(columns)
    for col in names:
        if col not in reference:
            raise invalid("columns", f"names of reference columns; {col!r} is missing", columns)
        if col not in current:
            raise invalid("current", f"a frame with column {col!r}", sorted(current))
    return names


def _resolve(col: str, kind: Kind, spec: str | Mapping[str, str], ref: Sample,
             cur: Sample) -> tuple[str, Kind]:
    name = spec.get(col, "auto") if isinstance(spec, Mapping) else spec
    if name == "auto":
        return auto_method(ref, cur)
    method = get_drift_method(name)
    if kind in method.kinds:
        return name, kind
    if isinstance(spec, Mapping):
        raise invalid(f"method[{col!r}]", f"a method for {kind} columns", name)
    return auto_method(ref, cur)


def _check_options(method: Any, names: list[str], thresholds: Any,
                   correction: Any) -> None:
    if isinstance(method, Mapping):
        for col, spec in method.items():
            if col not in names:
                raise invalid("method", "a method name or a mapping of selected columns",
                              method)
            if spec != "auto" and spec not in available_drift_methods():
                raise invalid(f"method[{col!r}]", "'auto' or a registered drift method", spec)
    elif method != "auto":
        get_drift_method(method)
    if thresholds is not None:
        if not isinstance(thresholds, Mapping):
            raise invalid("thresholds", "a mapping of column or method names to numbers",
                          thresholds)
        for key, value in thresholds.items():
            if key not in names and key not in available_drift_methods():
                raise invalid("thresholds keys", "selected columns or drift method names", key)
            check_real(f"thresholds[{key!r}]", value, low=0.0)
    check_choice("correction", correction, _CORRECTIONS)


def detect_drift(reference: Any, current: Any, *, method: str | Mapping[str, str] = "auto",
                 columns: Sequence[str] | None = None, correction: str | None = "holm",
                 thresholds: Mapping[str, float] | None = None, bins: int = 10,
                 drift_share: float = 0.5) -> DriftReport:
    """Compare every feature of ``current`` with ``reference`` and report drift.

    Parameters
    ----------
    reference, current : polars.DataFrame or dict of 1-D arrays
        Numeric columns are numeric features; string, categorical, enum and boolean columns
        are categorical. Nulls are dropped; NaN or infinite numbers raise.
    method : str or mapping, default "auto"
        A registered method name or ``"auto"`` (the rule in
        [`mlmkit.analysis.drift`][mlmkit.analysis.drift]), or a mapping column -> name
        (unlisted columns use ``"auto"``). A single name that does not apply to a column's kind
        (``"ks"`` on strings) falls back to ``"auto"`` there; the ``method`` column of the report
        says what was used.
    columns : sequence of str, optional
        Features to compare; default all reference columns (each must exist in ``current``).
    correction : {"holm", "fdr_bh", None}, default "holm"
        Adjustment of the p-values of p-value methods across features (Holm controls the
        family-wise error, Benjamini-Hochberg the false discovery rate).
    thresholds : mapping, optional
        Threshold overrides keyed by column name (checked first) or method name.
    bins : int, default 10
        Reference-quantile bins for ``psi``, ``jensen_shannon`` and ``hellinger`` on numbers.
    drift_share : float, default 0.5
        ``dataset_drift`` is true when at least this share of features drifted.

    Returns
    -------
    DriftReport

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ref = {"a": rng.normal(size=5000), "b": rng.normal(size=5000)}
    >>> cur = {"a": rng.normal(size=5000) + 0.5, "b": rng.normal(size=5000)}
    >>> report = detect_drift(ref, cur)
    >>> report.drifted_features, report.share_drifted, report.dataset_drift
    (['a'], 0.5, True)
    >>> report.features["method"].to_list()
    ['wasserstein', 'wasserstein']
    """
    ref_cols, cur_cols = _as_columns("reference", reference), _as_columns("current", current)
    names = _select(ref_cols, cur_cols, columns)
    _check_options(method, names, thresholds, correction)
    share = check_real("drift_share", drift_share, low=0.0, high=1.0, low_open=True)
    ctx = Context(bins=check_int("bins", bins, low=2))
    rows = []
    for col in names:
        kind = _kind(f"reference[{col!r}]", ref_cols[col])
        if _kind(f"current[{col!r}]", cur_cols[col]) != kind:
            raise invalid(f"current[{col!r}]", f"a {kind} column like the reference",
                          cur_cols[col].dtype)
        ref = _sample(f"reference[{col!r}]", ref_cols[col], kind)
        cur = _sample(f"current[{col!r}]", cur_cols[col], kind)
        name, treatment = _resolve(col, kind, method, ref, cur)
        spec = get_drift_method(name)
        stat, p = spec.compute(ref, cur, treatment, ctx)
        limit = (thresholds or {}).get(col, (thresholds or {}).get(name, spec.default_threshold))
        rows.append({"feature": col, "kind": kind, "method": name, "statistic": stat,
                     "p_value": p, "threshold": float(limit), "n_reference": ref.n,
                     "n_current": cur.n})
    return _finish(rows, correction, share)


def _finish(rows: list[dict[str, Any]], correction: str | None, share: float) -> DriftReport:
    tested = [i for i, r in enumerate(rows) if r["p_value"] is not None]
    adjusted = k.adjust_pvalues(np.array([rows[i]["p_value"] for i in tested], dtype=float),
                                correction)
    for row in rows:
        row["adjusted_p_value"] = None
    for i, adj in zip(tested, adjusted.tolist(), strict=True):
        rows[i]["adjusted_p_value"] = adj
    for row in rows:
        if row["p_value"] is None:
            row["drift_detected"] = bool(row["statistic"] >= row["threshold"])
        else:
            row["drift_detected"] = bool(row["adjusted_p_value"] < row["threshold"])
    frame = pl.DataFrame(rows, schema=_SCHEMA)
    shared = float(frame["drift_detected"].mean()) if rows else 0.0  # type: ignore[arg-type]
    return DriftReport(frame, shared, shared >= share, share, correction)
