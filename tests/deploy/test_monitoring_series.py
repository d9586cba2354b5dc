"""The per-version series the alert rules need: newest prediction time and label delay."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

import mlmkit
from mlmkit.ops.prometheus import generate_metrics
from mlmkit.values import utcnow


def _values(text: bytes, name: str) -> dict[tuple[str, str, str], float]:
    return {(s.labels["model"], s.labels["version"], s.labels["environment"]): s.value
            for fam in text_string_to_metric_families(text.decode()) for s in fam.samples
            if s.name == name}


def test_newest_prediction_and_label_delay_per_version(tmp_path) -> None:
    db = tmp_path / "ws.duckdb"
    now = utcnow().replace(microsecond=0)
    with mlmkit.open(db) as ws:
        ws.registry.register(mlmkit.ModelMetadata.for_n1_detector("1.0.0"))
        ws.registry.register(mlmkit.ModelMetadata.for_n1_detector("1.1.0"))
        ws.registry.deploy("n1-detector", "1.0.0", "production")
        ws.registry.deploy("n1-detector", "1.1.0", "staging")
        stamps = [now - timedelta(minutes=m) for m in (50, 30, 20)]
        ids = [ws.log.track("n1-detector", "1.0.0", True, timestamp=t) for t in stamps]
        ws.log.record_actuals(ids[:2], [True, False], at=now - timedelta(minutes=10))
    text = generate_metrics(db)
    newest = _values(text, "mlmkit_model_last_prediction_timestamp_seconds")
    assert newest == {("n1-detector", "1.0.0", "production"): stamps[-1].timestamp()}
    # labelled rows: 50 min -> 10 min (2400 s) and 30 min -> 10 min (1200 s): median 1800 s
    delay = _values(text, "mlmkit_model_label_delay_seconds")
    assert delay == {("n1-detector", "1.0.0", "production"): 1800.0}
    # the staging version without traffic: counted (0 predictions), no timestamp, no delay
    assert _values(text, "mlmkit_model_predictions")[("n1-detector", "1.1.0", "staging")] == 0
