"""Two-sample drift statistics and per-feature drift reports."""

from __future__ import annotations

from mlmkit.analysis.drift.detect import (
    DriftMethod,
    DriftReport,
    DriftStat,
    available_drift_methods,
    bin_counts,
    chi_square,
    chi_square_from_counts,
    detect_drift,
    get_drift_method,
    hellinger,
    hellinger_from_counts,
    jensen_shannon,
    jensen_shannon_from_counts,
    ks,
    ks_from_histograms,
    psi,
    psi_from_counts,
    quantile_edges,
    register_drift_method,
    wasserstein,
    wasserstein_from_histogram,
)
from mlmkit.analysis.drift.missing import missing_drift

__all__ = [
    'DriftMethod',
    'DriftReport',
    'DriftStat',
    'available_drift_methods',
    'bin_counts',
    'chi_square',
    'chi_square_from_counts',
    'detect_drift',
    'get_drift_method',
    'hellinger',
    'hellinger_from_counts',
    'jensen_shannon',
    'jensen_shannon_from_counts',
    'ks',
    'ks_from_histograms',
    'missing_drift',
    'psi',
    'psi_from_counts',
    'quantile_edges',
    'register_drift_method',
    'wasserstein',
    'wasserstein_from_histogram',
]
