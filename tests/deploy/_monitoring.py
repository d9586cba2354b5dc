"""A real exposition of ``mlmkit serve`` for the monitoring tests (a helper module, not tests).

The workspace is the demo (three models, delayed labels, drift) plus what alerting must see:
a running rollout, a production model without traffic in the window, a fresh prediction, and
every job run once; the exposition is what a real ``mlmkit serve`` answers on ``/metrics``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import mlmkit
from mlmkit.demo import build_demo
from mlmkit.values import ModelMetadata, ModelType

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
IDLE = "idle-model"  # deployed in production, never served a prediction
FRESH = ("waf-behavioral", "2.0.0")  # gets a prediction just before the scrape
JOBS = ("performance-monitoring", "degradation-check", "drift-detection", "retention",
        "rollout-advancement", "alert-delivery")


def build_workspace(path: Path) -> Path:
    """The demo workspace with a rollout, an idle production model and every job run once."""
    from mlmkit.cli import main

    with mlmkit.open(path) as ws:
        build_demo(ws, per_model=3000)
        ws.ab.start_rollout(mlmkit.ABTestConfig.for_gradual_rollout(
            "queue-anomaly", "1.2.0", "1.3.0"))
        ws.registry.register(ModelMetadata(IDLE, ModelType.SUPERVISED, "1.0.0"))
        ws.registry.deploy(IDLE, "1.0.0", "production")
        ws.log.track(*FRESH, True, score=0.9)
        ws.alerts.fire("degradation", "critical", "n1-detector", "1.1.0",
                       "accuracy 12 % below its baseline")
    for job in JOBS:
        assert main(["jobs", "run", job, "--db", str(path), "--log", "quiet"]) == 0, job
    return path


def scrape(path: Path, *extra: str) -> tuple[str, float]:
    """``GET /metrics`` of a real ``mlmkit serve`` on ``path``, and the Unix time of the scrape."""
    sys.path.insert(0, str(ROOT / "tests" / "server"))
    from _proc import Server  # the server tests' helper: mlmkit serve in a subprocess

    server = Server(path, *extra)
    try:
        deadline = time.monotonic() + 60
        while True:  # wait for the first snapshot
            answer = server.client.get("/metrics")
            if b"mlmkit_workspace_up 1.0" in answer.content or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        # one ingestion request, so the ingest counters are not all zero
        server.post("/v1/predictions", '[{"model_name": "waf-behavioral", "version": "2.0.0",'
                                       ' "prediction": false, "score": 0.2}]')
        time.sleep(1.2)  # > --snapshot-interval 0.5 of the helper
        answer = server.client.get("/metrics")
        taken = time.time()
        assert answer.status_code == 200, answer.text
        return answer.text, taken
    finally:
        assert server.stop() == 0


Sample = tuple[str, dict[str, str], float]


def samples(text: str) -> list[Sample]:
    """Every sample of an exposition, parsed with prometheus_client's parser."""
    from prometheus_client.parser import text_string_to_metric_families

    return [(s.name, dict(s.labels), float(s.value))
            for fam in text_string_to_metric_families(text) for s in fam.samples]


def label_sets(text: str) -> dict[str, set[str]]:
    """Series name -> the label names it carries (target labels ``job``, ``instance`` added)."""
    out: dict[str, set[str]] = {}
    for name, labels, _ in samples(text):
        out.setdefault(name, {"job", "instance"}).update(labels)
    return out
