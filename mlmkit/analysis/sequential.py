"""Alias of `mlmkit.analysis.stats.sequential`, kept at its documented path."""

from __future__ import annotations

from mlmkit.analysis.stats.sequential import (
    SequentialTest,
    sequential_path,
    sequential_tau,
    sequential_two_proportion_test,
)

__all__ = [
    'SequentialTest',
    'sequential_path',
    'sequential_tau',
    'sequential_two_proportion_test',
]
