"""The regression window scan: its statement's shape, its sums and its residual quantiles.

``get_current_metrics`` of a regression model is one aggregate scan (`regression_sums`) and,
with ``scores``, one residual-histogram scan; both are what the issue-15 benchmark
(``benchmarks/bench_task_metrics``) times. Oracles: numpy / `RegressionSums.from_rows` on the
same rows (1e-12), numpy's exact quantiles inside the histogram's stated bracket.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

import mlmkit
from mlmkit import ModelMetadata
from mlmkit.analysis.metrics import RegressionSums, UndefinedMetricWarning
from mlmkit.store.engines import portable_tasks as tsql
from mlmkit.values import TimeRange

START = datetime(2026, 3, 1, tzinfo=UTC)
SPAN = TimeRange(START, START + timedelta(days=2))
FIELDS = ("n", "sum_error", "sum_abs_error", "sum_squared_error", "sum_actual",
          "sum_squared_actual", "sum_abs_percentage_error", "zero_actuals",
          "sum_squared_abs_percentage_error", "sum_fourth_error")


def _workspace(path, rng: np.random.Generator) -> tuple[mlmkit.Workspace, dict[str, tuple]]:
    """Two versions over two days; zero and negative-zero actuals, 10 % unlabelled rows."""
    ws = mlmkit.open(path)
    rows: dict[str, tuple] = {}
    for version, n in (("1.0.0", 3000), ("2.0.0", 1000)):
        ws.registry.register(ModelMetadata("rg", "supervised", version, task="regression"))
        y = rng.standard_t(3, n) * 4.0 + 1.0
        y[:20], y[20:25] = 0.0, -0.0
        p = y + rng.standard_t(3, n)
        ts = [START + timedelta(seconds=int(s)) for s in rng.integers(0, 2 * 86_400, n)]
        ids = [f"{version}-{i}" for i in range(n)]
        ws.log.track_batch(pl.DataFrame({"model_name": "rg", "version": version,
                                         "prediction": p, "prediction_id": ids,
                                         "timestamp": ts}))
        labelled = rng.random(n) < 0.9
        labelled[:25] = True
        ws.log.record_actuals([i for i, k in zip(ids, labelled, strict=True) if k],
                              y[labelled].tolist(), model_name="rg", version=version)
        rows[version] = (y[labelled], p[labelled], n, np.asarray(ts)[labelled])
    return ws, rows


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory):
    ws, rows = _workspace(tmp_path_factory.mktemp("rg") / "ws.duckdb",
                          np.random.default_rng(11))
    yield ws, rows
    ws.close()


def _assert_sums(row: dict, expected: RegressionSums, total: int) -> None:
    assert row["total"] == total
    for name in FIELDS:
        assert row[name] == pytest.approx(getattr(expected, name), rel=1e-12, abs=1e-12), name


@pytest.mark.parametrize("versions", [["1.0.0"], ["2.0.0"], ["1.0.0", "2.0.0"], None])
def test_sums_equal_the_rows(logged, versions) -> None:
    ws, rows = logged
    frame = ws.monitor.engine.regression_sums("rg", versions=versions, time_range=SPAN)
    assert frame["version"].to_list() == (versions or ["1.0.0", "2.0.0"])
    for row in frame.iter_rows(named=True):
        y, p, total, _ = rows[row["version"]]
        expected = RegressionSums.from_rows(y, p)
        assert expected.zero_actuals == 25  # 0.0 and -0.0 are both left out of MAPE
        _assert_sums(row, expected, total)
        e = p - y
        assert (row["lo"], row["hi"]) == (e.min(), e.max())


def test_sums_per_bucket_equal_the_rows(logged) -> None:
    ws, rows = logged
    frame = ws.monitor.engine.regression_sums("rg", versions=["1.0.0"], time_range=SPAN,
                                              interval=timedelta(days=1))
    y, p, _, ts = rows["1.0.0"]
    assert frame.height == 2
    for row in frame.iter_rows(named=True):
        inside = (ts >= row["bucket"]) & (ts < row["bucket"] + timedelta(days=1))
        expected = RegressionSums.from_rows(y[inside], p[inside])
        for name in FIELDS:
            assert row[name] == pytest.approx(getattr(expected, name), rel=1e-12, abs=1e-12)


def test_a_version_without_rows_has_no_row(logged) -> None:
    ws, _ = logged
    empty = TimeRange(START - timedelta(days=3), START - timedelta(days=2))
    for versions in (["1.0.0"], ["1.0.0", "2.0.0"]):
        assert ws.monitor.engine.regression_sums("rg", versions=versions,
                                                 time_range=empty).height == 0
        assert ws.monitor.engine.residual_histogram("rg", versions=versions,
                                                    time_range=empty).height == 0


def test_one_version_histogram_equals_its_part_of_the_all_versions_one(logged) -> None:
    ws, _ = logged
    eng = ws.monitor.engine
    sums = eng.regression_sums("rg", time_range=SPAN)
    ranges = {v: (lo, hi) for v, lo, hi in sums.select("version", "lo", "hi").rows()}
    both = eng.residual_histogram("rg", time_range=SPAN, bins=50, ranges=ranges)
    for version in ranges:
        one = eng.residual_histogram("rg", versions=[version], time_range=SPAN, bins=50,
                                     ranges={version: ranges[version]})
        assert one.equals(both.filter(pl.col("version") == version))


def test_the_sums_scan_is_one_plain_aggregate(logged) -> None:
    """No FILTER-ed aggregate (they cost 1.5-2x at 1e7 rows), no GROUP BY for one version."""
    ws, _ = logged
    st = tsql.regression_sums("rg", ["1.0.0"], SPAN, "served")
    plan = "\n".join(str(r[-1]) for r in ws.db.execute(
        "EXPLAIN " + st.sql.replace("{src}", "predictions"), st.params))
    assert "FILTER (WHERE" not in plan.upper()  # (the HAVING is a FILTER node)
    assert "HASH_GROUP_BY" not in plan.upper().replace(" ", "_")
    assert "UNGROUPED_AGGREGATE" in plan.upper().replace(" ", "_")
    grouped = tsql.regression_sums("rg", ["1.0.0", "2.0.0"], SPAN, "served")
    assert "FILTER (WHERE" not in grouped.sql.upper()


def test_residual_quantiles_within_the_stated_bound_on_heavy_tails(logged) -> None:
    """Each exact (numpy) quantile lies in ``[low, high]``; ``|value - exact|`` <= that width,
    at most two bins of ``(max(e) - min(e)) / bins`` (the ranks straddle at most one edge)."""
    ws, rows = logged
    y, p, _, _ = rows["1.0.0"]
    e = p - y
    for bins in (100, 10_000):
        with pytest.warns(UndefinedMetricWarning, match="zero actual"):
            m = ws.monitor.get_current_metrics("rg", "1.0.0", start=SPAN.start, end=SPAN.end,
                                               bins=bins, min_labels=0)
        width = (e.max() - e.min()) / bins
        for q, value, low, high in m.residual_quantiles.iter_rows():
            exact = np.quantile(e, q)
            assert low - 1e-12 <= exact <= high + 1e-12
            assert abs(value - exact) <= high - low + 1e-12
            assert high - low <= 2 * width * (1 + 1e-9)


def test_a_narrow_window_skips_the_row_groups_outside_it(tmp_path) -> None:
    """The ``ts`` bounds reach the scan as plain column filters, so DuckDB's zonemaps skip
    the row groups (122 880 rows each) of time-ordered rows outside the window."""
    n = 400_000
    ts = pl.datetime_range(START, START + timedelta(seconds=n - 1), "1s", time_zone="UTC",
                           eager=True)
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        ws.registry.register(ModelMetadata("rg", "supervised", "1.0.0", task="regression"))
        ws.log.track_batch(pl.DataFrame({"model_name": "rg", "version": "1.0.0",
                                         "prediction": np.arange(n, dtype=np.float64),
                                         "timestamp": ts}))
        last_hour = TimeRange(START + timedelta(seconds=n - 3600),
                              START + timedelta(seconds=n))
        st = tsql.regression_sums("rg", ["1.0.0"], last_hour, "served")
        plan = "\n".join(str(r[-1]) for r in ws.db.execute(
            "EXPLAIN ANALYZE " + st.sql.replace("{src}", "predictions"), st.params))
        scanned, total = (int(x) for x in re.search(
            r"Row Groups Scanned:\s*(\d+)\s*/\s*(\d+)", plan).groups())  # type: ignore[union-attr]
        assert total >= 3 and scanned == 1
        row = ws.monitor.engine.regression_sums("rg", versions=["1.0.0"],
                                                time_range=last_hour).row(0, named=True)
        assert row["total"] == 3600
