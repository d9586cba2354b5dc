"""Significance tests, sequential tests, power, sample sizes; each test returns a ``TestResult``."""

from __future__ import annotations

from mlmkit.analysis.stats.proportions import (
    SequentialTest,
    TestResult,
    bootstrap_difference,
    chi_square_2x2,
    fisher_exact,
    margin_of_error_sample_size,
    mcnemar,
    mcnemar_table,
    multiple_testing,
    power,
    required_sample_size,
    sample_ratio_mismatch,
    sequential_path,
    sequential_tau,
    sequential_two_proportion_test,
    two_proportion_ztest,
    welch_ttest,
)

__all__ = [
    'SequentialTest',
    'TestResult',
    'bootstrap_difference',
    'chi_square_2x2',
    'fisher_exact',
    'margin_of_error_sample_size',
    'mcnemar',
    'mcnemar_table',
    'multiple_testing',
    'power',
    'required_sample_size',
    'sample_ratio_mismatch',
    'sequential_path',
    'sequential_tau',
    'sequential_two_proportion_test',
    'two_proportion_ztest',
    'welch_ttest',
]
