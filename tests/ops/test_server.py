"""`serve` and `jobs run` as real processes: /metrics parses, health answers 200 / 503."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.metrics import accuracy_score, f1_score

import mlmkit
from mlmkit.services.jobs import run_job

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _cli(*args, **kw):
    env = {**os.environ, "MLMKIT_LOG": "quiet", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "mlmkit.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


class Server:
    def __init__(self, db, *extra):
        self.port = _free_port()
        self.proc = _cli("serve", "--db", str(db), "--port", str(self.port), *extra)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if _get(self.base + "/health/live")[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(self.proc.communicate()[1])
            time.sleep(0.1)

    def stop(self):
        self.proc.terminate()
        assert self.proc.wait(timeout=20) == 0


def _families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_serve_metrics_and_health(demo_db):
    with mlmkit.open(demo_db) as ws:
        assert run_job(ws, "performance-monitoring").ok
        rows = ws.log.predictions("n1-detector", "1.0.0")
        ws.alerts.fire("degradation", "critical", "n1-detector", "1.0.0", "accuracy dropped")
    server = Server(demo_db, "--window", "7d", "--no-auth")  # (unknown paths: 401 with auth)
    try:
        status, text = _get(server.base + "/metrics")
        assert status == 200
        fams = _families(text)
        labels = {"model": "n1-detector", "version": "1.0.0", "environment": "production"}
        acc = [s for s in fams["mlmkit_model_accuracy_ratio"].samples if s.labels == labels]
        y, p = rows["actual"].to_numpy(), rows["prediction"].to_numpy()
        assert acc[0].value == pytest.approx(accuracy_score(y, p))
        f1 = fams["mlmkit_model_f1_ratio"].samples[0].value
        assert f1 == pytest.approx(f1_score(y, p))
        n = fams["mlmkit_model_predictions"].samples[0]
        assert n.value == rows.height
        assert fams["mlmkit_model_traffic_share_ratio"].samples[0].value == 1.0
        assert fams["mlmkit_workspace_up"].samples[0].value == 1.0
        alerts = fams["mlmkit_model_open_alerts"].samples[0]
        assert alerts.labels["severity"] == "critical" and alerts.value == 1.0
        job = fams["mlmkit_job_last_success_timestamp_seconds"].samples[0]
        assert job.labels == {"job": "performance-monitoring"} and job.value > 1.7e9
        assert "mlmkit_job_last_duration_seconds" in fams

        assert _get(server.base + "/health/ready")[0] == 200
        status, body = _get(server.base + "/health")
        report = json.loads(body)
        assert status == 200 and report["database"]["ok"]
        assert report["jobs"]["performance-monitoring"]["last_status"] == "ok"
        assert report["open_critical_alerts"] == 1 and report["status"] == "degraded"
        assert report["newest_prediction"]["staleness_s"] > 0

        with mlmkit.open(demo_db) as ws:  # a newer mlmkit wrote this file
            ws.db.execute("INSERT INTO schema_version VALUES (99, now(), 'future')")
        deadline = time.monotonic() + 30  # readiness comes from the snapshot (5 s refresh)
        while (status := _get(server.base + "/health/ready")[0]) == 200 \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        status, body = _get(server.base + "/health/ready")
        assert status == 503 and "schema version 99" in body
        assert _get(server.base + "/health")[0] == 503
        assert _get(server.base + "/health/live")[0] == 200
        assert _get(server.base + "/nope")[0] == 404
    finally:
        server.stop()


def test_serve_unreadable_file_is_503(tmp_path):
    bad = tmp_path / "bad.duckdb"
    bad.write_bytes(b"this is not a duckdb file" * 100)
    server = Server(bad)
    try:
        status, body = _get(server.base + "/health/ready")
        assert status == 503 and json.loads(body)["status"] == "error"
        assert _get(server.base + "/health")[0] == 503
        status, text = _get(server.base + "/metrics")
        assert status == 200 and _families(text)["mlmkit_workspace_up"].samples[0].value == 0
    finally:
        server.stop()


def test_jobs_run_cli_exit_codes(demo_db):
    ok = _cli("jobs", "run", "ml-performance-monitoring", "--db", str(demo_db), "--json")
    out, err = ok.communicate(timeout=120)
    assert ok.returncode == 0, err
    assert json.loads(out)["status"] == "ok"
    unknown = _cli("jobs", "run", "nope", "--db", str(demo_db))
    out, err = unknown.communicate(timeout=120)
    assert unknown.returncode == 2 and "name must be one of" in err
