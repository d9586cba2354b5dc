"""Performance trend buckets (with empty buckets and the retention-summary fallback)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta

import polars as pl

from mlmkit.store.engines import StatisticsEngine
from mlmkit.values import TimeRange

__all__ = ["grid", "trend_counts"]

_COUNTS = ["n", "labelled", "tp", "fp", "tn", "fn", "scored", "predicted_positive"]
_SUMS = ["brier_sum", "log_loss_sum"]


def grid(versions: list[str], span: TimeRange, interval: timedelta) -> pl.DataFrame:
    """``version, bucket``: every bucket start of ``span`` for every version."""
    count = max(1, math.ceil(span.duration / interval))
    starts = [span.start + i * interval for i in range(count)]
    return pl.DataFrame({"version": [v for v in versions for _ in starts],
                         "bucket": [s for _ in versions for s in starts]},
                        schema={"version": pl.String,
                                "bucket": pl.Datetime("us", "UTC")})


def _summary_deficit(engine: StatisticsEngine, model_name: str, versions: Sequence[str] | None,
                     span: TimeRange, interval: timedelta) -> pl.DataFrame | None:
    """Counts present in daily summaries but no longer in the raw rows, per version/bucket."""
    summary = engine.daily_summaries(model_name, versions=versions, start=span.start,
                                     end=span.end)
    if summary.height == 0:
        return None
    raw = engine.daily_rows(model_name, versions=versions, start=span.start, end=span.end)
    cols = _COUNTS + _SUMS
    joined = summary.join(raw, on=["version", "day"], how="left", suffix="_raw")
    joined = joined.filter(pl.col("n") > pl.col("n_raw").fill_null(0))
    if joined.height == 0:
        return None
    deficit = joined.select(
        "version", "day",
        *[(pl.col(c).fill_null(0) - pl.col(f"{c}_raw").fill_null(0)).alias(c) for c in cols])
    seconds = interval.total_seconds()
    origin = span.start.timestamp()
    day_start = pl.col("day").cast(pl.Datetime("us", "UTC"))
    deficit = deficit.with_columns(
        ((day_start.dt.epoch("s") - origin) / seconds).floor().alias("index"))
    deficit = deficit.filter((pl.col("index") >= 0) & (day_start >= span.start)
                             & (day_start < span.end))
    return deficit.with_columns(
        (pl.lit(span.start) + pl.duration(seconds=pl.col("index") * seconds))
        .dt.cast_time_unit("us").alias("bucket")
    ).group_by("version", "bucket").agg([pl.col(c).sum() for c in cols])


def trend_counts(engine: StatisticsEngine, model_name: str, versions: list[str] | None,
                 span: TimeRange, interval: timedelta, *, role: str = "served",
                 use_summaries: bool = True) -> pl.DataFrame:
    """Confusion counts per (version, bucket), every bucket present, summaries filled in.

    The ``source`` column says ``"raw"`` or ``"raw+summary"`` (counts taken from the daily
    summary for days whose raw rows were removed; used when ``interval`` is a whole number of
    days, since a daily summary cannot be split).
    """
    raw = engine.confusion_counts(model_name, versions=versions, time_range=span,
                           interval=interval, role=role)
    seen = versions or sorted(set(raw.get_column("version").to_list()))
    grid_ = grid(list(seen), span, interval)
    cols = _COUNTS + _SUMS
    raw = raw.select("version", pl.col("bucket").dt.cast_time_unit("us")
                     .dt.convert_time_zone("UTC"), *cols)
    out = grid_.join(raw, on=["version", "bucket"], how="left").with_columns(
        *[pl.col(c).fill_null(0).cast(pl.Int64) for c in _COUNTS],
        pl.lit("raw").alias("source"))
    whole_days = interval.total_seconds() % 86400 == 0
    if use_summaries and whole_days:
        deficit = _summary_deficit(engine, model_name, versions, span, interval)
        if deficit is not None and deficit.height:
            deficit = deficit.with_columns(pl.col("bucket").dt.convert_time_zone("UTC"))
            out = out.join(deficit, on=["version", "bucket"], how="left", suffix="_sum")
            filled = pl.col("n_sum").fill_null(0) > 0
            out = out.with_columns(
                *[(pl.col(c) + pl.col(f"{c}_sum").fill_null(0)).cast(pl.Int64)
                  for c in _COUNTS],
                *[pl.when(filled).then(pl.col(c).fill_null(0) + pl.col(f"{c}_sum"))
                  .otherwise(pl.col(c)).alias(c) for c in _SUMS],
                pl.when(filled).then(pl.lit("raw+summary")).otherwise(pl.col("source"))
                .alias("source"),
            ).drop([f"{c}_sum" for c in cols])
    return out.with_columns((pl.col("bucket") + interval).alias("bucket_end")
                            ).sort("version", "bucket")
