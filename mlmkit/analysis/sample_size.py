"""Alias of `mlmkit.analysis.stats.sample_size`, kept at its documented path."""

from __future__ import annotations

from mlmkit.analysis.stats.sample_size import (
    margin_of_error_sample_size,
    power,
    required_sample_size,
)

__all__ = [
    'margin_of_error_sample_size',
    'power',
    'required_sample_size',
]
