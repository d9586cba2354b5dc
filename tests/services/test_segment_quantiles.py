"""Residual and score quantiles per segment (issue 15, item 5: the unsegmented call's result).

Oracles: each segment's ``residual_q<pct>`` / ``score_q<pct>`` and their brackets equal
``get_current_metrics`` on a second workspace holding only that segment's rows (exactly: the
same histogram edges), and numpy's ``np.quantile`` of the segment's residuals or scores lies
in the reported ``[low, high]``. The data hold a one-row segment (zero-width range), a
segment without labels and a NULL key. The engine reads one grouped histogram whatever the
number of segments (a counting ``WorkspaceEngine``, no mock of SQL), and the Parquet engine
(1 and 2 workers) returns the same frames.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import mlmkit
from mlmkit.store.engines import ParquetEngine
from mlmkit.store.engines.dataset import export_dataset

sys.path.insert(0, str(Path(__file__).parent))
from _counting import CountingEngine, segment_workspaces  # (a helper module beside the tests)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
END = T0 + timedelta(hours=12)
COUNTRIES = ["DE", "FR", "US"]
SEGMENTS: list[str | None] = ["DE", "FR", "LU", "US", "ZZ", None]  # LU: 1 row; ZZ: unlabelled
N = 3000
V1, V2 = "1.0.0", "1.1.0"
TASKS = {"rg": "regression", "an": "score-only"}
REGISTERED = {"rg": {"mae": 0.8}, "an": {"flag_rate": 0.1}}
PCTS = ("5", "25", "50", "75", "95")
PREFIX = {"rg": "residual", "an": "score"}


def _rows(rng: np.random.Generator) -> dict[str, pl.DataFrame]:
    """Both versions over 12 h; DE's residuals spread wider, FR's scores shift up."""
    country = pl.Series(rng.choice(COUNTRIES, N)).set(pl.Series(rng.random(N) < 0.06), None)
    country = country.set(pl.Series(np.arange(N) == 0), "LU")
    country = country.set(pl.Series((np.arange(N) >= 1) & (np.arange(N) <= 3)), "ZZ")
    ts = [T0 + timedelta(microseconds=int(s)) for s in rng.integers(0, 12 * 3600 * 10**6, N)]
    common = {"version": [V1] * 4 + rng.choice([V1, V2], N - 4).tolist(), "timestamp": ts,
              "country": country, "tier": rng.integers(1, 4, N).astype(float)}
    de = (country == "DE").fill_null(False).to_numpy()
    unlabelled = pl.Series(((rng.random(N) < 0.1) & (np.arange(N) > 0))
                           | (country == "ZZ").fill_null(False).to_numpy())
    yv = rng.normal(10, 2, N)
    s = rng.random(N) + np.where((country == "FR").fill_null(False).to_numpy(), 0.3, 0.0)
    return {
        "rg": pl.DataFrame({"model_name": "rg", "prediction": yv + rng.normal(
            0, np.where(de, 2.5, 1.0)), "actual": pl.Series(yv).set(unlabelled, None),
            **common}),
        "an": pl.DataFrame({"model_name": "an", "score": s, "prediction": s > 0.9, **common}),
    }


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, ...]]:
    """The workspace, one per segment holding its rows alone, the rows, the exported dataset."""
    root = tmp_path_factory.mktemp("segq")
    rows = _rows(np.random.default_rng(5))
    ws, alone = segment_workspaces(root, rows, TASKS, REGISTERED, (V1, V2), SEGMENTS)
    export_dataset(ws.db, root / "ds")
    yield ws, alone, rows, root / "ds"
    for w in (ws, *alone.values()):
        w.close()


def _values(rows: pl.DataFrame, model: str, country: object) -> np.ndarray:
    part = rows.filter(pl.col("country").eq_missing(country) & (pl.col("version") == V1))
    if model == "an":
        return part["score"].to_numpy()
    lab = part.filter(pl.col("actual").is_not_null())
    return (lab["prediction"] - lab["actual"]).to_numpy()


@pytest.mark.parametrize("model", list(TASKS))
@pytest.mark.parametrize("bins", [10_000, 7])
def test_segment_quantiles_equal_the_filtered_call_and_bracket_numpy(logged: Any, model: str,
                                                                     bins: int) -> None:
    ws, alone, rows, _ = logged
    frame = ws.monitor.get_current_metrics(model, V1, start=T0, end=END, segment="country",
                                           bins=bins)
    assert frame["country"].to_list() == SEGMENTS
    prefix = PREFIX[model]
    for row in frame.iter_rows(named=True):
        one = alone[row["country"]].monitor.get_current_metrics(model, V1, start=T0, end=END,
                                                                bins=bins)
        table = one.residual_quantiles if model == "rg" else (
            one.summary.quantiles if one.summary is not None else None)
        values = _values(rows[model], model, row["country"])
        if table is None or not values.size:  # ZZ: no labelled residual
            assert row["country"] == "ZZ" and model == "rg"
            assert all(np.isnan(row[f"{prefix}_q{p}{s}"]) for p in PCTS
                       for s in ("", "_low", "_high"))
            continue
        for q, value, low, high in table.select("quantile", "value", "low", "high").iter_rows():
            name = f"{prefix}_q{100 * q:g}"
            assert (row[name], row[f"{name}_low"], row[f"{name}_high"]) == (value, low, high)
            assert low <= float(np.quantile(values, q)) <= high, (row["country"], q)


def test_regression_quantiles_follow_scores_as_unsegmented(logged: Any) -> None:
    """``scores=False`` skips the residual histogram (unsegmented: NaN quantiles); the
    score-only distribution is read either way, as unsegmented."""
    ws, _, _, _ = logged
    plain = ws.monitor.get_current_metrics("rg", V1, start=T0, end=END, segment="country",
                                           scores=False)
    assert not [c for c in plain.columns if c.startswith("residual_")]
    assert np.isnan(ws.monitor.get_current_metrics("rg", V1, start=T0, end=END, scores=False)
                    .to_dict()["residual_q50"])
    an = ws.monitor.get_current_metrics("an", V1, start=T0, end=END, segment="country",
                                        scores=False)
    assert an["score_q50"].is_not_nan().all()


def test_two_keys_a_filter_and_no_match(logged: Any) -> None:
    ws, _, rows, _ = logged
    frame = ws.monitor.segment_metrics("rg", V1, start=T0, end=END, bins=500,
                                       segment={"country": ["DE", None], "tier": [1.0, 3.0]})
    assert frame.height == 4
    for row in frame.iter_rows(named=True):
        part = rows["rg"].filter(pl.col("country").eq_missing(row["country"])
                                 & (pl.col("tier") == row["tier"]) & (pl.col("version") == V1)
                                 & pl.col("actual").is_not_null())
        e = (part["prediction"] - part["actual"]).to_numpy()
        for p in PCTS:
            assert row[f"residual_q{p}_low"] <= np.quantile(e, int(p) / 100) \
                <= row[f"residual_q{p}_high"]
    none = ws.monitor.get_current_metrics("an", V1, start=T0, end=END,
                                          segment={"country": "XX"})
    assert none.height == 0 and none.schema["score_q95_high"] == pl.Float64


def _calls(ws: mlmkit.Workspace, model: str, segment: Any) -> Counter[str]:
    eng = CountingEngine(ws.db)
    ws.monitor.using(eng).get_current_metrics(model, V1, start=T0, end=END, segment=segment)
    return eng.calls


@pytest.mark.parametrize("model", list(TASKS))
def test_one_grouped_histogram_whatever_the_segments(logged: Any, model: str) -> None:
    ws, _, _, _ = logged
    two = _calls(ws, model, {"country": ["DE", "FR"]})
    many = _calls(ws, model, ["country", "tier"])  # 6 x 3 segments
    assert two == many
    base = "regression_sums" if model == "rg" else "score_totals"
    assert (two[base], two["segment_value_histograms"]) == (1, 1), two


def test_segment_quantiles_equal_on_parquet_engines(logged: Any) -> None:
    ws, _, _, root = logged
    with ParquetEngine(root) as local, ParquetEngine(root, workers=2) as pool:
        for model in TASKS:
            for segment in ("country", ["country", "tier"]):
                base = ws.monitor.get_current_metrics(model, V1, start=T0, end=END,
                                                      segment=segment, bins=2000)
                for engine in (local, pool):
                    got = ws.monitor.using(engine).get_current_metrics(
                        model, V1, start=T0, end=END, segment=segment, bins=2000)
                    assert_frame_equal(got, base, check_exact=False, rel_tol=1e-12)


@pytest.mark.parametrize("values", ["residual", "score"])
def test_engine_histograms_of_two_versions_equal_each_segment_alone(logged: Any,
                                                                    values: str) -> None:
    """Several versions in one statement (the join then matches the version too)."""
    from mlmkit.store.engines import WorkspaceEngine

    ws, alone, _, _ = logged
    model = "rg" if values == "residual" else "an"
    eng = WorkspaceEngine(ws.db)
    seg = eng.resolve_segment(model, "country")
    span = mlmkit.values.TimeRange(T0, END)
    base = (eng.regression_sums if model == "rg" else eng.score_totals)(
        model, versions=[V1, V2], time_range=span, segment=seg).filter(pl.col("n") > 0)
    ranges = {tuple(r[:-2]): (r[-2], r[-1])
              for r in base.select("version", "segment_0", "lo", "hi").iter_rows()}
    assert {k[0] for k in ranges} == {V1, V2}
    got = eng.segment_value_histograms(model, seg, ranges, values=values, time_range=span,
                                       bins=300)
    for (version, country), (lo, hi) in ranges.items():
        one = WorkspaceEngine(alone[country].db)
        read = one.residual_histogram if model == "rg" else one.score_distribution
        hist = read(model, versions=[version], time_range=span, bins=300,
                    ranges={version: (lo, hi)})
        dense = np.zeros(300, np.int64)
        np.add.at(dense, hist["bin"].to_numpy(), hist["n"].to_numpy())
        assert np.array_equal(got[(version, country)], dense), (version, country)



def test_many_histogram_quantiles_are_each_histogram_quantiles_bit_for_bit() -> None:
    """The one-pass quantiles of the segments equal `histogram_quantiles` per histogram:
    empty bins, empty histograms, one row, zero-width ranges (`bin_edges`), q = 0 and 1."""
    from mlmkit._bins import bin_edges
    from mlmkit.analysis.metrics import histogram_quantiles
    from mlmkit.analysis.metrics.summaries import histogram_quantiles_many

    rng = np.random.default_rng(11)
    qs = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0, 1 / 3)
    for trial in range(200):
        groups, bins = int(rng.integers(1, 6)), int(rng.integers(1, 40))
        counts = rng.integers(0, 5, (groups, bins)) * (rng.random((groups, bins)) < rng.random())
        if trial % 4 == 0:
            counts[0] = 0
        if trial % 3 == 0:
            counts[-1] = 0
            counts[-1, rng.integers(0, bins)] = 1
        lo = rng.normal(0, 3, groups)
        hi = lo + rng.exponential(2, groups) * (rng.random(groups) < 0.8)
        edges = np.vstack([bin_edges(float(a), float(b), bins) for a, b in zip(lo, hi)])
        value, low, high = histogram_quantiles_many(edges, counts, qs)
        for g in range(groups):
            one = histogram_quantiles(edges[g], counts[g], qs)
            for name, got in (("value", value), ("low", low), ("high", high)):
                assert np.array_equal(one[name].to_numpy(), got[g], equal_nan=True), \
                    (trial, g, name)


@pytest.mark.parametrize(("edges", "counts", "name"), [
    ([[0.0, 1.0]], [[1, 2]], "edges"),               # one edge short
    ([[0.0, 1.0, 1.0]], [[1, 2]], "edges"),          # not increasing
    ([0.0, 1.0, 2.0], [1, 2], "counts"),             # 1-D
    ([[0.0, 1.0, 2.0]], [[1, -2]], "counts"),        # negative
    ([[0.0, 1.0, 2.0]], [[1.5, 2.0]], "counts"),     # not integers
])
def test_many_histogram_quantiles_refuse_bad_input(edges: Any, counts: Any,
                                                   name: str) -> None:
    from mlmkit.analysis.metrics.summaries import histogram_quantiles_many

    with pytest.raises(mlmkit.exceptions.ValidationError, match=name):
        histogram_quantiles_many(edges, counts)
