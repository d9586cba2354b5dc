"""``regression_segment_days``: per-day regression sums of segments, kept by the reads.

One row per ``(model_name, version, role, UTC day, segment)`` holds the grouped
``regression_sums`` frame of that day's rows for one segment argument (``sums``: an Arrow IPC
stream, so the segment keys keep their types) and the day's ``total`` / ``n`` in
``regression_daily`` when it was computed. The segmented window read that computes a whole day
stores it (`mlmkit.store.predictions.segment_days`); a later read uses it while the day's
``regression_daily`` row still has that ``total`` and ``n`` and is not stale. Every write that
changes a day's rows changes one of the two or marks the day stale, and `rebuild` / retention
delete the rows of the days they recompute or retire, so a row is never read stale.
"""

VERSION = 12

SQL = """
CREATE TABLE regression_segment_days (
    model_name VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    role VARCHAR NOT NULL,
    day DATE NOT NULL,
    segment VARCHAR NOT NULL,
    total BIGINT NOT NULL,
    n BIGINT NOT NULL,
    sums BLOB NOT NULL,
    PRIMARY KEY (model_name, version, role, day, segment)
);
"""
