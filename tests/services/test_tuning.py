"""AutoTuningEngine against brute force with scikit-learn on logged, labelled predictions."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_score, recall_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mlmkit
from mlmkit import ModelMetadata
from mlmkit.exceptions import DependencyError, StateError, ValidationError
from mlmkit.services.tuning import ThresholdOptimization
from mlmkit.values import utcnow

GRID = np.round(np.arange(0.5, 0.9 + 1e-9, 0.05), 12)


def _brute(y: np.ndarray, s: np.ndarray, thresholds: np.ndarray) -> dict[str, np.ndarray]:
    """Confusion counts at every threshold by direct comparison (O(n * k), no sorting)."""
    predicted = s[None, :] >= np.asarray(thresholds)[:, None]
    tp = (predicted & y).sum(axis=1).astype(float)
    fp = (predicted & ~y).sum(axis=1).astype(float)
    fn = y.sum() - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"f1_score": 2 * tp / (2 * tp + fp + fn), "precision": tp / (tp + fp),
                "recall": tp / (tp + fn), "accuracy": (tp + (~y).sum() - fp) / y.size,
                "fp": fp, "fn": fn}


def _scores(name: str) -> tuple[np.ndarray, np.ndarray]:
    if name == "breast_cancer":
        x, y = load_breast_cancer(return_X_y=True)
    else:
        x, digits = load_digits(return_X_y=True)
        y = (digits == 8).astype(int)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.4, random_state=0,
                                                        stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000))
    model.fit(x_train, y_train)
    return y_test.astype(bool), model.predict_proba(x_test)[:, 1]


def _log(ws: mlmkit.Workspace, model: str, version: str, y: np.ndarray, s: np.ndarray, *,
         threshold: float = 0.5, days: float = 3.0, register: bool = True) -> None:
    if register:
        ws.registry.register(ModelMetadata(model, "supervised", version,
                                           configuration={"threshold": threshold}))
    now = utcnow()
    offsets = np.linspace(days * 86400, 60, y.size)
    ws.log.track_batch(pl.DataFrame({
        "model_name": model, "version": version, "prediction": s >= threshold, "score": s,
        "actual": y, "timestamp": [now - timedelta(seconds=float(o)) for o in offsets]}))


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[mlmkit.Workspace]:
    path: Path = tmp_path_factory.mktemp("tuning") / "ws.duckdb"
    with mlmkit.open(path) as workspace:
        for name in ("breast_cancer", "digits"):
            y, s = _scores(name)
            _log(workspace, name.replace("_", "-"), "1.0.0", y, s)
        yield workspace


@pytest.mark.parametrize("name", ["breast_cancer", "digits"])
def test_grid_optimum_equals_sklearn_brute_force(ws: mlmkit.Workspace, name: str) -> None:
    y, s = _scores(name)
    r = ws.tuning.optimize_threshold(name.replace("_", "-"), "1.0.0", window=None)
    brute = [f1_score(y, s >= t) for t in GRID]
    assert r.optimal_value == pytest.approx(max(brute), abs=1e-12)
    assert f1_score(y, s >= r.optimal_threshold) == pytest.approx(max(brute), abs=1e-12)
    assert r.optimal_threshold in GRID
    assert r.current_value == pytest.approx(f1_score(y, s >= 0.5), abs=1e-12)
    assert r["optimal_threshold"] == r.optimal_threshold
    assert r.labelled_count == y.size and r.positive_count == int(y.sum())
    assert r.curve["threshold"].to_list() == pytest.approx(GRID.tolist())
    assert r.mode == "grid"
    low, high = r.improvement_interval
    assert np.isnan(low) or low <= r.improvement_percent <= high


@pytest.mark.parametrize("name", ["breast_cancer", "digits"])
@pytest.mark.parametrize("metric", ["f1_score", "accuracy"])
def test_exact_optimum_equals_brute_force_over_distinct_scores(ws: mlmkit.Workspace, name: str,
                                                               metric: str) -> None:
    y, s = _scores(name)
    r = ws.tuning.optimize_threshold(name.replace("_", "-"), "1.0.0", metric, None, None,
                                     window=None)
    score = f1_score if metric == "f1_score" else (lambda a, b: float(np.mean(a == b)))
    brute = float(np.nanmax(_brute(y, s, np.unique(s))[metric]))
    assert r.mode == "exact"
    assert r.optimal_value == pytest.approx(brute, abs=1e-12)
    assert score(y, s >= r.optimal_threshold) == pytest.approx(brute, abs=1e-12)
    assert r.curve.height == np.unique(s).size


def test_window_restricts_the_rows(ws: mlmkit.Workspace) -> None:
    y, s = _scores("digits")
    offsets = np.linspace(3 * 86400, 60, y.size)
    recent = offsets < 86400 - 5  # rows inside the last 24 h (5 s slack for the test's runtime)
    r = ws.tuning.optimize_threshold("digits", "1.0.0", window="24h", step=None,
                                     threshold_range=None)
    assert r.labelled_count == int(recent.sum())
    brute = float(np.nanmax(_brute(y[recent], s[recent], np.unique(s[recent]))["f1_score"]))
    assert r.optimal_value == pytest.approx(brute, abs=1e-12)


@pytest.mark.parametrize("name", ["breast_cancer", "digits"])
def test_precision_target_equals_brute_force(ws: mlmkit.Workspace, name: str) -> None:
    y, s = _scores(name)
    r = ws.tuning.optimize_precision_recall_tradeoff(name.replace("_", "-"), "1.0.0", 0.9,
                                                     window=None)
    t = np.unique(s)
    t = t[(t >= 0.5) & (t <= 0.99)]
    b = _brute(y, s, t)
    best_recall = float(np.max(b["recall"][b["precision"] >= 0.9]))
    assert r.feasible and r["achieved_recall"] == pytest.approx(best_recall, abs=1e-12)
    assert r.achieved_precision >= 0.9
    assert precision_score(y, s >= r.threshold) == pytest.approx(r.achieved_precision)
    mirror = ws.tuning.optimize_precision_recall_tradeoff(
        name.replace("_", "-"), "1.0.0", target_recall=0.8, threshold_range=(0.0, 1.0),
        window=None)
    b = _brute(y, s, np.unique(s))
    best_precision = float(np.nanmax(b["precision"][b["recall"] >= 0.8]))
    assert mirror.target == "recall"
    assert mirror.achieved_precision == pytest.approx(best_precision, abs=1e-12)
    assert recall_score(y, s >= mirror.threshold) == pytest.approx(mirror.achieved_recall)


def test_bad_recommendation_limits_are_refused_before_any_scan(ws: mlmkit.Workspace) -> None:
    # 9.9.9 has no rows: a scan would raise StateError, so ValidationError proves none ran
    for method, extra in ((ws.tuning.optimize_threshold, {}),
                          (ws.tuning.optimize_cost, {"cost_false_positive": 1.0,
                                                     "cost_false_negative": 1.0})):
        with pytest.raises(ValidationError, match="min_labels"):
            method("digits", "9.9.9", min_labels=-1, **extra)
        with pytest.raises(ValidationError, match="min_improvement_percent"):
            method("digits", "9.9.9", min_improvement_percent="x", **extra)


def test_infeasible_target_is_reported(ws: mlmkit.Workspace) -> None:
    r = ws.tuning.optimize_precision_recall_tradeoff("digits", "1.0.0", target_recall=1.0,
                                                     threshold_range=(0.6, 0.99), step=0.01,
                                                     window=None)
    assert not r.feasible and np.isnan(r.threshold)
    assert "infeasible" in r.reason and "recall >= 1.0" in r.reason
    with pytest.raises(StateError, match="trade-off"):
        ws.tuning.apply(r)


@pytest.mark.parametrize("costs", [(1.0, 5.0), (3.0, 1.0)])
def test_cost_optimum_equals_brute_force(ws: mlmkit.Workspace, costs: tuple[float, float]
                                         ) -> None:
    y, s = _scores("breast_cancer")
    c_fp, c_fn = costs
    r = ws.tuning.optimize_cost("breast-cancer", "1.0.0", cost_false_positive=c_fp,
                                cost_false_negative=c_fn, window=None)

    def cost(t: float) -> float:
        p = s >= t
        return float((c_fp * np.sum(p & ~y) + c_fn * np.sum(~p & y)) / y.size)

    b = _brute(y, s, np.unique(s))
    brute = float(np.min((c_fp * b["fp"] + c_fn * b["fn"]) / y.size))
    assert r.expected_cost == pytest.approx(brute, abs=1e-12)
    assert cost(r.optimal_threshold) == pytest.approx(brute, abs=1e-12)
    assert r.current_cost == pytest.approx(cost(0.5), abs=1e-12)
    assert r.f1_score == pytest.approx(f1_score(y, s >= r.optimal_threshold))


def _stream(rng: np.random.Generator, n: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    y = rng.random(n) < 0.4
    if kind == "fp":  # negatives score high: many false positives at 0.5
        s = np.where(y, rng.normal(0.8, 0.08, n), rng.normal(0.5, 0.12, n))
    elif kind == "fn":  # positives score low: many false negatives at 0.5
        s = np.where(y, rng.normal(0.5, 0.12, n), rng.normal(0.2, 0.08, n))
    else:
        s = np.where(y, rng.normal(0.62, 0.12, n), rng.normal(0.38, 0.12, n))
    return y, np.clip(s, 0.0, 1.0)


@pytest.mark.parametrize(("kind", "direction"), [("fp", "raise"), ("fn", "lower")])
def test_adaptive_moves_the_right_way(ws_file: mlmkit.Workspace, kind: str,
                                      direction: str) -> None:
    y, s = _stream(np.random.default_rng(3), 3000, kind)
    _log(ws_file, "stream", "1.0.0", y, s, days=0.5)
    r = ws_file.tuning.adaptive_threshold_adjustment("stream", "1.0.0")
    assert r.direction == direction
    assert 0 < abs(r.recommended_threshold - r.current_threshold) <= 0.05 + 1e-12
    assert (r.recommended_threshold > 0.5) == (direction == "raise")
    at = s >= 0.5
    assert r.false_positives == int(np.sum(at & ~y)) and r.false_negatives == int(np.sum(~at & y))
    assert ("false positives" if kind == "fp" else "false negatives") in r.reason
    assert r["current_threshold"] == 0.5


def test_adaptive_does_not_oscillate_on_a_stationary_stream(ws_file: mlmkit.Workspace) -> None:
    rng = np.random.default_rng(11)
    ws_file.registry.register(ModelMetadata("steady", "supervised", "1.0.0",
                                            configuration={"threshold": 0.3}))
    runs = []
    for _ in range(10):
        y, s = _stream(rng, 1500, "stationary")
        _log(ws_file, "steady", "1.0.0", y, s, days=0.5, register=False)
        runs.append(ws_file.tuning.adaptive_threshold_adjustment("steady", "1.0.0"))
    moves = [r.direction for r in runs if r.direction != "hold"]
    assert moves and set(moves) == {"raise"}  # walks up from 0.3, never back
    assert runs[-1].direction == "hold"
    for before, after in itertools.pairwise(runs):
        assert after.current_threshold == before.recommended_threshold
    assert abs(runs[-1].recommended_threshold - runs[-1].balance_threshold) < 0.06
    assert ws_file.tuning.history("steady", kind="adaptive").height == 10


def test_hyperparameter_search_finds_known_best_and_is_parallel_safe(
        ws: mlmkit.Workspace) -> None:
    def evaluate(params: dict[str, float]) -> float:
        return -((params["a"] - 3) ** 2) - (params["b"] - 0.2) ** 2

    ranges = {"a": (0, 6, 1), "b": (0.0, 0.5, 0.1)}
    one = ws.tuning.optimize_hyperparameters("digits", "1.0.0", ranges, "score",
                                             evaluate=evaluate, window=None, progress=False)
    two = ws.tuning.optimize_hyperparameters("digits", "1.0.0", ranges, "score",
                                             evaluate=evaluate, window=None, n_jobs=2,
                                             progress=False)
    assert one.best_params == {"a": 3, "b": 0.2} and one.best_value == 0.0
    assert one.n_trials == 42 and one.results.height == 42
    assert one.results.equals(two.results) and one.best_params == two.best_params
    stored = ws.tuning.history("digits", kind="hyperparameters")
    assert stored.filter(pl.col("run_id") == one.run_id).height == 42


def test_hyperparameter_search_on_predictions_of_the_logged_frame(ws: mlmkit.Workspace) -> None:
    y, s = _scores("breast_cancer")

    def evaluate(params: dict[str, float], frame: pl.DataFrame) -> np.ndarray:
        return (frame["score"] >= params["threshold"]).to_numpy()

    r = ws.tuning.optimize_hyperparameters("breast-cancer", "1.0.0",
                                           {"threshold": [0.3, 0.5, 0.7, 0.9]},
                                           evaluate=evaluate, window=None, progress=False)
    brute = {t: f1_score(y, s >= t) for t in (0.3, 0.5, 0.7, 0.9)}
    assert r.best_value == pytest.approx(max(brute.values()))
    assert r.results["f1_score"].to_list() == pytest.approx(list(brute.values()))
    assert r.baseline_value == pytest.approx(brute[0.5])  # configuration threshold 0.5


def test_failed_trials_are_kept_and_bad_ranges_refused(ws: mlmkit.Workspace) -> None:
    def evaluate(params: dict[str, int]) -> float:
        if params["k"] == 2:
            raise RuntimeError("boom")
        return float(params["k"])

    r = ws.tuning.optimize_hyperparameters("digits", "1.0.0", {"k": {"values": [1, 2, 3]}},
                                           "score",
                                           evaluate=evaluate, window=None, progress=False)
    assert r.best_params == {"k": 3} and r.n_failed == 1
    assert r.results["error"].to_list() == [None, "RuntimeError: boom", None]
    with pytest.raises(ValidationError, match="parameter_ranges"):
        ws.tuning.optimize_hyperparameters("digits", "1.0.0", {"k": []}, evaluate=evaluate,
                                           window=None, progress=False)


def test_progress_true_without_tqdm_names_the_install(ws: mlmkit.Workspace,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with pytest.raises(DependencyError, match="pip install"):
        ws.tuning.optimize_hyperparameters("digits", "1.0.0", {"k": [1]}, "score",
                                           evaluate=lambda p: 1.0, window=None, progress=True)


def test_hyperparameter_search_reads_the_registry_once(ws: mlmkit.Workspace,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # the configured threshold and the baseline's parameters come from one registry read
    calls: list[tuple[str, str]] = []
    get = ws.registry.get

    def counting(model_name: str, version: str) -> ModelMetadata | None:
        calls.append((model_name, str(version)))
        return get(model_name, version)

    monkeypatch.setattr(ws.registry, "get", counting)
    r = ws.tuning.optimize_hyperparameters(
        "digits", "1.0.0", {"threshold": {"values": [0.3, 0.5, 0.7]}}, "score",
        evaluate=lambda p: 1.0 - abs(float(p["threshold"]) - 0.3), window=None, progress=False)
    assert calls == [("digits", "1.0.0")]
    assert r.baseline_value == pytest.approx(0.8)  # the configured 0.5 evaluated
    assert r.best_params == {"threshold": 0.3}


def test_apply_registers_a_patch_version_and_keeps_the_old_one(ws_file: mlmkit.Workspace
                                                                ) -> None:
    y, s = _scores("breast_cancer")
    _log(ws_file, "bc", "1.2.3", y, s, threshold=0.95)
    before = ws_file.registry.require("bc", "1.2.3")
    r = ws_file.tuning.optimize_threshold("bc", "1.2.3", threshold_range=(0.3, 0.95),
                                          window=None, min_labels=50)
    assert isinstance(r, ThresholdOptimization) and r.current_threshold == 0.95
    assert r.improvement_percent > 3 and r.recommended, r.recommendation
    new = ws_file.tuning.apply(r, reason="weekly tuning")
    assert str(new.version) == "1.2.4"
    assert new.configuration["threshold"] == r.optimal_threshold
    assert new.metadata["tuning"]["reason"] == "weekly tuning"
    assert new.metadata["tuning"]["previous"] == {"threshold": 0.95}
    assert ws_file.registry.require("bc", "1.2.4").configuration["threshold"] == \
        r.optimal_threshold
    assert ws_file.registry.require("bc", "1.2.3") == before
    assert before.configuration["threshold"] == 0.95
    with pytest.raises(StateError, match="min_improvement_percent"):
        ws_file.tuning.apply(r, min_improvement_percent=1e6)
    assert ws_file.registry.get_version_count("bc") == 2


def test_recommendation_refuses_on_few_labels_and_on_noise(ws_file: mlmkit.Workspace) -> None:
    rng = np.random.default_rng(5)
    y = rng.random(4000) < 0.5
    s = np.clip(np.where(y, rng.normal(0.6, 0.2, y.size), rng.normal(0.4, 0.2, y.size)), 0, 1)
    _log(ws_file, "flat", "1.0.0", y, s, days=0.5)
    noisy = ws_file.tuning.optimize_threshold("flat", "1.0.0", "accuracy", (0.45, 0.55), 0.01)
    assert not noisy.recommended and "inside noise" in noisy.recommendation
    few = ws_file.tuning.optimize_threshold("flat", "1.0.0", min_labels=10_000)
    assert not few.recommended and "not enough labels" in few.recommendation
    with pytest.raises(StateError, match="below"):
        ws_file.tuning.apply(noisy)


def test_bad_inputs_and_missing_data(ws: mlmkit.Workspace) -> None:
    with pytest.raises(ValidationError, match="metric_to_optimize"):
        ws.tuning.optimize_threshold("digits", "1.0.0", "cost")
    with pytest.raises(ValidationError, match="threshold_range"):
        ws.tuning.optimize_threshold("digits", "1.0.0", threshold_range=(0.9, 0.1))
    with pytest.raises(ValidationError, match="step"):
        ws.tuning.optimize_threshold("digits", "1.0.0", step=0.0)
    with pytest.raises(StateError, match="no labelled, scored predictions"):
        ws.tuning.optimize_threshold("nobody", "1.0.0")
    with pytest.raises(ValidationError, match="result"):
        ws.tuning.apply({"optimal_threshold": 0.5})  # type: ignore[arg-type]


def test_seed_range_format_means_min_max_step() -> None:
    """Issue 12.9: the seed's {"window_size": [50, 150, 25]} is 50..150 by 25, not {25, 50, 150}."""
    from mlmkit.services.tuning.search import expand_grid

    assert [g["window_size"] for g in expand_grid({"window_size": [50, 150, 25]})] == [
        50, 75, 100, 125, 150]
    assert [g["w"] for g in expand_grid({"w": (50, 150, 25)})] == [50, 75, 100, 125, 150]
    assert [g["w"] for g in expand_grid({"w": {"min": 0.1, "max": 0.3, "step": 0.1}})] == \
        pytest.approx([0.1, 0.2, 0.3])
    assert [g["k"] for g in expand_grid({"k": {"values": [25, 50, 150]}})] == [25, 50, 150]
    assert [g["k"] for g in expand_grid({"k": [1, 2]})] == [1, 2]
    with pytest.raises(ValidationError, match=r"\{'values': \[\.\.\.\]\}"):
        expand_grid({"k": [25, 10, 5]})
    with pytest.raises(ValidationError, match="parameter_ranges"):
        expand_grid({"k": {"value": [1]}})
