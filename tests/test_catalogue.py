"""The metric catalogue is the only list of metrics, and what it says is true of the code."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import mlmkit
from mlmkit.analysis.metrics import _kernels
from mlmkit.analysis.metrics.binary import metrics_from_counts
from mlmkit.catalogue import CATALOGUE, Kind, Significance, Task, Use, proportion, select, spec
from mlmkit.exceptions import ValidationError

ROOT = Path(mlmkit.__file__).parent
NAMES = frozenset(CATALOGUE)


def _metric_literals(tree: ast.AST) -> list[ast.AST]:
    """Literal lists of strings naming two or more catalogue metrics (``__all__`` aside).

    Dict literals are not lists: they compute a value per metric (a kernel, a result row).
    """
    exports = {id(n) for node in ast.walk(tree) if isinstance(node, ast.Assign)
               and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
               for n in ast.walk(node.value)}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Tuple | ast.List | ast.Set) or id(node) in exports:
            continue
        if not all(isinstance(i, ast.Constant) and isinstance(i.value, str) for i in node.elts):
            continue
        if len({i.value for i in node.elts if i.value in NAMES}) >= 2:  # type: ignore[attr-defined]
            found.append(node)
    return found


def _defaults(tree: ast.AST) -> set[int]:
    """ids of nodes that are argument defaults (a documented parameter default may list some)."""
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for default in (*node.args.defaults, *node.args.kw_defaults):
                if default is not None:
                    ids.update(id(n) for n in ast.walk(default))
    return ids


def test_no_metric_list_outside_the_catalogue() -> None:
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        if path == ROOT / "catalogue.py":
            continue
        tree = ast.parse(path.read_text())
        defaults = _defaults(tree)
        offenders += [f"{path.relative_to(ROOT)}:{n.lineno}" for n in _metric_literals(tree)
                      if id(n) not in defaults]
    assert not offenders, "metric lists must be catalogue selections: " + ", ".join(offenders)


def test_the_scan_finds_a_literal_list() -> None:
    tree = ast.parse('X = ("accuracy", "precision")\nY = ["threshold", "recall", "roc_auc"]\n'
                     'Z = ("accuracy", "threshold")\n__all__ = ["log_loss", "roc_auc"]')
    assert len(_metric_literals(tree)) == 2


def test_consumers_read_their_sets_from_the_catalogue() -> None:
    from mlmkit.analysis import experiment, tuning
    from mlmkit.analysis.metrics import intervals
    from mlmkit.analysis.thresholds import curve
    from mlmkit.ops import prometheus
    from mlmkit.services.alerts import rules
    from mlmkit.services.jobs import bodies
    from mlmkit.services.monitor import degradation, service
    from mlmkit.services.tuning import search
    from mlmkit.values import PRIMARY_METRICS

    window = select(use=Use.WINDOW)
    # the rule takes every task's window metric; the job snapshots binary WindowMetrics by
    # these names (other tasks' windows give what they report: services/jobs/_snapshots)
    assert rules._BELOW_METRICS == window
    assert bodies.PERFORMANCE_METRICS == select(use=Use.WINDOW, task=Task.BINARY)
    assert service._METRICS == select(use=Use.WINDOW, kind=(Kind.COUNT, Kind.SCORE))
    assert set(degradation.HIGHER_IS_BETTER) == {
        m for m in service._METRICS if spec(m).higher_is_better}
    assert set(search.MINIMISED) == {m.name for m in CATALOGUE.values()
                                     if m.higher_is_better is False}
    # binary models' tests from confusion counts; every task's experiment metrics (issue 15)
    assert set(experiment.RATE_METRICS + experiment.BOOTSTRAP_METRICS) == set(
        select(use=Use.EXPERIMENT, task=Task.BINARY))
    assert PRIMARY_METRICS == set().union(*experiment.TASK_METRICS.values())
    for task, names in experiment.TASK_METRICS.items():
        assert all(task in spec(m).tasks for m in names), task
    assert all(spec(m).is_proportion for m in experiment.RATE_METRICS)
    assert curve.METRICS == tuning.TUNING_METRICS == select(use=Use.THRESHOLD)
    assert intervals.SCORE_METRICS == ("roc_auc", "pr_auc")
    assert [m for _, m in prometheus._RATIOS] == list(select(use=Use.HEADLINE))


def test_count_metrics_are_the_kernel_keys_and_proportions_match_them() -> None:
    rng = np.random.default_rng(5)
    counts = dict(zip(("tp", "fp", "tn", "fn"), rng.integers(1, 500, 4).tolist(), strict=True))
    values = _kernels.count_metrics(*counts.values())
    assert tuple(values) == select(kind=Kind.COUNT) == _kernels.COUNT_METRICS
    oracle = metrics_from_counts(*counts.values())
    for name in select(kind=Kind.COUNT, test=Significance.PROPORTION):
        successes, trials = proportion(name, counts)
        assert successes / trials == pytest.approx(float(values[name]))
        assert successes / trials == pytest.approx(oracle[name])


def test_every_window_metric_is_a_window_metrics_attribute() -> None:
    from mlmkit.services.monitor.results import WindowMetrics

    attrs = {f.name for f in dataclasses.fields(WindowMetrics)} | {
        n for n, v in vars(WindowMetrics).items() if isinstance(v, property)}
    assert set(select(use=Use.WINDOW, task=Task.BINARY)) <= attrs


def test_every_task_window_metric_is_reported_by_its_window() -> None:
    # issue 15: f1_macro, mae, flag_rate... are window metrics of their task's result
    from mlmkit.analysis.metrics import RegressionSums, multiclass_metrics, regression_metrics
    from mlmkit.services.monitor import task_results as tr

    facts = {"model_name": "m", "version": "1.0.0", "start": None, "end": None,
             "sample_count": 4, "labelled_count": 4, "min_labels": 0}
    y, p = np.array([1.0, 2.0, 4.0, 8.0]), np.array([1.5, 2.0, 3.0, 9.0])
    windows = {
        Task.MULTICLASS: tr.MulticlassWindowMetrics(
            **facts, metrics=multiclass_metrics([[2, 1], [0, 1]], labels=["a", "b"]),
            probability_count=0, log_loss=None, roc_auc=None),
        Task.REGRESSION: tr.RegressionWindowMetrics(
            **facts, metrics=regression_metrics(RegressionSums.from_rows(y, p)), sums=None,
            residual_quantiles=pl.DataFrame(schema=["quantile", "value"])),
        Task.SCORE_ONLY: tr.ScoreWindowMetrics(
            **facts, summary=None, scored_count=4, flagged=1, flag_count=4, confirmed=0,
            flag_rate_interval=None, histogram=pl.DataFrame()),
    }
    for task, window in windows.items():
        own = {m for m in select(use=Use.WINDOW, task=task) if Task.BINARY not in spec(m).tasks}
        assert own and own <= set(window.keys()), task


def test_tasks_directions_and_tests_are_declared() -> None:
    for m in CATALOGUE.values():
        assert m.tasks, m.name
        assert m.is_proportion == (m.test is Significance.PROPORTION), m.name
        assert (m.higher_is_better is None) == (m.kind is Kind.WINDOW and m.name not in
                                                ("label_coverage",)), m.name
    assert "specificity" not in select(task=Task.MULTICLASS)
    assert set(select(task=Task.SCORE_ONLY)) >= {"roc_auc", "pr_auc", "brier_score"}
    assert select(kind=Kind.REGRESSION) == ("mae", "rmse", "mape", "r2")  # issue 15


def test_regression_losses_are_the_per_row_losses_of_their_metrics() -> None:
    # MetricSpec.loss: MAE and MAPE are the means of |e| and |e|/|y|, RMSE the root of the mean
    # of e²; R² has none. DLE estimates exactly the metrics whose loss it models.
    import math

    from mlmkit.analysis.estimation import DLE
    from mlmkit.analysis.metrics import RegressionSums, regression_metrics

    rng = np.random.default_rng(15)
    y = rng.normal(10.0, 3.0, 500)
    p = y + rng.normal(0.5, 2.0, 500)
    e = p - y
    losses = {"absolute_error": np.abs(e), "squared_error": e * e,
              "absolute_percentage_error": np.abs(e) / np.abs(y)}
    values = regression_metrics(RegressionSums.from_rows(y, p))
    for name in select(kind=Kind.REGRESSION):
        loss = spec(name).loss
        if loss is None:
            assert name == "r2"
            continue
        mean = float(losses[loss].mean())
        want = math.sqrt(mean) if loss == "squared_error" else mean
        assert getattr(values, name) == pytest.approx(want, rel=1e-12), name
    assert all(m.loss is None for m in CATALOGUE.values() if m.kind is not Kind.REGRESSION)
    frame = pl.DataFrame({"x": rng.normal(size=500), "prediction": p, "actual": y})
    dle = DLE(features=["x"], knots=4).fit(frame)
    modelled = set(dle.predict_loss(frame).columns)
    estimated = [m for m in select(kind=Kind.REGRESSION) if spec(m).loss in modelled]
    assert estimated == ["mae", "rmse"]
    out = dle.estimate(frame.drop("actual"))
    assert [c for c in out.columns if c in CATALOGUE] == estimated


def test_task_monitoring_sets_are_catalogue_selections() -> None:
    # issue 15 consumers: the non-binary monitor's tests and the rollout's guarded loss
    from mlmkit.services.experiments.task_rollout import guarded_loss
    from mlmkit.services.monitor import task_compare
    from mlmkit.services.monitor import task_degradation as td

    assert td.PROPORTION_METRICS == ("accuracy", "flag_rate")
    assert all(spec(m).is_proportion for m in td.PROPORTION_METRICS)
    assert set(td.PROBABILITY_METRICS) == {"roc_auc_ovr", "log_loss"}
    assert task_compare._WELCH == ("mae", "mape")
    assert task_compare._ROW_BOOTSTRAP == ("rmse", "r2")
    assert {m: guarded_loss(Task.REGRESSION, m) for m in select(kind=Kind.REGRESSION)} == {
        "mae": "mae", "rmse": "mse", "mape": "mape", "r2": "mse"}


def test_unknown_and_non_proportion_metrics_name_the_value() -> None:
    with pytest.raises(ValidationError, match=r"metric must be one of .*'nope'"):
        spec("nope")
    with pytest.raises(ValidationError, match=r"a proportion metric .*'f1_score'"):
        proportion("f1_score", {"tp": 1, "fp": 1, "tn": 1, "fn": 1})
