"""Residual and score quantiles per segment over the Spark engine (issue 15, item 5).

The per-segment histograms join each row to a FROM-less ``UNION ALL`` dictionary of the
segment keys (``IS NOT DISTINCT FROM``: the NULL key, the one-row segment's zero-width range)
in the Spark dialect; the frames equal the workspace's (the quantiles and their brackets
exactly, other floats to 1e-12) on the dataset exported from the workspace of
``tests/services/test_segment_quantiles.py``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
from polars.testing import assert_frame_equal

from mlmkit.store.engines.dataset import export_dataset

# the rows of the service tests (tests/services), loaded by path
_PATH = Path(__file__).parents[1] / "services" / "test_segment_quantiles.py"
_SPEC = importlib.util.spec_from_file_location("_segment_quantiles", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
sq = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(sq)  # (it put tests/services on sys.path)
from _counting import segment_workspace  # noqa: E402  (the builder beside those tests)


def test_segment_quantiles_equal_on_spark(spark_session: Any, tmp_path: Path) -> None:
    from mlmkit.store.engines import SparkEngine

    ws = segment_workspace(tmp_path / "ws.duckdb", sq._rows(np.random.default_rng(5)),
                           sq.TASKS, sq.REGISTERED, (sq.V1, sq.V2))
    export_dataset(ws.db, tmp_path / "ds")
    span = {"start": sq.T0, "end": sq.END}
    with SparkEngine(tmp_path / "ds", spark=spark_session) as spark:
        for model, prefix in sq.PREFIX.items():
            for segment in ("country", {"country": ["DE", None], "tier": [1.0, 2.0]}):
                base = ws.monitor.get_current_metrics(model, sq.V1, segment=segment,
                                                      bins=2000, **span)
                got = ws.monitor.using(spark).get_current_metrics(
                    model, sq.V1, segment=segment, bins=2000, **span)
                assert_frame_equal(got, base, check_exact=False, rel_tol=1e-12)
                exact = [c for c in base.columns if c.startswith(f"{prefix}_q")]
                assert len(exact) == 15
                assert_frame_equal(got.select(exact), base.select(exact), check_exact=True)
                assert base.height > 1 and base[f"{prefix}_q50"].is_not_nan().sum() > 1
    ws.close()
