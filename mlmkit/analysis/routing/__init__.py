"""Sticky, deterministic traffic assignment of units to model versions."""

from __future__ import annotations

from mlmkit.analysis.routing.assign import (
    assign_arms,
    experiment_salt,
    routing_share_b,
    select_arm,
    select_version,
    unit_bucket,
    unit_buckets,
)

__all__ = [
    'assign_arms',
    'experiment_salt',
    'routing_share_b',
    'select_arm',
    'select_version',
    'unit_bucket',
    'unit_buckets',
]
