"""Services: combine the store with the analysis layer and return frozen results or polars.

Subpackages, one concept each: ``log`` (prediction log), ``monitor`` (window metrics, degradation,
concept and data drift, trends), ``alerts`` (rules, sinks, outbox), ``experiments`` (A/B tests,
rollouts, guardrails), ``tuning``, ``jobs``. Names are loaded on first access.
"""

from __future__ import annotations

from mlmkit._lazy import lazy_getattr as _lazy_getattr

_EXPORTS = {
    "BufferedWriter": "log", "PredictionLog": "log",
    "PerformanceMonitor": "monitor", "DEFAULT_MIN_LABELS": "monitor",
    "WindowMetrics": "monitor", "DegradationInfo": "monitor",
    "ConceptDriftResult": "monitor",
    "AlertingService": "alerts", "AlertRule": "alerts", "Finding": "alerts",
    "LoggingSink": "alerts", "CallbackSink": "alerts", "WebhookSink": "alerts",
    "SinkError": "alerts",
    "ABTestingService": "experiments", "ABTestResult": "experiments",
    "Guardrails": "experiments", "Rollout": "experiments", "RolloutDecision": "experiments",
    "DEFAULT_PLAN": "experiments", "start_rollout": "experiments",
    "AutoTuningEngine": "tuning", "ThresholdOptimization": "tuning",
    "TradeoffOptimization": "tuning", "CostOptimization": "tuning",
    "AdaptiveAdjustment": "tuning", "HyperparameterSearch": "tuning",
    "JOBS": "jobs", "Job": "jobs", "JobRun": "jobs", "run_job": "jobs",
    "job_names": "jobs", "job_history": "jobs", "job_summary": "jobs", "snapshots": "jobs",
}

__all__ = sorted(_EXPORTS)

__getattr__ = _lazy_getattr(__name__, {k: f"{__name__}.{v}" for k, v in _EXPORTS.items()})
