"""SQL for A/B tests and rollouts: rollout state and events, paired (shadow) counts, alerts.

Only this module (with the rest of `mlmkit.store`) talks to DuckDB for issue 5; the
services get plain dicts and small polars frames back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import polars as pl

from mlmkit.exceptions import NotFoundError, StateError
from mlmkit.store._sql import Where, where_clause
from mlmkit.store.database import Database
from mlmkit.store.predictions.aggregates import query
from mlmkit.values import TimeRange, utc

__all__ = [
    "ROLLOUT_COLUMNS",
    "alert_exists",
    "append_event",
    "force_transition",
    "count_open_alerts",
    "has_shadow_rows",
    "insert_rollout",
    "load_rollout",
    "paired_counts",
    "rollout_events",
    "rollout_ids",
    "transition_rollout",
]

ROLLOUT_COLUMNS = ("rollout_id", "model_name", "version_a", "version_b", "environment",
                   "config", "plan", "guardrails", "step", "share_b", "status", "created_at",
                   "step_started_at", "updated_at", "reason")
_JSON = ("config", "plan", "guardrails")
_TIMES = ("created_at", "step_started_at", "updated_at")


def _event_row(rollout_id: int, event: Mapping[str, Any]) -> list[Any]:
    return [rollout_id, event["event_at"], event["action"], event["step"], event["share_b"],
            event.get("reason"), json.dumps(event.get("details") or {}, default=str)]


_EVENT_SQL = ("INSERT INTO rollout_events (rollout_id, event_at, action, step, share_b, reason, "
              "details) VALUES (?, ?, ?, ?, ?, ?, ?)")


def insert_rollout(db: Database, state: Mapping[str, Any], event: Mapping[str, Any]) -> int:
    """Insert a new rollout (refusing a second running one per model) and its start event."""
    cols = [c for c in ROLLOUT_COLUMNS if c != "rollout_id"]
    values = [json.dumps(state[c]) if c in _JSON else state.get(c) for c in cols]
    with db.transaction() as conn:
        running = conn.execute("SELECT rollout_id FROM rollouts WHERE model_name = ? AND "
                               "status = 'running'", [state["model_name"]]).fetchall()
        if running:
            raise StateError(f"model_name={state['model_name']!r} already has a running "
                             f"rollout (rollout_id={running[0][0]}); finish or roll it back "
                             "first")
        rollout_id = int(conn.execute(
            f"INSERT INTO rollouts ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)}) "
            "RETURNING rollout_id", values).fetchall()[0][0])
        conn.execute(_EVENT_SQL, _event_row(rollout_id, event))
    return rollout_id


def load_rollout(db: Database, rollout_id: int) -> dict[str, Any]:
    """The stored state of one rollout as a dict (JSON decoded, times in UTC)."""
    rows = db.execute(f"SELECT {', '.join(ROLLOUT_COLUMNS)} FROM rollouts WHERE rollout_id = ?",
                      [rollout_id])
    if not rows:
        raise NotFoundError(f"rollout_id={rollout_id} does not exist")
    state = dict(zip(ROLLOUT_COLUMNS, rows[0], strict=True))
    for key in _JSON:
        state[key] = json.loads(state[key])
    for key in _TIMES:
        state[key] = utc(state[key])
    return state


def rollout_ids(db: Database, model_name: str | None = None, status: str | None = None
                ) -> list[int]:
    """Ids of rollouts (optionally of one model / in one status), oldest first."""
    where = Where().equal("model_name", model_name).equal("status", status)
    return [int(r[0]) for r in db.execute(
        f"SELECT rollout_id FROM rollouts WHERE {where} ORDER BY rollout_id", where.params)]


def transition_rollout(db: Database, rollout_id: int, *, expected_step: int,
                       changes: Mapping[str, Any], event: Mapping[str, Any]) -> None:
    """Update a running rollout and append its event atomically.

    Raises [`StateError`][mlmkit.exceptions.StateError] when the rollout is no longer running at
    ``expected_step`` (another process moved it first).
    """
    sets = ", ".join(f"{k} = ?" for k in changes)
    with db.transaction() as conn:
        done = conn.execute(
            f"UPDATE rollouts SET {sets} WHERE rollout_id = ? AND step = ? AND "
            "status = 'running' RETURNING 1",
            [*changes.values(), rollout_id, expected_step]).fetchall()
        if not done:
            raise StateError(f"rollout_id={rollout_id} is no longer running at step "
                             f"{expected_step}; reload it")
        conn.execute(_EVENT_SQL, _event_row(rollout_id, event))


def force_transition(db: Database, rollout_id: int, *, changes: Mapping[str, Any],
                     event: Mapping[str, Any]) -> None:
    """Update a rollout whatever its state (e.g. rolling back a completed one) with its event."""
    sets = ", ".join(f"{k} = ?" for k in changes)
    with db.transaction() as conn:
        conn.execute(f"UPDATE rollouts SET {sets} WHERE rollout_id = ?",
                     [*changes.values(), rollout_id])
        conn.execute(_EVENT_SQL, _event_row(rollout_id, event))


def append_event(db: Database, rollout_id: int, event: Mapping[str, Any]) -> None:
    """Append one event (e.g. a hold) without changing the state."""
    with db.connection() as conn:
        conn.execute(_EVENT_SQL, _event_row(rollout_id, event))


def rollout_events(db: Database, rollout_id: int) -> pl.DataFrame:
    """Every event of a rollout, oldest first."""
    return query(db, "SELECT event_at, action, step, share_b, reason, details FROM "
                 "rollout_events WHERE rollout_id = ? ORDER BY event_at, rowid", [rollout_id])


def has_shadow_rows(db: Database, model_name: str, versions: Sequence[str],
                    time_range: TimeRange | None) -> bool:
    """Whether any of ``versions`` logged shadow rows in the range."""
    where, params = where_clause(model_name, versions, time_range)
    rows = db.execute(f"SELECT 1 FROM predictions WHERE {where} AND role = 'shadow' LIMIT 1",
                      params)
    return bool(rows)


def paired_counts(db: Database, model_name: str, version_a: str, version_b: str,
                  time_range: TimeRange | None) -> pl.DataFrame:
    """Counts of A's and B's predictions on the same units (one served, one shadow).

    Rows are matched on ``prediction_id``. Columns ``pred_a, pred_b, actual, n`` (``actual``
    null for unlabelled pairs).
    """
    where_a, params_a = where_clause(model_name, [version_a], time_range)
    where_b, params_b = where_clause(model_name, [version_b], time_range)
    sql = f"""
        WITH a AS (SELECT prediction_id, prediction, actual, role FROM predictions
                   WHERE {where_a}),
             b AS (SELECT prediction_id, prediction, actual, role FROM predictions
                   WHERE {where_b})
        SELECT a.prediction AS pred_a, b.prediction AS pred_b,
               coalesce(a.actual, b.actual) AS actual, count(*) AS n
        FROM a JOIN b USING (prediction_id)
        WHERE (a.role = 'shadow') <> (b.role = 'shadow')
        GROUP BY ALL ORDER BY ALL
    """
    return query(db, sql, [*params_a, *params_b])


def count_open_alerts(db: Database, model_name: str, *, severity: str = "critical",
                      since: datetime | None = None) -> int:
    """Alerts of ``model_name`` at ``severity`` still open (optionally created since)."""
    where = Where().equal("model_name", model_name).equal("severity", severity) \
        .add("status = 'open'").at_least("created_at", since)
    return int(db.execute(f"SELECT count(*) FROM alerts WHERE {where}", where.params)[0][0])


def alert_exists(db: Database, dedup_key: str) -> bool:
    """Whether any alert (open or not) was ever stored with ``dedup_key``."""
    return bool(db.execute("SELECT 1 FROM alerts WHERE dedup_key = ? LIMIT 1", [dedup_key]))
