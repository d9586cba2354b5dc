"""The auto-tuning engine (``ws.tuning``): thresholds, costs, adaptive and hyper-parameter tuning.

Threshold optimisation, the precision / recall trade-off, the performance-cost trade-off,
adaptive adjustment, hyper-parameter search, and applying a result as a new model version.

Every threshold method reads ONE aggregated DuckDB pass over the version's labelled, scored
predictions (per grid cell for a small grid, per distinct score otherwise), builds the
threshold curve in [`mlmkit.analysis.thresholds`][mlmkit.analysis.thresholds] and never
loads the raw rows. Every call appends its result to the ``tuning_runs`` table
([`AutoTuningEngine.history`][mlmkit.services.tuning.AutoTuningEngine.history]).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl

from mlmkit._validation import check_choice, check_int, check_name, check_real
from mlmkit.analysis.thresholds.curve import best_threshold_from_curve
from mlmkit.analysis.tuning import counts_at_threshold, metric_from_counts
from mlmkit.catalogue import Kind, Use, select
from mlmkit.services._engine import EngineUser
from mlmkit.services.tuning import apply as _tuning_apply
from mlmkit.services.tuning import search as _tuning_search
from mlmkit.services.tuning.adaptive import adaptive_adjustment
from mlmkit.services.tuning.comparison import best_threshold, candidate_curve, compare
from mlmkit.services.tuning.data import configured_threshold, time_range, totals
from mlmkit.services.tuning.results import (
    AdaptiveAdjustment,
    CostOptimization,
    HyperparameterSearch,
    ThresholdOptimization,
    TradeoffOptimization,
    TuningResult,
)
from mlmkit.services.tuning.search import Evaluate
from mlmkit.services.tuning.tasks import check_candidates, check_threshold_task
from mlmkit.store.tuning_runs import insert_runs, select_runs
from mlmkit.values import DefaultWindow, ModelMetadata, Version, VersionLike, WindowLike

if TYPE_CHECKING:
    from mlmkit.services.log import PredictionLog
    from mlmkit.store.database import Database
    from mlmkit.store.registry.duckdb import ModelRegistry

__all__ = [
    "AdaptiveAdjustment",
    "AutoTuningEngine",
    "CostOptimization",
    "HyperparameterSearch",
    "ThresholdOptimization",
    "TradeoffOptimization",
]

_24H = DefaultWindow("24h")
_THRESHOLD_METRICS = select(use=Use.THRESHOLD, kind=Kind.COUNT)


class AutoTuningEngine(EngineUser):
    """Tune decision thresholds and hyper-parameters on logged predictions with ground truth.

    Threshold methods fit binary and score-only models (the flag threshold, on confirmed
    anomalies) and refuse multiclass and regression models with a `StateError` saying why;
    hyper-parameter search fits every task (see `mlmkit.services.tuning.tasks`).

    Parameters
    ----------
    db : Database
        The database holding the prediction log and the ``tuning_runs`` journal.
    registry : ModelRegistry
        The model registry (configured thresholds;
        [`apply`][mlmkit.services.tuning.AutoTuningEngine.apply] registers new versions).
    log : PredictionLog
        The prediction log (labelled rows for hyper-parameter search).

    Examples
    --------
    >>> import mlmkit, numpy as np, polars as pl
    >>> ws = mlmkit.open()
    >>> _ = ws.registry.register(mlmkit.ModelMetadata.for_n1_detector("1.0.0", {"threshold": 0.5}))
    >>> rng = np.random.default_rng(1)
    >>> y = rng.random(4000) < 0.3
    >>> s = np.clip(0.3 + 0.35 * y + rng.normal(0, 0.12, y.size), 0, 1)
    >>> _ = ws.log.track_batch(pl.DataFrame({"model_name": "n1-detector", "version": "1.0.0",
    ...                                      "prediction": s >= 0.5, "score": s, "actual": y}))
    >>> r = ws.tuning.optimize_threshold("n1-detector", "1.0.0", threshold_range=(0.3, 0.7),
    ...                                  step=0.05)
    >>> r["optimal_threshold"], r.recommended, round(r.improvement_percent, 1)
    (0.5, False, 0.0)
    >>> ws.close()
    """

    def __init__(self, db: Database, registry: ModelRegistry, log: PredictionLog) -> None:
        self.db = db
        self.registry = registry
        self.log = log

    # ------------------------------------------------------------------ thresholds
    def optimize_threshold(self, model_name: str, version: VersionLike,
                           metric_to_optimize: str = "f1_score",
                           threshold_range: tuple[float, float] | None = (0.5, 0.9),
                           step: float | None = 0.05, window: WindowLike | None = _24H, *,
                           start: datetime | None = None, end: datetime | None = None,
                           min_labels: int = 100, min_improvement_percent: float = 3.0,
                           n_resamples: int = 2000, confidence: float = 0.95,
                           seed: int = 0) -> ThresholdOptimization:
        """The threshold maximising ``metric_to_optimize`` (the seed's grid search, exact).

        Parameters
        ----------
        model_name, version : str
            The model version whose logged, labelled, scored predictions are used.
        metric_to_optimize : str
            ``f1_score``, ``precision``, ``recall``, ``accuracy``, ``specificity``,
            ``balanced_accuracy`` or ``mcc``.
        threshold_range : (float, float) or None
            Candidates lie in ``[low, high]``; ``None`` for ``[0, 1]`` (grid) / every score.
        step : float or None
            Grid mode: ``low, low + step, ..., high`` counted in one DuckDB scan. ``None``:
            exact mode, every distinct score in the range is a candidate (``GROUP BY score``).
        window, start, end
            Rows logged in the last ``window`` or in ``[start, end)``; ``window=None`` for all.
        min_labels : int
            Below this many labelled predictions (or 10 per class) nothing is recommended.
        min_improvement_percent : float
            Smallest improvement recommended (seed: 3 %).
        n_resamples, confidence, seed
            The paired bootstrap of ``improvement_percent``; an interval whose lower end is
            not above 0 means the improvement is inside noise and is not recommended.

        Returns
        -------
        ThresholdOptimization
            ``result["optimal_threshold"]`` etc. work as in the seed.

        Raises
        ------
        StateError
            When the version has no labelled, scored predictions in the window.
        """
        ver, current = self._version(model_name, version, candidates=(threshold_range, step))
        check_choice("metric_to_optimize", metric_to_optimize, _THRESHOLD_METRICS)
        min_labels = check_int("min_labels", min_labels, low=0)  # checked before any scan
        minimum = check_real("min_improvement_percent", min_improvement_percent)
        curve, bounds = candidate_curve(self.engine, model_name, ver, threshold_range, step,
                                        current, time_range(window, start, end))
        best = best_threshold(curve, metric_to_optimize, bounds, step, current, {})
        fields = compare(curve, best, current, metric_to_optimize, {},
                         n_resamples=n_resamples, confidence=confidence, seed=seed,
                         min_labels=min_labels, minimum=minimum)
        run_id = self._store("threshold", model_name, ver, metric_to_optimize, best.value,
                             best.threshold, {"threshold_range": bounds, "step": step}, fields)
        return ThresholdOptimization(
            model_name=model_name, version=ver, metric=metric_to_optimize,
            optimal_threshold=best.threshold, current_threshold=current,
            optimal_value=best.value, mode="exact" if step is None else "grid", run_id=run_id,
            curve=best.curve, **fields)

    def optimize_precision_recall_tradeoff(
            self, model_name: str, version: VersionLike, target_precision: float = 0.95,
            threshold_range: tuple[float, float] | None = (0.5, 0.99), *,
            target_recall: float | None = None, step: float | None = None,
            window: WindowLike | None = _24H, start: datetime | None = None,
            end: datetime | None = None) -> TradeoffOptimization:
        """The threshold with the highest recall whose precision is at least ``target_precision``.

        With ``target_recall`` the mirror: the highest precision whose recall is at least
        ``target_recall`` (``target_precision`` is then ignored). Candidates as in
        [`optimize_threshold`][mlmkit.services.tuning.AutoTuningEngine.optimize_threshold]
        (exact by default). An infeasible target gives ``feasible=False``, ``threshold=nan`` and a
        ``reason`` with the best value reachable.
        """
        ver, current = self._version(model_name, version, candidates=(threshold_range, step))
        if target_recall is None:
            target, value, other = "precision", check_real("target_precision", target_precision,
                                                           low=0.0, high=1.0), "recall"
        else:
            target, value, other = "recall", check_real("target_recall", target_recall,
                                                        low=0.0, high=1.0), "precision"
        curve, bounds = candidate_curve(self.engine, model_name, ver, threshold_range, step,
                                        current, time_range(window, start, end))
        best = best_threshold_from_curve(curve, metric=other, threshold_range=bounds, step=step,
                                         constraint={f"{target}_at_least": value},
                                         current=current)
        f1 = float(metric_from_counts("f1_score", best.tp, best.fp, best.tn, best.fn)) \
            if best.feasible else math.nan
        labelled, _ = totals(curve)
        reason = best.reason if best.feasible else f"infeasible: {best.reason}"
        run_id = self._store("tradeoff", model_name, ver, other, best.value, best.threshold,
                             {"target": target, "target_value": value},
                             {"feasible": best.feasible, "reason": reason})
        return TradeoffOptimization(
            model_name=model_name, version=ver, target=target, target_value=value,
            threshold=best.threshold, achieved_precision=best.precision,
            achieved_recall=best.recall, f1_score=f1, feasible=best.feasible, reason=reason,
            current_threshold=current, labelled_count=labelled, run_id=run_id, curve=best.curve)

    def optimize_cost(self, model_name: str, version: VersionLike, *, cost_false_positive: float,
                      cost_false_negative: float,
                      threshold_range: tuple[float, float] | None = (0.0, 1.0),
                      step: float | None = None, window: WindowLike | None = _24H,
                      start: datetime | None = None, end: datetime | None = None,
                      min_labels: int = 100, min_improvement_percent: float = 3.0,
                      n_resamples: int = 2000, confidence: float = 0.95,
                      seed: int = 0) -> CostOptimization:
        """The threshold minimising the expected cost per prediction.

        ``expected_cost = (cost_false_positive * fp + cost_false_negative * fn) / n``; the
        result also reports precision / recall / F1 at the optimum and F1 at the current
        threshold (the seed's performance-cost trade-off). Other parameters as in
        [`optimize_threshold`][mlmkit.services.tuning.AutoTuningEngine.optimize_threshold]
        (exact over every distinct score by default).
        """
        ver, current = self._version(model_name, version, candidates=(threshold_range, step))
        costs = {"cost_false_positive": check_real("cost_false_positive", cost_false_positive,
                                                   low=0.0),
                 "cost_false_negative": check_real("cost_false_negative", cost_false_negative,
                                                   low=0.0)}
        min_labels = check_int("min_labels", min_labels, low=0)  # checked before any scan
        minimum = check_real("min_improvement_percent", min_improvement_percent)
        curve, bounds = candidate_curve(self.engine, model_name, ver, threshold_range, step,
                                        current, time_range(window, start, end))
        best = best_threshold(curve, "cost", bounds, step, current, costs)
        fields = compare(curve, best, current, "cost", costs, n_resamples=n_resamples,
                         confidence=confidence, seed=seed, min_labels=min_labels,
                         minimum=minimum)
        at_current = counts_at_threshold(curve, current)
        run_id = self._store("cost", model_name, ver, "cost", best.value, best.threshold,
                             {**costs, "threshold_range": bounds, "step": step}, fields)
        return CostOptimization(
            model_name=model_name, version=ver, optimal_threshold=best.threshold,
            current_threshold=current, expected_cost=best.value,
            current_cost=fields["current_value"],
            improvement_percent=fields["improvement_percent"],
            improvement_interval=fields["improvement_interval"], precision=best.precision,
            recall=best.recall,
            f1_score=float(metric_from_counts("f1_score", best.tp, best.fp, best.tn, best.fn)),
            current_f1_score=float(metric_from_counts("f1_score", **at_current)),
            labelled_count=fields["labelled_count"], recommended=fields["recommended"],
            recommendation=fields["recommendation"], run_id=run_id, curve=best.curve, **costs)

    def adaptive_threshold_adjustment(self, model_name: str, version: VersionLike, *,
                                      window: WindowLike | None = _24H,
                                      start: datetime | None = None,
                                      end: datetime | None = None,
                                      current_threshold: float | None = None,
                                      max_step: float = 0.05, dead_band: float = 0.2,
                                      reversal_factor: float = 2.0, min_labels: int = 100,
                                      persist: bool = True) -> AdaptiveAdjustment:
        """Nudge the threshold from the recent false-positive and false-negative rates.

        Raises the threshold when false positives dominate, lowers it when false negatives
        dominate, by at most ``max_step`` and never past the threshold where FP and FN
        balance. It holds while ``(fp - fn) / (fp + fn)`` is within ``dead_band``, and a move
        reversing the previous one needs ``reversal_factor`` times the band (hysteresis: no
        flip-flop across runs). The controller's state is the ``tuning_runs`` table: unless
        ``current_threshold`` is given, a run starts from the previous run's
        ``recommended_threshold`` for this version (else ``configuration["threshold"]``, else
        0.5). With fewer than ``min_labels`` labelled predictions it holds. ``persist=False``
        leaves no trace (a dry run).
        """
        ver, configured = self._version(model_name, version)
        return adaptive_adjustment(
            self.db, model_name, ver, configured, time_range(window, start, end),
            current_threshold=current_threshold, max_step=max_step, dead_band=dead_band,
            reversal_factor=reversal_factor, min_labels=check_int("min_labels", min_labels,
                                                                  low=0),
            persist=persist, engine=self.engine)

    # ------------------------------------------------------------------ hyper-parameters
    def optimize_hyperparameters(self, model_name: str, version: VersionLike,
                                 parameter_ranges: Mapping[str, object],
                                 metric_to_optimize: str = "f1_score", *,
                                 evaluate: Evaluate,
                                 window: WindowLike | None = _24H,
                                 start: datetime | None = None, end: datetime | None = None,
                                 n_jobs: int = 1,
                                 progress: bool | None = None) -> HyperparameterSearch:
        """Grid search: call ``evaluate`` for every parameter combination, keep the best.

        Parameters
        ----------
        parameter_ranges : mapping
            ``{name: [min, max, step]}`` (the seed's format: an inclusive range, ints stay
            ints; a tuple works too) or ``{name: {"values": [explicit, values]}}`` (a list
            of any length other than three numbers is also read as its values).
        metric_to_optimize : str
            When ``evaluate`` returns an array: ``accuracy``, ``precision``, ``recall``,
            ``f1_score``, ``specificity``, ``balanced_accuracy``, ``mcc``, ``roc_auc``,
            ``pr_auc`` (maximised) or ``brier_score``, ``log_loss`` (minimised). When it
            returns a number, that number is the metric (maximised unless named as one of
            the minimised metrics or ``cost``).
        evaluate : callable
            The contract: ``evaluate(params)`` or ``evaluate(params, frame)`` (a second
            positional parameter receives the version's labelled predictions in the window,
            a polars frame as from ``ws.log.predictions(..., labelled_only=True)``,
            with ``actual``, ``score`` and the feature columns). It returns either the metric
            (a float) or a 1-D array aligned with ``frame``'s rows: predicted labels (bool /
            int) or scores (float; predicted positive when ``>= params["threshold"]`` if
            searched, else the version's configured threshold). A trial that raises is
            kept with its error text and a NaN metric.
        n_jobs : int
            Trials run on this many threads (``-1``: one per core); results do not depend
            on it.
        progress : bool or None
            A ``tqdm.auto`` bar (notebook-aware). ``None``: only if tqdm is installed;
            ``True`` without tqdm raises [`DependencyError`][mlmkit.exceptions.DependencyError].

        Notes
        -----
        Every trial is stored in ``tuning_runs`` (``kind="hyperparameters"``, one ``run_id``).
        """
        return _tuning_search.search(self, model_name, version, parameter_ranges,
                                     metric_to_optimize, evaluate=evaluate,
                                     span=time_range(window, start, end), n_jobs=n_jobs,
                                     progress=progress)

    # ------------------------------------------------------------------ apply / history
    def apply(self, result: TuningResult, *, bump: str = "patch",
              min_improvement_percent: float = 3.0, reason: str | None = None
              ) -> ModelMetadata:
        """Register a NEW version carrying the tuned threshold (or parameters); never edit one.

        The new version is ``result.version`` bumped (``"patch"``: x.y.z -> x.y.(z+1), the
        seed's practice; ``"minor"`` / ``"major"``), with the same type and configuration
        except ``threshold`` (or the searched parameters), and ``metadata["tuning"]`` saying
        why (source version, old / new values, improvement, ``reason``, run id).

        Refusals raise [`StateError`][mlmkit.exceptions.StateError] and register nothing: an
        ``improvement_percent`` below ``min_improvement_percent`` (or unknown), an infeasible
        trade-off, an adaptive run that holds, a threshold equal to the current one. A
        version that already exists raises [`DuplicateError`][mlmkit.exceptions.DuplicateError].
        """
        return _tuning_apply.apply(self.db, self.registry, result, bump=bump,
                                   min_improvement_percent=min_improvement_percent,
                                   reason=reason)

    def history(self, model_name: str | None = None, *, version: VersionLike | None = None,
                kind: str | None = None) -> pl.DataFrame:
        """Stored tuning trials (``tuning_runs``), oldest first; ``params`` / ``details`` JSON."""
        ver = None if version is None else str(Version.parse(version))
        for name, value in (("model_name", model_name), ("kind", kind)):
            if value is not None:
                check_name(name, value)
        return select_runs(self.db, model_name=model_name, version=ver, kind=kind)

    # ------------------------------------------------------------------ helpers
    def _version(self, model_name: str, version: VersionLike, *,
                 candidates: tuple[tuple[float, float] | None, float | None] | None = None
                 ) -> tuple[str, float]:
        task = check_threshold_task(self.registry, model_name, "threshold tuning")
        if candidates is not None:
            check_candidates(task, *candidates)
        ver = str(Version.parse(version))
        return ver, configured_threshold(self.registry.get(model_name, ver))

    def _store(self, kind: str, model_name: str, version: str, metric: str, value: float,
               threshold: float, params: Mapping[str, object], details: Mapping[str, object]
               ) -> str:
        run_id = uuid.uuid4().hex
        insert_runs(self.db, [{"run_id": run_id, "trial": 0, "kind": kind,
                                  "model_name": model_name, "version": version,
                                  "metric": metric, "value": value, "threshold": threshold,
                                  "params": params, "details": details}])
        return run_id
