"""Merging partial aggregates and finishing them into the store functions' exact frames."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from mlmkit.store.engines.portable import MERGE

__all__ = ["DAILY", "buckets", "combine", "counts", "epoch_us", "merge", "side_stats", "totals"]

CELLS = ["n", "labelled", "tp", "fp", "tn", "fn", "scored"]
DAILY = [*CELLS, "brier_sum", "log_loss_sum", "predicted_positive", "score_sum"]
_COALESCED = ["score_sum_pos", "score_sq_sum", "log_pos_sum", "log1m_neg_sum"]


def epoch_us(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (exact integer arithmetic)."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def merge(parts: Sequence[pl.DataFrame], keys: Sequence[str]) -> pl.DataFrame:
    """Combine partials of disjoint rows by ``keys``: sums (null if every part is null), min, max.

    Integer counts stay exact; one part is returned as is (already one row per group).
    """
    frames = [p for p in parts if p.height] or list(parts[:1])
    if len(frames) == 1:
        return frames[0].sort(list(keys)) if keys else frames[0]
    return combine(pl.concat(frames, how="vertical_relaxed"), keys)


def combine(both: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """The rows of ``both`` (partials, several per group) combined into one row per ``keys``."""
    if not keys:
        keys_expr: list[str] = []
        both = both.with_columns(pl.lit(0).alias("_all"))
        keys_expr = ["_all"]
    else:
        keys_expr = list(keys)
    aggs = []
    for col in both.columns:
        if col in keys_expr:
            continue
        how = MERGE.get(col, "sum")
        c = pl.col(col)
        aggs.append(c.min() if how == "min" else c.max() if how == "max" else
                    pl.when(c.is_not_null().any()).then(c.sum()).otherwise(None).alias(col))
    out = both.group_by(keys_expr, maintain_order=True).agg(aggs).sort(keys_expr)
    return out.drop("_all") if not keys else out


def buckets(frame: pl.DataFrame, origin: datetime, interval: timedelta | None) -> pl.DataFrame:
    """``bucket_index`` -> ``bucket`` (the bucket's start), as the workspace returns it."""
    if interval is None or "bucket_index" not in frame.columns:
        return frame
    start = pl.lit(origin).dt.cast_time_unit("us").dt.convert_time_zone("UTC")
    bucket = start + pl.duration(microseconds=pl.col("bucket_index")
                                 * int(interval / timedelta(microseconds=1)))
    cols = [c for c in frame.columns if c not in ("version", "bucket_index")]
    head = ["version"] if "version" in frame.columns else []
    return frame.select(*head, bucket.alias("bucket"), *cols)


def _median(lat: pl.DataFrame | None, version: str) -> float | None:
    """Exact median (DuckDB's ``median``: mean of the two middle values) from value counts."""
    if lat is None:
        return None
    part = lat.filter(pl.col("version") == version, pl.col("latency_us").is_not_null()
                      ).sort("latency_us")
    total = int(part["k"].sum()) if part.height else 0
    if total == 0:
        return None
    values = part["latency_us"].to_numpy()
    cum = part["k"].cum_sum().to_numpy()
    # the 0-based i-th value is the first whose cumulative count exceeds i
    lo, hi = (int(values[np.searchsorted(cum, i, side="right")])
              for i in ((total - 1) // 2, total // 2))
    return (lo + (hi - lo) * 0.5) / 1e6


def _medians(frame: pl.DataFrame, lat: pl.DataFrame | None) -> list[float | None]:
    """Per row of ``frame``: its ``lat_median_us`` column in seconds, else from ``lat``."""
    if "lat_median_us" in frame.columns:
        return (frame["lat_median_us"].cast(pl.Float64) / 1e6).to_list()
    return [_median(lat, v) for v in frame["version"].to_list()]


def totals(frame: pl.DataFrame, lat: pl.DataFrame | None) -> pl.DataFrame:
    """Window totals in the column order of ``window_summary``."""
    frame = frame.with_columns(*[pl.col(c).fill_null(0.0) for c in _COALESCED],
                               (pl.col("score_sum_all") / pl.col("scored_all")).alias("mean_score"))
    medians = _medians(frame, lat)
    return frame.select(
        "version", *CELLS, "scored_pos", *_COALESCED, "predicted_positive", "scored_all",
        "mean_score", "first_ts", "last_ts",
    ).with_columns(pl.Series("median_label_latency_s", medians, dtype=pl.Float64))


def counts(frame: pl.DataFrame, lat: pl.DataFrame | None) -> pl.DataFrame:
    """Window counts in the column order of ``window_counts``."""
    medians = _medians(frame, lat)
    return frame.select("version", *CELLS[:-1], pl.lit(0, pl.Int64).alias("scored"),
                        "predicted_positive").with_columns(
        pl.Series("median_label_latency_s", medians, dtype=pl.Float64))


def _chan(parts: Sequence[dict[str, Any]], i: int) -> float | None:
    """Population standard deviation from per-part (count, sum, population variance)."""
    live = [(int(p[f"n_{i}"]), float(p[f"s_{i}"]), float(p[f"v_{i}"]))
            for p in parts if p.get(f"n_{i}")]
    n = sum(k for k, _, _ in live)
    if n == 0:
        return None
    mean = sum(s for _, s, _ in live) / n
    m2 = sum(v * k + k * (s / k - mean) * (s / k - mean) for k, s, v in live)  # (inf, not
    # OverflowError, past the largest float: a product, not a float power)
    return math.sqrt(m2 / n)


_STATS = {"column": pl.String, "n_ref": pl.Int64, "n_cur": pl.Int64, "rows_ref": pl.Int64,
          "rows_cur": pl.Int64, "lo": pl.Float64, "hi": pl.Float64, "ref_std": pl.Float64}
_LONG = {"column": pl.String, "side": pl.Int32, "value": pl.String, "n": pl.Int64}


def side_stats(parts: Sequence[pl.DataFrame], cats: pl.DataFrame | None,
               numeric: Sequence[str], categorical: Sequence[str]
               ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(stats, counts)`` exactly as ``store.predictions.drift.side_stats`` returns them."""
    rows = [r for p in parts for r in p.iter_rows(named=True)]
    by = {s: [r for r in rows if r["side"] == s] for s in (0, 1)}

    def total(side: int, key: str) -> int:
        return sum(int(r[key] or 0) for r in by[side])

    base = {"rows_ref": total(0, "n_rows"), "rows_cur": total(1, "n_rows")}
    stats = []
    for i, col in enumerate(numeric):
        los = [r[f"lo_{i}"] for r in rows if r[f"lo_{i}"] is not None]
        his = [r[f"hi_{i}"] for r in rows if r[f"hi_{i}"] is not None]
        stats.append({"column": col, "n_ref": total(0, f"n_{i}"), "n_cur": total(1, f"n_{i}"),
                      **base, "lo": min(los) if los else None, "hi": max(his) if his else None,
                      "ref_std": _chan(by[0], i)})
    if not categorical:  # (no counts to name: the empty frame, not a sort and a select)
        return pl.DataFrame(stats, schema=_STATS), pl.DataFrame(schema=_LONG)
    counted = pl.DataFrame(schema={"side": pl.Int64, "col": pl.Int64, "value": pl.String,
                                   "n": pl.Int64}) if cats is None else cats
    for i, col in enumerate(categorical):
        mine = counted.filter(pl.col("col") == i)
        stats.append({"column": col, **{
            k: int(mine.filter(pl.col("side") == s)["n"].sum()) for k, s in
            (("n_ref", 0), ("n_cur", 1))}, **base, "lo": None, "hi": None, "ref_std": None})
    long = counted.sort("col", "side", "value").select(  # (map_elements: 0.2 ms a call)
        pl.col("col").replace_strict(dict(enumerate(categorical)), return_dtype=pl.String)
        .alias("column"), pl.col("side").cast(pl.Int32), "value", pl.col("n").cast(pl.Int64))
    return pl.DataFrame(stats, schema=_STATS), long
