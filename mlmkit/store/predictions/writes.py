"""The prediction log table: inserts, delayed labels, reads and retention.

Labels are written onto the prediction row (``actual``, ``labelled_at``). Labels recorded after
the prediction (:meth:`PredictionStore.record_actuals`) are also appended to the ``actuals``
audit table in the same transaction; a label logged with the prediction is part of its row.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from mlmkit._validation import invalid
from mlmkit.exceptions import DuplicateError, NotFoundError
from mlmkit.store.database import Database
from mlmkit.store.predictions.batch import Batch, feature_column
from mlmkit.values import TimeRange

__all__ = ["PredictionStore", "BASE_COLUMNS"]

BASE_COLUMNS = ("prediction_id", "model_name", "version", "ts", "prediction", "score",
                "confidence", "unit_id", "role", "actual", "labelled_at")


class PredictionStore:
    """SQL for the ``predictions`` and ``actuals`` tables of one :class:`Database`."""

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
        for model in models:
            known = {f: (c, k) for f, c, k in conn.execute(
                "SELECT feature, column_name, kind FROM feature_columns WHERE model_name = ?",
                [model]).fetchall()}
            for feature, (column, kind) in features.items():
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
    def insert_batch(self, batch: Batch, *, check_ids: bool = True) -> int:
        """Insert a validated batch in one transaction; all rows or none.

        ``check_ids=False`` skips the look-up of the batch's ids in the table, for ids the
        caller generated itself (unique by construction).
        """
        if batch.num_rows == 0:
            return 0
        extra = []
        if not batch.has_timestamps:
            extra.append("current_timestamp AS ts")
        if batch.has_actuals:
            extra.append("CASE WHEN actual IS NOT NULL THEN current_timestamp END AS labelled_at")
        select = ", ".join(["*", *extra])
        with self.db.transaction() as conn:
            if batch.has_ids and check_ids:  # once per batch, before any row is written
                self._check_new_ids(conn, batch.id_keys())
            self._register_features(conn, batch.models, batch.features)
            for table in batch.arrow_chunks():
                conn.register("_mlmkit_batch", table)
                try:
                    conn.execute(f"INSERT INTO predictions BY NAME SELECT {select} "
                                 "FROM _mlmkit_batch")
                finally:
                    conn.unregister("_mlmkit_batch")
        for model in batch.models:  # committed: cache the feature columns for the next batch
            if batch.features and model not in self._features:
                self.feature_map(model)
        return batch.num_rows

    @staticmethod
    def _check_new_ids(conn: duckdb.DuckDBPyConnection, keys: pa.Table) -> None:
        conn.register("_mlmkit_keys", keys)
        try:
            clash = conn.execute(
                "SELECT b.prediction_id, b.version FROM _mlmkit_keys b SEMI JOIN predictions p "
                "ON p.prediction_id = b.prediction_id AND p.version = b.version LIMIT 3"
            ).fetchall()
        finally:
            conn.unregister("_mlmkit_keys")
        if clash:
            raise DuplicateError(f"prediction_id {clash[0][0]!r} is already logged for version "
                                 f"{clash[0][1]!r}; ids must be unique per version "
                                 "(nothing was written)")

    def insert_one(self, row: Mapping[str, Any], features: Mapping[str, Any]) -> str:
        """Insert one prediction (autocommit, durable on return); return its id."""
        values = dict(row)
        if values.get("prediction_id") is None:
            values["prediction_id"] = uuid.uuid4().hex
        model = values["model_name"]
        if features:
            fmap = self.feature_map(model)
            if any(f not in fmap for f in features):
                kinds = {f: ("numeric" if isinstance(v, (int, float, bool)) or v is None
                             else "categorical") for f, v in features.items()}
                spec = {f: (feature_column(f, k), k) for f, k in kinds.items()}
                with self.db.transaction() as conn:
                    self._register_features(conn, [model], spec)
                fmap = self.feature_map(model)
            for feature, value in features.items():
                column, kind = fmap[feature]
                if kind == "numeric" and not (value is None or isinstance(value, (int, float))):
                    raise invalid(f"features[{feature!r}]", "a number (logged as numeric before)",
                                  value)
                values[column] = (float(value) if kind == "numeric" and value is not None
                                  else value if value is None else str(value))
        columns = ", ".join(f'"{c}"' for c in values)
        marks = ", ".join("?" for _ in values)
        with self.db.connection() as conn:
            if values.get("prediction_id") and row.get("prediction_id") is not None and \
                    conn.execute("SELECT 1 FROM predictions WHERE prediction_id = ? AND "
                                 "version = ? LIMIT 1",
                                 [values["prediction_id"], values["version"]]).fetchone():
                raise DuplicateError(f"prediction_id {values['prediction_id']!r} is already "
                                     f"logged for version {values['version']!r}")
            conn.execute(f"INSERT INTO predictions ({columns}) VALUES ({marks})",
                         list(values.values()))
        return str(values["prediction_id"])

    # ------------------------------------------------------------------ labels
    def record_actuals(self, ids: pa.Array, actuals: pa.Array, at: datetime) -> int:
        """Attach labels to logged predictions; unknown ids reject the whole call."""
        table = pa.table({"prediction_id": ids, "actual": actuals})
        with self.db.transaction() as conn:
            conn.register("_mlmkit_labels", table)
            try:
                missing = conn.execute(
                    "SELECT prediction_id FROM _mlmkit_labels ANTI JOIN predictions "
                    "USING (prediction_id) LIMIT 3").fetchall()
                if missing:
                    raise NotFoundError(
                        f"prediction_id {missing[0][0]!r} is not in the log (first of the "
                        "unknown ids); no label was recorded")
                conn.execute("UPDATE predictions SET actual = l.actual, labelled_at = ? "
                             "FROM _mlmkit_labels l WHERE predictions.prediction_id = "
                             "l.prediction_id", [at])
                conn.execute("INSERT INTO actuals SELECT prediction_id, actual, ? "
                             "FROM _mlmkit_labels", [at])
            finally:
                conn.unregister("_mlmkit_labels")
        return int(table.num_rows)

    # ------------------------------------------------------------------ reads
    def select(self, model_name: str, *, versions: Sequence[str] | None = None,
               time_range: TimeRange | None = None, labelled_only: bool = False,
               columns: Sequence[str] | None = None, features: bool = True) -> pl.DataFrame:
        """Rows of one model as polars, oldest first, feature columns under their names."""
        where, params = where_clause(model_name, versions, time_range)
        if labelled_only:
            where += " AND actual IS NOT NULL"
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

    def delete_before(self, cutoff: datetime) -> int:
        """Delete predictions older than ``cutoff`` and labels recorded before it."""
        with self.db.transaction() as conn:
            rows = conn.execute("DELETE FROM predictions WHERE ts < ?", [cutoff]).fetchone()
            conn.execute("DELETE FROM actuals WHERE recorded_at < ?", [cutoff])
        return int(rows[0]) if rows else 0


def where_clause(model_name: str, versions: Sequence[str] | None,
                 time_range: TimeRange | None, *, role: str | None = None
                 ) -> tuple[str, list[Any]]:
    """SQL ``WHERE`` text and parameters for a model, optional versions, time range and role."""
    where = "model_name = ?"
    params: list[Any] = [model_name]
    if versions:
        where += f" AND version IN ({', '.join('?' for _ in versions)})"
        params.extend(versions)
    if time_range is not None:
        where += " AND ts >= ? AND ts < ?"
        params.extend([time_range.start, time_range.end])
    if role is not None:
        where += " AND role = ?"
        params.append(role)
    return where, params


def retention_cutoff(now: datetime, days: float) -> datetime:
    """The oldest timestamp kept by a retention of ``days``."""
    return now - timedelta(days=days)
