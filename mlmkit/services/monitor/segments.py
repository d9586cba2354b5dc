"""Per-segment monitoring: window metrics, trends and data drift, one row per segment.

``segment`` is a feature name, a list of feature names, or a filter mapping
(`mlmkit.store.engines.segments.parse_segment`). Each result is computed from one grouped
scan per aggregate (the segment keys are extra ``GROUP BY`` keys), so a breakdown into 20
segments costs about what the unsegmented call costs. Rows whose segment feature is missing
(NULL) form a segment of their own, whose key is null. Tests run once per segment (drift)
are corrected across the whole family with `mlmkit.analysis.stats.multiple_testing`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

import numpy as np
import numpy.typing as npt
import polars as pl

from mlmkit._bins import bin_edges
from mlmkit._validation import check_choice, check_int, check_probability, invalid
from mlmkit.analysis.drift.counts import (
    chi_square_from_counts,
    jensen_shannon_from_counts,
    ks_from_histograms,
    wasserstein_from_histogram,
)
from mlmkit.analysis.metrics import roc_auc
from mlmkit.analysis.metrics.binary import UndefinedMetricWarning
from mlmkit.analysis.stats import multiple_testing
from mlmkit.services.monitor import trend as _trend
from mlmkit.services.monitor.base import MonitorBase
from mlmkit.services.monitor.segment_views import segment_window
from mlmkit.services.monitor.window import (
    EXACT_AUC_MAX_ROWS,
    RocAuc,
    _histogram_auc,
    rate_rows,
)
from mlmkit.store.engines import Side, StatisticsEngine
from mlmkit.store.engines.segments import (
    ResolvedSegment,
    SegmentLike,
    SegmentStatisticsEngine,
)
from mlmkit.store.predictions.batch import ROLES
from mlmkit.values import DefaultWindow, TimeRange, Version, VersionLike, WindowLike, resolve_range

if TYPE_CHECKING:
    from mlmkit.store.predictions.writes import PredictionStore

__all__ = ["CORRECTIONS", "SegmentMethods", "segment_drift", "segment_engine",
           "segment_window_metrics", "trend_counts"]

CORRECTIONS = ("fdr_bh", "holm", "bonferroni")
_Floats = npt.NDArray[np.float64]
_DRIFT_BINS = 2000
_SCHEMA = {"feature": pl.String, "kind": pl.String, "method": pl.String,
           "statistic": pl.Float64, "p_value": pl.Float64, "adjusted_p_value": pl.Float64,
           "drift": pl.Boolean, "n_reference": pl.Int64, "n_current": pl.Int64,
           "effect_size": pl.Float64}


def segment_engine(engine: StatisticsEngine) -> SegmentStatisticsEngine:
    """``engine`` as a `SegmentStatisticsEngine`, or a ValidationError naming it."""
    if not isinstance(engine, SegmentStatisticsEngine):
        raise invalid("engine", "an engine with segment aggregates (workspace or Parquet; "
                      f"{type(engine).__name__} does not support segment= yet)", engine)
    return engine


def _keys(frame: pl.DataFrame, features: Sequence[str]) -> list[tuple[object, ...]]:
    return list(frame.select(features).iter_rows())


def _aucs(eng: SegmentStatisticsEngine, model: str, seg: ResolvedSegment, ver: str,
          span: TimeRange, scored: int, *, bins: int, role: str
          ) -> dict[tuple[object, ...], RocAuc]:
    """ROC AUC per segment: exact up to `EXACT_AUC_MAX_ROWS` scored rows in all, else binned."""
    feats = seg.key_names()
    out: dict[tuple[object, ...], RocAuc] = {}
    if scored <= 0:
        return out
    if scored <= EXACT_AUC_MAX_ROWS:
        pairs = eng.segment_scores(model, seg, versions=[ver], time_range=span, role=role)
        for key, part in pairs.group_by(feats):
            with warnings.catch_warnings():  # one class only: NaN, as the frame shows
                warnings.simplefilter("ignore", UndefinedMetricWarning)
                value = roc_auc(part["actual"].to_numpy(), part["score"].to_numpy())
            out[tuple(key)] = RocAuc(value, "exact", math.nan if math.isnan(value) else 0.0)
        return out
    hist = eng.segment_histogram(model, seg, versions=[ver], time_range=span, bins=bins,
                                 role=role)
    for key, part in hist.group_by(feats):
        part = part.sort("bin")
        out[tuple(key)] = _histogram_auc(part["pos"].to_numpy(), part["neg"].to_numpy())
    return out


def segment_window_metrics(engine: StatisticsEngine, model: str, ver: str, span: TimeRange,
                           segment: SegmentLike, *, min_labels: int, ci: bool, confidence: float,
                           bins: int = 10_000, scores: bool = True,
                           role: str = "served") -> pl.DataFrame:
    """One row of binary window metrics per segment (the columns of ``WindowMetrics``).

    Columns: the segment features, then ``WindowMetrics.to_dict()`` without the confusion
    matrix, plus ``tp, fp, tn, fn``; ``median_label_latency_s`` is null (its exact median
    per segment would need the latency values of every segment).
    """
    eng = segment_engine(engine)
    seg = eng.resolve_segment(model, segment)
    feats = seg.key_names()
    totals = eng.segment_totals(model, seg, versions=[ver], time_range=span, role=role,
                                scores=scores)
    scored = int(totals["scored"].sum()) if totals.height and scores else 0
    aucs = _aucs(eng, model, seg, ver, span, scored, bins=bins, role=role)
    rows = []
    for key, row in zip(_keys(totals, feats), totals.iter_rows(named=True), strict=True):
        m = segment_window(model, ver, span, row, aucs.get(key) if scores else None,
                           min_labels=min_labels, ci=ci, confidence=confidence).to_dict()
        m.pop("confusion_matrix", None)
        for name, interval in cast(dict[str, dict[str, float]],
                                   m.pop("confidence_intervals", None) or {}).items():
            m[f"{name}_low"], m[f"{name}_high"] = interval["low"], interval["high"]
        if not scores:
            m["mean_score"] = None
        rows.append({**dict(zip(feats, key, strict=True)),
                     **{c: int(row[c]) for c in ("tp", "fp", "tn", "fn")}, **m})
    key_schema = {f: totals.schema[f] for f in feats} if totals.height else \
        dict.fromkeys(feats, pl.String)
    if not rows:
        return seg.named(pl.DataFrame(schema={**key_schema, "version": pl.String,
                                              "sample_count": pl.Int64}))
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return seg.named(frame.with_columns(*[pl.col(f).cast(t) for f, t in key_schema.items()]
                                        ).sort(feats, nulls_last=True))


def trend_counts(engine: StatisticsEngine, model_name: str, versions: list[str] | None,
                 span: TimeRange, interval: timedelta, *, role: str = "served",
                 use_summaries: bool = True, segment: object = None) -> pl.DataFrame:
    """`mlmkit.services.monitor.trend.trend_counts`, per segment when ``segment`` is given.

    Per segment, every (version, segment) seen in the window gets every bucket; daily
    summaries of retired days carry no features, so a segmented trend reads raw rows only.
    """
    if segment is None:
        return _trend.trend_counts(engine, model_name, versions, span, interval, role=role,
                                   use_summaries=use_summaries)
    eng = segment_engine(engine)
    seg = eng.resolve_segment(model_name, segment)
    feats = seg.key_names()
    raw = eng.segment_confusion(model_name, seg, versions=versions, time_range=span,
                                interval=interval, role=role)
    count = max(1, math.ceil(span.duration / interval))
    starts = pl.DataFrame({"bucket": [span.start + i * interval for i in range(count)]},
                          schema={"bucket": pl.Datetime("us", "UTC")})
    raw = raw.with_columns(pl.col("bucket").dt.cast_time_unit("us")
                           .dt.convert_time_zone("UTC"))
    grid = raw.select("version", *feats).unique().join(starts, how="cross")
    cols = [*_trend._COUNTS, *_trend._SUMS]
    keys = ["version", *feats, "bucket"]
    out = grid.join(raw.select(*keys, *cols), on=keys, how="left", nulls_equal=True)
    out = out.with_columns(
        *[pl.col(c).fill_null(0).cast(pl.Int64) for c in _trend._COUNTS],
        pl.lit("raw").alias("source"), (pl.col("bucket") + interval).alias("bucket_end"),
    ).sort(keys, nulls_last=True)
    return seg.named(out, rate_rows(out.head(0), confidence=0.95).columns)


# ---------------------------------------------------------------------- drift
def _numeric_stat(counts: _Floats, edges: _Floats) -> dict[str, object]:
    ref, cur = counts
    ks = ks_from_histograms(ref, cur)
    mids = (edges[:-1] + edges[1:]) / 2
    mean = float((mids * ref).sum() / ref.sum())
    std = float(np.sqrt((ref * (mids - mean) ** 2).sum() / ref.sum()))
    effect = wasserstein_from_histogram(edges, ref, cur, reference_std=std or None).statistic
    return {"method": "ks", "statistic": ks.statistic, "p_value": ks.p_value,
            "effect_size": effect}


def _category_stat(ref: _Floats, cur: _Floats) -> dict[str, object]:
    chi = chi_square_from_counts(ref, cur)
    return {"method": "chi_square", "statistic": chi.statistic, "p_value": chi.p_value,
            "effect_size": jensen_shannon_from_counts(ref, cur).statistic}


def _drift_rows(seg: ResolvedSegment, cols: Mapping[str, tuple[str, str]],
                ranges: Mapping[str, tuple[float, float]], num: pl.DataFrame,
                cat: pl.DataFrame, categorical: Sequence[str]) -> list[dict[str, object]]:
    feats = seg.key_names()
    keys = sorted({*(_keys(num, feats) if num.height else []),
                   *(_keys(cat, feats) if cat.height else [])},
                  key=lambda k: tuple((v is None, str(v)) for v in k))
    by_column = {c: f for f, (c, _) in cols.items()}
    rows = []
    for key in keys:
        match = pl.all_horizontal([pl.col(f).eq_missing(v) for f, v in zip(feats, key,
                                                                            strict=True)])
        head = dict(zip(feats, key, strict=True))
        part = num.filter(match) if num.height else num
        for column, (lo, hi) in ranges.items():
            counts = np.zeros((2, _DRIFT_BINS))
            for side, b, n in part.filter(pl.col("col") == column).select(
                    "side", "bin", "n").iter_rows():
                counts[int(side), int(b)] = n
            stat: dict[str, object] = {"method": None, "statistic": None, "p_value": None,
                                    "effect_size": None}
            if counts[0].sum() and counts[1].sum():
                edges = bin_edges(lo, hi, _DRIFT_BINS)
                stat = _numeric_stat(counts, edges)
            feature = by_column[column]
            rows.append({**head, "feature": feature, "kind": cols[feature][1], **stat,
                         "n_reference": int(counts[0].sum()), "n_current": int(counts[1].sum())})
        part = cat.filter(match) if cat.height else cat
        for i, column in enumerate(categorical):
            wide = (part.filter(pl.col("col") == i).pivot(on="side", index="value", values="n")
                    .fill_null(0))
            r = wide["0"].to_numpy() if "0" in wide.columns else np.zeros(wide.height)
            c = wide["1"].to_numpy() if "1" in wide.columns else np.zeros(wide.height)
            stat = _category_stat(r, c) if r.sum() and c.sum() else \
                {"method": None, "statistic": None, "p_value": None, "effect_size": None}
            feature = by_column[column]
            rows.append({**head, "feature": feature, "kind": cols[feature][1], **stat,
                         "n_reference": int(r.sum()), "n_current": int(c.sum())})
    return rows


def drift_inputs(store: PredictionStore, engine: StatisticsEngine, model_name: str,
                 segment: object, version: VersionLike | None, reference: object,
                 current: object, features: Iterable[str] | None, prediction: bool, task: str
                 ) -> tuple[ResolvedSegment, Side, Side, dict[str, tuple[str, str]]]:
    """The segment, both sides and the tested columns of a per-segment drift call.

    The columns are ``data_drift``'s, without the segment's own features.
    """
    from mlmkit.services.monitor.data_drift import _columns, resolve_sides

    seg = segment_engine(engine).resolve_segment(model_name, segment)
    ver = None if version is None else str(Version.parse(version))
    ref, cur, frame = resolve_sides(ver, reference, current)
    if ref is None:
        raise invalid("reference", "a duration, a (start, end) pair or a version with "
                      "segment= (not a frame)", type(frame).__name__)
    cols = {f: v for f, v in _columns(store, model_name, features, prediction, task).items()
            if v[0] not in seg.columns}
    return seg, ref, cur, cols


def segment_drift(store: PredictionStore, engine: StatisticsEngine, model_name: str,
                  version: VersionLike | None, segment: SegmentLike, *, reference: object = "7d",
                  current: object = "24h", features: Iterable[str] | None = None,
                  prediction: bool = True, correction: str = "fdr_bh", alpha: float = 0.05,
                  task: str = "binary") -> pl.DataFrame:
    """Drift of every feature (and the score) within every segment, one row per pair.

    Per (segment, feature): numeric values (and the score) by a Kolmogorov-Smirnov test on
    2,000 shared equal-width bins (``ks_from_histograms``; effect size the normalised
    Wasserstein distance of the same histograms), categories by a chi-square test of
    homogeneity (effect size Jensen-Shannon). ``adjusted_p_value`` corrects every p-value of
    the frame as one family (``correction``: ``"fdr_bh"`` Benjamini-Hochberg, ``"holm"``,
    ``"bonferroni"``); ``drift`` is ``adjusted_p_value <= alpha``. Present values only: a
    pair with no value on one side has no test (``method`` null, never drift). The segment
    features themselves are not tested.
    """
    correction = check_choice("correction", correction, CORRECTIONS)
    alpha = check_probability("alpha", alpha, open_interval=True)
    seg, ref, cur, cols = drift_inputs(store, engine, model_name, segment, version, reference,
                                       current, features, prediction, task)
    numeric = [c for c, k in cols.values() if k != "categorical"]
    categorical = [c for c, k in cols.values() if k == "categorical"]
    stats, _ = engine.side_stats(model_name, numeric, [], ref, cur)
    ranges = {r["column"]: (float(r["lo"]), float(r["hi"])) for r in stats.iter_rows(named=True)
              if r["lo"] is not None}
    num, cat = segment_engine(engine).segment_drift_counts(model_name, seg, ranges,
                                                           categorical, ref, cur,
                                                           bins=_DRIFT_BINS)
    rows = _drift_rows(seg, cols, ranges, num, cat, categorical)
    tested = [i for i, r in enumerate(rows) if r["p_value"] is not None]
    for row in rows:
        row["adjusted_p_value"], row["drift"] = None, False
    if tested:
        adj = multiple_testing([rows[i]["p_value"] for i in tested], method=correction,
                               alpha=alpha)
        for i, (p, reject) in zip(tested, adj.select("p_adjusted", "reject").iter_rows(),
                                  strict=True):
            rows[i]["adjusted_p_value"], rows[i]["drift"] = p, bool(reject)
    schema = {f: (num if num.height else cat).schema.get(f, pl.String) if rows else pl.String
              for f in seg.key_names()}
    frame = pl.DataFrame(rows, schema={**schema, **_SCHEMA}).select(*seg.key_names(), *_SCHEMA)
    return seg.named(frame)


# ---------------------------------------------------------------------- the monitor's methods
_24H = DefaultWindow("24h")


class SegmentMethods(MonitorBase):
    """The per-segment methods of ``ws.monitor`` (a base of ``PerformanceMonitor``)."""

    def _segment(self, model_name: str, segment: object) -> ResolvedSegment:
        """``segment`` on ``model_name``'s storage columns (ValidationError naming it)."""
        return segment_engine(self.engine).resolve_segment(model_name, segment)

    def segment_metrics(self, model_name: str, version: VersionLike,
                        window: WindowLike | None = _24H, *, segment: SegmentLike,
                        start: datetime | None = None, end: datetime | None = None,
                        min_labels: int = 100, ci: bool = True, confidence: float = 0.95,
                        bins: int = 10_000, scores: bool = True,
                        role: str = "served") -> pl.DataFrame:
        """`get_current_metrics` per segment: a frame, one row per segment.

        ``segment``: a feature name, a list of them, or a filter such as
        ``{"country": ["DE", "FR"]}`` (see `mlmkit.store.engines.segments`). Rows whose
        segment feature is missing form their own segment (null key). One grouped scan for
        the counts and sums, one for ROC AUC (exact up to 1e6 labelled scored rows in all).
        Multiclass, regression and score-only models: the columns of
        `mlmkit.services.monitor.segment_tasks` from one grouped scan; a multiclass model
        with ``scores`` adds ``probability_count``, ``log_loss`` and ``roc_auc_ovr`` (two more
        grouped scans, ``bins``-bin one-vs-rest histograms as unsegmented).
        """
        ver = str(Version.parse(version))
        self._registered(model_name, [ver])
        task = self.registry.task(model_name)
        span = resolve_range(window, start=start, end=end)
        if str(task) != "binary":
            from mlmkit.services.monitor.segment_tasks import segment_task_metrics

            return segment_task_metrics(
                self.engine, task, model_name, ver, span, segment,
                min_labels=check_int("min_labels", min_labels, low=0),
                confidence=check_probability("confidence", confidence, open_interval=True),
                role=check_choice("role", role, ROLES), scores=scores,
                bins=check_int("bins", bins, low=1, high=10_000_000))
        return segment_window_metrics(
            self.engine, model_name, ver, span, segment,
            min_labels=check_int("min_labels", min_labels, low=0), ci=ci,
            confidence=check_probability("confidence", confidence, open_interval=True),
            bins=check_int("bins", bins, low=1, high=10_000_000), scores=scores,
            role=check_choice("role", role, ROLES))

    def segment_drift(self, model_name: str, version: VersionLike | None = None, *,
                      segment: SegmentLike, reference: object = "7d", current: object = "24h",
                      features: Iterable[str] | None = None, prediction: bool = True,
                      correction: str = "fdr_bh", alpha: float = 0.05) -> pl.DataFrame:
        """`data_drift` per segment x feature, corrected across the family (`segment_drift`)."""
        self._registered(model_name, None if version is None else [str(Version.parse(version))])
        return segment_drift(self.log.store, self.engine, model_name, version, segment,
                             reference=reference, current=current, features=features,
                             prediction=prediction, correction=correction, alpha=alpha,
                             task=str(self.registry.task(model_name)))
