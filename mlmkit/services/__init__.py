"""Services: combine the store with the analysis layer and return frozen results or polars.

Modules: ``log`` (prediction log), ``monitor`` and ``drift_monitor``, ``alerts``, ``ab_test``
and ``rollout``, ``tuning``, ``jobs``. Names are loaded on first access.
"""

from __future__ import annotations

from mlmkit._lazy import lazy_getattr as _lazy_getattr

_EXPORTS = {
    "BufferedWriter": "log", "PredictionLog": "log",
    "PerformanceMonitor": "monitor", "DEFAULT_MIN_LABELS": "monitor",
    "WindowMetrics": "_monitor_results", "DegradationInfo": "_monitor_results",
    "ConceptDriftResult": "_monitor_results",
    "AlertingService": "alerts", "AlertRule": "alerts", "Finding": "alerts",
    "LoggingSink": "alerts", "CallbackSink": "alerts", "WebhookSink": "alerts",
    "SinkError": "alerts",
    "ABTestingService": "ab_test", "ABTestResult": "ab_test",
    "Guardrails": "rollout", "Rollout": "rollout", "RolloutDecision": "rollout",
    "DEFAULT_PLAN": "rollout", "start_rollout": "rollout",
    "AutoTuningEngine": "tuning", "ThresholdOptimization": "tuning",
    "TradeoffOptimization": "tuning", "CostOptimization": "tuning",
    "AdaptiveAdjustment": "tuning", "HyperparameterSearch": "tuning",
    "JOBS": "jobs", "Job": "jobs", "JobRun": "jobs", "run_job": "jobs",
    "job_names": "jobs", "job_history": "jobs", "job_summary": "jobs", "snapshots": "jobs",
}

__all__ = sorted(_EXPORTS)

__getattr__ = _lazy_getattr(__name__, {k: f"{__name__}.{v}" for k, v in _EXPORTS.items()})
