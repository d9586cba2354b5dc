"""Chart-ready, aggregated data from a workspace (the bridge between services and charts).

Each function asks the services / store for aggregates (never raw rows) and hands the
arithmetic to `mlmkit.analysis`; results are small polars frames for `charts`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, SupportsFloat, cast

import numpy as np
import polars as pl

from mlmkit._lazy import require
from mlmkit._validation import check_int
from mlmkit.analysis.metrics.binary import calibration_from_histograms
from mlmkit.analysis.stats.sequential import sequential_path
from mlmkit.analysis.thresholds.curve import threshold_curve_from_histogram
from mlmkit.services.monitor.tasks import task_engine
from mlmkit.values import ABTestConfig, Version, WindowLike, parse_window, resolve_range
from mlmkit.viz._theme import MAX_POINTS

if TYPE_CHECKING:
    from mlmkit.workspace import Workspace

__all__ = ["ab_arms", "calibration_frame", "drift_over_time", "residual_histogram",
           "residual_sample", "score_histogram", "sequential_frame", "threshold_curve"]

_FINE_BINS = 1000


def _hist(ws: Workspace, model_name: str, versions: list[str], window: WindowLike | None,
          bins: int) -> pl.DataFrame:
    """The labelled score histogram, read through the monitor's statistics engine."""
    span = resolve_range(window, default=None)
    return ws.monitor.engine.score_histogram(model_name, versions=versions, time_range=span,
                                             bins=bins)


def threshold_curve(ws: Workspace, model_name: str, version: Any = None, *,
                    window: WindowLike | None = "7d", bins: int = _FINE_BINS) -> pl.DataFrame:
    """Threshold curve(s) from a ``bins``-bin labelled score histogram (one SQL scan).

    ``version`` is one version, a list, or ``None`` (all logged versions); the frame has a
    ``version`` column and at most ``bins`` rows per version whatever the log size.
    Thresholds are the bin edges ``k / bins`` (exact for those thresholds).
    """
    bins = check_int("bins", bins, low=2, high=100_000)
    versions = None if version is None else [str(Version.parse(v)) for v in (
        [version] if isinstance(version, (str, Version)) else version)]
    hist = _hist(ws, model_name, versions, window, bins)  # type: ignore[arg-type]
    parts = []
    for (ver,), part in hist.group_by("version", maintain_order=True):
        pos = np.zeros(bins, dtype=np.int64)
        neg = np.zeros(bins, dtype=np.int64)
        idx = part["bin"].to_numpy()
        pos[idx] = part["pos"].to_numpy()
        neg[idx] = part["neg"].to_numpy()
        if pos.sum() + neg.sum() == 0:
            continue
        curve = threshold_curve_from_histogram(np.linspace(0.0, 1.0, bins + 1), pos, neg)
        parts.append(curve.with_columns(pl.lit(ver).alias("version")))
    if not parts:
        return pl.DataFrame(schema={"threshold": pl.Float64, "tp": pl.Int64, "fp": pl.Int64,
                                    "tn": pl.Int64, "fn": pl.Int64, "version": pl.String})
    return pl.concat(parts, how="diagonal_relaxed")


def calibration_frame(ws: Workspace, model_name: str, version: Any, *,
                      window: WindowLike | None = "7d", bins: int = 10) -> pl.DataFrame:
    """Reliability bins of one version from a 1,000-bin histogram folded into ``bins`` bins.

    Score sums are taken at the fine bins' midpoints (error at most 0.0005 per bin's mean
    score); the rest is
    [`mlmkit.analysis.metrics.calibration_from_histograms`][mlmkit.analysis.metrics.calibration_from_histograms].
    """
    bins = check_int("bins", bins, low=2, high=100)
    hist = _hist(ws, model_name, [str(Version.parse(version))], window, _FINE_BINS)
    fine = hist["bin"].to_numpy()
    coarse = np.minimum(fine * bins // _FINE_BINS, bins - 1)
    n = (hist["pos"] + hist["neg"]).to_numpy()
    counts = np.bincount(coarse, weights=n, minlength=bins).astype(np.int64)
    positives = np.bincount(coarse, weights=hist["pos"].to_numpy(), minlength=bins
                            ).astype(np.int64)
    sums = np.bincount(coarse, weights=n * (fine + 0.5) / _FINE_BINS, minlength=bins)
    return calibration_from_histograms(counts, positives, np.minimum(sums, counts))


def sequential_frame(ws: Workspace, config: ABTestConfig, *, window: WindowLike | None = "30d",
                     interval: WindowLike = "1d", tau: float = 0.05) -> pl.DataFrame:
    """The always-valid test evaluated at every ``interval`` of the log (accuracy per arm).

    Cumulative correct / labelled counts per arm come from
    ``ws.monitor.get_performance_trend``;
    [`sequential_path`][mlmkit.analysis.stats.sequential_path] does the test. Adds a
    ``time`` column (end of each look).
    """
    a, b = str(config.version_a), str(config.version_b)
    trend = ws.monitor.get_performance_trend(config.model_name, [a, b], window, interval)
    wide = {}
    for ver in (a, b):
        part = trend.filter(pl.col("version") == ver).sort("bucket")
        wide[ver] = part.select("bucket_end", (pl.col("tp") + pl.col("tn")).cum_sum()
                                .alias("s"), pl.col("labelled").cum_sum().alias("n"))
    joined = wide[a].join(wide[b], on="bucket_end", suffix="_b").filter(
        (pl.col("n") > 0) & (pl.col("n_b") > 0)).sort("bucket_end")
    if joined.height == 0:
        return pl.DataFrame(schema={"look": pl.Int64, "time": pl.Datetime("us", "UTC")})
    path = sequential_path(joined["s"], joined["n"], joined["s_b"], joined["n_b"],
                           alpha=config.significance_level, tau=tau)
    return path.with_columns(joined["bucket_end"].alias("time"))


def ab_arms(ws: Workspace, result: Any, *, window: WindowLike | None = "30d",
            metrics: Any = None) -> pl.DataFrame:
    """Per-arm estimate and interval of each metric of an A/B result (monitor intervals)."""
    config = result.config
    names = list(metrics or result.tests)
    rows = []
    for arm, ver in (("A", config.version_a), ("B", config.version_b)):
        m = ws.monitor.get_current_metrics(config.model_name, ver, window)
        intervals = m.confidence_intervals or {}
        values = m.to_dict()
        for name in names:
            ci = intervals.get(name)
            value = values.get(name)
            rows.append({"metric": name, "arm": arm, "version": str(ver),
                         "estimate": None if value is None else float(cast(SupportsFloat, value)),
                         "low": getattr(ci, "low", None), "high": getattr(ci, "high", None)})
    return pl.DataFrame(rows, schema={"metric": pl.String, "arm": pl.String,
                                      "version": pl.String, "estimate": pl.Float64,
                                      "low": pl.Float64, "high": pl.Float64})


def drift_over_time(ws: Workspace, model_name: str, version: Any = None, *, periods: int = 7,
                    period: WindowLike = "1d", reference: WindowLike = "7d",
                    end: datetime | None = None, progress: bool = True) -> pl.DataFrame:
    """Per-feature drift of each of the last ``periods`` periods against one reference.

    The reference is the ``reference`` span before the first period; each period is compared
    with it by ``ws.monitor.data_drift``. Columns: ``period`` (start), the drift columns.
    """
    periods = check_int("periods", periods, low=1, high=366)
    step = parse_window(period, "period")
    last = resolve_range(step, end=end).end
    first = last - periods * step
    ref = (first - parse_window(reference, "reference"), first)
    frames = []
    starts = [first + i * step for i in range(periods)]
    bar = require("tqdm.auto", "viz").tqdm(starts, desc=f"drift {model_name}",
                                           disable=not progress, leave=False)
    for start in bar:
        frame = ws.monitor.data_drift(model_name, version, reference=ref,
                                      current=(start, start + step))
        frames.append(frame.with_columns(pl.lit(start).alias("period")))
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


# ---------------------------------------------------------------- multiclass, regression, score
def _versions(version: Any) -> list[str] | None:
    if version is None:
        return None
    many = version if not isinstance(version, (str, Version)) else [version]
    return [str(Version.parse(v)) for v in many]


def _binned(hist: pl.DataFrame, bins: int) -> pl.DataFrame:
    """Engine histogram (``version, bin, n, lo, hi``) -> ``version, bin_start, bin_end, n``."""
    width = pl.when(pl.col("hi") > pl.col("lo")).then((pl.col("hi") - pl.col("lo")) / bins
                                                      ).otherwise(1.0)
    start = pl.col("lo") + pl.col("bin") * width
    return hist.select("version", start.alias("bin_start"), (start + width).alias("bin_end"),
                       pl.col("n").cast(pl.Int64)).sort("version", "bin_start")


def residual_histogram(ws: Workspace, model_name: str, version: Any = None, *,
                       window: WindowLike | None = "7d", bins: int = 40) -> pl.DataFrame:
    """A regression model's residuals (``prediction - actual``) on ``bins`` equal bins.

    Two engine scans (each version's residual range, then the bins); columns ``version,
    bin_start, bin_end, n`` (non-empty bins only), for `charts.residual_histogram`.
    """
    bins = check_int("bins", bins, low=2, high=_FINE_BINS)
    span = resolve_range(window, default=None)
    hist = task_engine(ws.monitor.engine).residual_histogram(
        model_name, versions=_versions(version), time_range=span, bins=bins)
    return _binned(hist, bins)


def score_histogram(ws: Workspace, model_name: str, version: Any = None, *,
                    window: WindowLike | None = "7d", bins: int = 40) -> pl.DataFrame:
    """A score-only model's scores on ``bins`` equal bins of each version's range.

    Columns ``version, bin_start, bin_end, n``, for `charts.score_distribution`.
    """
    bins = check_int("bins", bins, low=2, high=_FINE_BINS)
    span = resolve_range(window, default=None)
    hist = task_engine(ws.monitor.engine).score_distribution(
        model_name, versions=_versions(version), time_range=span, bins=bins)
    return _binned(hist, bins)


def residual_sample(ws: Workspace, model_name: str, version: Any, *,
                    window: WindowLike | None = "7d", size: int = 2_000,
                    seed: int = 0) -> pl.DataFrame:
    """A uniform sample of ``size`` labelled rows: ``prediction, residual, sampled_from``.

    Reads the window's labelled prediction / actual pairs of one version through the monitor's
    engine (distinct pairs with their counts, as the A/B bootstrap does) and keeps a seeded
    uniform sample of the rows, so the chart stays bounded.
    """
    size = check_int("size", size, low=1, high=MAX_POINTS)
    span = resolve_range(window, default=None)
    pairs = task_engine(ws.monitor.engine).regression_pairs(
        model_name, versions=_versions(version), time_range=span)
    rows = pairs.select(pl.col("predicted").repeat_by("count").explode().alias("value"),
                        pl.col("actual").repeat_by("count").explode().alias("actual_value"))
    total = rows.height
    if total > size:
        rows = rows.sample(size, seed=seed)
    return rows.select(pl.col("value").alias("prediction"),
                       (pl.col("value") - pl.col("actual_value")).alias("residual"),
                       pl.lit(total, pl.Int64).alias("sampled_from"))
