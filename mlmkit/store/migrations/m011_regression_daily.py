"""``regression_daily``: the regression sums of every (model, version, role, UTC day), exact.

One row per key holds exactly the columns of the engines' ``regression_sums`` statement
(`mlmkit.store.engines.portable_tasks.regression_sums`) over the day's rows with ``value IS NOT
NULL`` (the regression rows): ``total`` rows, ``n`` labelled, the error sums, ``zero_actuals``,
``lo`` / ``hi`` the smallest and largest error (NULL before any label), plus the day's first
and last ``ts``, so a window of whole days (or of edge days whose rows lie inside it) is
answered from one row per day instead of a scan of every row.

Every write of ``predictions`` maintains it in the same transaction
(`mlmkit.store.predictions.regression_daily`): inserted rows and labels on unlabelled rows add
their terms; a label replacing another marks the day ``stale`` (read from the raw rows until
`rebuild` recomputes it); retention deletes the days it retires. ``role`` is the predictions
column (``NOT NULL``, ``served`` or ``shadow``), so a role filter and "every role" both read it.
The migration backfills the table from the rows already logged (one ``GROUP BY``).
"""

VERSION = 11

SQL = """
CREATE TABLE regression_daily (
    model_name VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    role VARCHAR NOT NULL,
    day DATE NOT NULL,
    total BIGINT NOT NULL,
    n BIGINT NOT NULL,
    sum_error DOUBLE NOT NULL,
    sum_abs_error DOUBLE NOT NULL,
    sum_squared_error DOUBLE NOT NULL,
    sum_actual DOUBLE NOT NULL,
    sum_squared_actual DOUBLE NOT NULL,
    sum_abs_percentage_error DOUBLE NOT NULL,
    zero_actuals BIGINT NOT NULL,
    sum_squared_abs_percentage_error DOUBLE NOT NULL,
    sum_fourth_error DOUBLE NOT NULL,
    lo DOUBLE,
    hi DOUBLE,
    first_ts TIMESTAMPTZ,
    last_ts TIMESTAMPTZ,
    stale BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (model_name, version, role, day)
);
INSERT INTO regression_daily
SELECT model_name, version, role, day, count(*), count(y), coalesce(sum(e), 0),
       coalesce(sum(abs(e)), 0), coalesce(sum(e2), 0), coalesce(sum(y), 0),
       coalesce(sum(y * y), 0), coalesce(sum(ape), 0), count(y) - count(ape),
       coalesce(sum(ape * ape), 0), coalesce(sum(e2 * e2), 0), min(e), max(e), min(ts),
       max(ts), false
FROM (SELECT model_name, version, role, day, ts, y, e, e * e AS e2,
             abs(e) / nullif(abs(y), 0) AS ape
      FROM (SELECT model_name, version, role, (ts AT TIME ZONE 'UTC')::DATE AS day, ts,
                   actual_value AS y, value - actual_value AS e
            FROM predictions WHERE value IS NOT NULL) r) t
GROUP BY model_name, version, role, day;
"""
