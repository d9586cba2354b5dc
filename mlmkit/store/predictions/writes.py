"""The prediction log table: inserts, delayed labels, reads and retention.

Labels are written onto the prediction row (``actual``, ``labelled_at``). Labels recorded after
the prediction (`PredictionStore.record_actuals`) are also appended to the ``actuals``
audit table in the same transaction; a label logged with the prediction is part of its row.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from mlmkit._faults import fault_point
from mlmkit._validation import env_limit, invalid
from mlmkit.exceptions import DuplicateError
from mlmkit.store._sql import where_clause
from mlmkit.store.database import Database
from mlmkit.store.predictions import lookup as _lookup
from mlmkit.store.predictions import regression_daily
from mlmkit.store.predictions.batch import Batch, feature_column
from mlmkit.store.predictions.lookup import id_rows as _id_rows
from mlmkit.store.predictions.lookup import unknown_ids
from mlmkit.values import Task, TimeRange

__all__ = ["BASE_COLUMNS", "MAX_NEW_FEATURES", "NEW_FEATURES_ENV", "PredictionStore",
           "TASK_COLUMNS", "unknown_ids"]

BASE_COLUMNS = ("prediction_id", "model_name", "version", "ts", "prediction", "score",
                "confidence", "unit_id", "role", "actual", "labelled_at")
TASK_COLUMNS = ("label", "actual_label", "probabilities", "value", "actual_value")
"""Columns of multiclass and regression rows (m009); NULL in binary and score-only rows."""
_LABEL_COLUMNS = ("actual", "actual_label", "actual_value")


def _valued(conn: duckdb.DuckDBPyConnection, labels: pa.Table, join: str) -> None:
    """`regression_daily.add_labels` of a label group's ``FROM predictions p, <join>``.

    Only the rows given an ``actual_value`` (the others keep theirs: ``coalesce``).
    """
    conn.register("_mlmkit_labels", labels)  # (add_labels runs in another frame)
    try:
        regression_daily.add_labels(conn, regression_daily.matched_rows(
            f"{join} AND l.actual_value IS NOT NULL", "l.actual_value"), labels=labels.num_rows)
    finally:
        conn.unregister("_mlmkit_labels")


MAX_NEW_FEATURES = 500
"""Feature columns one batch may add unless ``MLMKIT_MAX_NEW_FEATURES`` says otherwise.

Every new feature is an ``ALTER TABLE ... ADD COLUMN`` in the batch's transaction, and DuckDB's
memory grows with the columns added in one transaction times the table's rows: one HTTP
request whose row had 10,000 new feature names took 24 GB and the machine down (2,000 new
columns on a 100,000-row table: 4.1 s and 2.8 GB). Beyond the limit the batch is refused whole,
before any column is added."""
NEW_FEATURES_ENV = "MLMKIT_MAX_NEW_FEATURES"


class PredictionStore:
    """SQL for the ``predictions`` and ``actuals`` tables of one `Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._features: dict[str, dict[str, tuple[str, str]]] = {}

    # ------------------------------------------------------------------ features
    def feature_map(self, model_name: str, *, refresh: bool = False
                    ) -> dict[str, tuple[str, str]]:
        """``{feature: (column, kind)}`` for ``model_name`` (cached, refreshed on demand)."""
        if refresh or model_name not in self._features:
            rows = self.db.execute("SELECT feature, column_name, kind FROM feature_columns "
                                   "WHERE model_name = ? ORDER BY feature", [model_name])
            self._features[model_name] = {f: (c, k) for f, c, k in rows}
        return self._features[model_name]

    def _register_features(self, conn: duckdb.DuckDBPyConnection, models: Sequence[str],
                           features: Mapping[str, tuple[str, str]]) -> None:
        if not features or all(
                self._features.get(m, {}).get(f, (None, None))[1] == kind
                for m in models for f, (_, kind) in features.items()):
            return  # every feature already known with this kind (cache filled from the DB)
        existing = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = "
            "'predictions'").fetchall()}
        new = sorted({column for column, _ in features.values()} - existing)
        if len(new) > (limit := env_limit(NEW_FEATURES_ENV, MAX_NEW_FEATURES,
                                          "feature columns one batch may add")):
            raise invalid("features", f"at most {limit:,} features new to the log in one batch "
                          f"(each is a column of the predictions table; log a wide model's "
                          f"features over several batches, or raise {NEW_FEATURES_ENV})",
                          f"{len(new):,} new features")
        for model in models:
            known = {f: (c, k) for f, c, k in conn.execute(
                "SELECT feature, column_name, kind FROM feature_columns WHERE model_name = ?",
                [model]).fetchall()}
            used = {c: f for f, (c, _) in known.items()}
            for feature, (column, kind) in features.items():
                if used.get(column, feature) != feature:
                    raise invalid(f"feature {feature!r}", f"a name whose column is not "
                                  f"{column!r} (used by {used[column]!r} of {model!r})",
                                  feature)
                if feature in known:
                    if known[feature][1] != kind:
                        raise invalid(f"feature {feature!r}",
                                      f"{known[feature][1]} as logged before for {model!r}",
                                      kind)
                    continue
                if column not in existing:
                    sql_type = "DOUBLE" if kind == "numeric" else "VARCHAR"
                    conn.execute(f'ALTER TABLE predictions ADD COLUMN "{column}" {sql_type}')
                    existing.add(column)
                conn.execute("INSERT INTO feature_columns VALUES (?, ?, ?, ?)",
                             [model, feature, column, kind])
        for model in models:
            self._features.pop(model, None)  # refilled after the commit (insert_batch)

    # ------------------------------------------------------------------ inserts
    def insert_batch(self, batch: Batch, *, now: datetime, check_ids: bool = True) -> int:
        """Insert a validated batch in one transaction; all rows or none.

        ``now`` (the edge's clock, [`mlmkit.values.utcnow`][mlmkit.windows.utcnow]) stamps rows
        without a timestamp and the labels logged with them, so a simulated clock reaches the table.
        ``check_ids=False`` skips the look-up of the batch's ids in the table, for ids the
        caller generated itself (unique by construction).
        """
        if batch.num_rows == 0:
            return 0
        stamp = f"'{now.astimezone(UTC).isoformat()}'::TIMESTAMPTZ"
        extra = []
        if not batch.has_timestamps:
            extra.append(f"{stamp} AS ts")
        if batch.has_actuals:
            extra.append(f'CASE WHEN "{batch.label_column}" IS NOT NULL THEN {stamp} END '
                         "AS labelled_at")
        select = ", ".join(["*", *extra])
        with self.db.transaction() as conn:
            if batch.has_ids and check_ids:  # once per batch, before any row is written
                self._check_new_ids(conn, batch.id_keys())
            self._register_features(conn, batch.models, batch.features)
            for _mlmkit_batch in batch.arrow_chunks():  # (a replacement scan: measured
                conn.execute(f"INSERT INTO predictions BY NAME SELECT {select} "  # 0.6 ms
                             "FROM _mlmkit_batch")  # less per batch than register/unregister)
                if "value" in _mlmkit_batch.column_names:  # regression rows: their days
                    fault_point("log.insert.before_regression_days")
                    regression_daily.add_inserted(conn, _mlmkit_batch, now)
        for model in batch.models:  # committed: cache the feature columns for the next batch
            if batch.features and model not in self._features:
                self.feature_map(model)
        return batch.num_rows

    @staticmethod
    def _check_new_ids(conn: duckdb.DuckDBPyConnection, keys: pa.Table) -> None:
        clash = PredictionStore.logged_keys(conn, keys)
        if clash:
            raise DuplicateError(f"prediction_id {clash[0][0]!r} is already logged for "
                                 f"{clash[0][2]!r} version {clash[0][1]!r}; ids must be "
                                 "unique per model and version (nothing was written)",
                                 field="prediction_id", value=clash[0][0])

    @staticmethod
    def logged_keys(conn: duckdb.DuckDBPyConnection, keys: pa.Table
                    ) -> list[tuple[str, str, str]]:
        """`mlmkit.store.predictions.lookup.logged_keys` (the server's group commit)."""
        return _lookup.logged_keys(conn, keys)

    def count_logged(self, rows: pa.Table) -> int | None:
        """How many of ``rows`` are logged already with these exact values (a retry)."""
        counts = self.logged_counts(rows)
        return None if counts is None else sum(counts.values())

    def logged_counts(self, rows: pa.Table, tag: str | None = None) -> dict[object, int] | None:
        """`mlmkit.store.predictions.lookup.logged_counts` (in the caller's transaction, if any)."""
        with self.db.connection() as conn:
            return _lookup.logged_counts(conn, rows, tag)

    def insert_one(self, row: Mapping[str, Any],
                   features: Mapping[str, tuple[str | None, Any]]) -> str:
        """Insert one canonical prediction (autocommit, durable on return); return its id.

        ``features`` maps a feature to ``(kind, value)``; kind ``None`` marks a missing value,
        which leaves the column NULL and registers nothing (the kind stays undecided).
        """
        values = dict(row)
        caller_id = values.get("prediction_id") is not None
        if not caller_id:
            values["prediction_id"] = uuid.uuid4().hex
        present = {f: kv for f, kv in features.items() if kv[0] is not None}
        if present:
            model = values["model_name"]
            fmap = self.feature_map(model)
            if any(fmap.get(f, ("", ""))[1] != kind for f, (kind, _) in present.items()):
                spec = {f: (feature_column(f, str(k)), str(k)) for f, (k, _) in present.items()}
                with self.db.transaction() as conn:  # raises on a kind logged differently
                    self._register_features(conn, [model], spec)
                fmap = self.feature_map(model)
            for feature, (_, value) in present.items():
                values[fmap[feature][0]] = value
        columns = ", ".join(f'"{c}"' for c in values)
        marks = ", ".join("?::STRUCT(label VARCHAR, p DOUBLE)[]" if c == "probabilities" else "?"
                          for c in values)
        regression = values.get("value") is not None
        with self.db.transaction() if regression else self.db.connection() as conn:
            if caller_id and conn.execute(
                    "SELECT 1 FROM predictions WHERE prediction_id = ? AND version = ? "
                    "AND model_name = ? LIMIT 1",
                    [values["prediction_id"], values["version"], values["model_name"]]
            ).fetchone():
                raise DuplicateError(f"prediction_id {values['prediction_id']!r} is already "
                                     f"logged for {values['model_name']!r} version "
                                     f"{values['version']!r}", field="prediction_id",
                                     value=values["prediction_id"])
            conn.execute(f"INSERT INTO predictions ({columns}) VALUES ({marks})",
                         list(values.values()))
            if regression:
                regression_daily.add_row(conn, values)
        return str(values["prediction_id"])

    # ------------------------------------------------------------------ labels
    def tasks(self, models: Sequence[str]) -> dict[str, Task]:
        """``{model: task}`` of the registered models among ``models`` (one query)."""
        rows = self.db.execute("SELECT model_name, any_value(task) FROM models WHERE "
                               "list_contains(?, model_name) GROUP BY model_name",
                               [list(models)])
        return {name: Task(task) for name, task in rows}

    def label_tasks(self, ids: pa.Array) -> dict[str, Task]:
        """``{model: task}`` of the models that logged ``ids``, when any model is not binary.

        Empty when every registered model is binary (then no id is looked up).
        """
        if not self.db.execute("SELECT 1 FROM models WHERE task <> 'binary' LIMIT 1"):
            return {}
        with self.db.connection() as conn, _id_rows(conn, ids.to_pylist()) as logged:
            conn.register("_mlmkit_ids", pa.table({"prediction_id": ids}))
            try:
                rows = conn.execute(
                    "SELECT DISTINCT p.model_name, coalesce(m.task, 'binary') FROM "
                    f"{logged} p SEMI JOIN _mlmkit_ids i USING (prediction_id) LEFT JOIN (SELECT "
                    "model_name, any_value(task) AS task FROM models GROUP BY 1) m USING "
                    "(model_name)").fetchall()
            finally:
                conn.unregister("_mlmkit_ids")
        return {name: Task(task) for name, task in rows}

    def record_actuals(self, ids: pa.Array, actuals: pa.Array, at: datetime, *,
                       model_name: str | None = None, version: str | None = None,
                       skip_unknown: bool = False, column: str = "actual") -> tuple[int, int]:
        """Attach labels to the rows of ``model_name`` (all models when ``None``) with these ids.

        Returns ``(rows changed, ids skipped)``. An id matching no row in scope rejects the
        whole call ([`NotFoundError`][mlmkit.exceptions.NotFoundError]) unless ``skip_unknown``;
        without ``model_name`` an id logged by several models is refused (`ValidationError` naming
        them). ``column`` is where the labels go: ``actual`` (binary, score-only),
        ``actual_label`` (multiclass) or ``actual_value`` (regression).
        """
        if column not in _LABEL_COLUMNS:
            raise invalid("column", f"one of {list(_LABEL_COLUMNS)}", column)
        table = pa.table({"prediction_id": ids, column: actuals})
        scope, params = "", []
        if model_name is not None:
            scope += " AND p.model_name = ?"
            params.append(model_name)
        if version is not None:
            scope += " AND p.version = ?"
            params.append(version)
        with self.db.transaction() as conn, _id_rows(conn, ids.to_pylist()) as rows:
            conn.register("_mlmkit_labels", table)  # matched in the table or the ids' rows
            try:
                if model_name is None:
                    shared = conn.execute(
                        "SELECT l.prediction_id, list(DISTINCT p.model_name ORDER BY "
                        f"p.model_name) FROM _mlmkit_labels l JOIN {rows} p USING "
                        "(prediction_id) GROUP BY l.prediction_id HAVING count(DISTINCT "
                        "p.model_name) > 1 LIMIT 1").fetchall()
                    if shared:
                        raise invalid("model_name", f"given: prediction_id {shared[0][0]!r} "
                                      f"is logged by models {shared[0][1]}", None)
                missing, first = conn.execute(  # counted by DuckDB, not pulled into Python
                    "SELECT count(*), first(l.prediction_id) FROM _mlmkit_labels l WHERE NOT "
                    f"EXISTS (SELECT 1 FROM {rows} p WHERE p.prediction_id = "
                    f"l.prediction_id{scope})", params).fetchall()[0]
                if missing and not skip_unknown:
                    raise unknown_ids(first, missing, model_name, version)
                target = f"_mlmkit_labels l WHERE p.prediction_id = l.prediction_id{scope}" \
                    if rows == "predictions" else (  # by rowid: the rows found, no table scan
                        f"(SELECT p.rid, l.{column} FROM _mlmkit_labels l JOIN {rows} p ON "
                        f"p.prediction_id = l.prediction_id{scope}) l WHERE p.rowid = l.rid")
                if column == "actual_value":  # the days of the rows it labels (m011)
                    regression_daily.add_labels(conn, regression_daily.matched_rows(
                        target, "l.actual_value"), params, labels=table.num_rows)
                    fault_point("labels.after_regression_days")
                changed = conn.execute(
                    f"UPDATE predictions p SET {column} = l.{column}, labelled_at = ? "
                    f"FROM {target}", [at, *params]).fetchone()
                conn.execute(f"INSERT INTO actuals (prediction_id, {column}, recorded_at) "
                             f"SELECT prediction_id, {column}, ? "
                             f"FROM _mlmkit_labels l WHERE EXISTS (SELECT 1 FROM {rows} p "
                             f"WHERE p.prediction_id = l.prediction_id{scope})",
                             [at, *params])
            finally:
                conn.unregister("_mlmkit_labels")
        return (int(changed[0]) if changed else 0), int(missing)

    def record_label_requests(self, labels: pa.Table, at: datetime, *,
                              skip_unknown: Sequence[int] = ()
                              ) -> dict[int, tuple[int, int, str | None]]:
        """Labels of several requests in one UPDATE (the server's group commit).

        ``labels`` has ``request, ordinal, prediction_id, model_name, version`` (``NULL``: every
        version) and ``actual, actual_label, actual_value`` (a request's task column set, the
        other two ``NULL``); a (model, id) appears once. A request with an id matching no row
        is left out whole unless it is in ``skip_unknown``. Returns, per request, ``(rows
        changed, ids unknown, first unknown id)``; the audit rows go to ``actuals`` alike.
        """
        _mlmkit_labels = labels  # (read by DuckDB's replacement scan, as below)
        match = ("p.prediction_id = l.prediction_id AND p.model_name = l.model_name AND "
                 "(l.version IS NULL OR p.version = l.version)")
        ids = labels.column("prediction_id").to_pylist()
        with self.db.transaction() as conn, _id_rows(conn, ids) as rows:  # (6294353)
            hits = dict(conn.execute(
                "SELECT l.request * 2147483648 + l.ordinal, count(*) FROM _mlmkit_labels l "
                f"JOIN {rows} p ON {match} GROUP BY ALL").fetchall())
            requests = labels.column("request").to_pylist()
            ordinals = labels.column("ordinal").to_pylist()
            found: dict[int, tuple[int, int, str | None]] = {}
            for r, o, pid in zip(requests, ordinals, ids, strict=True):
                changed, missing, first = found.get(r, (0, 0, None))
                n = hits.get(r * 2147483648 + o, 0)
                found[r] = (changed + n, missing + (not n), first if n or first else pid)
            out = {r for r, (_, missing, _) in found.items()
                   if missing and r not in skip_unknown}
            keep = [bool(hits.get(r * 2147483648 + o)) and r not in out
                    for r, o in zip(requests, ordinals, strict=True)]
            _mlmkit_labels = labels.filter(pa.array(keep, pa.bool_()))
            if any(keep):
                target = f"_mlmkit_labels l WHERE {match}" if rows == "predictions" else (
                    "(SELECT p.rid, l.actual, l.actual_label, l.actual_value FROM "
                    f"_mlmkit_labels l JOIN {rows} p ON {match}) l WHERE p.rowid = "
                    "l.rid")  # (a join on rowid: the rows found, no table scan)
                if _mlmkit_labels.column("actual_value").null_count < _mlmkit_labels.num_rows:
                    _valued(conn, _mlmkit_labels, target)
                conn.execute(
                    "UPDATE predictions p SET actual = coalesce(l.actual, p.actual), "
                    "actual_label = coalesce(l.actual_label, p.actual_label), actual_value = "
                    f"coalesce(l.actual_value, p.actual_value), labelled_at = ? FROM {target}",
                    [at])
                conn.execute(
                    "INSERT INTO actuals (prediction_id, actual, actual_label, actual_value, "
                    "recorded_at) SELECT prediction_id, actual, actual_label, actual_value, ? "
                    "FROM _mlmkit_labels", [at])
        return found

    # ------------------------------------------------------------------ reads
    def select(self, model_name: str, *, versions: Sequence[str] | None = None,
               time_range: TimeRange | None = None, labelled_only: bool = False,
               columns: Sequence[str] | None = None, features: bool = True) -> pl.DataFrame:
        """Rows of one model as polars, oldest first, feature columns under their names."""
        where, params = where_clause(model_name, versions, time_range)
        if labelled_only:
            where += " AND (actual IS NOT NULL OR actual_label IS NOT NULL OR actual_value IS " \
                "NOT NULL)"
        cols = [f'"{c}"' for c in (columns or BASE_COLUMNS)]
        if features:
            cols += [f'"{c}" AS "{f}"' for f, (c, _) in
                     self.feature_map(model_name, refresh=True).items()]
        sql = f"SELECT {', '.join(cols)} FROM predictions WHERE {where} ORDER BY ts"
        with self.db.connection() as conn:
            arrow = conn.sql(sql, params=params).to_arrow_table()
        return pl.DataFrame(pl.from_arrow(arrow))

    def count(self, model_name: str | None = None) -> int:
        """Number of logged predictions (of one model, or all)."""
        if model_name is None:
            rows = self.db.execute("SELECT count(*) FROM predictions")
        else:
            rows = self.db.execute("SELECT count(*) FROM predictions WHERE model_name = ?",
                                   [model_name])
        return int(rows[0][0])
