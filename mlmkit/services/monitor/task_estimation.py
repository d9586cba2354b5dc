"""Label-free performance estimates of multiclass and regression models on the prediction log.

``ws.monitor.estimate_performance`` runs `task_estimate` for a model whose task is not binary:

- **multiclass** — CBPE per class. With ``calibration="none"`` the current window is one
  grouped scan (``Σp``, ``Σp²`` per predicted class and listed class, no rows read) into
  `estimate_multiclass_from_sums`; otherwise (``"auto"``, ``"isotonic"``) `MulticlassCBPE` is
  fitted on the labelled rows of ``reference`` (``actual_label`` and the logged probabilities)
  and applied to the current window's rows. Returns `EstimatedMulticlassMetrics`.
- **regression** — direct loss estimation (`DLE`): a model of ``|e|`` and ``e²`` on the logged
  features and the prediction, fitted on the labelled rows of ``reference``, averaged over the
  current window. Returns a one-row frame ``n, mae, mae_standard_error, mae_low, mae_high, rmse,
  ...`` (plus ``realised_mae``, ``realised_rmse`` when every current row is labelled).
- **score-only** — refused: a score without a decided label or a numeric target has no
  performance to estimate (``ValidationError`` naming the task).

Only the rows of the model version are read on each side; ``reference`` and ``current`` take
the forms of `data_drift` (durations, ``(start, end)`` pairs, a version), frames excepted.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import polars as pl

from mlmkit._validation import check_choice, check_int, invalid
from mlmkit.analysis.estimation import (
    DLE,
    EstimatedMulticlassMetrics,
    MulticlassCBPE,
    estimate_multiclass_from_sums,
)
from mlmkit.analysis.estimation.multiclass import check_classes
from mlmkit.catalogue import Task
from mlmkit.services.monitor.data_drift import resolve_sides
from mlmkit.services.monitor.tasks import class_labels, task_engine
from mlmkit.store.engines import Side, StatisticsEngine

__all__ = ["CALIBRATIONS", "task_estimate"]

#: ``calibration`` choices of a multiclass estimate (``"none"``: one grouped scan).
CALIBRATIONS = ("auto", "isotonic", "none")
TaskEstimate: TypeAlias = EstimatedMulticlassMetrics | pl.DataFrame
_Matrix: TypeAlias = "np.ndarray[tuple[int, int], np.dtype[np.float64]]"
#: A calibrated multiclass estimate holds each side's probabilities as a dense rows x classes
#: float64 matrix: at most this many cells (2 GB); ``calibration="none"`` reads no rows.
_PROBABILITY_CELLS = 250_000_000


def _matrix(lists: pl.Series, names: list[str]) -> _Matrix:
    """Rows of ``[{label, p}, ...]`` as an (n, K) array in ``names`` order (absent: 0)."""
    at = {name: i for i, name in enumerate(names)}
    out = np.zeros((lists.len(), len(names)))
    flat = lists.explode().struct.unnest() if lists.len() else pl.DataFrame(
        {"label": [], "p": []})
    lengths = lists.list.len().to_numpy()
    rows = np.repeat(np.arange(lists.len()), lengths)
    cols = np.asarray([at.get(v, -1) for v in flat["label"].to_list()], dtype=np.int64)
    keep = cols >= 0
    np.add.at(out, (rows[keep], cols[keep]), flat["p"].cast(pl.Float64).to_numpy()[keep])
    return out


def _multiclass(engine: StatisticsEngine, model: str, version: str, ref: Side, cur: Side,
                calibration: str, n_simulations: int) -> EstimatedMulticlassMetrics:
    if calibration == "none":
        sums = task_engine(engine).class_probability_sums(model, version,
                                                          time_range=cur.time_range)
        if sums.height == 0:
            raise invalid("current", "a window with logged probabilities", cur.time_range)
        names = class_labels(sorted(set(sums["predicted"].to_list())
                                    | set(sums["actual"].to_list())))
        sums = sums.with_columns(pl.col(c).replace_strict(names, return_dtype=None)
                                 for c in ("predicted", "actual"))
        return estimate_multiclass_from_sums(sums, n_simulations=n_simulations)
    reference = engine.side_rows(model, ["actual_label", "probabilities"], ref).drop_nulls()
    current = engine.side_rows(model, ["label", "probabilities"], cur).drop_nulls()
    if reference.height == 0:
        raise invalid("reference", "a window with labelled rows that logged probabilities",
                      ref.time_range)
    if current.height == 0:
        raise invalid("current", "a window with logged probabilities", cur.time_range)
    listed = reference["probabilities"].explode().struct.field("label").unique().to_list()
    seen = sorted(set(listed) | set(reference["actual_label"].to_list()))
    check_classes(len(seen), "reference")  # before the (rows x classes) probability matrices
    cells = max(reference.height, current.height) * len(seen)
    if cells > _PROBABILITY_CELLS:
        raise invalid("calibration", f"'none' for {reference.height:,} reference and "
                      f"{current.height:,} current rows of {len(seen):,} classes (a calibrated "
                      f"estimate holds a rows x classes matrix: {cells:,} cells, at most "
                      f"{_PROBABILITY_CELLS:,}), or a shorter window", calibration)
    names = class_labels(seen)
    cbpe = MulticlassCBPE(calibration=calibration).fit(
        [names[a] for a in reference["actual_label"].to_list()],
        _matrix(reference["probabilities"], seen), labels=[names[s] for s in seen])
    predicted = [names.get(p, p) for p in current["label"].to_list()]
    return cbpe.estimate(_matrix(current["probabilities"], seen), predicted=predicted,
                         n_simulations=n_simulations)


def _regression(engine: StatisticsEngine, model: str, ref: Side, cur: Side,
                features: dict[str, tuple[str, str]]) -> pl.DataFrame:
    columns = [c for c, _ in features.values()]
    names = {c: f for f, (c, _) in features.items()} | {"value": "prediction",
                                                         "actual_value": "actual"}
    finite = [c for c, kind in features.values() if kind == "numeric"] + ["value",
                                                                          "actual_value"]
    reference = engine.side_rows(model, [*columns, "value", "actual_value"], ref,
                                 finite=finite).drop_nulls().rename(names)
    current = engine.side_rows(model, [*columns, "value", "actual_value"], cur,
                               finite=finite).rename(names)
    current = current.drop_nulls(subset=[*features, "prediction"])
    if current.height == 0:
        raise invalid("current", "a window with predictions", cur.time_range)
    if current["actual"].null_count():
        current = current.drop("actual")
    dle = DLE(list(features))
    if reference.height < 12:
        raise invalid("reference", "at least 12 labelled rows (the spline's knots)",
                      reference.height)
    return dle.fit(reference).estimate(current)


def task_estimate(engine: StatisticsEngine, task: Task, model_name: str, version: str, *,
                  reference: object, current: object, features: dict[str, tuple[str, str]],
                  calibration: str = "auto", n_simulations: int = 1000) -> TaskEstimate:
    """The estimate of the module docstring; ``features`` is the model's feature map."""
    if task is Task.SCORE_ONLY:
        raise invalid("model_name", "a binary, multiclass or regression model (a score-only "
                      "model has no label or target whose performance could be estimated)",
                      f"{model_name} (task score-only)")
    calibration = check_choice("calibration", calibration, CALIBRATIONS)
    n_simulations = check_int("n_simulations", n_simulations, low=0)
    ref, cur, frame = resolve_sides(version, reference, current)
    if ref is None or frame is not None:
        raise invalid("reference", "a duration, a (start, end) pair or a version", reference)
    if task is Task.MULTICLASS:
        return _multiclass(engine, model_name, version, ref, cur, calibration, n_simulations)
    return _regression(engine, model_name, ref, cur, features)
