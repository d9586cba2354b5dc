"""Per-sink delivery state (alert_outbox): exactly-once per sink, back-off job, crash, upgrade."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

import mlmkit
from mlmkit.services.jobs import JOBS, run_job
from mlmkit.values import utcnow

from ._receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def rx():
    receiver = Receiver()
    yield receiver
    receiver.close()


class Flaky:
    """A sink failing its first ``failures`` calls (``key`` makes it the same across runs)."""

    name = "flaky"

    def __init__(self, failures: int, key: str = "flaky:test") -> None:
        self.failures = failures
        self.key = key
        self.got: list[int] = []

    def send(self, alert):
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("flaky receiver down")
        self.got.append(alert["alert_id"])


def test_retry_unsent_and_the_job_skip_sinks_that_succeeded(rx):
    flaky = Flaky(failures=4)
    with mlmkit.open() as ws:
        ws.alerts.add_webhook(rx.url, timeout=2, retries=0)
        ws.alerts.add_sink(flaky)
        ids = [ws.alerts.fire("drift", "warning", f"m{i}", "1.0.0", "x") for i in range(3)]
        assert rx.alert_ids() == ids and flaky.got == []
        ws.alerts.retry_unsent()          # flaky: 4th failure, then 2 successes
        assert sorted(flaky.got) == ids[1:]
        first = run_job(ws, "alert-delivery", now=utcnow() + timedelta(hours=1))
        assert first.status == "ok" and first.changed == 1
        again = run_job(ws, "alert-delivery", now=utcnow() + timedelta(hours=2))
        assert again.status == "ok" and again.processed == 0
        assert ws.alerts.retry_unsent() == 0
        assert ws.alerts.list()["sent"].to_list() == [True] * 3
        box = ws.alerts.outbox()
        assert set(box["status"].to_list()) == {"sent"} and box.height == 9  # 3 x 3 sinks
    assert rx.alert_ids() == ids  # the healthy receiver saw each alert once
    assert sorted(flaky.got) == ids


def test_job_backs_off_and_gives_up_after_max_attempts():
    sink = Flaky(failures=100)
    with mlmkit.open() as ws:
        ws.alerts.clear_sinks()
        ws.alerts.add_sink(sink)
        t0 = utcnow()
        alert_id = ws.alerts.fire("drift", "critical", "m", "1.0.0", "x")
        opts = {"max_attempts": 3, "retry_backoff": "1m"}
        steps = [(0, 0), (30, 0), (61, 1), (120, 0), (61 + 121, 1), (3600, 0)]
        for seconds, attempted in steps:
            run = run_job(ws, "alert-delivery", now=t0 + timedelta(seconds=seconds), **opts)
            assert run.processed == attempted, (seconds, run)
            assert run.status == ("partial" if attempted else "ok")
        row = ws.alerts.outbox(alert_id).row(0, named=True)
        assert row["status"] == "failed" and row["attempts"] == 3
        assert "flaky receiver down" in row["last_error"]
        sink.failures = 0
        assert ws.alerts.retry_unsent() == 1  # an explicit retry still tries a failed pair
        assert sink.got == [alert_id]


def test_job_is_registered_and_ok_when_nothing_is_pending():
    assert JOBS["alert-delivery"].func.__name__ == "alert_delivery"
    with mlmkit.open() as ws:
        run = run_job(ws, "alert-delivery")
        assert (run.status, run.processed, run.failed) == ("ok", 0, 0)


def test_pending_pair_of_a_sink_missing_here_counts_as_failed():
    with mlmkit.open() as ws:
        ws.alerts.add_sink(Flaky(failures=1, key="elsewhere"))
        alert_id = ws.alerts.fire("drift", "critical", "m", "1.0.0", "x")
        ws.alerts.clear_sinks()
        run = run_job(ws, "alert-delivery", now=utcnow() + timedelta(hours=1), max_attempts=2)
        assert run.status == "partial" and "no sink with key 'elsewhere'" in run.error
        assert ws.alerts.outbox(alert_id, status="failed").height == 1


def test_credentials_never_reach_the_tables_or_logs(rx, caplog):
    rx.default = ("redirect", 302, f"http://bob:loc-s3cret@localhost:{rx.port}/x")
    url = f"http://alice:pw-s3cret@127.0.0.1:{rx.port}/hook?api_key=q-s3cret"
    with mlmkit.open() as ws, caplog.at_level(logging.DEBUG):
        ws.alerts.add_webhook(url, timeout=2, retries=0,
                              headers={"Authorization": "Bearer b-s3cret"})
        ws.alerts.add_callback(_leaky, key="leaky")
        ws.alerts.fire("drift", "critical", "m", "1.0.0", "x")
        ws.alerts.retry_unsent()
        run_job(ws, "alert-delivery", now=utcnow() + timedelta(days=1))
        dump = json.dumps([ws.db.execute(f"SELECT * FROM {table}")
                           for table in ("alerts", "alert_outbox", "job_runs")], default=str)
        assert "302" in dump and "leaked" in dump
    for secret in ("pw-s3cret", "q-s3cret", "b-s3cret", "loc-s3cret", "cb-s3cret"):
        assert secret not in dump and secret not in caplog.text, secret


def _leaky(alert):
    raise RuntimeError("leaked https://carol:cb-s3cret@hooks.example.com/x")


CRASHING_FIRE = """
import os, sys
import mlmkit
from mlmkit.services.alerts import WebhookSink

class Dies(WebhookSink):
    def send(self, alert):
        os._exit(17)          # the process dies inside delivery

with mlmkit.open(sys.argv[1]) as ws:
    ws.alerts.add_sink(Dies(sys.argv[2], timeout=1, retries=0))
    ws.alerts.fire("drift", "critical", "m", "1.0.0", "crash between store and delivery")
"""


def test_crash_between_store_and_delivery_is_delivered_once_by_the_job(tmp_path, rx):
    path = tmp_path / "ws.duckdb"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(CRASHING_FIRE), str(path),
                           rx.url], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 17, proc.stderr
    assert rx.requests == []
    with mlmkit.open(path) as ws:
        ws.alerts.add_webhook(rx.url, timeout=2, retries=0)
        (row,) = ws.alerts.outbox(status="pending").iter_rows(named=True)
        assert row["sink_key"] == f"webhook:{rx.origin}/hook" and row["attempts"] == 1
        assert run_job(ws, "alert-delivery").processed == 0  # still leased by the dead firer
        later = utcnow() + timedelta(minutes=10)
        run = run_job(ws, "alert-delivery", now=later)
        assert (run.status, run.changed) == ("ok", 1)
        assert run_job(ws, "alert-delivery", now=later + timedelta(hours=1)).processed == 0
        assert ws.alerts.retry_unsent() == 0
        assert ws.alerts.list()["sent"].to_list() == [True]
    assert len(rx.requests) == 1 and rx.alert_ids() == [row["alert_id"]]


def test_a_file_from_before_the_outbox_upgrades_and_its_unsent_alert_is_delivered(tmp_path):
    from mlmkit.store import migrations

    path = tmp_path / "old.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
                 "applied_at TIMESTAMPTZ NOT NULL, name VARCHAR NOT NULL)")
    for mod in migrations._modules():
        if mod.VERSION >= 7:
            break
        conn.execute(mod.SQL)
        conn.execute("INSERT INTO schema_version VALUES (?, now(), ?)", [mod.VERSION, "x"])
    conn.execute("INSERT INTO alerts (created_at, rule, severity, message, dedup_key, "
                 "send_error) VALUES (now(), 'drift', 'warning', 'old', 'k', 'boom')")
    conn.close()
    got = []
    with mlmkit.open(path) as ws:
        assert ws.db.execute("SELECT max(version) FROM schema_version")[0][0] >= 7
        assert ws.alerts.outbox().height == 0
        ws.alerts.add_callback(got.append)
        assert ws.alerts.retry_unsent() == 1
        assert ws.alerts.retry_unsent() == 0
        assert set(ws.alerts.outbox()["status"].to_list()) == {"sent"}
    assert [a["message"] for a in got] == ["old"]
