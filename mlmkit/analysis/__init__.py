"""Pure analysis functions: numpy / polars in, numbers, frozen results or polars frames out.

No I/O, no duckdb, no plotting. Submodules:

- ``metrics``: binary classification metrics from rows or from sufficient statistics, intervals;
- ``stats``, ``sequential``, ``means``, ``sample_size``: significance tests, always-valid
  sequential tests, power and sample sizes;
- ``drift``: two-sample drift statistics and per-feature drift reports;
- ``detectors``: streaming concept-drift detectors (DDM, EDDM, ADWIN, Page-Hinkley, CUSUM);
- ``thresholds``: threshold curves and optimal thresholds;
- ``estimation``: label-free performance estimation (CBPE for binary and multiclass models,
  direct loss estimation for regression);
- ``routing``, ``experiment``: sticky traffic assignment and A/B comparisons from counts;
- ``monitoring``, ``tuning``: the pure parts of the monitor and the tuning engine.

Import the submodule you need (``from mlmkit.analysis import metrics``); importing this
package loads none of them.
"""

from __future__ import annotations

from mlmkit._lazy import lazy_getattr as _lazy_getattr

__all__ = ["detectors", "drift", "estimation", "experiment", "means", "metrics", "monitoring",
           "routing", "sample_size", "sequential", "stats", "thresholds", "tuning"]

__getattr__ = _lazy_getattr(__name__, {}, modules=__all__)
