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
from mlmkit.analysis.stats.tasks import (
    bootstrap_class_metric,
    bootstrap_regression_metric,
    regression_welch,
    welch_from_sums,
)

__all__ = [
    "SequentialTest",
    "TestResult",
    "bootstrap_class_metric",
    "bootstrap_difference",
    "bootstrap_regression_metric",
    "chi_square_2x2",
    "fisher_exact",
    "margin_of_error_sample_size",
    "mcnemar",
    "mcnemar_table",
    "multiple_testing",
    "power",
    "regression_welch",
    "required_sample_size",
    "sample_ratio_mismatch",
    "sequential_path",
    "sequential_tau",
    "sequential_two_proportion_test",
    "two_proportion_ztest",
    "welch_from_sums",
    "welch_ttest",
]
