"""Alias of `mlmkit.services.experiments.ab_test`, kept at its documented path."""

from __future__ import annotations

from mlmkit.services.experiments.ab_test import (
    ABTestingService,
    ABTestResult,
)

__all__ = [
    'ABTestResult',
    'ABTestingService',
]
