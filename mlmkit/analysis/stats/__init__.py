"""Significance tests, sequential tests, power, sample sizes; each test returns a ``TestResult``."""

from __future__ import annotations

from mlmkit.analysis.stats.means import bootstrap_difference, welch_ttest
from mlmkit.analysis.stats.multitest import multiple_testing
from mlmkit.analysis.stats.paired import mcnemar, mcnemar_table
from mlmkit.analysis.stats.proportions import (
    chi_square_2x2,
    fisher_exact,
    sample_ratio_mismatch,
    two_proportion_ztest,
)
from mlmkit.analysis.stats.result import TestResult
from mlmkit.analysis.stats.sample_size import (
    margin_of_error_sample_size,
    power,
    required_sample_size,
)
from mlmkit.analysis.stats.sequential import (
    SequentialTest,
    sequential_path,
    sequential_tau,
    sequential_two_proportion_test,
)

__all__ = [
    "SequentialTest",
    "TestResult",
    "bootstrap_difference",
    "chi_square_2x2",
    "fisher_exact",
    "margin_of_error_sample_size",
    "mcnemar",
    "mcnemar_table",
    "multiple_testing",
    "power",
    "required_sample_size",
    "sample_ratio_mismatch",
    "sequential_path",
    "sequential_tau",
    "sequential_two_proportion_test",
    "two_proportion_ztest",
    "welch_ttest",
]
