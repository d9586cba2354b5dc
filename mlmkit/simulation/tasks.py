"""The simulated models of the other tasks: multiclass, regression and score-only.

Each draws one step of traffic and its ground truth from the world's generator, hands it to
mlmkit through the same three paths as the binary models (``track``, the buffered writer,
``track_batch``) and is judged by invariants of its own: every label on the task's column of
its own rows, and the monitor's window metrics equal to a direct computation from the rows.

A spec's ``accuracy`` is its *quality* per version: the share of correct classes (multiclass),
the residual standard deviation (regression), the mean of the score (score-only: a row is
flagged when its score exceeds `FLAG_AT`). ``degraded`` is the quality of the degradation
episode.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from mlmkit.simulation.world import ModelSpec, SimulationConfig

__all__ = ["CLASSES", "FLAG_AT", "TASKS", "baseline_metrics", "direct_metrics",
           "draw_task_traffic", "label_column", "track_kwargs"]

TASKS = ("multiclass", "regression", "score-only")
CLASSES = ("billing", "other", "sales", "tech")
_PRIORS = np.array([0.4, 0.3, 0.2, 0.1])
FLAG_AT = 2.0
"""A score-only row is flagged when its score exceeds this."""
_LABEL_COLUMN = {"binary": "actual", "multiclass": "actual_label", "regression": "actual_value",
                 "score-only": "actual"}
_OTHER_LABELS = {"multiclass": ("actual", "actual_value"), "regression": ("actual", "actual_label")}
PROBABILITIES = pl.List(pl.Struct({"label": pl.String, "p": pl.Float64}))


def label_column(task: str) -> str:
    """The column holding the ground truth of ``task``'s rows."""
    return _LABEL_COLUMN[task]


def other_label_columns(task: str) -> tuple[str, ...]:
    """Label columns of other tasks that a ``task`` row must leave NULL (when selected)."""
    return _OTHER_LABELS.get(task, ())


def baseline_metrics(spec: ModelSpec, version: str) -> dict[str, float]:
    """What a version's registration records as its expected metric (the monitor's baseline)."""
    quality = spec.accuracy[version]
    if spec.task == "regression":
        return {"mae": quality * math.sqrt(2 / math.pi)}
    if spec.task == "score-only":
        return {"flag_rate": 0.5 * math.erfc((FLAG_AT - quality) / math.sqrt(2))}
    return {"accuracy": quality}


def draw_task_traffic(rng: np.random.Generator, cfg: SimulationConfig, spec: ModelSpec,
                      versions: np.ndarray, request_ids: np.ndarray, at: datetime,
                      quality: np.ndarray) -> tuple[pl.DataFrame, np.ndarray]:
    """One step of ``spec``'s predictions (the ``track_batch`` columns of its task) and truth.

    The truth is an object array (class labels, floats, booleans: what ``record_actuals``
    takes for the task).
    """
    n = request_ids.size
    offsets = np.sort(rng.uniform(0, cfg.step.total_seconds() * 0.999, n))
    columns: dict[str, Any] = {
        "model_name": [spec.name] * n, "version": versions.astype(str).tolist(),
        "prediction_id": request_ids.tolist(),
        "timestamp": [at + timedelta(seconds=float(s)) for s in offsets]}
    if spec.task == "multiclass":
        truth_i = rng.choice(len(CLASSES), n, p=_PRIORS)
        wrong = (truth_i + rng.integers(1, len(CLASSES), n)) % len(CLASSES)
        predicted = np.where(rng.random(n) < quality, truth_i, wrong)
        confidence = rng.uniform(0.4, 0.95, n)
        rest = rng.dirichlet(np.ones(len(CLASSES) - 1), n) * (1 - confidence)[:, None]
        probabilities = []
        for i in range(n):
            others = iter(rest[i])
            probabilities.append([{"label": c, "p": float(confidence[i]) if k == predicted[i]
                                   else float(next(others))} for k, c in enumerate(CLASSES)])
        truth = np.array([CLASSES[k] for k in truth_i], dtype=object)
        columns["prediction"] = [CLASSES[k] for k in predicted]
        columns["probabilities"] = probabilities
    elif spec.task == "regression":
        truth_f = 30.0 + 8.0 * rng.standard_normal(n)
        columns["prediction"] = (truth_f + quality * rng.standard_normal(n)).tolist()
        truth = truth_f.astype(object)
    else:
        score = quality + rng.standard_normal(n)
        flag = score > FLAG_AT
        truth = (np.where(flag, rng.random(n) < 0.5, rng.random(n) < 0.01)).astype(object)
        columns["prediction"] = flag.tolist()
        columns["score"] = score.tolist()
    columns.update(x1=rng.normal(0.0, 1.0, n), x2=rng.normal(5.0, 2.0, n),
                   segment=rng.choice(["a", "b", "c"], n).tolist())
    overrides: dict[str, Any] = {"timestamp": pl.Datetime("us", "UTC")}
    if "probabilities" in columns:
        overrides["probabilities"] = PROBABILITIES
    return pl.DataFrame(columns, schema_overrides=overrides), truth


def track_kwargs(row: Mapping[str, Any]) -> dict[str, Any]:
    """The ``track`` arguments of one row of a task frame (positional ones included)."""
    kwargs: dict[str, Any] = {
        "model_name": row["model_name"], "version": row["version"],
        "prediction": row["prediction"], "prediction_id": row["prediction_id"],
        "timestamp": row["timestamp"],
        "features": {"x1": row["x1"], "x2": row["x2"], "segment": row["segment"]}}
    if row.get("probabilities") is not None:
        kwargs["probabilities"] = {p["label"]: p["p"] for p in row["probabilities"]}
    if row.get("score") is not None:
        kwargs["score"] = row["score"]
    return kwargs


def direct_metrics(task: str, rows: pl.DataFrame) -> dict[str, float]:
    """The window metrics of ``task`` computed straight from the logged rows (the oracle)."""
    out: dict[str, float] = {"sample_count": float(rows.height)}
    if task == "multiclass":
        done = rows.filter(pl.col("actual_label").is_not_null())
        y, p = np.array(done["actual_label"].to_list()), np.array(done["label"].to_list())
        out["labelled_count"] = float(y.size)
        if y.size:
            out["accuracy"] = float(np.mean(y == p))
            # over the classes actual or predicted (scikit-learn's labels=None): a class the
            # probabilities name but no labelled row has nor predicts is not averaged
            f1s = []
            for c in sorted(set(y) | set(p)):
                tp = float(np.sum((p == c) & (y == c)))
                fp, fn = float(np.sum((p == c) & (y != c))), float(np.sum((p != c) & (y == c)))
                f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
            out["f1_macro"] = float(np.mean(f1s))
    elif task == "regression":
        done = rows.filter(pl.col("actual_value").is_not_null())
        e = (done["value"] - done["actual_value"]).to_numpy()
        out["labelled_count"] = float(e.size)
        if e.size:
            out["mae"] = float(np.mean(np.abs(e)))
            out["rmse"] = float(np.sqrt(np.mean(e * e)))
    else:
        flags = rows["prediction"].drop_nulls()
        if flags.len():
            out["flag_rate"] = float(flags.cast(pl.Float64).mean())  # type: ignore[arg-type]
    return out


def close(a: float | None, b: float | None) -> bool:
    """Equal to rounding (1e-9 relative), NaN/None equal to each other."""
    if a is None or b is None or math.isnan(a) or math.isnan(b):
        return (a is None or math.isnan(a)) and (b is None or math.isnan(b))
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
