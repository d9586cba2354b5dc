"""Grid expansion, trial evaluation, parallel execution and progress of hyper-parameter search."""

from __future__ import annotations

import concurrent.futures as cf
import inspect
import itertools
import os
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, SupportsFloat, TypeAlias, TypeGuard, cast

import numpy as np
import polars as pl

from mlmkit._lazy import require
from mlmkit._validation import check_int, invalid
from mlmkit.analysis.metrics.binary import binary_classification_metrics
from mlmkit.analysis.tuning import threshold_grid
from mlmkit.catalogue import Task, select
from mlmkit.exceptions import DependencyError, StateError
from mlmkit.services.tuning.data import configured_threshold, require_rows
from mlmkit.store.tuning_runs import insert_runs
from mlmkit.values import ModelMetadata, TimeRange, Version, VersionLike

if TYPE_CHECKING:
    from mlmkit.services.tuning.engine import AutoTuningEngine
    from mlmkit.services.tuning.results import HyperparameterSearch

#: One trial's parameters: name -> value (from the grid; handed to ``evaluate`` as they are).
Params: TypeAlias = dict[str, object]
_ParamsOnly: TypeAlias = Callable[[Params], object]
_WithFrame: TypeAlias = Callable[[Params, pl.DataFrame], object]
#: ``evaluate(params)`` or ``evaluate(params, frame)``; returns a metric, predictions or scores.
Evaluate: TypeAlias = _ParamsOnly | _WithFrame
_Floats: TypeAlias = "np.ndarray[tuple[int], np.dtype[np.float64]]"
_Bools: TypeAlias = "np.ndarray[tuple[int], np.dtype[np.bool_]]"

#: Search metrics where lower is better (minimised); every other metric is maximised.
MINIMISED = select(higher_is_better=False)


def expand_grid(parameter_ranges: Mapping[str, object]) -> list[Params]:
    """Every combination of the parameter values, in a deterministic order.

    Per parameter, the seed's ``[min, max, step]`` — a list or tuple of three numbers — is an
    inclusive range (integers stay integers); ``{"values": [...]}`` is an explicit list of
    values (the unambiguous spelling, needed for exactly three numbers); any other list is
    its values. ``{"min": .., "max": .., "step": ..}`` spells a range by name.

    Examples
    --------
    >>> expand_grid({"window_size": [50, 150, 25]})[:3]
    [{'window_size': 50}, {'window_size': 75}, {'window_size': 100}]
    >>> [g["k"] for g in expand_grid({"k": {"values": [25, 50, 150]}})]
    [25, 50, 150]
    """
    if not isinstance(parameter_ranges, Mapping) or not parameter_ranges:
        raise invalid("parameter_ranges", "a non-empty mapping {name: [min, max, step] or "
                      "{'values': [...]}}", parameter_ranges)
    axes: list[list[object]] = []
    for name, spec in parameter_ranges.items():
        if not isinstance(name, str) or not name:
            raise invalid("parameter_ranges", "a mapping with non-empty str keys", name)
        axes.append(_axis(name, spec))
    names = list(parameter_ranges)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes)]


def _is_number(value: object) -> TypeGuard[float]:
    """Whether ``value`` is a real number (numpy numbers count: they act as floats here)."""
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool)


def _axis(name: str, spec: object) -> list[object]:
    label = f"parameter_ranges[{name!r}]"
    if isinstance(spec, Mapping):
        if set(spec) == {"values"}:
            return _values(label, spec["values"])
        if set(spec) == {"min", "max", "step"}:
            return _range(label, (spec["min"], spec["max"], spec["step"]))
        raise invalid(label, "{'values': [...]} or {'min': .., 'max': .., 'step': ..}", spec)
    if isinstance(spec, (list, tuple)) and len(spec) == 3 and all(map(_is_number, spec)):
        return _range(label, tuple(spec))
    return _values(label, spec)


def _values(label: str, spec: object) -> list[object]:
    if isinstance(spec, (str, bytes)) or not isinstance(spec, Sequence) or len(spec) == 0:
        raise invalid(label, "[min, max, step] or a non-empty list of values", spec)
    return list(spec)


def _range(label: str, spec: tuple[object, ...]) -> list[object]:
    expectation = ("[min, max, step] with step > 0 and max >= min (for exactly these three "
                   "values write {'values': [...]})")
    start, stop, step = spec
    if not (_is_number(start) and _is_number(stop) and _is_number(step)):
        raise invalid(label, expectation, list(spec))
    if all(isinstance(v, (int, np.integer)) for v in spec):
        if step <= 0 or stop < start:
            raise invalid(label, expectation, list(spec))
        return list(range(int(start), int(stop) + 1, int(step)))
    try:
        return [float(v) for v in threshold_grid(start, stop, step)]
    except ValueError as err:
        raise invalid(label, expectation, list(spec)) from err


def takes_frame(evaluate: Evaluate) -> bool:
    """Whether ``evaluate`` accepts a second positional argument (the labelled frame)."""
    if not callable(evaluate):
        raise invalid("evaluate", "a callable evaluate(params) or evaluate(params, frame)",
                      evaluate)
    try:
        signature = inspect.signature(evaluate)
    except (TypeError, ValueError):
        return False
    positional = [p for p in signature.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    variadic = any(p.kind is p.VAR_POSITIONAL for p in signature.parameters.values())
    return variadic or len(positional) >= 2


def score_output(output: object, metric: str, actual: _Bools | None,
                 threshold: float) -> float:
    """Turn what ``evaluate`` returned (a metric, predictions or scores) into the metric."""
    if isinstance(output, (int, float, np.number)) and not isinstance(output, (bool, np.bool_)):
        return float(output)
    if isinstance(output, pl.Series):
        output = output.to_numpy()
    values = np.asarray(output)
    if values.ndim != 1:
        raise invalid("evaluate(params)", "a metric (float) or a 1-D array of predictions / "
                      "scores aligned with the labelled frame", type(output).__name__)
    if actual is None or values.size != actual.size:
        raise invalid("evaluate(params)", f"an array with one entry per labelled row "
                      f"({0 if actual is None else actual.size})", f"length {values.size}")
    is_labels = values.dtype == np.bool_ or (values.dtype.kind in "iu")
    score = None if is_labels else values.astype(np.float64)
    predicted = values.astype(bool) if is_labels else values >= threshold
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metrics = binary_classification_metrics(actual, predicted, score)
    if metric not in metrics:
        raise invalid("metric_to_optimize", "a metric of scores (evaluate returned labels)",
                      metric)
    return float(metrics[metric])


def run_trials(trial: Callable[[int], float], n_trials: int, *, n_jobs: int,
               progress: bool | None) -> list[tuple[float, str | None]]:
    """Run ``trial(i)`` for every index on ``n_jobs`` threads; results in trial order.

    Threads (not processes): ``evaluate`` may be a closure or lambda, and numpy / scikit-learn
    release the GIL in their heavy loops. Errors are collected per trial.
    """
    n_jobs = check_int("n_jobs", n_jobs, low=-1)
    if n_jobs == 0:
        raise invalid("n_jobs", "a positive int or -1 (all cores)", n_jobs)
    workers = (os.cpu_count() or 1) if n_jobs == -1 else n_jobs
    bar = _progress_bar(progress, n_trials)
    results: list[tuple[float, str | None]] = [(float("nan"), None)] * n_trials

    def record(index: int, future: cf.Future[float]) -> None:
        try:
            results[index] = (float(future.result()), None)
        except Exception as err:
            results[index] = (float("nan"), f"{type(err).__name__}: {err}")
        if bar is not None:
            bar.update(1)

    try:
        if workers == 1:
            for index in range(n_trials):
                future: cf.Future[float] = cf.Future()
                try:
                    future.set_result(trial(index))
                except Exception as err:
                    future.set_exception(err)
                record(index, future)
        else:
            with cf.ThreadPoolExecutor(max_workers=workers) as pool:
                futures = {pool.submit(trial, i): i for i in range(n_trials)}
                for future in cf.as_completed(futures):
                    record(futures[future], future)
    finally:
        if bar is not None:
            bar.close()
    return results


class _Bar(Protocol):
    def update(self, n: int) -> object: ...

    def close(self) -> None: ...


def _progress_bar(progress: bool | None, total: int) -> _Bar | None:
    if progress is False:
        return None
    try:
        auto = require("tqdm.auto", "viz")
    except DependencyError:
        if progress:
            raise
        return None
    return auto.tqdm(total=total, desc="hyper-parameter search", leave=False)


def search(engine: AutoTuningEngine, model_name: str, version: VersionLike,
           parameter_ranges: Mapping[str, object], metric: str, *,
           evaluate: Evaluate, span: TimeRange | None, n_jobs: int,
           progress: bool | None) -> HyperparameterSearch:
    """``AutoTuningEngine.optimize_hyperparameters`` (documented there)."""
    from mlmkit.services.tuning.results import HyperparameterSearch

    if not isinstance(metric, str) or not metric:
        raise invalid("metric_to_optimize", "a metric name such as 'f1_score'", metric)
    ver = str(Version.parse(version))
    meta = engine.registry.get(model_name, ver)  # read once: threshold and baseline params
    configured = configured_threshold(meta)
    grid = expand_grid(parameter_ranges)
    with_frame = takes_frame(evaluate)
    task = engine.registry.task(model_name)
    if task is Task.BINARY:
        frame = engine.log.store.select(model_name, versions=[ver], time_range=span,
                                        labelled_only=True)
    else:  # the task's own columns (label / actual_label, value / actual_value, ...)
        frame = engine.log.predictions(model_name, ver, start=span.start if span else None,
                                       end=span.end if span else None, labelled_only=True)
    if with_frame:  # evaluate reads the window's rows: none is insufficient data
        require_rows(frame.height, model_name, ver, span)
    actual = frame["actual"].to_numpy().astype(bool) \
        if frame.height and task is Task.BINARY else None

    def call(params: Params) -> float:
        # takes_frame read evaluate's signature: it takes the frame too, or only the params
        output = cast(_WithFrame, evaluate)(dict(params), frame) if with_frame else \
            cast(_ParamsOnly, evaluate)(dict(params))
        if task is not Task.BINARY and not _is_number(output):
            raise invalid("evaluate(params)", f"the metric as a number for a {task} model "
                          "(arrays are scored as binary predictions)", type(output).__name__)
        # float() itself rejects a threshold it cannot convert (the trial records the error)
        threshold = float(cast(SupportsFloat, params.get("threshold", configured)))
        return score_output(output, metric, actual, threshold)

    outcomes = run_trials(lambda i: call(grid[i]), len(grid), n_jobs=n_jobs, progress=progress)
    baseline = _baseline(meta, grid[0], call)
    values = np.array([v for v, _ in outcomes], dtype=np.float64)
    errors = [e for _, e in outcomes]
    run_id = uuid.uuid4().hex
    insert_runs(engine.db, [
        {"run_id": run_id, "trial": i, "kind": "hyperparameters", "model_name": model_name,
         "version": ver, "metric": metric, "value": values[i],
         "threshold": _number(grid[i].get("threshold")), "params": grid[i],
         "details": {"error": errors[i]} if errors[i] else None} for i in range(len(grid))])
    if np.isnan(values).all():
        raise StateError(f"every one of the {len(grid)} trials failed or gave NaN; first "
                         f"error: {next((e for e in errors if e), 'NaN metric')}")
    minimise = metric in MINIMISED
    best = int(np.nanargmin(values) if minimise else np.nanargmax(values))
    gain = (baseline - values[best]) if minimise else (values[best] - baseline)
    improvement = float(gain / abs(baseline) * 100) if baseline and np.isfinite(baseline) \
        else float("nan")
    return HyperparameterSearch(
        model_name=model_name, version=ver, metric=metric, best_params=dict(grid[best]),
        best_value=float(values[best]), baseline_value=baseline,
        improvement_percent=improvement, n_trials=len(grid),
        n_failed=sum(e is not None for e in errors), labelled_count=frame.height,
        run_id=run_id, results=_results_frame(grid, values, errors, metric))


def _baseline(meta: ModelMetadata | None, params: Mapping[str, object],
              call: Callable[[Params], float]) -> float:
    if meta is None or any(name not in meta.configuration for name in params):
        return float("nan")
    try:
        return call({name: meta.configuration[name] for name in params})
    except Exception:
        return float("nan")


def _number(value: object) -> float | None:
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return float(value)
    return None


def _results_frame(grid: list[Params], values: _Floats, errors: list[str | None],
                   metric: str) -> pl.DataFrame:
    columns: dict[str, pl.Series] = {"trial": pl.Series("trial", range(len(grid)),
                                                        dtype=pl.Int64)}
    for name in grid[0]:
        column = [p[name] for p in grid]
        try:
            columns[name] = pl.Series(name, column)
        except (TypeError, ValueError, pl.exceptions.PolarsError):
            columns[name] = pl.Series(name, [str(v) for v in column])
    columns[metric] = pl.Series(metric, values)
    columns["error"] = pl.Series("error", errors, dtype=pl.String)
    return pl.DataFrame(list(columns.values()))
