"""The bad-input contract of the public API, declared once and tested from the declaration.

``TABLE`` lists every public entry point (API.md) with arguments that work and, per
parameter, a few bad values. One parametrised test checks, for each bad value, that the call
raises the declared :class:`mlmkit.MlmkitError` subclass (``ValidationError`` — also a
``ValueError`` — unless the entry says otherwise), that the message names the parameter and
shows the received value after ``got``, and that writers wrote nothing. Hypothesis draws
out-of-range numbers for the declared numeric ranges in ``RANGES``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlmkit as mk
from mlmkit import DuplicateError, MlmkitError, NotFoundError, ValidationError
from mlmkit.analysis import detectors, drift, estimation, metrics, stats, thresholds
from mlmkit.services.alerts import LoggingSink
from mlmkit.services.jobs import run_job
from mlmkit.viz import charts

MODEL = "n1-detector"
NAN = float("nan")
INF = float("inf")


@dataclass(frozen=True)
class Bad:
    """One bad value, the error class it must raise and how the message shows it."""

    value: Any
    error: type[MlmkitError] = ValidationError
    shown: str | None = None  # substring expected after "got"; default repr(value)[:24]
    names: str | None = None  # the name the message uses, when not the parameter's own
    xfail: str | None = None  # a known gap, reported, not yet fixed


def nf(value: Any) -> Bad:
    """A bad value that names a thing that does not exist."""
    return Bad(value, NotFoundError, str(value))


@dataclass(frozen=True)
class Entry:
    """A public entry point: how to call it, arguments that work, bad values per parameter."""

    name: str
    call: Callable[[Ctx, dict[str, Any]], Any]
    good: dict[str, Any]
    bad: dict[str, tuple[Any, ...]]
    writes: bool = False
    sane: bool = True  # whether ``good`` runs without error on the shared workspace
    names: dict[str, str] = field(default_factory=dict)  # param -> name used in messages


@dataclass
class Ctx:
    """The shared workspace with two registered versions and labelled predictions."""

    ws: mk.Workspace
    memory: mk.InMemoryModelRegistry = field(default_factory=mk.InMemoryModelRegistry)

    def snapshot(self) -> tuple[Any, ...]:
        ws = self.ws
        return (ws.log.count(), len(ws.registry.get_all(MODEL)),
                ws.registry.history().height, ws.alerts.list().height,
                len(ws.ab.rollouts()), ws.tuning.history().height,
                len(self.memory.get_all(MODEL)))


# -- data ------------------------------------------------------------------------------------
_RNG = np.random.default_rng(0)
ACTUAL = np.array([0, 1] * 40)
SCORE = np.clip(ACTUAL * 0.4 + _RNG.random(80) * 0.6, 0.0, 1.0)
PREDICTED = (SCORE > 0.5).astype(int)
REF = _RNG.normal(size=200)
CUR = _RNG.normal(0.3, 1.0, size=200)
V1, V2 = mk.Version.parse("1.0.0"), mk.Version.parse("1.1.0")
CONFIG = mk.ABTestConfig.create(MODEL, "1.0.0", "1.1.0")
META = mk.ModelMetadata.for_n1_detector("1.0.0")
NEW_META = mk.ModelMetadata.for_n1_detector("7.0.0")
T0 = datetime(2024, 1, 1, tzinfo=UTC)

TYPE_BAD = ("x", 3, None, [1, 2])  # wrong input types for chart builders


def _fit_cbpe() -> estimation.CBPE:
    return estimation.CBPE().fit(ACTUAL, SCORE)


def _counts_frame() -> pl.DataFrame:
    return thresholds.threshold_curve(ACTUAL, SCORE)


# -- the table -------------------------------------------------------------------------------
VALUES: list[Entry] = [
    Entry("Version.parse", lambda c, k: mk.Version.parse(**k), {"text": "1.2.3"},
          {"text": ("1.0", "", "a.b.c", "-1.0.0", 1.0, None)}, names={"text": "version"}),
    Entry("ModelType.parse", lambda c, k: mk.ModelType.parse(**k), {"value": "supervised"},
          {"value": ("nope", 3, "")}, names={"value": "model_type"}),
    Entry("ModelMetadata", lambda c, k: mk.ModelMetadata(**k),
          {"model_name": "m", "model_type": "supervised", "version": "1.0.0"},
          {"model_name": ("", " m", 3), "model_type": ("nope", 3), "version": ("1.0", "x", 1.0),
           "performance_metrics": (Bad({"accuracy": NAN}, shown="nan"),
                                   Bad({"accuracy": "high"}, shown="high"), 3),
           "configuration": (3, "x"), "environment": ("", 3)}),
    Entry("ModelMetadata.for_n1_detector", lambda c, k: mk.ModelMetadata.for_n1_detector(**k),
          {"version": "1.0.0"}, {"version": ("1.0", "", None)}),
    Entry("ModelMetadata.with_deployment", lambda c, k: META.with_deployment(**k),
          {"environment": "staging"}, {"environment": ("", 3), "deployed_at": ("2020", 3)}),
    Entry("ModelMetadata.with_performance_metrics",
          lambda c, k: META.with_performance_metrics(**k), {"metrics": {"accuracy": 0.9}},
          {"metrics": (Bad({"accuracy": INF}, shown="inf"), 3)}),
    Entry("ABTestConfig", lambda c, k: mk.ABTestConfig(**k),
          {"model_name": MODEL, "version_a": V1, "version_b": V2},
          {"model_name": ("", 3), "version_a": ("1.0",), "version_b": ("1.0",),
           "traffic_split_a": (1.5, -0.1, NAN, "0.5"), "primary_metric": ("nope", ""),
           "minimum_improvement": (NAN, -1.0), "significance_level": (0.0, 1.0, NAN)}),
    Entry("ABTestConfig.create", lambda c, k: mk.ABTestConfig.create(**k),
          {"model_name": MODEL, "version_a": "1.0.0", "version_b": "1.1.0"},
          {"version_a": ("1.0",), "traffic_split": (2.0, INF, -1.0)}),
    Entry("ABTestConfig.for_gradual_rollout", lambda c, k: mk.ABTestConfig.for_gradual_rollout(**k),
          {"model_name": MODEL, "current_version": "1.0.0", "new_version": "1.1.0"},
          {"model_name": ("",), "new_version": ("1.0",)}),
    Entry("parse_window", lambda c, k: mk.parse_window(**k), {"window": "24h"},
          {"window": ("15", "-1h", "0m", "", "1 day", 3, None)}),
]


def _registry_entries(kind: str) -> list[Entry]:
    def reg(c: Ctx) -> Any:
        return c.ws.registry if kind == "ws" else c.memory

    p = f"{kind}.registry"
    return [
        Entry(f"{p}.register", lambda c, k: reg(c).register(**k), {"metadata": NEW_META},
              {"metadata": ("x", None, {"model_name": MODEL}, Bad(META, DuplicateError, "1.0.0"))},
              writes=True, sane=False),
        Entry(f"{p}.get", lambda c, k: reg(c).get(**k), {"model_name": MODEL, "version": "1.0.0"},
              {"model_name": ("", 3), "version": ("1.0", None)}),
        Entry(f"{p}.get_latest", lambda c, k: reg(c).get_latest(**k), {"model_name": MODEL},
              {"model_name": ("", None)}),
        Entry(f"{p}.update", lambda c, k: reg(c).update(**k), {"metadata": META},
              {"metadata": ("x", Bad(NEW_META, NotFoundError, "7.0.0"))}, writes=True),
        Entry(f"{p}.delete", lambda c, k: reg(c).delete(**k),
              {"model_name": "nobody", "version": "1.0.0"},
              {"model_name": ("",), "version": ("1.0",)}, writes=True),
        Entry(f"{p}.get_all", lambda c, k: reg(c).get_all(**k), {"model_name": MODEL},
              {"model_name": ("", 3)}),
        Entry(f"{p}.get_by_type", lambda c, k: reg(c).get_by_type(**k),
              {"model_type": "supervised"}, {"model_type": ("nope", 3)}),
        Entry(f"{p}.get_by_environment", lambda c, k: reg(c).get_by_environment(**k),
              {"environment": "production"}, {"environment": ("", 3)}),
        Entry(f"{p}.exists", lambda c, k: reg(c).exists(**k),
              {"model_name": MODEL, "version": "1.0.0"},
              {"model_name": ("",), "version": ("1.0",)}),
        Entry(f"{p}.get_version_count", lambda c, k: reg(c).get_version_count(**k),
              {"model_name": MODEL}, {"model_name": ("", 3)}),
        Entry(f"{p}.deploy", lambda c, k: reg(c).deploy(**k),
              {"model_name": MODEL, "version": "1.0.0", "environment": "staging"},
              {"model_name": ("", nf("nope")), "version": ("1.0", nf("9.9.9")),
               "environment": ("", 3)}, writes=True, sane=False),
        Entry(f"{p}.rollback", lambda c, k: reg(c).rollback(**k), {"model_name": MODEL},
              {"model_name": ("", 3), "environment": ("", 3)}, writes=True, sane=False),
        Entry(f"{p}.history", lambda c, k: reg(c).history(**k), {"model_name": MODEL},
              {"model_name": ("", 3), "environment": ("", 3)}),
    ]


def _frame(**overrides: Any) -> pl.DataFrame:
    base = {"model_name": [MODEL, MODEL], "version": ["1.0.0", "1.0.0"], "prediction": [1, 0],
            "actual": [1, 0], "score": [0.9, 0.1]}
    base.update(overrides)
    return pl.DataFrame(base, strict=False)


LOG: list[Entry] = [
    Entry("ws.log.track", lambda c, k: c.ws.log.track(**k),
          {"model_name": MODEL, "version": "1.0.0", "prediction": 1},
          {"model_name": ("", " x", 3, None), "version": ("1.0", "", None),
           "prediction": (2, -1, "yes", NAN, None), "actual": (2, "no", NAN),
           "score": (NAN, INF, 1.5, -0.1, "0.5"), "confidence": (NAN, 2.0, -1.0),
           "features": (3, "x"), "prediction_id": ("",),
           "timestamp": ("2020-01-01", 3), "role": ("nope", "")},
          writes=True, sane=False),
    Entry("ws.monitor.track_prediction", lambda c, k: c.ws.monitor.track_prediction(**k),
          {"model_name": MODEL, "version": "1.0.0", "prediction": 1},
          {"version": ("1.0",), "score": (NAN,)}, writes=True, sane=False),
    Entry("ws.log.track_batch", lambda c, k: c.ws.log.track_batch(**k), {"frame": _frame()},
          {"frame": ("x", 3, None,
                     Bad(_frame(score=[0.5, NAN]), shown="nan", names="score"),
                     Bad(_frame(score=[0.5, 1.5]), shown="1.5", names="score"),
                     Bad(_frame(version=["1.0.0", "1.0"]), shown="1.0", names="version"),
                     Bad(_frame(prediction=[1, 2]), shown="2", names="prediction"),
                     Bad(_frame(model_name=[MODEL, ""]), shown="''", names="model_name"),
                     Bad(pl.DataFrame({"model_name": [MODEL]}), shown="missing"))},
          writes=True, sane=False),
    Entry("ws.log.record_actuals", lambda c, k: c.ws.log.record_actuals(**k),
          {"prediction_ids": ["p-0"], "actuals": [1]},
          {"actuals": (Bad([2], shown="2"), Bad([1, 0], shown="2 values")),
           "prediction_ids": (Bad(["p-0", "p-1"], shown="1 values"),
                              Bad(["no-such-id"], NotFoundError, "no-such-id"))},
          writes=True),
    Entry("ws.log.record_actual", lambda c, k: c.ws.log.record_actual(**k),
          {"prediction_id": "p-0", "actual": 1},
          {"prediction_id": (nf("no-such-id"), Bad("", NotFoundError, "''")),
           "actual": (2, "yes", NAN)},
          writes=True, sane=False),
    Entry("ws.log.predictions", lambda c, k: c.ws.log.predictions(**k), {"model_name": MODEL},
          {"model_name": ("", 3), "version": ("1.0",), "window": ("15", "-1h", 3),
           "start": ("2020-01-01", 3), "end": ("2020-01-01",)}),
    Entry("ws.log.apply_retention", lambda c, k: c.ws.log.apply_retention(**k), {"days": 3650},
          {"days": (-1, 0, NAN, INF, "30")}, writes=True),
    Entry("ws.log.buffered", lambda c, k: c.ws.log.buffered(**k), {"max_rows": 10},
          {"max_rows": (0, -1, 1.5), "max_seconds": (-1.0, NAN)}, sane=False),
]

_MV = {"model_name": MODEL, "version": "1.0.0"}
_WINDOW_BAD = ("15", "-1h", "0m", 3)
MONITOR: list[Entry] = [
    Entry("ws.monitor.get_current_metrics", lambda c, k: c.ws.monitor.get_current_metrics(**k),
          _MV, {"model_name": ("", 3), "version": ("1.0", None), "window": _WINDOW_BAD,
                "start": ("2020",), "min_labels": (-1, 1.5), "confidence": (0.0, 1.0, NAN),
                "bins": (0, -5), "role": ("nope",)}),
    Entry("ws.monitor.get_performance_degradation_info",
          lambda c, k: c.ws.monitor.get_performance_degradation_info(**k), {**_MV, "alert": False},
          {"version": ("1.0",), "threshold_percent": (-0.1, NAN, INF, "5%"),
           "metric": ("nope", ""), "window": _WINDOW_BAD, "min_labels": (-1,),
           "alpha": (0.0, 1.0, NAN), "baseline": ("-1h", "15")}),
    Entry("ws.monitor.detect_concept_drift", lambda c, k: c.ws.monitor.detect_concept_drift(**k),
          _MV, {"version": ("1.0",), "window": _WINDOW_BAD,
                "detectors": (Bad(["nope"], shown="nope"),),
                "alpha": (0.0, NAN, 1.5), "min_labels": (-1,)}),
    Entry("ws.monitor.get_performance_trend",
          lambda c, k: c.ws.monitor.get_performance_trend(**k), _MV,
          {"version": ("1.0",), "window": _WINDOW_BAD, "interval": _WINDOW_BAD,
           "confidence": (1.0, NAN), "role": ("nope",)}),
    Entry("ws.monitor.compare_versions", lambda c, k: c.ws.monitor.compare_versions(**k),
          {"model_name": MODEL, "versions": ["1.0.0", "1.1.0"]},
          {"versions": (Bad(["1.0.0", "1.0"], shown="1.0"), [], 3),
           "window": _WINDOW_BAD, "metric": ("nope",), "min_labels": (-1,),
           "alpha": (0.0, NAN), "confidence": (1.0,)}),
    Entry("ws.monitor.data_drift", lambda c, k: c.ws.monitor.data_drift(**k),
          {**_MV, "current": "1h"},
          {"version": ("1.0",), "reference": ("15", "-1h", 3),
           "current": ("15", "-1h"),
           "method": ("nope",)}),
    Entry("ws.monitor.estimate_performance", lambda c, k: c.ws.monitor.estimate_performance(**k),
          {**_MV, "current": "1h", "n_simulations": 20},
          {"version": ("1.0",), "threshold": (1.5, NAN), "n_simulations": (-1, 1.5),
           "reference": ("15",), "current": ("-1h",)}),
    Entry("ws.monitor.daily_summary", lambda c, k: c.ws.monitor.daily_summary(**k),
          {"model_name": MODEL}, {"model_name": ("", 3), "version": ("1.0",)}),
]

AB: list[Entry] = [
    Entry("ws.ab.select_version", lambda c, k: c.ws.ab.select_version(**k),
          {"config": CONFIG, "unit_id": "u1"}, {"config": ("x", None), "unit_id": ([1], 1.5)}),
    Entry("ws.ab.assign", lambda c, k: c.ws.ab.assign(**k),
          {"config": CONFIG, "unit_ids": ["u1", "u2"]}, {"config": ("x",), "unit_ids": (3, "u1")}),
    Entry("ws.ab.compare_models", lambda c, k: c.ws.ab.compare_models(**k), {"config": CONFIG},
          {"config": ("x",), "metadata_a": ("x", 3), "metadata_b": ("x",)}),
    Entry("ws.ab.run_test", lambda c, k: c.ws.ab.run_test(**k), {"config": CONFIG},
          {"config": ("x", None), "window": _WINDOW_BAD, "tau": (0.0, NAN, -1.0),
           "srm_alpha": (0.0, 1.0, NAN), "power": (0.0, 1.0, NAN),
           "n_resamples": (0, -1, 1.5), "secondary_metrics": (Bad(["nope"], shown="nope"), 3)}),
    Entry("ws.ab.generate_rollout_plan", lambda c, k: c.ws.ab.generate_rollout_plan(**k),
          {"steps": 5}, {"steps": (0, -1, 1.5, "5", None)}),
    Entry("ws.ab.calculate_required_sample_size",
          lambda c, k: c.ws.ab.calculate_required_sample_size(**k), {},
          {"confidence_level": (0.0, 1.0, 1.5, NAN), "margin_of_error": (0.0, -0.1, 1.5, NAN)}),
    Entry("ws.ab.required_sample_size", lambda c, k: c.ws.ab.required_sample_size(**k),
          {"baseline_rate": 0.1, "minimum_detectable_effect": 0.02},
          {"baseline_rate": (0.0, 1.0, NAN), "minimum_detectable_effect": (0.0, NAN, 0.95),
           "alpha": (0.0, 1.0), "power": (0.0, 1.0)}),
    Entry("ws.ab.start_rollout", lambda c, k: c.ws.ab.start_rollout(**k), {"config": CONFIG},
          {"config": ("x",), "plan": (Bad([0.5, 0.2], shown="0.2"), Bad([1.5], shown="1.5"), 3),
           "guardrails": ({"nope": 1}, 3), "environment": ("", 3), "now": ("2020",)},
          writes=True, sane=False),
    Entry("ws.ab.get_rollout", lambda c, k: c.ws.ab.get_rollout(**k), {"rollout_id": 1},
          {"rollout_id": (nf(999), "x", 0, -1)}, sane=False),
    Entry("ws.ab.active_rollout", lambda c, k: c.ws.ab.active_rollout(**k),
          {"model_name": MODEL}, {"model_name": ("", 3)}),
]

_RANGE_BAD = ((0.9, 0.5), Bad((0.0, NAN), shown="nan"), Bad((-0.5, 0.5), shown="-0.5"),
              Bad("x", shown="x"), (0.5,))
TUNING: list[Entry] = [
    Entry("ws.tuning.optimize_threshold", lambda c, k: c.ws.tuning.optimize_threshold(**k),
          {**_MV, "min_labels": 10},
          {"version": ("1.0",), "metric_to_optimize": ("nope", ""), "threshold_range": _RANGE_BAD,
           "step": (0.0, -0.1, NAN), "window": _WINDOW_BAD, "min_labels": (-1,),
           "min_improvement_percent": (NAN,), "n_resamples": (0, -1), "confidence": (1.0, NAN)},
          writes=True, sane=False),
    Entry("ws.tuning.optimize_precision_recall_tradeoff",
          lambda c, k: c.ws.tuning.optimize_precision_recall_tradeoff(**k), _MV,
          {"version": ("1.0",), "target_precision": (1.5, -0.1, NAN),
           "threshold_range": _RANGE_BAD, "target_recall": (1.5, NAN), "step": (0.0,),
           "window": _WINDOW_BAD}, writes=True, sane=False),
    Entry("ws.tuning.optimize_cost", lambda c, k: c.ws.tuning.optimize_cost(**k),
          {**_MV, "cost_false_positive": 1.0, "cost_false_negative": 5.0},
          {"cost_false_positive": (-1.0, NAN, INF), "cost_false_negative": (-1.0, NAN),
           "threshold_range": _RANGE_BAD, "window": _WINDOW_BAD, "min_labels": (-1,)},
          writes=True, sane=False),
    Entry("ws.tuning.adaptive_threshold_adjustment",
          lambda c, k: c.ws.tuning.adaptive_threshold_adjustment(**k), {**_MV, "persist": False},
          {"version": ("1.0",), "window": _WINDOW_BAD, "current_threshold": (1.5, NAN),
           "max_step": (0.0, -0.1, NAN), "dead_band": (-0.1, NAN),
           "reversal_factor": (0.0, NAN), "min_labels": (-1,)}, writes=True),
    Entry("ws.tuning.optimize_hyperparameters",
          lambda c, k: c.ws.tuning.optimize_hyperparameters(**k),
          {**_MV, "parameter_ranges": {"threshold": [0.4, 0.6]},
           "evaluate": lambda params, frame: 0.5},
          {"parameter_ranges": ({}, "x", 3), "metric_to_optimize": ("",),
           "evaluate": (3, None), "window": _WINDOW_BAD, "n_jobs": (0, -2, 1.5)},
          writes=True, sane=False),
    Entry("ws.tuning.apply", lambda c, k: c.ws.tuning.apply(**k), {"result": None},
          {"result": ("x", 3)}, writes=True, sane=False),
    Entry("ws.tuning.history", lambda c, k: c.ws.tuning.history(**k), {"model_name": MODEL},
          {"model_name": ("", 3), "version": ("1.0",), "kind": ("", 3)}),
]

# One window rule (``mlmkit.values.resolve_range``): a window *or* start / end, never both,
# and start before end, for every public windowed method (the same message everywhere).
_SE = {"start": T0, "end": T0 + timedelta(days=1)}
_WINDOW_CONFLICT = {"window": ("7d", Bad(timedelta(days=7), shown="timedelta")),
                    "end": (Bad(T0, shown="2024-01-01"),
                            Bad(T0 - timedelta(hours=1), shown="2024-01-01"))}
WINDOWED = ("ws.monitor.get_current_metrics", "ws.monitor.get_performance_degradation_info",
            "ws.monitor.detect_concept_drift", "ws.monitor.get_performance_trend",
            "ws.monitor.compare_versions", "ws.ab.run_test", "ws.log.predictions",
            "ws.tuning.optimize_threshold", "ws.tuning.optimize_precision_recall_tradeoff",
            "ws.tuning.optimize_cost", "ws.tuning.adaptive_threshold_adjustment",
            "ws.tuning.optimize_hyperparameters")
WINDOWS: list[Entry] = [
    Entry(f"{e.name}(start, end)", e.call, {**e.good, **_SE}, _WINDOW_CONFLICT, writes=e.writes,
          sane=not e.name.startswith("ws.tuning.optimize"))
    for e in (*LOG, *MONITOR, *AB, *TUNING) if e.name in WINDOWED]

ALERTS: list[Entry] = [
    Entry("ws.alerts.add_rule", lambda c, k: c.ws.alerts.add_rule(**k),
          {"rule": "metric_below", "model_name": MODEL, "version": "1.0.0", "value": 0.8},
          {"rule": ("nope", "", 3), "model_name": ("", 3), "version": ("1.0",),
           "value": (NAN, "x"), "min_labels": (-1,), "severity": ("nope",),
           "metric": ("nope",), "window": ("15", "-1h")}, sane=False),
    Entry("ws.alerts.fire", lambda c, k: c.ws.alerts.fire(**k),
          {"rule": "manual", "severity": "info", "message": "hello", "cooldown": "1s"},
          {"rule": ("", 3), "severity": ("bad", ""), "message": ("", 3),
           "model_name": ("", 3), "version": ("1.0",), "details": (3, "x"),
           "cooldown": ("15", "-1h", 3)}, writes=True, sane=False),
    Entry("ws.alerts.list", lambda c, k: c.ws.alerts.list(**k), {},
          {"status": ("nope",), "severity": ("nope",), "limit": (0, -1, 1.5),
           "since": ("2020",), "model_name": ("", 3)}),
    Entry("ws.alerts.acknowledge", lambda c, k: c.ws.alerts.acknowledge(**k), {"alert_id": 1},
          {"alert_id": (nf(999), "x", 0, 1.5)}, writes=True, sane=False),
    Entry("ws.alerts.resolve", lambda c, k: c.ws.alerts.resolve(**k), {"alert_id": 1},
          {"alert_id": (nf(999), "x", -1)}, writes=True, sane=False),
    Entry("ws.alerts.resolve_all", lambda c, k: c.ws.alerts.resolve_all(**k), {"ids": []},
          {"ids": (Bad(["x"], shown="x"), 3)}, writes=True),
    Entry("ws.alerts.add_webhook", lambda c, k: c.ws.alerts.add_webhook(**k),
          {"url": "http://localhost:9/x"},
          {"url": ("notaurl", "", 3), "timeout": (0.0, -1.0, NAN), "retries": (-1, 1.5),
           "backoff": (-1.0, NAN)}, sane=False),
    Entry("ws.alerts.add_callback", lambda c, k: c.ws.alerts.add_callback(**k),
          {"callback": print}, {"callback": (3, None, "x")}, sane=False),
    Entry("ws.alerts.add_sink", lambda c, k: c.ws.alerts.add_sink(**k),
          {"sink": LoggingSink()}, {"sink": (3, None)}, sane=False),
    Entry("ws.alerts.check", lambda c, k: c.ws.alerts.check(**k), {"model_name": "nobody"},
          {"model_name": ("", 3)}, writes=True),
]

_AS = {"actual": ACTUAL, "score": SCORE}
_ARRAY_BAD = {"actual": (Bad([0, 2], shown="2"), Bad([], shown="length 80|[]"), "x"),
              "score": (Bad([NAN] * 80, shown="nan"), Bad([1.5] * 80, shown="1.5"),
                        Bad(SCORE[:3], shown="3"))}
METRICS: list[Entry] = [
    Entry("metrics.binary_classification_metrics",
          lambda c, k: metrics.binary_classification_metrics(**k),
          {"actual": ACTUAL, "predicted": PREDICTED, "score": SCORE},
          {**_ARRAY_BAD, "predicted": (Bad([1, 2] * 40, shown="2"), Bad(PREDICTED[:5], shown="5")),
           "confidence": (0.0, 1.0, NAN)}),
    *[Entry(f"metrics.{f.__name__}", lambda c, k, f=f: f(**k), _AS, _ARRAY_BAD)
      for f in (metrics.roc_auc, metrics.brier_score, metrics.log_loss,
                metrics.average_precision)],
    Entry("metrics.calibration", lambda c, k: metrics.calibration(**k), _AS,
          {**_ARRAY_BAD, "bins": (0, -1, 1.5), "strategy": ("nope",)}),
    Entry("metrics.expected_calibration_error",
          lambda c, k: metrics.expected_calibration_error(**k), _AS,
          {"bins": (0,), "strategy": ("nope",), "score": (Bad([NAN] * 80, shown="nan"),)}),
    Entry("metrics.wilson_interval", lambda c, k: metrics.wilson_interval(**k),
          {"successes": 5, "n": 10},
          {"successes": (-1, 11, 1.5), "n": (-1, 1.5, "10"), "confidence": (0.0, 1.0, NAN)}),
    Entry("metrics.metrics_from_counts", lambda c, k: metrics.metrics_from_counts(**k),
          {"tp": 5, "fp": 1, "tn": 3, "fn": 1},
          {"tp": (-1, 1.5, "5"), "fp": (-1,), "tn": (-1,), "fn": (-1, NAN)}),
    Entry("metrics.bootstrap_interval", lambda c, k: metrics.bootstrap_interval(**k),
          {"actual": ACTUAL, "predicted_or_score": PREDICTED, "n_resamples": 50},
          {"metric": ("nope",), "n_resamples": (0, -1), "confidence": (1.0, NAN),
           "actual": (Bad([0, 2], shown="2"),)}),
    Entry("metrics.Metrics.from_counts", lambda c, k: metrics.Metrics.from_counts(**k),
          {"tp": 5, "fp": 1, "tn": 3, "fn": 1},
          {"tp": (-1, 1.5), "confidence": (0.0,)}),
]

_TWO = {"successes_a": 10, "n_a": 100, "successes_b": 20, "n_b": 100}
_TWO_BAD = {"successes_a": (-1, 101, 1.5, NAN), "n_a": (0, -1, 1.5), "successes_b": (-1,),
            "n_b": (-1, "100")}
_ALPHA_BAD = (0.0, 1.0, NAN, -0.1)
STATS: list[Entry] = [
    Entry("stats.two_proportion_ztest", lambda c, k: stats.two_proportion_ztest(**k), _TWO,
          {**_TWO_BAD, "alternative": ("nope", ""), "confidence": (0.0, 1.0, NAN)}),
    Entry("stats.required_sample_size", lambda c, k: stats.required_sample_size(**k),
          {"baseline_rate": 0.1, "minimum_detectable_effect": 0.02},
          {"baseline_rate": (0.0, 1.0, 1.5, NAN), "minimum_detectable_effect": (0.0, NAN, INF),
           "alpha": _ALPHA_BAD, "power": (0.0, 1.0, NAN)}),
    Entry("stats.margin_of_error_sample_size",
          lambda c, k: stats.margin_of_error_sample_size(**k), {},
          {"confidence_level": (0.0, 1.0, NAN), "margin_of_error": (0.0, -0.1, NAN, 1.5),
           "proportion": (1.5, NAN)}),
    Entry("stats.sample_ratio_mismatch", lambda c, k: stats.sample_ratio_mismatch(**k),
          {"n_a": 100, "n_b": 110},
          {"n_a": (-1, 1.5), "n_b": (-1,), "expected_share_a": (0.0, 1.0, 1.5, NAN),
           "alpha": _ALPHA_BAD}),
    Entry("stats.mcnemar", lambda c, k: stats.mcnemar(**k),
          {"correct_a": ACTUAL, "correct_b": PREDICTED},
          {"correct_a": (Bad([0, 2] * 40, shown="2"), Bad(ACTUAL[:5], shown="80")),
           "confidence": (0.0,)}),
    Entry("stats.mcnemar_table", lambda c, k: stats.mcnemar_table(**k),
          {"table": [[10, 3], [5, 10]]},
          {"table": (Bad([[1, 2]], shown="[[1, 2]]"), Bad([[-1, 2], [3, 4]], shown="-1"), "x")}),
    Entry("stats.welch_ttest", lambda c, k: stats.welch_ttest(**k), {"a": REF, "b": CUR},
          {"a": (Bad([], shown="[]"), Bad([1.0, NAN], shown="nan"), "x"),
           "alternative": ("nope",), "confidence": (1.0,)}),
    Entry("stats.fisher_exact", lambda c, k: stats.fisher_exact(**k),
          {"table": [[10, 3], [5, 10]]},
          {"table": (Bad([[1, 2]], shown="[[1, 2]]"), Bad([[1.5, 2], [3, 4]], shown="1.5")),
           "alternative": ("nope",)}),
    Entry("stats.chi_square_2x2", lambda c, k: stats.chi_square_2x2(**k),
          {"table": [[10, 3], [5, 10]]},
          {"table": (Bad([[-1, 2], [3, 4]], shown="-1"), Bad([[1, 2, 3]], shown="[[1, 2, 3]]")),
           "confidence": (NAN,)}),
    Entry("stats.multiple_testing", lambda c, k: stats.multiple_testing(**k),
          {"p_values": [0.01, 0.2]},
          {"p_values": (Bad([0.1, 1.5], shown="1.5"), Bad([INF], shown="inf")),
           "method": ("nope",), "alpha": _ALPHA_BAD}),
    Entry("stats.power", lambda c, k: stats.power(**k),
          {"baseline_rate": 0.1, "minimum_detectable_effect": 0.02, "n_per_group": 1000},
          {"baseline_rate": (0.0, NAN), "n_per_group": (0, -1, 1.5), "alpha": (0.0,)}),
    Entry("stats.SequentialTest", lambda c, k: stats.SequentialTest(**k), {},
          {"alpha": _ALPHA_BAD, "tau": (0.0, -1.0, NAN)}),
    Entry("stats.SequentialTest.update", lambda c, k: stats.SequentialTest().update(**k), _TWO,
          _TWO_BAD),
    Entry("stats.sequential_two_proportion_test",
          lambda c, k: stats.sequential_two_proportion_test(**k), _TWO,
          {**_TWO_BAD, "alpha": _ALPHA_BAD, "tau": (0.0, NAN)}),
    Entry("stats.sequential_path", lambda c, k: stats.sequential_path(**k),
          {"successes_a": [1, 2], "n_a": [10, 10], "successes_b": [2, 3], "n_b": [10, 10]},
          {"successes_a": (Bad([-1, 2], shown="-1"), Bad([1], shown="2")),
           "n_a": (Bad([0, 10], shown="0"),), "alpha": (0.0,)}),
    Entry("stats.bootstrap_difference", lambda c, k: stats.bootstrap_difference(**k),
          {"a": REF, "b": CUR, "n_resamples": 100},
          {"a": (Bad([], shown="[]"), Bad([NAN, 1.0], shown="nan")), "n_resamples": (0, -1),
           "confidence": (1.0,), "statistic": (3, "mean")}),
]

_RC = {"reference": REF, "current": CUR}
_SAMPLE_BAD = {"reference": (Bad([], shown="[]"), Bad([1.0, NAN], shown="nan"), 3),
               "current": (Bad([], shown="[]"), Bad([INF, 1.0], shown="inf"))}
_COUNTS = {"reference_counts": [10, 20, 30], "current_counts": [12, 18, 30]}
_COUNTS_BAD = {"reference_counts": (Bad([-1, 2, 3], shown="-1"), Bad([0, 0, 0], shown="0"),
                                    Bad([NAN, 1, 1], shown="nan")),
               "current_counts": (Bad([1, 2], shown="2"),), "threshold": (NAN, -1.0)}
DRIFT: list[Entry] = [
    Entry("drift.psi", lambda c, k: drift.psi(**k), _RC,
          {**_SAMPLE_BAD, "bins": (0, 1, -1, 1.5), "threshold": (NAN, -0.1)}),
    Entry("drift.ks", lambda c, k: drift.ks(**k), _RC, {**_SAMPLE_BAD, "threshold": (NAN, 1.5)}),
    Entry("drift.jensen_shannon", lambda c, k: drift.jensen_shannon(**k), _RC,
          {**_SAMPLE_BAD, "bins": (0,), "base": (1.0, 0.0, NAN), "threshold": (NAN,)}),
    Entry("drift.wasserstein", lambda c, k: drift.wasserstein(**k), _RC,
          {**_SAMPLE_BAD, "threshold": (-1.0, NAN)}),
    Entry("drift.hellinger", lambda c, k: drift.hellinger(**k), _RC,
          {**_SAMPLE_BAD, "bins": (0,), "threshold": (NAN,)}),
    Entry("drift.chi_square", lambda c, k: drift.chi_square(**k),
          {"reference": ["a", "b", "a"], "current": ["a", "b", "b"]},
          {"reference": (Bad([], shown="[]"), 3), "threshold": (NAN, 1.5)}),
    *[Entry(f"drift.{f.__name__}", lambda c, k, f=f: f(**k), _COUNTS, _COUNTS_BAD)
      for f in (drift.psi_from_counts, drift.chi_square_from_counts,
                drift.jensen_shannon_from_counts, drift.hellinger_from_counts,
                drift.ks_from_histograms)],
    Entry("drift.quantile_edges", lambda c, k: drift.quantile_edges(**k), {"reference": REF},
          {"reference": (Bad([], shown="[]"), Bad([NAN], shown="nan")), "bins": (0, -1, 1.5)}),
    Entry("drift.detect_drift", lambda c, k: drift.detect_drift(**k),
          {"reference": pl.DataFrame({"x": REF}), "current": pl.DataFrame({"x": CUR})},
          {"reference": (3, "x"), "method": ("nope", Bad({"x": "nope"}, shown="nope")),
           "columns": (Bad(["nope"], shown="nope"), "x"), "correction": ("nope",),
           "thresholds": (Bad({"x": NAN}, shown="nan"),), "bins": (0,),
           "drift_share": (0.0, 1.5, NAN)}),
    Entry("drift.get_drift_method", lambda c, k: drift.get_drift_method(**k), {"name": "psi"},
          {"name": ("nope", "", 3)}, names={"name": "method"}),
]

# The analysis layer's threshold functions accept any finite real score on purpose
# (decision_function outputs, margins); the tuning service checks [0, 1] on its own inputs.
THRESHOLDS: list[Entry] = [
    Entry("thresholds.threshold_curve", lambda c, k: thresholds.threshold_curve(**k), _AS,
          {**_ARRAY_BAD, "score": _ARRAY_BAD["score"][::2]}),
    Entry("thresholds.best_threshold", lambda c, k: thresholds.best_threshold(**k), _AS,
          {**_ARRAY_BAD, "score": _ARRAY_BAD["score"][::2],
           "metric": ("nope", ""),
           "threshold_range": (*_RANGE_BAD[:2], *_RANGE_BAD[3:]),
           "step": (0.0, -0.1, NAN), "constraint": ({"nope": 0.5}, {"precision": 1.5}, 3),
           "current": (NAN,)}),
    Entry("thresholds.best_threshold(cost)", lambda c, k: thresholds.best_threshold(**k),
          {**_AS, "metric": "cost", "cost_false_positive": 1.0, "cost_false_negative": 5.0},
          {"cost_false_positive": (-1.0, NAN), "cost_false_negative": (-1.0, INF)}),
    Entry("thresholds.best_threshold_from_curve",
          lambda c, k: thresholds.best_threshold_from_curve(**k), {"curve": _counts_frame()},
          {"curve": ("x", 3, Bad(pl.DataFrame({"a": [1]}), shown="columns")),
           "metric": ("nope",), "step": (0.0,)}),
    Entry("thresholds.threshold_curve_from_histogram",
          lambda c, k: thresholds.threshold_curve_from_histogram(**k),
          {"thresholds_or_bin_edges": [0.0, 0.5, 1.0], "pos_counts": [1, 2],
           "neg_counts": [2, 1]},
          {"pos_counts": (Bad([-1, 2], shown="-1"), Bad([1], shown="length 2")),
           "thresholds_or_bin_edges": (Bad([1.0, 0.5, 0.0], shown="1.0"),)}),
]

DETECTORS: list[Entry] = [
    Entry("detectors.ADWIN", lambda c, k: detectors.ADWIN(**k), {},
          {"delta": (0.0, 1.5, NAN), "clock": (0, 1.5), "max_buckets": (0,),
           "min_window_length": (0,), "grace_period": (-1,)}),
    Entry("detectors.CUSUM", lambda c, k: detectors.CUSUM(**k), {},
          {"target": (NAN,), "sigma": (0.0, -1.0, NAN), "k": (-1.0, NAN), "h": (0.0, NAN),
           "warm_start": (-1, 1.5)}),
    Entry("detectors.DDM", lambda c, k: detectors.DDM(**k), {},
          {"warm_start": (-1, 1.5), "warning_threshold": (0.0, NAN),
           "drift_threshold": (-1.0, NAN)}),
    Entry("detectors.EDDM", lambda c, k: detectors.EDDM(**k), {},
          {"warm_start": (-1,), "alpha": (0.0, 1.5, NAN), "beta": (0.0, 1.5, NAN)}),
    Entry("detectors.PageHinkley", lambda c, k: detectors.PageHinkley(**k), {},
          {"min_instances": (0, -1, 1.5), "delta": (-1.0, NAN), "threshold": (0.0, NAN),
           "alpha": (0.0, 1.5, NAN), "mode": ("sideways", "")}),
    Entry("detectors.make_detector", lambda c, k: detectors.make_detector(**k),
          {"name": "ddm"}, {"name": ("nope", "", 3), "warm_start": (-1,)}),
    Entry("detectors.run_detector", lambda c, k: detectors.run_detector(**k),
          {"detector": detectors.DDM(), "stream": [0, 1, 0]},
          {"detector": ("ddm", 3), "stream": (Bad([0, NAN], shown="nan", names="stream[1]"), 3)}),
    Entry("detectors.DDM.update", lambda c, k: detectors.DDM().update(**k), {"x": 1},
          {"x": (NAN, 2, "x", None)}),
    Entry("detectors.ADWIN.update", lambda c, k: detectors.ADWIN().update(**k), {"x": 0.5},
          {"x": (NAN, INF, "x", None)}),
]

ESTIMATION: list[Entry] = [
    Entry("estimation.estimate_performance", lambda c, k: estimation.estimate_performance(**k),
          {"reference_actual": ACTUAL, "reference_score": SCORE, "score": SCORE,
           "n_simulations": 20},
          {"reference_actual": (Bad([0, 2] * 40, shown="2"), Bad(ACTUAL[:5], shown="80")),
           "reference_score": (Bad([1.5] * 80, shown="1.5"), Bad([NAN] * 80, shown="nan")),
           "score": (Bad([NAN], shown="nan"), "x"),
           "threshold": (-0.1, 1.5, NAN), "n_simulations": (-1, 1.5)}),
    Entry("estimation.CBPE.fit", lambda c, k: estimation.CBPE().fit(**k),
          {"reference_actual": ACTUAL, "reference_score": SCORE},
          {"reference_actual": (Bad([0, 2] * 40, shown="2"),),
           "reference_score": (Bad([NAN] * 80, shown="nan"),), "threshold": (1.5, NAN)}),
    Entry("estimation.CBPE.estimate", lambda c, k: _fit_cbpe().estimate(**k),
          {"score": SCORE, "n_simulations": 20},
          {"score": (Bad([1.5], shown="1.5"), "x"), "n_simulations": (-1, 1.5)}),
]

JOBS: list[Entry] = [
    Entry("run_job", lambda c, k: run_job(**{"ws": c.ws, **k}), {"name": "retention"},
          {"name": ("nope", "", 3), "now": ("2020", 3),
           "bogus": (Bad(1, shown="bogus", names="options"),)}, writes=True, sane=False),
    Entry("run_job.ws", lambda c, k: run_job(**k), {"ws": None, "name": "retention"},
          {"ws": ("x", 3)}, sane=False),
]

VIZ: list[Entry] = [
    Entry(f"charts.{fn}", lambda c, k, fn=fn: getattr(charts, fn)(**k), {}, {arg: TYPE_BAD},
          sane=False)
    for fn, arg in (("roc_curve", "curve"), ("pr_curve", "curve"), ("threshold_curve", "curve"),
                    ("metric_trend", "trend"), ("confusion_matrix", "metrics"),
                    ("calibration", "frame"), ("drift_bars", "drift"),
                    ("drift_heatmap", "drift"), ("ab_comparison", "result"),
                    ("rollout_progress", "history"), ("sequential_path", "path"))
]

TABLE: list[Entry] = [*VALUES, *_registry_entries("ws"), *_registry_entries("memory"), *LOG,
                      *MONITOR, *AB, *TUNING, *WINDOWS, *ALERTS, *METRICS, *STATS, *DRIFT,
                      *THRESHOLDS, *DETECTORS, *ESTIMATION, *JOBS, *VIZ]

# numeric parameters whose valid range hypothesis probes from outside: (entry, param) -> range
RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("stats.required_sample_size", "baseline_rate"): (0.0, 1.0),
    ("stats.margin_of_error_sample_size", "confidence_level"): (0.0, 1.0),
    ("stats.margin_of_error_sample_size", "margin_of_error"): (0.0, 1.0),
    ("stats.sample_ratio_mismatch", "expected_share_a"): (0.0, 1.0),
    ("metrics.wilson_interval", "confidence"): (0.0, 1.0),
    ("ABTestConfig", "traffic_split_a"): (0.0, 1.0),
    ("ABTestConfig", "significance_level"): (0.0, 1.0),
    ("ws.ab.calculate_required_sample_size", "margin_of_error"): (0.0, 1.0),
    ("detectors.EDDM", "alpha"): (0.0, 1.0),
    ("estimation.estimate_performance", "threshold"): (0.0, 1.0),
}


def _cases() -> Iterator[Any]:
    for entry in TABLE:
        for param, values in entry.bad.items():
            for i, raw in enumerate(values):
                bad = raw if isinstance(raw, Bad) else Bad(raw)
                marks = [pytest.mark.xfail(reason=bad.xfail, strict=True)] if bad.xfail else []
                yield pytest.param(entry, param, bad, id=f"{entry.name}-{param}-{i}",
                                   marks=marks)


# -- the generated tests ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def ctx() -> Iterator[Ctx]:
    with mk.open() as ws:
        for version in ("1.0.0", "1.1.0"):
            ws.registry.register(mk.ModelMetadata.for_n1_detector(version))
        rng = np.random.default_rng(1)
        n = 400
        actual = rng.integers(0, 2, n)
        score = np.clip(actual * 0.4 + rng.random(n) * 0.6, 0.0, 1.0)
        now = datetime.now(UTC)
        ws.log.track_batch(pl.DataFrame({
            "model_name": [MODEL] * n, "version": ["1.0.0", "1.1.0"] * (n // 2),
            "prediction": (score > 0.5).astype(int), "actual": actual, "score": score,
            "prediction_id": [f"p-{i}" for i in range(n)], "unit_id": [f"u{i}" for i in range(n)],
            "timestamp": [now - timedelta(minutes=i) for i in range(n)],
            "f1": rng.random(n)}))
        context = Ctx(ws)
        context.memory.register(mk.ModelMetadata.for_n1_detector("1.0.0"))
        yield context


def _got_part(message: str) -> str:
    return message.rsplit("; got ", 1)[1] if "; got " in message else ""


def _shown(bad: Bad) -> list[str]:
    if bad.shown is not None:
        return bad.shown.split("|")
    value = bad.value
    return [repr(value)[:24], str(value)[:24], type(value).__name__]


def _check_raises(ctx: Ctx, entry: Entry, param: str, bad: Bad) -> None:
    before = ctx.snapshot() if entry.writes else None
    with pytest.raises(MlmkitError) as info:
        entry.call(ctx, {**entry.good, param: bad.value})
    err = info.value
    message = str(err)
    assert isinstance(err, bad.error), f"{type(err).__name__}: {message}"
    if bad.error is ValidationError:
        assert isinstance(err, ValueError)
        named = bad.names or entry.names.get(param, param)
        assert named in message, message
        got = _got_part(message)
        assert got, f"no '; got ...' part in {message!r}"
        assert any(s in got for s in _shown(bad)), f"{_shown(bad)} not shown in {message!r}"
    else:
        assert any(s in message for s in _shown(bad)), f"{_shown(bad)} not in {message!r}"
    if before is not None:
        assert ctx.snapshot() == before, "a rejected call wrote something"


@pytest.mark.parametrize(("entry", "param", "bad"), list(_cases()))
def test_bad_input_is_rejected(ctx: Ctx, entry: Entry, param: str, bad: Bad) -> None:
    _check_raises(ctx, entry, param, bad)


@pytest.mark.parametrize("entry", [e for e in TABLE if e.sane], ids=lambda e: e.name)
def test_good_arguments_of_the_table_work(ctx: Ctx, entry: Entry) -> None:
    """The declared good arguments pass, so each bad value is what a failure is about."""
    entry.call(ctx, dict(entry.good))


_OUTSIDE = st.one_of(st.just(NAN), st.just(INF), st.just(-INF),
                     st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False),
                     st.floats(min_value=1.0 + 1e-9, allow_nan=False, allow_infinity=False))
_BY_NAME = {e.name: e for e in TABLE}


@pytest.mark.parametrize(("name", "param"), sorted(RANGES))
@settings(max_examples=25, deadline=None)
@given(value=_OUTSIDE)
def test_out_of_range_numbers_are_rejected(ctx: Ctx, name: str, param: str,
                                           value: float) -> None:
    low, high = RANGES[(name, param)]
    assert not (low < value < high) or math.isnan(value)
    entry = _BY_NAME[name]
    if low == value or value == high:
        return  # closed-bound decisions are declared explicitly in the table
    _check_raises(ctx, entry, param, Bad(value, shown=repr(value)[:12]))


def test_table_covers_the_api_contract() -> None:
    names = {e.name for e in TABLE}
    assert {f"{name}(start, end)" for name in WINDOWED} <= names
    for required in ("ws.log.track", "ws.log.track_batch", "ws.monitor.get_current_metrics",
                     "ws.ab.run_test", "ws.tuning.optimize_threshold", "ws.alerts.fire",
                     "ws.registry.deploy", "stats.two_proportion_ztest", "drift.psi",
                     "thresholds.best_threshold", "run_job", "charts.roc_curve"):
        assert required in names
    assert sum(len(e.bad) for e in TABLE) >= 200
