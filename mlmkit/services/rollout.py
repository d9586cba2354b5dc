"""Alias of `mlmkit.services.experiments.rollout`, kept at its documented path."""

from __future__ import annotations

from mlmkit.services.experiments.rollout import (
    DEFAULT_PLAN,
    Guardrails,
    Rollout,
    RolloutDecision,
    start_rollout,
)

__all__ = [
    'DEFAULT_PLAN',
    'Guardrails',
    'Rollout',
    'RolloutDecision',
    'start_rollout',
]
