"""The metric catalogue: every metric mlmkit knows, once, with what each layer needs to know.

Each `MetricSpec` says what a metric is computed from (``kind``), which way is better,
which significance test compares two of its values, which model tasks it applies to, and where
mlmkit uses it (``uses``). Services, alert rules, jobs, charts, the tuner and the Prometheus
exporter read their metric sets from `select` instead of keeping their own tuples, so a
metric added here is validated, monitored, compared and exported consistently.

Shared by every layer (like [`mlmkit.values`][mlmkit.values]): no heavy imports.

Examples
--------
>>> select(use=Use.EXPERIMENT, test=Significance.PROPORTION, task=Task.BINARY)
('accuracy', 'precision', 'recall', 'specificity')
>>> spec("roc_auc").higher_is_better, spec("log_loss").higher_is_better
(True, False)
>>> proportion("precision", {"tp": 40, "fp": 10, "tn": 45, "fn": 5})
(40, 50)
>>> "specificity" in select(task=Task.MULTICLASS)
False
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mlmkit._validation import invalid

__all__ = ["CATALOGUE", "Kind", "MetricSpec", "Significance", "Task", "Use", "proportion",
           "select", "spec"]


class Task(StrEnum):
    """What a model predicts; decides which metrics apply to it."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"
    SCORE_ONLY = "score-only"  # a score without a decided label (ranking, anomaly score)


class Kind(StrEnum):
    """What a metric is computed from."""

    COUNT = "count"            # confusion counts of labelled rows
    SCORE = "score"            # labels and the positive-class score
    REGRESSION = "regression"  # numeric actuals and predictions (sums of errors, actuals)
    CLASS_COUNT = "class-count"  # the KxK confusion counts of a multiclass model
    CLASS_SCORE = "class-score"  # per-class probability histograms of a multiclass model
    COST = "cost"              # confusion counts weighted by caller-given costs
    WINDOW = "window"          # the window itself: volumes, label coverage, score level


class Significance(StrEnum):
    """How two values of a metric (A/B, baseline vs current) are compared."""

    PROPORTION = "two-proportion-z"  # successes / trials: z test, Wilson intervals
    WELCH = "welch"                  # a mean of per-row values
    BOOTSTRAP = "bootstrap"          # anything else computed from rows
    NONE = "none"                    # volumes: not compared


class Use(StrEnum):
    """Where mlmkit offers a metric."""

    WINDOW = "window"          # the monitor reports it per window (trend, snapshot, alert rule)
    EXPERIMENT = "experiment"  # an A/B test or rollout can compare it
    THRESHOLD = "threshold"    # a decision threshold can be tuned to optimise it
    HEADLINE = "headline"      # reported by default (A/B secondary metrics, Prometheus gauges)


@dataclass(frozen=True)
class MetricSpec:
    """One metric of the catalogue.

    Attributes
    ----------
    name : str
        The key used everywhere (``WindowMetrics`` attribute, trend column, snapshot metric).
    label : str
        Display label (charts, tables).
    kind : Kind
        What it is computed from.
    higher_is_better : bool or None
        Direction; ``None`` for volumes, which have none.
    test : Significance
        Significance test comparing two values.
    tasks : frozenset of Task
        Model tasks it applies to.
    uses : frozenset of Use
        Where mlmkit offers it.
    cells : tuple of (tuple of str, tuple of str), optional
        For a proportion, the count keys summed into successes and into trials.
    bounds : tuple of (float, float), optional
        The range the metric can take (``inf`` for unbounded); ``None``: not declared.
    loss : str, optional
        For a regression metric read off the mean of one per-row loss of ``e = prediction -
        actual``, that loss: ``absolute_error`` (``|e|``: MAE is its mean),
        ``squared_error`` (``e²``: RMSE is the square root of its mean) or
        ``absolute_percentage_error`` (``|e| / |actual|``: MAPE is its mean); ``None`` for
        the others (R² also needs the actuals' variance). Label-free estimation (DLE)
        estimates the metrics whose loss it models.
    """

    name: str
    label: str
    kind: Kind
    higher_is_better: bool | None
    test: Significance
    tasks: frozenset[Task]
    uses: frozenset[Use] = frozenset()
    cells: tuple[tuple[str, ...], tuple[str, ...]] | None = None
    bounds: tuple[float, float] | None = None
    loss: str | None = None

    @property
    def is_proportion(self) -> bool:
        """Whether the metric is successes / trials (two-proportion z test, Wilson interval)."""
        return self.cells is not None


_B, _M, _R, _S = Task.BINARY, Task.MULTICLASS, Task.REGRESSION, Task.SCORE_ONLY
_W, _E, _T, _H = Use.WINDOW, Use.EXPERIMENT, Use.THRESHOLD, Use.HEADLINE
_ALL = frozenset(Task)
_Z, _WELCH, _BOOT, _NO = (Significance.PROPORTION, Significance.WELCH, Significance.BOOTSTRAP,
                          Significance.NONE)
_CONFUSION = ("tp", "fp", "tn", "fn")


def _m(name: str, label: str, kind: Kind, higher: bool | None, test: Significance,
       tasks: Collection[Task], uses: Collection[Use] = (),
       cells: tuple[tuple[str, ...], tuple[str, ...]] | None = None,
       bounds: tuple[float, float] | None = None, loss: str | None = None) -> MetricSpec:
    return MetricSpec(name, label, kind, higher, test, frozenset(tasks), frozenset(uses), cells,
                      bounds, loss)


_COUNT_USES = (_W, _E, _T)
_UNIT, _POSITIVE, _INF = (0.0, 1.0), (0.0, float("inf")), float("inf")
#: Every metric, in display order.
CATALOGUE: Mapping[str, MetricSpec] = {m.name: m for m in (
    _m("accuracy", "Accuracy", Kind.COUNT, True, _Z, (_B, _M), (*_COUNT_USES, _H),
       (("tp", "tn"), _CONFUSION)),
    _m("precision", "Precision", Kind.COUNT, True, _Z, (_B, _M),
       (*_COUNT_USES, _H), (("tp",), ("tp", "fp"))),
    _m("recall", "Recall", Kind.COUNT, True, _Z, (_B, _M), (*_COUNT_USES, _H),
       (("tp",), ("tp", "fn"))),
    _m("f1_score", "F1 score", Kind.COUNT, True, _BOOT, (_B, _M), (*_COUNT_USES, _H)),
    _m("specificity", "Specificity", Kind.COUNT, True, _Z, (_B,), _COUNT_USES,
       (("tn",), ("tn", "fp"))),
    _m("balanced_accuracy", "Balanced accuracy", Kind.COUNT, True, _BOOT, (_B, _M),
       (_E, _T)),
    _m("mcc", "Matthews correlation", Kind.COUNT, True, _BOOT, (_B, _M), (_T,)),
    _m("roc_auc", "ROC AUC", Kind.SCORE, True, _BOOT, (_B, _S), (_W, _E)),
    _m("pr_auc", "PR AUC", Kind.SCORE, True, _BOOT, (_B, _S)),
    _m("brier_score", "Brier score", Kind.SCORE, False, _WELCH, (_B, _S), (_W,)),
    _m("log_loss", "Log loss", Kind.SCORE, False, _WELCH, (_B, _M, _S), (_W,)),
    _m("cost", "Cost", Kind.COST, False, _NO, (_B,), (_T,)),
    _m("label_coverage", "Label coverage", Kind.WINDOW, True, _Z, _ALL, (_W,),
       (("labelled",), ("n",))),
    _m("mean_score", "Mean score", Kind.WINDOW, None, _WELCH, (_B, _S), (_W,)),
    _m("predicted_positive_rate", "Predicted positive rate", Kind.WINDOW, None,
       _Z, (_B,), (_W,), (("predicted_positive",), ("n",))),
    _m("sample_count", "Predictions", Kind.WINDOW, None, _NO, _ALL, (_W,)),
    _m("labelled_count", "Labelled predictions", Kind.WINDOW, None, _NO, _ALL, (_W,)),
    # Issue 15: multiclass / regression / score-only metrics. WINDOW: their task's window result
    # reports them (get_current_metrics, trend, snapshot, the metric_below rule); EXPERIMENT:
    # ``ws.ab`` compares them. A consumer that reads binary WindowMetrics selects task=BINARY.
    # Multiclass averages of the KxK confusion matrix, one-vs-rest AUC of the probabilities.
    _m("f1_macro", "F1 (macro)", Kind.CLASS_COUNT, True, _BOOT, (_M,), (_W, _E), bounds=_UNIT),
    _m("precision_macro", "Precision (macro)", Kind.CLASS_COUNT, True, _BOOT, (_M,), (_W, _E),
       bounds=_UNIT),
    _m("recall_macro", "Recall (macro)", Kind.CLASS_COUNT, True, _BOOT, (_M,), (_W, _E),
       bounds=_UNIT),
    _m("f1_weighted", "F1 (weighted)", Kind.CLASS_COUNT, True, _BOOT, (_M,), (_W, _E),
       bounds=_UNIT),
    _m("roc_auc_ovr", "ROC AUC (one-vs-rest)", Kind.CLASS_SCORE, True, _BOOT, (_M,), (_W,),
       bounds=_UNIT),
    # Regression: means of per-row values are compared with Welch, the rest by bootstrap.
    _m("mae", "MAE", Kind.REGRESSION, False, _WELCH, (_R,), (_W, _E), bounds=_POSITIVE,
       loss="absolute_error"),
    _m("rmse", "RMSE", Kind.REGRESSION, False, _BOOT, (_R,), (_W, _E), bounds=_POSITIVE,
       loss="squared_error"),
    _m("mape", "MAPE", Kind.REGRESSION, False, _WELCH, (_R,), (_W, _E), bounds=_POSITIVE,
       loss="absolute_percentage_error"),
    _m("r2", "R²", Kind.REGRESSION, True, _BOOT, (_R,), (_W, _E), bounds=(-_INF, 1.0)),
    # Score-only: share of rows the model flagged (a volume: no direction).
    _m("flag_rate", "Flag rate", Kind.WINDOW, None, _Z, (_S,), (_W, _E),
       (("flagged",), ("n",)), bounds=_UNIT),
)}


def _as_set(value: Any) -> frozenset[Any] | None:
    if value is None:
        return None
    if isinstance(value, str):  # StrEnum members are str
        return frozenset({value})
    return frozenset(value)


def select(*, kind: Kind | Collection[Kind] | None = None, use: Use | None = None,
           task: Task | None = None, test: Significance | Collection[Significance] | None = None,
           higher_is_better: bool | None = None) -> tuple[str, ...]:
    """Names of the catalogue's metrics matching every given filter, in catalogue order.

    Parameters
    ----------
    kind : Kind or collection of Kind, optional
        Keep metrics of these kinds.
    use : Use, optional
        Keep metrics mlmkit offers there.
    task : Task, optional
        Keep metrics applying to this model task.
    test : Significance or collection of Significance, optional
        Keep metrics compared with these tests.
    higher_is_better : bool, optional
        Keep metrics with this direction.

    Examples
    --------
    >>> select(use=Use.WINDOW, task=Task.BINARY, higher_is_better=False)
    ('brier_score', 'log_loss')
    >>> select(use=Use.WINDOW, task=Task.REGRESSION, higher_is_better=False)
    ('mae', 'rmse', 'mape')
    """
    kinds, tests = _as_set(kind), _as_set(test)
    return tuple(
        m.name for m in CATALOGUE.values()
        if (kinds is None or m.kind in kinds) and (use is None or use in m.uses)
        and (task is None or task in m.tasks) and (tests is None or m.test in tests)
        and (higher_is_better is None or m.higher_is_better is higher_is_better))


def spec(name: str) -> MetricSpec:
    """The `MetricSpec` of ``name``; an unknown name raises ``ValidationError``."""
    found = CATALOGUE.get(name) if isinstance(name, str) else None
    if found is None:
        raise invalid("metric", f"one of {', '.join(CATALOGUE)}", name)
    return found


def proportion(name: str, counts: Mapping[str, Any]) -> tuple[Any, Any]:
    """``(successes, trials)`` of proportion metric ``name`` from ``counts``.

    ``counts`` maps count keys (``tp``, ``fp``, ``tn``, ``fn``, ``labelled``, ``n``, ...) to
    numbers or equal-shape numpy arrays; the sums keep that type.
    """
    cells = spec(name).cells
    if cells is None:
        raise invalid("metric", "a proportion metric "
                      f"({', '.join(m.name for m in CATALOGUE.values() if m.cells)})", name)
    successes, trials = (sum((counts[k] for k in keys[1:]), counts[keys[0]]) for keys in cells)
    return successes, trials
