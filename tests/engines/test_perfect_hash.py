"""Histogram statements ask DuckDB for its perfect hash table (dense bin keys, one query only).

A histogram of 10,000 bins, or of 10,000 bins per segment, groups by one integer key the SQL
clamps to ``[0, groups)``; DuckDB's default ``perfect_ht_threshold`` (12 bits) counts it in
a general hash table. `Statement.groups` carries the bound, the workspace and Parquet engines
raise the threshold for that statement alone. Checked on real DuckDB plans and counts: the
hinted plan has a ``Perfect Hash Group By`` and the unhinted one not, the counts are equal,
the setting is back to DuckDB's default after the query (also after a failing one), and a
table beyond `PERFECT_HASH_MAX_BITS` is never asked for.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import mlmkit
from mlmkit import MlmkitError, ModelMetadata
from mlmkit.store.engines import portable_segments as ssql
from mlmkit.store.engines import portable_tasks as tsql
from mlmkit.store.engines.parquet import run_part
from mlmkit.store.engines.portable import PERFECT_HASH_MAX_BITS, Statement, perfect_hash_bits
from mlmkit.store.engines.segments import parse_segment, resolve
from mlmkit.store.predictions.aggregates import query
from mlmkit.values import TimeRange

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SPAN = TimeRange(T0, T0 + timedelta(days=1))
BINS = 10_000


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> mlmkit.Workspace:
    rng = np.random.default_rng(11)
    n = 30_000
    w = mlmkit.open(tmp_path_factory.mktemp("phash") / "w.duckdb")
    w.registry.register(ModelMetadata("rg", "supervised", "1.0.0", task="regression"))
    y = rng.normal(10, 2, n)
    w.log.track_batch(pl.DataFrame({
        "model_name": "rg", "version": "1.0.0", "prediction": y + rng.normal(0, 1, n),
        "actual": y, "country": rng.choice(["DE", "FR", "US"], n),
        "timestamp": [T0 + timedelta(seconds=int(s)) for s in rng.integers(0, 86_000, n)]}))
    return w


def _segmented(w: mlmkit.Workspace) -> Statement:
    seg = resolve(parse_segment("country"), w.monitor.engine._feature_map("rg"), "rg")  # type: ignore[attr-defined]
    ranges = {("1.0.0", c): (-4.0, 4.0) for c in ("DE", "FR", "US")}
    return ssql.value_histograms("rg", ranges, SPAN, "served", seg, BINS, "residual")


def _plan(w: mlmkit.Workspace, st: Statement, bits: int | None) -> str:
    frame = query(w.db, "EXPLAIN " + st.sql.replace("{src}", "predictions"), st.params,
                  perfect_hash_bits=bits)
    return "\n".join(frame[frame.columns[-1]].to_list())


def _setting(w: mlmkit.Workspace) -> int:
    return int(w.db.execute("SELECT current_setting('perfect_ht_threshold')")[0][0])


def test_the_bits_asked_for_cover_the_groups_and_stay_bounded() -> None:
    assert perfect_hash_bits(10_000) == 14 and perfect_hash_bits(16_384) == 14
    assert perfect_hash_bits(16_385) == 15 and perfect_hash_bits(21 * 10_000) == 18
    assert perfect_hash_bits(4_096) is None and perfect_hash_bits(0) is None  # the default
    assert perfect_hash_bits(1 << PERFECT_HASH_MAX_BITS) == PERFECT_HASH_MAX_BITS
    assert perfect_hash_bits((1 << PERFECT_HASH_MAX_BITS) + 1) is None


@pytest.mark.parametrize("which", ["segmented", "unsegmented"])
def test_a_hinted_histogram_uses_the_perfect_hash_table_and_counts_the_same(
        ws: mlmkit.Workspace, which: str) -> None:
    st = _segmented(ws) if which == "segmented" else tsql.residual_histogram(
        "rg", {"1.0.0": (-4.0, 4.0)}, SPAN, "served", BINS)
    bits = perfect_hash_bits(st.groups)
    assert bits is not None and st.groups == (3 if which == "segmented" else 1) * BINS
    assert "Perfect Hash Group By" in _plan(ws, st, bits)
    assert "Perfect Hash Group By" not in _plan(ws, st, None)
    sql = st.sql.replace("{src}", "predictions")
    key = st.keys[-1] if st.keys else "k"
    hinted = query(ws.db, sql, st.params, perfect_hash_bits=bits).sort(key)
    plain = query(ws.db, sql, st.params).sort(key)
    assert hinted.equals(plain) and int(hinted["n"].sum()) == 30_000
    assert _setting(ws) == 12  # back to DuckDB's default on the shared connection


def test_the_setting_is_reset_after_a_failing_query(ws: mlmkit.Workspace) -> None:
    with pytest.raises(MlmkitError):
        query(ws.db, "SELECT no_such_column FROM predictions", perfect_hash_bits=18)
    assert _setting(ws) == 12
    assert query(ws.db, "SELECT count(*) AS n FROM predictions")["n"].item() == 30_000


def test_the_engine_answers_a_segmented_histogram_through_the_hint(ws: mlmkit.Workspace
                                                                     ) -> None:
    seg = ws.monitor.engine.resolve_segment("rg", "country")  # type: ignore[attr-defined]
    counts = ws.monitor.engine.segment_value_histograms(  # type: ignore[attr-defined]
        "rg", seg, {("1.0.0", c): (-4.0, 4.0) for c in ("DE", "FR", "US")},
        values="residual", time_range=SPAN, bins=BINS)
    assert sum(int(c.sum()) for c in counts.values()) == 30_000
    assert _setting(ws) == 12


def test_a_parquet_part_takes_the_hint(ws: mlmkit.Workspace, tmp_path: Path) -> None:
    out = tmp_path / "rows.parquet"
    ws.db.execute(f"COPY (SELECT * FROM predictions) TO '{out}' (FORMAT parquet)")
    st = tsql.residual_histogram("rg", {"1.0.0": (-4.0, 4.0)}, SPAN, "served", BINS)

    def plan(bits: int | None) -> str:
        table = run_part("EXPLAIN " + st.sql, st.params, [str(out)], {}, 1, bits)
        return "\n".join(str(v) for v in table.column(table.num_columns - 1).to_pylist())

    assert "Perfect Hash Group By" in plan(perfect_hash_bits(st.groups))
    assert "Perfect Hash Group By" not in plan(None)
