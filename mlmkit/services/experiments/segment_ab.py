"""A/B tests per segment (``ws.ab.segment_test``): one row per segment, corrected as a family.

``segment`` is a feature name, a list of names or a filter mapping
(`mlmkit.store.engines.segments.parse_segment`). Both arms' aggregates come from **one grouped
scan** with the segment keys as extra ``GROUP BY`` keys (binary: ``segment_confusion``, plus
``segment_histogram`` for ROC AUC; multiclass ``class_confusion``, regression
``regression_sums``, score-only ``score_totals`` with ``segment=``; regression RMSE and R²
also ``regression_pairs``, the labelled pairs each segment's row bootstrap resamples with the
seed ``run_test`` uses), then each segment runs the
test `run_test` runs for the metric (`mlmkit.analysis.experiment.compare_metric` for a binary
model, `mlmkit.services.experiments.task_ab` for the other tasks) on that segment's
aggregates: a segment's test equals ``run_test`` on its rows alone.

The p-values of the segments with at least ``min_samples`` labelled units in each arm form
the family corrected by ``correction`` (``"holm"``: family-wise error, the default;
``"fdr_bh"``; ``"bonferroni"``), as in ``ws.monitor.segment_drift``. Shadow-mode (paired)
experiments are not covered.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, cast

import polars as pl

from mlmkit._validation import check_choice, check_int, check_real, invalid
from mlmkit.analysis.experiment import RATE_METRICS, TASK_METRICS, compare_metric
from mlmkit.analysis.stats import TestResult, multiple_testing
from mlmkit.catalogue import CATALOGUE, Significance, Task, spec
from mlmkit.services._engine import EngineUser
from mlmkit.services.experiments.arms import HIST_BINS
from mlmkit.services.experiments.task_ab import compare_aggregates
from mlmkit.services.monitor.segments import CORRECTIONS, segment_engine
from mlmkit.store.engines import TaskStatisticsEngine
from mlmkit.store.engines.segments import (
    ResolvedSegment,
    SegmentLike,
    SegmentStatisticsEngine,
    SegmentTaskEngine,
)
from mlmkit.values import ABTestConfig, TimeRange, WindowLike, resolve_range

if TYPE_CHECKING:
    from mlmkit.store.registry.duckdb import ModelRegistry

__all__ = ["SegmentTests", "segment_comparison"]

_Key = tuple[object, ...]
_SCHEMA = {"metric": pl.String, "method": pl.String, "n_a": pl.Int64, "n_b": pl.Int64,
           "value_a": pl.Float64, "value_b": pl.Float64, "effect": pl.Float64,
           "ci_low": pl.Float64, "ci_high": pl.Float64, "statistic": pl.Float64,
           "p_value": pl.Float64, "tested": pl.Boolean, "p_adjusted": pl.Float64,
           "significant": pl.Boolean, "winner": pl.String}
#: The column counting each task's tested units per arm in its aggregate.
_UNITS = {Task.MULTICLASS: "count", Task.REGRESSION: "n", Task.SCORE_ONLY: "flag_n"}


def _order(keys: set[_Key]) -> list[_Key]:
    return sorted(keys, key=lambda k: tuple((v is None, str(v)) for v in k))


def _match(keys: list[str], key: _Key) -> pl.Expr:
    return pl.all_horizontal([pl.col(k).eq_missing(v) for k, v in zip(keys, key, strict=True)])


def _binary(eng: SegmentStatisticsEngine, model: str, seg: ResolvedSegment,
            config: ABTestConfig, span: TimeRange | None, metric: str, *, sequential: bool,
            tau: float, n_resamples: int, seed: int) -> dict[_Key, tuple[TestResult, int, int]]:
    a, b = str(config.version_a), str(config.version_b)
    keys = seg.key_names()
    frame = eng.segment_confusion(model, seg, versions=[a, b], time_range=span)
    hist = eng.segment_histogram(model, seg, versions=[a, b], time_range=span,
                                 bins=HIST_BINS) if metric == "roc_auc" else None
    cells = {(r["version"], *[r[k] for k in keys]): tuple(int(r[c]) for c in
                                                          ("tp", "fp", "tn", "fn"))
             for r in frame.iter_rows(named=True)}
    out = {}
    for key in _order({k[1:] for k in cells}):
        ca, cb = cells.get((a, *key), (0, 0, 0, 0)), cells.get((b, *key), (0, 0, 0, 0))
        dense = None
        if hist is not None:
            part = hist.filter(_match(keys, key))
            dense = []
            for version in (a, b):
                rows = part.filter(pl.col("version") == version)
                for col in ("pos", "neg"):
                    counts = [0] * HIST_BINS
                    for bin_, n in zip(rows["bin"].to_list(), rows[col].to_list(), strict=True):
                        counts[int(bin_)] = int(n)
                    dense.append(counts)
        res = compare_metric(metric, ca, cb, alpha=config.significance_level,
                             sequential=sequential and metric in RATE_METRICS, tau=tau,
                             histograms=dense, n_resamples=n_resamples, seed=seed)
        out[key] = (res, sum(ca), sum(cb))
    return out


def _tasks(eng: SegmentTaskEngine, task: Task, model: str, seg: ResolvedSegment,
           config: ABTestConfig, span: TimeRange | None, metric: str, *, sequential: bool,
           tau: float, n_resamples: int, seed: int) -> dict[_Key, tuple[TestResult, int, int]]:
    from mlmkit.services.monitor.segment_views import segment_view, task_segment_frames

    a, b = str(config.version_a), str(config.version_b)
    keys = seg.key_names()
    frames = task_segment_frames(eng, task, model, seg, [a, b], span, role="served",
                                 pairs=spec(metric).test is Significance.BOOTSTRAP)
    frame = next(iter(frames.values()))
    units = _UNITS[task]
    out = {}
    for key in _order(set(frame.select(keys).iter_rows())):
        view = segment_view(frames, keys, key)
        part = next(iter(view.frames.values()))
        if task is Task.MULTICLASS:
            part_units = part.filter(pl.col("actual").is_not_null())
        else:
            part_units = part
        n = {v: int(part_units.filter(pl.col("version") == v)[units].sum() or 0) for v in (a, b)}
        found = compare_aggregates(cast(TaskStatisticsEngine, view), task, config, span,
                                   [metric], sequential=sequential, tau=tau, power=0.8,
                                   n_resamples=n_resamples, seed=seed)
        out[key] = (found["tests"][metric], n[a], n[b])
    return out


def _winner(metric: str, res: TestResult, significant: bool) -> str | None:
    higher = CATALOGUE[metric].higher_is_better if metric in CATALOGUE else True
    if higher is None:
        return None  # no better direction (the flag rate)
    effect = math.nan if res.effect is None else float(res.effect)
    if not significant or not math.isfinite(effect) or effect == 0:
        return "tie"
    return "B" if (effect > 0) == higher else "A"


def segment_comparison(engine: object, task: Task, config: ABTestConfig,
                       span: TimeRange | None, segment: SegmentLike, metric: str, *,
                       correction: str, sequential: bool, tau: float, n_resamples: int,
                       seed: int, min_samples: int) -> pl.DataFrame:
    """The frame of `SegmentTests.segment_test` (arguments checked by the caller)."""
    from mlmkit.store.engines import StatisticsEngine

    seg_eng = segment_engine(cast(StatisticsEngine, engine))
    model = config.model_name
    seg = seg_eng.resolve_segment(model, segment)
    if task is Task.BINARY:
        found = _binary(seg_eng, model, seg, config, span, metric, sequential=sequential,
                        tau=tau, n_resamples=n_resamples, seed=seed)
    else:
        if not isinstance(engine, SegmentTaskEngine):
            raise invalid("engine", f"an engine with per-task segment aggregates for a {task} "
                          "model (workspace or Parquet)", engine)
        found = _tasks(engine, task, model, seg, config, span, metric, sequential=sequential,
                       tau=tau, n_resamples=n_resamples, seed=seed)
    keys = seg.key_names()
    rows: list[dict[str, object]] = []
    for key, (res, n_a, n_b) in found.items():
        p = math.nan if res.p_value is None else float(res.p_value)
        ci = res.ci or (math.nan, math.nan)
        rows.append({**dict(zip(keys, key, strict=True)), "metric": metric,
                     "method": res.method, "n_a": n_a, "n_b": n_b,
                     "value_a": res.details.get("value_a", math.nan),
                     "value_b": res.details.get("value_b", math.nan), "effect": res.effect,
                     "ci_low": ci[0], "ci_high": ci[1], "statistic": res.statistic,
                     "p_value": p, "tested": min(n_a, n_b) >= min_samples and math.isfinite(p),
                     "p_adjusted": None, "significant": False, "winner": None})
    tested = [i for i, r in enumerate(rows) if r["tested"]]
    if tested:
        adj = multiple_testing([rows[i]["p_value"] for i in tested], method=correction,
                               alpha=config.significance_level)
        for i, (p_adj, reject) in zip(tested, adj.select("p_adjusted", "reject").iter_rows(),
                                      strict=True):
            rows[i]["p_adjusted"], rows[i]["significant"] = float(p_adj), bool(reject)
    for row, (res, _, _) in zip(rows, found.values(), strict=True):
        row["winner"] = _winner(metric, res, bool(row["significant"]))
    key_types: dict[str, pl.DataType] = {k: pl.String() for k in keys}
    if rows:
        probe = pl.DataFrame([{k: r[k] for k in keys} for r in rows], infer_schema_length=None)
        key_types = {k: probe.schema[k] for k in keys}
    frame = pl.DataFrame(rows, schema={**key_types, **_SCHEMA})
    return seg.named(frame)


class SegmentTests(EngineUser):
    """The per-segment test of ``ws.ab`` (a base of ``ABTestingService``)."""

    registry: ModelRegistry

    def segment_test(self, config: ABTestConfig, window: WindowLike | None = None, *,
                     segment: SegmentLike, metric: str | None = None,
                     correction: str = "holm", start: datetime | None = None,
                     end: datetime | None = None, sequential: bool = False, tau: float = 0.05,
                     n_resamples: int = 2000, seed: int = 0,
                     min_samples: int = 100) -> pl.DataFrame:
        """`run_test` per segment: one row per segment, p-values corrected across segments.

        Parameters
        ----------
        config : ABTestConfig
            The experiment; ``significance_level`` is alpha of each test and of the family.
        window, start, end
            Time range of logged predictions (``None``: the whole log).
        segment
            A feature name, a list of them, or a filter such as ``{"country": ["DE", "FR"]}``;
            rows whose feature is missing form their own segment (null key).
        metric : str, optional
            The metric compared (default ``config.primary_metric``); any experiment metric of
            the model's task (regression ``rmse`` / ``r2``: each segment's row bootstrap, at
            most ``DEFAULT_MAX_ROWS`` rows per arm as ``run_test``).
        correction : {"holm", "fdr_bh", "bonferroni"}
            Correction of the segments' p-values as one family (see the module).
        sequential, tau, n_resamples, seed
            As in `run_test`.
        min_samples : int
            Labelled units (score-only: flag decisions) each arm needs in a segment for its
            test to join the family; smaller segments keep their p-value, ``tested`` false,
            ``p_adjusted`` null, never significant.

        Returns
        -------
        polars.DataFrame
            The segment features, then ``metric, method, n_a, n_b, value_a, value_b,
            effect`` (B minus A) ``, ci_low, ci_high, statistic, p_value, tested, p_adjusted,
            significant`` (``p_adjusted <= significance_level``) and ``winner`` (``"A"``,
            ``"B"``, ``"tie"``; null for the flag rate, which has no better direction).

        Examples
        --------
        >>> import mlmkit, polars as pl
        >>> rows = pl.DataFrame({"model_name": "m", "version": ["1.0.0", "1.1.0"] * 200,
        ...                      "prediction": [True, False] * 200, "actual": True,
        ...                      "country": ["DE"] * 200 + ["FR"] * 200})
        >>> with mlmkit.open() as ws:
        ...     for v in ("1.0.0", "1.1.0"):
        ...         _ = ws.registry.register(mlmkit.ModelMetadata("m", "supervised", v))
        ...     _ = ws.log.track_batch(rows)
        ...     cfg = mlmkit.ABTestConfig.create("m", "1.0.0", "1.1.0")
        ...     frame = ws.ab.segment_test(cfg, segment="country")
        >>> frame.select("country", "n_a", "value_a", "value_b", "winner").rows()
        [('DE', 100, 1.0, 0.0, 'A'), ('FR', 100, 1.0, 0.0, 'A')]
        """
        if not isinstance(config, ABTestConfig):
            raise invalid("config", "an ABTestConfig", config)
        task = self.registry.task(config.model_name)
        metric = check_choice("metric", config.primary_metric if metric is None else metric,
                              TASK_METRICS[task])
        if sequential and spec(metric).test is not Significance.PROPORTION:
            raise invalid("sequential", f"False for metric {metric!r} (sequential mode covers "
                          "proportion metrics)", sequential)
        correction = check_choice("correction", correction, CORRECTIONS)
        tau = check_real("tau", tau, low=0.0, low_open=True)
        span = resolve_range(window, start=start, end=end, default=None)
        a, b = str(config.version_a), str(config.version_b)
        if task is Task.BINARY and self.engine.has_shadow_rows(config.model_name, [a, b], span):
            raise invalid("config", "an experiment whose versions split the traffic "
                          "(segment_test does not cover shadow mode)", config.experiment_key)
        return segment_comparison(self.engine, task, config, span, segment, metric,
                                  correction=correction, sequential=sequential, tau=tau,
                                  n_resamples=check_int("n_resamples", n_resamples, low=100),
                                  seed=check_int("seed", seed, low=0),
                                  min_samples=check_int("min_samples", min_samples, low=1))

