"""AlertingService: cool-down, sinks (a real webhook server on loopback), rules, table."""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import polars as pl
import pytest

import mlmkit
from mlmkit.exceptions import NotFoundError, ValidationError
from mlmkit.services.alerts import WebhookSink, available_rules
from mlmkit.values import utcnow


class _Server:
    def __init__(self, status=200):
        received = self.received = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(json.loads(body))
                self.send_response(server.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.status = status
        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = _Server()
    yield srv
    srv.close()


def test_cooldown_suppresses_repeats_until_resolved():
    with mlmkit.open() as ws:
        a = ws.alerts.fire("metric_below", "warning", "m", "1.0.0", "low")
        assert ws.alerts.fire("metric_below", "warning", "m", "1.0.0", "low again") is None
        other = ws.alerts.fire("metric_below", "warning", "m", "1.1.0", "low")
        assert other is not None and other != a
        assert ws.alerts.fire("metric_below", "critical", "m", "1.0.0", "x",
                              cooldown=timedelta(microseconds=1)) is not None
        ws.alerts.resolve(a)
        table = ws.alerts.list("m")
        assert table.height == 3
        assert table.filter(pl.col("alert_id") == a)["status"][0] == "resolved"


def test_persisting_condition_repeats_only_after_the_repeat_interval():
    """An hourly check of a persisting degradation must not page every hour (found by the
    operations simulation: 27 alerts for one episode); escalations and acknowledgements."""
    from datetime import UTC, datetime

    from mlmkit.clock import SimulatedClock, use_clock

    sim = SimulatedClock(datetime(2026, 1, 5, tzinfo=UTC))
    with use_clock(sim), mlmkit.open() as ws:
        fired = []
        for _ in range(12):  # twelve hourly checks of the same condition
            fired.append(ws.alerts.fire("degradation", "warning", "m", "1.0.0", "low"))
            sim.advance(timedelta(hours=1))
        assert [i is not None for i in fired] == [True, False, False, False] * 3
        assert ws.alerts.fire("degradation", "critical", "m", "1.0.0", "worse") is not None
        assert ws.alerts.fire("degradation", "warning", "m", "1.0.0", "low") is None
        ack = ws.alerts.fire("drift", "warning", "m", "1.0.0", "drift")
        assert ack is not None
        ws.alerts.acknowledge(ack)
        sim.advance(timedelta(days=2))
        assert ws.alerts.fire("drift", "warning", "m", "1.0.0", "drift") is None
        ws.alerts.resolve(ack)
        assert ws.alerts.fire("drift", "warning", "m", "1.0.0", "drift") is not None


def test_webhook_receives_exactly_expected_alerts(server):
    with mlmkit.open() as ws:
        ws.alerts.add_webhook(server.url, timeout=2, retries=0)
        ids = [ws.alerts.fire("drift", "warning", "m", "1.0.0", "drift", {"share": 0.5}),
               ws.alerts.fire("drift", "warning", "m", "1.0.0", "dup"),
               ws.alerts.fire("srm", "critical", "m", "1.0.0", "srm", dedup_key="srm:x")]
        assert ids[1] is None
        assert [r["alert_id"] for r in server.received] == [ids[0], ids[2]]
        assert server.received[0]["details"] == {"share": 0.5}
        assert server.received[1]["severity"] == "critical"
        assert ws.alerts.list()["sent"].to_list() == [True, True]


def test_failing_webhook_keeps_alert_unsent(server):
    server.status = 500
    with mlmkit.open() as ws:
        ws.alerts.add_webhook(server.url, timeout=2, retries=2, backoff=0.0)
        alert_id = ws.alerts.fire("degradation", "critical", "m", "1.0.0", "dropped")
        assert len(server.received) == 3  # first attempt + 2 retries
        row = ws.alerts.list().row(0, named=True)
        assert row["alert_id"] == alert_id and not row["sent"] and "500" in row["send_error"]
        server.status = 200
        assert ws.alerts.retry_unsent() == 1
        assert ws.alerts.list()["sent"].to_list() == [True]


def test_unreachable_webhook_and_bad_urls():
    srv = _Server()
    url = srv.url
    srv.close()
    with mlmkit.open() as ws:
        ws.alerts.clear_sinks()
        ws.alerts.add_sink(WebhookSink(url, timeout=0.5, retries=0))
        ws.alerts.fire("drift", "info", "m", None, "x")
        assert ws.alerts.list(sent=False).height == 1
    for bad in ("file:///etc/passwd", "ftp://h/x", "http://", 3):
        with pytest.raises(ValidationError, match="url"):
            WebhookSink(bad)


def test_logging_and_callback_sinks(caplog):
    got = []
    with mlmkit.open() as ws, caplog.at_level(logging.WARNING, logger="mlmkit.alerts"):
        ws.alerts.add_callback(got.append)
        ws.alerts.fire("label_coverage_low", "warning", "m", "1.0.0", "few labels")
        assert got[0]["message"] == "few labels"
        assert "few labels" in caplog.text
        ws.alerts.add_callback(lambda a: 1 / 0)
        ws.alerts.fire("label_coverage_low", "warning", "n", "1.0.0", "again")
        row = ws.alerts.list("n").row(0, named=True)
        assert not row["sent"] and "callback" in row["send_error"]


def test_acknowledge_resolve_and_validation():
    with mlmkit.open() as ws:
        alert_id = ws.alerts.fire("x", "info", None, None, "hello")
        ws.alerts.acknowledge(alert_id)
        assert ws.alerts.list(status="acknowledged").height == 1
        with pytest.raises(NotFoundError):
            ws.alerts.resolve(999)
        with pytest.raises(ValidationError, match="severity"):
            ws.alerts.fire("x", "panic", None, None, "m")
        with pytest.raises(ValidationError, match="rule"):
            ws.alerts.add_rule("nope", "m")


def _log(ws, name, version, n, acc, *, labelled=1.0, seed=0):
    if not ws.registry.exists(name, version):  # the monitor reads registered versions only
        ws.registry.register(mlmkit.ModelMetadata(name, mlmkit.ModelType.SUPERVISED, version))
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.5
    p = np.where(rng.random(n) < acc, y, ~y)
    actual = [bool(v) if rng.random() < labelled else None for v in y]
    now = utcnow()
    ws.log.track_batch(pl.DataFrame({
        "model_name": name, "version": version, "prediction": p, "actual": actual,
        "timestamp": [now - timedelta(minutes=1 + i % 600) for i in range(n)]},
        schema_overrides={"actual": pl.Boolean}))


def test_rules_fire_through_check():
    assert set(available_rules()) >= {"metric_below", "degradation", "drift",
                                      "label_coverage_low", "srm"}
    with mlmkit.open() as ws:
        _log(ws, "m", "1.0.0", 1000, 0.7, labelled=0.3)
        _log(ws, "m", "2.0.0", 400, 0.9, seed=1)
        ws.alerts.add_rule("metric_below", "m", "1.0.0", value=0.8)
        ws.alerts.add_rule("label_coverage_low", "m", "1.0.0", min_coverage=0.5)
        ws.alerts.add_rule("srm", "m", "1.0.0", version_b="2.0.0", expected_share_a=0.5)
        ws.alerts.add_rule("metric_below", "m", "2.0.0", value=0.8)
        fired = ws.alerts.check()
        assert sorted(ws.alerts.list().filter(pl.col("alert_id").is_in(fired))["rule"]
                      .to_list()) == ["label_coverage_low", "metric_below", "srm"]
        assert ws.alerts.check() == []  # cool-down


def test_metric_below_on_a_score_metric_without_scores_finds_nothing():
    """The rule read ``m["roc_auc"]``, a KeyError when the window had labels but no scores."""
    with mlmkit.open() as ws:
        ws.registry.register(mlmkit.ModelMetadata("m", "supervised", "1.0.0"))
        ws.log.track_batch({"model_name": ["m"] * 200, "version": ["1.0.0"] * 200,
                            "prediction": [True, False] * 100,
                            "actual": [True, True, False, False] * 50})
        ws.alerts.add_rule("metric_below", "m", "1.0.0", metric="roc_auc", value=0.9)
        assert ws.alerts.check("m") == []
