"""A/B tests, guarded gradual rollouts and their guardrails."""

from __future__ import annotations

from mlmkit.services.experiments.ab_test import (
    ABTestingService,
    ABTestResult,
)
from mlmkit.services.experiments.guardrails import (
    StepCounts,
)
from mlmkit.services.experiments.result import (
    decide,
)
from mlmkit.services.experiments.rollout import (
    DEFAULT_PLAN,
    Guardrails,
    Rollout,
    RolloutDecision,
    start_rollout,
)

__all__ = [
    'ABTestResult',
    'ABTestingService',
    'DEFAULT_PLAN',
    'Guardrails',
    'Rollout',
    'RolloutDecision',
    'StepCounts',
    'decide',
    'start_rollout',
]
