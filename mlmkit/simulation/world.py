"""The simulated world: models, their traffic, ground truth and its late arrival, episodes.

Everything is drawn from one seeded generator, so a run is reproducible. The world knows the
truth (which label belongs to which row, when it arrives, when an episode starts); the
simulation feeds mlmkit only what production would see, through the public API.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

__all__ = ["Episode", "LabelQueue", "ModelSpec", "SimulationConfig", "draw_traffic"]


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One simulated model: its task, production version and each version's quality.

    ``accuracy`` is the share of correct predictions of a binary or multiclass version, the
    residual standard deviation of a regression version and the mean score of a score-only
    version (`mlmkit.simulation.tasks`); ``degraded`` is that quality during a degradation
    episode (``None``: the config's ``degraded_accuracy``).
    """

    name: str
    production: str
    accuracy: dict[str, float]
    positive_rate: float = 0.3
    task: str = "binary"
    degraded: float | None = None


@dataclasses.dataclass(frozen=True)
class Episode:
    """An injected change at ``at`` (fraction of the run) that must raise ``alert_rule``."""

    kind: str            # "degradation" | "drift"
    model: str
    at: float
    alert_rules: tuple[str, ...]
    max_delay: timedelta


@dataclasses.dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. The defaults are the short run of ``make test`` (three days)."""

    days: float = 3.0
    step: timedelta = timedelta(minutes=15)
    rows_per_step: int = 60
    seed: int = 20261130
    start: datetime = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
    label_median: timedelta = timedelta(hours=2)
    label_sigma: float = 1.4
    never_labelled: float = 0.10
    retention_days: float = 1.0
    models: tuple[ModelSpec, ...] = (
        ModelSpec("fraud", "1.0.0", {"1.0.0": 0.88, "1.1.0": 0.90}),
        ModelSpec("churn", "2.0.0", {"2.0.0": 0.90}),
        ModelSpec("spam", "3.0.0", {"3.0.0": 0.90, "3.1.0": 0.62}),
        ModelSpec("intent", "1.0.0", {"1.0.0": 0.85}, task="multiclass", degraded=0.55),
        ModelSpec("eta", "1.0.0", {"1.0.0": 3.0}, task="regression", degraded=7.5),
        ModelSpec("anomaly", "1.0.0", {"1.0.0": 0.0}, task="score-only", degraded=1.0),
    )
    staging: tuple[tuple[str, str], ...] = (("fraud", "1.1.0"), ("spam", "3.1.0"))
    rollouts_at: float = 0.10          # fraction of the run when both rollouts start
    episodes: tuple[Episode, ...] = (
        Episode("degradation", "churn", 0.50, ("degradation",), timedelta(hours=12)),
        Episode("drift", "fraud", 0.40, ("data_drift",), timedelta(hours=30)),
        Episode("degradation", "intent", 0.50, ("degradation",), timedelta(hours=12)),
        Episode("degradation", "eta", 0.55, ("degradation",), timedelta(hours=12)),
        Episode("degradation", "anomaly", 0.60, ("degradation",), timedelta(hours=12)),
    )
    degraded_accuracy: float = 0.70
    drift_shift: float = 1.0           # in standard deviations of feature x1

    @property
    def end(self) -> datetime:
        """The simulated end time."""
        return self.start + timedelta(days=self.days)

    def moment(self, fraction: float) -> datetime:
        """The simulated time at ``fraction`` of the run, on a step boundary."""
        steps = int(fraction * (self.end - self.start) / self.step)
        return self.start + steps * self.step


def draw_traffic(rng: np.random.Generator, cfg: SimulationConfig, spec: ModelSpec,
                 versions: np.ndarray, request_ids: np.ndarray, at: datetime,
                 accuracy: np.ndarray, drifted: bool) -> tuple[pl.DataFrame, np.ndarray]:
    """One step of predictions of ``spec`` and the true labels (kept by the world).

    ``accuracy`` is each row's chance of a correct prediction. Returns the frame to log (no
    labels: they come later) and the true labels.
    """
    n = request_ids.size
    truth = rng.random(n) < spec.positive_rate
    correct = rng.random(n) < accuracy
    prediction = np.where(correct, truth, ~truth)
    margin = rng.uniform(0.05, 0.45, n)
    score = np.where(prediction, 0.5 + margin, 0.5 - margin)
    offsets = np.sort(rng.uniform(0, cfg.step.total_seconds() * 0.999, n))
    stamps = [at + timedelta(seconds=float(s)) for s in offsets]
    x1 = rng.normal(cfg.drift_shift if drifted else 0.0, 1.0, n)
    frame = pl.DataFrame({
        "model_name": [spec.name] * n,
        "version": versions.astype(str).tolist(),
        "prediction": prediction,
        "score": score,
        "prediction_id": request_ids.tolist(),
        "timestamp": stamps,
        "x1": x1,
        "x2": rng.normal(5.0, 2.0, n),
        "segment": rng.choice(["a", "b", "c"], n).tolist(),
    }, schema_overrides={"timestamp": pl.Datetime("us", "UTC")})
    return frame, truth


class LabelQueue:
    """Labels waiting to arrive: (due time, model, request id, label), delivered in time order.

    A label is a boolean, a class label or a number, by the model's task.
    """

    def __init__(self) -> None:
        self._due: list[np.ndarray] = []
        self._model: list[np.ndarray] = []
        self._ids: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []
        self.never = 0

    def add(self, rng: np.random.Generator, cfg: SimulationConfig, model: str,
            frame: pl.DataFrame, truth: np.ndarray) -> None:
        """Draw each row's label delay (log-normal; a share never arrives) and queue it."""
        n = truth.size
        never = rng.random(n) < cfg.never_labelled
        delay = np.exp(np.log(cfg.label_median.total_seconds()) + cfg.label_sigma
                       * rng.standard_normal(n))
        delay = np.clip(delay, 60.0, 14 * 86400.0)
        stamps = frame["timestamp"].dt.epoch("us").to_numpy() / 1e6
        keep = ~never
        self.never += int(never.sum())
        self._due.append((stamps + delay)[keep])
        self._model.append(np.full(int(keep.sum()), model, dtype=object))
        self._ids.append(frame["prediction_id"].to_numpy()[keep])
        self._labels.append(truth[keep])

    def pop_due(self, now: datetime) -> Iterator[tuple[str, list[str], list[object]]]:
        """Remove and yield (model, ids, labels) for every label due by ``now``."""
        if not self._due:
            return
        due = np.concatenate(self._due)
        model = np.concatenate(self._model)
        ids = np.concatenate(self._ids)
        labels = np.concatenate(self._labels)
        ready = due <= now.timestamp()
        self._due, self._model = [due[~ready]], [model[~ready]]
        self._ids, self._labels = [ids[~ready]], [labels[~ready]]
        for name in np.unique(model[ready]):
            mask = ready & (model == name)
            yield str(name), ids[mask].tolist(), labels[mask].tolist()

    @property
    def pending(self) -> int:
        """Labels still to arrive."""
        return int(sum(a.size for a in self._due))
