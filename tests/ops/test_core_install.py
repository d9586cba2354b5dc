"""`mlmkit serve` and `mlmkit metrics` on the core install: prometheus_client unimportable."""

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
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.metrics import accuracy_score

import mlmkit
from mlmkit.ops.prometheus import generate_metrics, make_registry

ROOT = Path(__file__).resolve().parents[2]
# Runs the CLI with a meta-path finder that refuses the optional ops dependencies.
WRAPPER = """
import sys
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("prometheus_client", "apscheduler"):
            raise ImportError(f"{name} is blocked: core install")
sys.meta_path.insert(0, Blocker())
try:
    import prometheus_client
except ImportError:
    pass
else:
    raise SystemExit("the blocker failed")
from mlmkit.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


def _cli(*args):
    env = {**os.environ, "MLMKIT_LOG": "quiet", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", WRAPPER, *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _without_timing(text):
    return [line for line in text.splitlines() if not line.startswith("mlmkit_scrape_duration")]


def test_own_exposition_equals_prometheus_client(demo_db):
    with mlmkit.open(demo_db) as ws:
        ws.alerts.fire("degradation", "critical", "n1-detector", "1.0.0", 'a "quoted"\\ note')
    ours = generate_metrics(demo_db, window="7d").decode()
    theirs = generate_latest(make_registry(demo_db, window="7d")).decode()
    assert _without_timing(ours) == _without_timing(theirs)


def test_own_counter_family_equals_prometheus_client():
    # the server's ingest and snapshot counters are written by this one writer
    from prometheus_client.core import CounterMetricFamily
    from prometheus_client.registry import CollectorRegistry

    from mlmkit.ops._exposition import CounterFamily, exposition

    ours = CounterFamily("mlmkit_x_total", "rows\nwritten")
    theirs = CounterMetricFamily("mlmkit_x_total", "rows\nwritten")
    for fam in (ours, theirs):
        fam.add_metric([], 1_234_567_890)

    class Collector:
        def collect(self):
            yield theirs

    registry = CollectorRegistry()
    registry.register(Collector())
    assert exposition([ours]) == generate_latest(registry)


@pytest.mark.slow
def test_serve_metrics_work_without_prometheus_client(demo_db, tmp_path):
    with mlmkit.open(demo_db) as ws:
        rows = ws.log.predictions("n1-detector", "1.0.0")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = _cli("serve", "--db", str(demo_db), "--port", str(port), "--window", "7d")
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _get(base + "/health/live")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        status, text = _get(base + "/metrics")
        assert status == 200, text
        fams = {f.name: f for f in text_string_to_metric_families(text)}
        assert fams["mlmkit_workspace_up"].samples[0].value == 1.0
        acc = fams["mlmkit_model_accuracy_ratio"].samples[0].value
        y, p = rows["actual"].to_numpy(), rows["prediction"].to_numpy()
        assert acc == pytest.approx(accuracy_score(y, p))
        status, body = _get(base + "/health")
        assert status == 200 and json.loads(body)["database"]["ok"]
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0
    out = tmp_path / "mlmkit.prom"
    textfile = _cli("metrics", "--db", str(demo_db), "--textfile", str(out))
    assert textfile.wait(timeout=120) == 0, textfile.communicate()[1]
    assert "mlmkit_workspace_up 1.0" in out.read_text()
