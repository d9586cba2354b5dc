"""Per-day regression sums of segments (m012): the whole days of a segmented window.

The unsegmented regression window reads its whole days from ``regression_daily``
(`mlmkit.store.predictions.regression_daily.window_sums`); a segmented one
(``get_current_metrics(..., segment=...)``) needs each segment's sums, which that table does not
hold. `window_sums` answers the days of the window that ``regression_daily`` holds whole (not
stale, every row inside the window) from ``regression_segment_days`` rows stored for the
segment argument (`signature`), computes the whole days it lacks from their rows in one
statement grouped by UTC day and stores them for the next read (not in a read-only workspace),
and reads the other days (edge days, stale days) from their rows, as the unsegmented call does.

A stored day is read only while its ``regression_daily`` row still has the ``total`` and ``n``
it had when the day was computed (both read in one lease with the rows): an insert raises
``total``, a new label ``n``, a changed label marks the day stale (read raw), and
`regression_daily.rebuild` and retention delete the stored days they recompute or retire, so a
stored day never answers for rows it did not count. Sums added day by day round differently
from one pass over the rows: equal within ~1e-15 relative.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from mlmkit.store.database import Database
from mlmkit.store.predictions.regression_daily import (
    COLUMNS,
    day_spans,
    merged,
    raw_parts,
    utc_day,
    whole_days,
)
from mlmkit.values import TimeRange

if TYPE_CHECKING:
    from mlmkit.store.engines.segments import ResolvedSegment

__all__ = ["signature", "window_sums"]

_DAY = timedelta(days=1)
#: ``raw(part, interval)``: the segmented ``regression_sums`` statement over the rows of
#: ``part``, grouped by ``interval`` buckets (a ``bucket`` column) when it is not None.
Raw = Callable[[TimeRange, timedelta | None], pl.DataFrame]


def signature(segment: ResolvedSegment) -> str:
    """The stored days' key of a segment argument: its storage columns and its filter.

    The statistics' names lead it, so days stored by a version of mlmkit whose statement
    had other columns are never read (they stay until retention or a rebuild of the day).
    """
    return json.dumps([list(COLUMNS), list(segment.columns),
                       [[column, list(values)] for column, _, values in segment.filters]])


def window_sums(db: Database, model_name: str, versions: Sequence[str] | None, span: TimeRange,
                role: str, segment: ResolvedSegment, raw: Raw) -> pl.DataFrame:
    """The segmented ``regression_sums`` of ``span`` (the raw statement's frame; see the module).

    ``role``: one role (the stored days are per role). The frame is the statement's over the
    whole window (``version, segment_i.., total, *COLUMNS``), refused past the segment limit.
    """
    sig = signature(segment)
    with db.connection():  # one lease: the days, the stored days and the rows of one state
        days = _days(db, model_name, versions, span, role, sig)
        whole = whole_days((r[1:5] for r in days), span)
        counts: dict[date, dict[str, tuple[int, int]]] = {}
        stored: dict[date, list[bytes | None]] = {}
        for version, day, _, _, _, total, n, sums in days:
            counts.setdefault(day, {})[version] = (total, n)
            stored.setdefault(day, []).append(None if sums is None else bytes(sums))
        frames = [pl.read_ipc_stream(io.BytesIO(h)) for day, hits in stored.items()
                  if whole[day] and None not in hits for h in hits if h is not None]
        missing = {day: counts[day] for day, hits in stored.items()
                   if whole[day] and None in hits}
        fresh = _computed(missing, raw, frames)
        frames += [raw(part, None) for part in raw_parts(whole, span)]  # edge and stale days
        if fresh and not db.read_only:
            with db.transaction() as conn:
                conn.executemany("INSERT OR REPLACE INTO regression_segment_days "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                 [(model_name, v, role, d, sig, *tn, sums)
                                  for (v, d), (tn, sums) in fresh.items()])
    if not frames:
        return raw(span, None)  # no regression rows in the window: the statement's empty frame
    if len(frames) == 1:  # (one day: already the statement's frame)
        return segment.limited(frames[0])
    keys = ["version", *segment.key_names()]
    return segment.limited(merged(frames, keys).sort(keys))


def _computed(missing: dict[date, dict[str, tuple[int, int]]], raw: Raw,
              frames: list[pl.DataFrame]
              ) -> dict[tuple[str, date], tuple[tuple[int, int], bytes]]:
    """The ``missing`` whole days from their rows: one statement per run of days.

    ``missing`` maps each day to its versions' ``(total, n)`` in ``regression_daily``; each
    (version, day) frame is appended to ``frames`` and returned to be stored. A run of
    several days is grouped by UTC day (its bucket costs ~35 % more than the plain statement
    over one day, which a lone day runs).
    """
    out: dict[tuple[str, date], tuple[tuple[int, int], bytes]] = {}
    for start, end in day_spans(sorted(missing)):
        lone = end - start == _DAY
        by_day = raw(TimeRange(start, end), None if lone else _DAY)
        for day in (d for d in missing if start.date() <= d < end.date()):
            midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
            part = by_day if lone else by_day.filter(pl.col("bucket") == midnight).drop("bucket")
            for version, tn in missing[day].items():
                one = part.filter(pl.col("version") == version)
                frames.append(one)
                out[(version, day)] = (tn, _ipc(one))
    return out


def _days(db: Database, model_name: str, versions: Sequence[str] | None, span: TimeRange,
          role: str, sig: str) -> list[tuple[Any, ...]]:
    """The window's ``regression_daily`` rows with the day stored for ``sig`` if still valid.

    Tuples ``(version, day, first_ts, last_ts, stale, total, n, sums)``; ``sums`` NULL
    unless the stored day has the row's ``total`` and ``n`` and the row is not stale.
    """
    sql = (f"SELECT d.version, d.day, d.first_ts, d.last_ts, d.stale, d.total, d.n, "
           f"CASE WHEN NOT d.stale THEN s.sums END FROM regression_daily d "
           f"LEFT JOIN regression_segment_days s ON s.model_name = d.model_name AND "
           f"s.version = d.version AND s.role = d.role AND s.day = d.day AND s.segment = ? AND "
           f"s.total = d.total AND s.n = d.n WHERE d.model_name = ? AND d.role = ? AND "
           f"d.day >= {utc_day('?::TIMESTAMPTZ')} AND d.day <= {utc_day('?::TIMESTAMPTZ')}")
    params: list[object] = [sig, model_name, role, span.start,
                            span.end - timedelta(microseconds=1)]  # (end is excluded)
    if versions is not None:
        sql += " AND list_contains(?, d.version)"
        params.append(list(versions))
    return db.execute(sql, params)


def _ipc(frame: pl.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.write_ipc_stream(out)
    return out.getvalue()
