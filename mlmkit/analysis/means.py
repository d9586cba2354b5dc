"""Alias of `mlmkit.analysis.stats.means`, kept at its documented path."""

from __future__ import annotations

from mlmkit.analysis.stats.means import (
    bootstrap_difference,
    welch_ttest,
)

__all__ = [
    'bootstrap_difference',
    'welch_ttest',
]
